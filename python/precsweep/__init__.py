"""precsweep: bit-exact emulation of small number formats inside binary32, for any code.

    import numpy as np, precsweep
    x = np.random.randn(1000).astype(np.float32)
    y = precsweep.quantize(x, "fp8-e4m3")                  # new array, rounded to nearest even
    precsweep.quantize(x, "bf16", "stochastic", seed=1, stream=2, out=x)   # in place
    precsweep.format_info("fp8-e4m3")["max"]               # 448.0
    precsweep.matmul(a, b, "E5M10,chunk=64")               # a @ b summed in fp16 chunks of 64

quantize, format_info, dot and matmul come from the compiled extension (precsweep._ext, `pip install .`);
precsweep.analysis (results files into pandas, figures, the HTML report) needs only
h5py/pandas/matplotlib and works without it. docs/library.md describes both.
Deliberately leaves out: importing the extension before it is used (the analysis must work
from a source tree where it was never built).
"""

__all__ = ["quantize", "format_info", "dot", "matmul"]


def __getattr__(name):
    if name in __all__:
        try:
            from . import _ext
        except ImportError as e:
            raise ImportError(
                f"precsweep.{name} needs the compiled extension precsweep._ext, which is not "
                f"built here; install the package with `pip install . --no-build-isolation` "
                f"(docs/library.md)") from e
        return getattr(_ext, name)
    raise AttributeError(f"module 'precsweep' has no attribute {name!r}")
