"""Old name of precsweep.analysis, kept for one release: `import analysis` and
`python3 -m analysis.report` from the source tree still work (the modules are
python/precsweep/analysis/, found through this package's __path__).
Deliberately leaves out: anything of its own; new code imports precsweep.analysis.
"""
import os as _os
import sys as _sys

_python = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))), "python")
if _python not in _sys.path:
    _sys.path.append(_python)

import precsweep.analysis as _new  # noqa: E402

__path__ = list(_new.__path__)
from precsweep.analysis import *  # noqa: E402,F401,F403
from precsweep.analysis import __all__  # noqa: E402,F401
