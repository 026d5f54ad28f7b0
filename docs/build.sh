#!/usr/bin/env bash
# Build the documentation: HTML with warnings as errors (nitpicky: every
# reference must resolve), running the example gallery, then the doctests of
# the pages' code. Needs the docs extra: python -m pip install ".[docs]".
# Output: docs/_build/html. Usage: bash docs/build.sh [extra sphinx-build args]
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
export SCIPY_ARRAY_API=1 MPLBACKEND=Agg
"$PYTHON" -m sphinx -b html -W --keep-going -n -j 1 "$@" . _build/html
"$PYTHON" -m sphinx -b doctest -W --keep-going -n -j 1 "$@" . _build/doctest
