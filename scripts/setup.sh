#!/usr/bin/env bash
# Set up a fresh machine: Java check, .venv with c360 and its dev tools, Delta jars.
# Safe to run again: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

# 1. Java 17+ (Spark 4 needs it). Install the Debian package when missing and we are root.
if ! command -v java >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "installing OpenJDK 17 (headless)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    log "Java 17 or newer is required: install it (e.g. apt-get install openjdk-17-jre-headless)"
    exit 1
  fi
fi
# An older java (the one Spark will start: $JAVA_HOME's, else the PATH's) fails later
# inside Spark with a class-version error.
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
java_major=$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n 1)
if [ -z "$java_major" ] || [ "$java_major" = "1" ] || [ "$java_major" -lt 17 ]; then
  log "Java 17 or newer is required; found: $("$JAVA" -version 2>&1 | head -n 1)"
  log "install it (e.g. apt-get install openjdk-17-jre-headless) and put it first on the PATH (or set JAVA_HOME)"
  exit 1
fi

# 1b. Debian's headless Chromium and its driver: the lookup pages' browser test
#     (tests/test_serve.py). Optional for running the pipeline.
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "installing chromium and chromium-driver (headless browser for tests/test_serve.py)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    log "chromium and chromium-driver are missing: tests/test_serve.py's browser test needs them (apt-get install chromium chromium-driver)"
  fi
fi

# 2. Python virtual environment with the package in editable mode.
PY=${PYTHON:-python3}
UV_VERSION=0.13.9
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PY --version 2>&1)"
  "$PY" -m venv .venv
fi
stamp=.venv/.c360-installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  log "installing c360 and the locked dependencies (requirements.lock) into .venv"
  # pyproject.toml gives ranges; requirements.lock the exact versions every machine gets
  # (-c: constraints). uv installs them with parallel downloads and no bytecode
  # compilation (pip: 30 s with a warm cache, uv: 21 s; more on a cold one); pip stays
  # the fallback.
  if ! { .venv/bin/python -m pip install -q "uv==$UV_VERSION" &&
         .venv/bin/uv pip install -q --python .venv/bin/python -c requirements.lock -e '.[dev]'; }; then
    log "uv failed; installing with pip"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c requirements.lock -e '.[dev]'
  fi
  echo "$want" > "$stamp"
else
  log ".venv is up to date"
fi

# 3. Delta Lake jars, and hadoop-aws for a lake on s3a, from Maven Central, once, into
#    .cache/ivy (reused offline later).
mkdir -p .cache
if ! .venv/bin/c360 fetch-jars --conf conf/local.yaml >.cache/fetch-jars.log 2>&1; then
  tail -n 30 .cache/fetch-jars.log >&2
  log "could not fetch the Delta or hadoop-aws jars (full log: .cache/fetch-jars.log)"
  exit 1
fi
log "$(tail -n 1 .cache/fetch-jars.log)"
