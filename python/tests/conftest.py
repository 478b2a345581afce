"""Tests of the installed `precsweep` package (tests/python_package.sh runs them in a virtualenv
after `pip install .`). Environment: PRECSWEEP_BINARY (the CLI the binding is compared with),
PRECSWEEP_SOURCE_DIR."""
import os

import pytest


@pytest.fixture(scope="session")
def binary():
    exe = os.environ.get("PRECSWEEP_BINARY")
    if not exe:
        pytest.skip("PRECSWEEP_BINARY not set")
    return exe
