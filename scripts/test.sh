#!/usr/bin/env bash
# Set up (idempotent), lint, then run the whole test suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check lib jobs tests scripts
# Two pytest workers: much of a test's time is the Spark driver waiting (one core busy of
# two), so two at once fit the suite in CI's 90 minutes. Tests that share an expensive
# fixture stay on one worker (tests/conftest.py). C360_TEST_WORKERS=0 runs in one process.
workers=${C360_TEST_WORKERS:-2}
if [ "$workers" != 0 ]; then
  set -- -n "$workers" "$@"
fi
exec .venv/bin/python -m pytest "$@"
