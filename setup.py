# Builds the extension precsweep._ext for `pip install .` (metadata: pyproject.toml). The formats
# library is compiled into it from src/ with the flags CMake uses (bit-exactness needs
# -ffp-contract=off), or, when PRECSWEEP_FORMATS_LIBRARY names a CMake-built
# libprecsweep_formats.a (position-independent), linked from there (the tests do this, so the
# kernel is not compiled twice).
# Deliberately leaves out: compilers other than GCC (the kernel's target_clones are GCC's).
import os

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension
from setuptools import setup

library = os.environ.get("PRECSWEEP_FORMATS_LIBRARY", "")
sources = ["src/python/precsweep_ext.cpp"]
depends = ["include/precsweep/formats.hpp", "include/precsweep/accumulate.hpp",
           "include/precsweep/error.hpp"]
if library:
    extra_objects, depends = [library], depends + [library]
else:
    # precsweep::formats' sources, the list CMakeLists.txt reads
    with open("src/formats_sources.txt") as f:
        sources += [line.strip() for line in f if line.startswith("src/")]
    extra_objects = []

ext = Pybind11Extension(
    "precsweep._ext", sources, include_dirs=["include", "src"], depends=depends,
    extra_objects=extra_objects, cxx_std=20,
    extra_compile_args=["-O3", "-DNDEBUG", "-fopenmp", "-ffp-contract=off"],
    extra_link_args=["-fopenmp"])

# Compile the sources in parallel (one job per core; NPY_NUM_BUILD_JOBS=N to choose).
ParallelCompile("NPY_NUM_BUILD_JOBS").install()

# Out of the CMake build tree's way; one folder per way of building, so switching rebuilds.
setup(ext_modules=[ext],
      options={"build": {"build_base": "build/setuptools" + ("-lib" if library else "")}})
