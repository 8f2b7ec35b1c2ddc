#!/usr/bin/env bash
# Set up, generate the built-in sample data, run the whole pipeline on it, and print
# where the tables are with a short summary. Everything goes under demo/ (recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

AS_OF=${C360_AS_OF:-2026-11-03}   # the sample's last daily batch
DEMO=${C360_DEMO_DIR:-demo}
# The pseudonymization key (the pseudo.* twins): $C360_PSEUDONYM_KEY if set, else a
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
# Two days, as a lake lives: the full load and the first daily batch as of the day
# before, then the last daily batch as of $AS_OF, so the report shows what changed
# between them (stage transitions, identity merges and splits, household moves).
DAY1=$(date -u -d "$AS_OF - 1 day" +%F)
BATCH2="${AS_OF//-/}-delta"
HELD="$DEMO/held"
for batch in "$DEMO"/landing/*/"$BATCH2"; do
  [ -d "$batch" ] || continue
  mkdir -p "$HELD/$(basename "$(dirname "$batch")")" && mv "$batch" "$HELD/$(basename "$(dirname "$batch")")/"
done
echo "== day 1: running the pipeline (as of $DAY1)"
.venv/bin/c360 run --conf conf/local.yaml --as-of "$DAY1" "${SETS[@]}"
for batch in "$HELD"/*/"$BATCH2"; do
  [ -d "$batch" ] || continue
  mv "$batch" "$DEMO/landing/$(basename "$(dirname "$batch")")/"
done
rm -rf "$HELD"
echo "== day 2: running the pipeline on the next batch (as of $AS_OF)"
.venv/bin/c360 run --conf conf/local.yaml --as-of "$AS_OF" "${SETS[@]}"
echo "== HTML report"
.venv/bin/c360 report --conf conf/local.yaml --as-of "$AS_OF" "${SETS[@]}" --out "$DEMO/report.html"
echo "== summary"
.venv/bin/c360 summary --conf conf/local.yaml "${SETS[@]}"
