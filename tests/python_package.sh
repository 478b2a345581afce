#!/usr/bin/env bash
# ctest driver (test python_package): `pip install . --no-build-isolation --no-index` of the
# source tree into a fresh virtualenv under the build tree (system site packages visible, for
# Debian's numpy and torch), then the package's tests (python/tests/) with that interpreter.
# The extension links the build tree's libprecsweep_formats.a (PRECSWEEP_FORMATS_LIBRARY,
# setup.py) so the kernel is not compiled a second time.
# Usage: tests/python_package.sh SOURCE_DIR BUILD_DIR PRECSWEEP_BINARY [PYTEST ARGS...]
# Deliberately leaves out: the user-site install (same pip path, other target).
set -euo pipefail
src=$1 build=$2 binary=$3
shift 3
venv=$build/python-venv
rm -rf "$venv"
/usr/bin/python3 -m venv --system-site-packages "$venv"
(cd "$src" && PRECSWEEP_FORMATS_LIBRARY="$build/libprecsweep_formats.a" \
  "$venv/bin/pip" install --quiet --no-index --no-build-isolation --disable-pip-version-check .)
# Run from outside the source tree, so `import precsweep` is the installed package.
cd "$build"
PRECSWEEP_BINARY=$binary PRECSWEEP_SOURCE_DIR=$src MNIST_DIR=$src/data/mnist \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "$src/python/tests" "$@"
