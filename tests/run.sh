#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine (as root): system compiler,
# a virtual environment with the package built from this checkout, lint, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v gfortran >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gfortran python3-venv python3-dev >/dev/null
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q '.[test]'
.venv/bin/python -m ruff check python tests tools bench tapenade fortran
# Every public name of the API has a numpydoc docstring (tools/check_docstrings.py says which checks).
.venv/bin/python tools/check_docstrings.py
# CI also proves the wheel runs without gfortran (builds it, 1-3 min; needs root).
if [ "${SMASH_WHEEL_CHECK:-0}" = 1 ]; then
    .venv/bin/python tests/wheel_check.py
fi
# Run from tests/ so that `import smash` finds the installed build, not python/.
cd tests
../.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
cd ..
# The documentation site, every tutorial executed in fast mode, warnings as errors (a broken
# cross-reference, a failing cell or a public name without docstring fails the build). The
# tutorials read the datasets, so the build needs SMASH_DATA_DIR (always set in CI).
if [ -n "${SMASH_DATA_DIR:-}" ]; then
    SMASH_DOCS_FAST=1 .venv/bin/python -m sphinx -E -W --keep-going -q -b html docs docs/_build/html
else
    echo "documentation site not built: SMASH_DATA_DIR is not set (the tutorials read the datasets)"
fi
