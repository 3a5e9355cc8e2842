#!/usr/bin/env bash
# README command 2: set up .venv if needed (idempotent), then lint and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest -q "$@"
