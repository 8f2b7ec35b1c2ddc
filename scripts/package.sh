#!/usr/bin/env bash
# Build the zip of lib/ shipped to a cluster with spark-submit --py-files.
#   scripts/package.sh [OUT]   (default: dist/c360-lib.zip)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist/c360-lib.zip}
mkdir -p "$(dirname "$out")"
rm -f "$out"
.venv/bin/python - "$out" <<'PY'
import pathlib, sys, zipfile
root = pathlib.Path("lib")
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as zf:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            zf.write(path, path.relative_to(root).as_posix())
PY
echo "$out"
