#!/usr/bin/env bash
# Set up (idempotent), lint, then run the whole test suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check lib jobs tests scripts
exec .venv/bin/python -m pytest "$@"
