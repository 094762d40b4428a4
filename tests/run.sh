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
# CI also proves the wheel runs without gfortran (builds it, 1-3 min; needs root).
if [ "${SMASH_WHEEL_CHECK:-0}" = 1 ]; then
    .venv/bin/python tests/wheel_check.py
fi
# Run from tests/ so that `import smash` finds the installed build, not python/.
cd tests
../.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
