#!/usr/bin/env bash
# Set up, generate the built-in sample data, run the whole pipeline on it, and print
# where the tables are with a short summary. Everything goes under demo/ (recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

AS_OF=${C360_AS_OF:-2026-11-03}   # the sample's last daily batch
DEMO=${C360_DEMO_DIR:-demo}
SETS=(--set "lake.root=$DEMO/lake" --set "landing.root=$DEMO/landing" --set "generator.truth_root=$DEMO/truth"
      --set "activation.export_root=$DEMO/exports" --set "ml.model_root=$DEMO/models")

rm -rf "$DEMO"
echo "== generating the sample source exports into $DEMO/landing"
.venv/bin/c360 generate --conf conf/local.yaml "${SETS[@]}"
echo "== running the pipeline (as of $AS_OF)"
.venv/bin/c360 run --conf conf/local.yaml --as-of "$AS_OF" "${SETS[@]}"
echo "== HTML report"
.venv/bin/c360 report --conf conf/local.yaml --as-of "$AS_OF" "${SETS[@]}" --out "$DEMO/report.html"
echo "== summary"
.venv/bin/c360 summary --conf conf/local.yaml "${SETS[@]}"
