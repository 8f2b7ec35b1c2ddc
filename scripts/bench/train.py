"""Benchmark: training the propensity model at scale (the GBT fit the train stage runs).

    .venv/bin/python scripts/bench/train.py --customers 1000000 --snapshots 8 \
        --set spark.driver_memory=14g

Builds ``customers x snapshots`` synthetic feature rows with the train stage's feature
names and a label planted through a few of them (maturity, age, recency, NPS), then
times, with the configured ``ml.gbt`` and seed: the fit on the training rows, scoring,
and the metrics on a held-out tenth. It measures the training step only: features from a
1M-customer lake need that lake (issue 10's generator run). Results:
``bench/results/train_<rows>.{json,md}``. Not run in CI; no test asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import PeakMemory  # noqa: E402


def synthetic_rows(spark, customers: int, snapshots: int, seed: int):
    from pyspark.sql import functions as F

    from c360.ml.features import FEATURES

    def u(name: str):
        h = F.xxhash64(F.lit(seed), F.lit(name), F.col("id"))
        return (F.pmod(h, F.lit(1_000_000)) / 1_000_000.0).cast("double")

    df = spark.range(customers * snapshots).select(
        F.date_sub(F.lit(dt.date(2026, 5, 3)), (F.col("id") % snapshots * 91).cast("int")).alias(
            "snapshot_date"
        ),
        F.format_string("C%09d", (F.col("id") / snapshots).cast("long")).alias("customer_id"),
        F.format_string("V%09d", F.col("id")).alias("vin"),
        "id",
    )
    for f in FEATURES:
        df = df.withColumn(f, u(f) * 100)
    logit = (
        -2.5
        + 2.0 * (F.col("months_to_maturity") < 10).cast("double")
        + 0.02 * F.col("vehicle_age_months")
        - 0.01 * F.col("months_since_service")
        + 0.01 * F.col("nps_latest")
    )
    p = 1 / (1 + F.exp(-logit))
    return df.withColumn("label", (u("label") < p).cast("double")).drop("id")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--snapshots", type=int, default=1)
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--set", action="append", default=[], help="config override")
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from c360.config import load_config
    from c360.logs import configure_logging
    from c360.ml import model as M
    from c360.ml.features import FEATURES
    from c360.session import build_spark

    conf = load_config(args.conf, args.set)
    configure_logging("WARNING")
    spark = build_spark(conf)
    rows = args.customers * args.snapshots
    steps: list[tuple[str, float, int]] = []
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        data = synthetic_rows(spark, args.customers, args.snapshots, conf.ml.seed)
        data = data.withColumn("_test", F.xxhash64("customer_id") % 10 == 0).localCheckpoint()
        n = data.count()
        steps.append(("build synthetic features", time.perf_counter() - t0, n))
        train, test = data.filter(~F.col("_test")), data.filter(F.col("_test"))
        t1 = time.perf_counter()
        fitted = M.fit(train, list(FEATURES), conf.ml.gbt, conf.ml.seed)
        n_train = train.count()
        steps.append(("fit (GBT)", time.perf_counter() - t1, n_train))
        t2 = time.perf_counter()
        scored = M.with_score(fitted, test).localCheckpoint()
        metrics = M.evaluate(scored, "score", probability=True)
        steps.append(("score + metrics (test tenth)", time.perf_counter() - t2, metrics["rows"]))
    gbt = vars(conf.ml.gbt)
    result = {
        "benchmark": "train",
        "date": dt.date.today().isoformat(),
        "customers": args.customers,
        "snapshots": args.snapshots,
        "rows": rows,
        "features": len(FEATURES),
        "gbt": gbt,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {"spark": spark.version},
        "loadavg_end": os.getloadavg(),
        "steps": [
            {"step": s, "seconds": round(t, 1), "rows_in": r, "rows_per_second": round(r / t)}
            for s, t, r in steps
        ],
        "auc": metrics["auc"],
        "peak_jvm_rss_gb": round(mem.peak / 1e9, 2),
    }
    spark.stop()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"train_{rows}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"{args.customers:,} customers x {args.snapshots} snapshot(s) = {rows:,} rows, "
        f"{len(FEATURES)} features; GBT {gbt}; peak JVM RSS {mem.peak / 1e9:.2f} GB; "
        f"test AUC {metrics['auc']:.3f}",
        "",
        "| step | seconds | rows in | rows/s |",
        "|---|---|---|---|",
        *[f"| {s} | {t:.0f} | {r:,} | {r / t:,.0f} |" for s, t, r in steps],
    ]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
