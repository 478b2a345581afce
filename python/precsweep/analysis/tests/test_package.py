"""The analysis package as a library: importing it changes no global state, and its modules
import each other without a cycle (checked on the source, function-level imports included)."""
import ast
import os
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1]


def test_import_changes_no_global_state():
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "HDF5_USE_FILE_LOCKING")}
    code = ("import os, sys, matplotlib; before = dict(os.environ)\n"
            "backend = matplotlib.rcParams._get_backend_or_none()\n"
            "import precsweep.analysis, precsweep.analysis.report, precsweep.analysis.errorscale, "
            "precsweep.analysis.figures, precsweep.analysis.benchmark, precsweep.analysis.html\n"
            "assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported (selects a backend)'\n"
            "assert matplotlib.rcParams._get_backend_or_none() == backend, 'backend changed'\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parents[1], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _imports(path):
    """Sibling modules imported anywhere in the file (`from . import x`, `from .x import y`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "precsweep.analysis."):
            found.add(node.module.split(".")[2])
    return found


def test_modules_import_without_a_cycle():
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    state = {}

    def visit(name, path):
        if state.get(name) == "open":
            raise AssertionError("import cycle: " + " -> ".join(path + [name]))
        if state.get(name) == "done" or name not in graph:
            return
        state[name] = "open"
        for dep in sorted(graph[name]):
            visit(dep, path + [name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])
