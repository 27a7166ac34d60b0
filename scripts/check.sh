#!/usr/bin/env bash
# The one check gate, the same locally and in CI: lint, format, types, layering, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== ruff check"
ruff check .
echo "== ruff format"
ruff format --check .
echo "== mypy"
mypy
echo "== import contracts"
lint-imports
echo "== tests"
python -m pytest "$@"
