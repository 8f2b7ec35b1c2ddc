#!/usr/bin/env bash
# Set up (idempotent), lint, then run the test suite. Extra args go to pytest.
#   scripts/test.sh          the default tier: every test but the `slow` ones (CI runs this)
#   scripts/test.sh --all    every test: adds the whole pipeline on the standalone cluster,
#                            the kill -9 runs and identity at the default world's scale
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check lib jobs tests scripts
tier=(-m "not slow")
if [ "${1:-}" = "--all" ]; then
  tier=()
  shift
fi
# Two pytest-xdist workers: much of a test's time is the Spark driver waiting (one core busy
# of two). Tests that share an expensive fixture stay on one worker (tests/conftest.py).
# C360_TEST_WORKERS=0 runs in one process.
workers=${C360_TEST_WORKERS:-2}
if [ "$workers" != 0 ]; then
  set -- -n "$workers" "$@"
fi
exec .venv/bin/python -m pytest ${tier[@]+"${tier[@]}"} "$@"
