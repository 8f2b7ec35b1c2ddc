#!/usr/bin/env bash
# Set up, generate the built-in sample data, run the whole pipeline on it, and print
# where the tables are with a short summary. Everything goes under demo/ (recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

AS_OF=${C360_AS_OF:-2026-11-03}   # the sample's last daily batch
DEMO=${C360_DEMO_DIR:-demo}
# The pseudonymization key (gold.customer_360_pseudo): $C360_PSEUDONYM_KEY if set, else a
# random key made once into .secrets/ (git-ignored, mode 600). Never in config or logs.
KEY_FILE=.secrets/pseudonym.key
if [ -z "${C360_PSEUDONYM_KEY:-}" ] && [ ! -s "$KEY_FILE" ]; then
  mkdir -p .secrets && (umask 077 && .venv/bin/python -c "import secrets; print(secrets.token_hex(32))" > "$KEY_FILE")
fi
SETS=(--set "lake.root=$DEMO/lake" --set "landing.root=$DEMO/landing" --set "generator.truth_root=$DEMO/truth"
      --set "activation.export_root=$DEMO/exports" --set "ml.model_root=$DEMO/models"
      --set "privacy.key_file=$KEY_FILE")

rm -rf "$DEMO"
echo "== generating the sample source exports into $DEMO/landing"
.venv/bin/c360 generate --conf conf/local.yaml "${SETS[@]}"
echo "== running the pipeline (as of $AS_OF)"
.venv/bin/c360 run --conf conf/local.yaml --as-of "$AS_OF" "${SETS[@]}"
echo "== HTML report"
.venv/bin/c360 report --conf conf/local.yaml --as-of "$AS_OF" "${SETS[@]}" --out "$DEMO/report.html"
echo "== summary"
.venv/bin/c360 summary --conf conf/local.yaml "${SETS[@]}"
