#!/usr/bin/env bash
# Build dist/c360-lib.zip, the code shipped to a cluster with spark-submit --py-files.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist
rm -f dist/c360-lib.zip
.venv/bin/python - <<'PY'
import pathlib, zipfile
root = pathlib.Path("lib")
with zipfile.ZipFile("dist/c360-lib.zip", "w", zipfile.ZIP_DEFLATED) as zf:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            zf.write(path, path.relative_to(root).as_posix())
PY
echo "dist/c360-lib.zip"
