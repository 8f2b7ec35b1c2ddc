"""Benchmark: ``c360 maintain`` on a built lake (a copy of it; the original is untouched).

    .venv/bin/python scripts/bench/maintain.py --lake demo/lake --label demo

Reports, before and after maintenance: the data files per table (the latest version's,
and every Parquet file on disk), and a typical read, one customer of
``gold.customer_360`` by id, with delta-rs (what a lookup service uses) and with Spark,
as the median of ``--repeats``; and the maintain run's seconds, Spark jobs and Delta
commits (from ``ops.job_runs``). Retention is 0 hours here (``allow_short_retention``)
so that VACUUM removes every old file a week of runs would leave. Writes
``bench/results/maintain_<label>.{json,md}``. Not run in CI; no test asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROFILE = "gold.customer_360"


def disk_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts)


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(spark, lake, customer_id: str, repeats: int) -> dict:
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from pyspark.sql import functions as F

    tables = lake.tables(spark)
    files = {t: lake.file_count(spark, t) for t in tables}
    on_disk = {t: disk_files(Path(lake.path(t))) for t in tables}
    path = lake.path(PROFILE)

    def read_delta_rs() -> None:
        rows = (
            DeltaTable(path)
            .to_pyarrow_dataset()
            .to_table(filter=pc.field("customer_id") == customer_id)
        )
        assert rows.num_rows == 1

    def read_spark() -> None:
        rows = lake.read(spark, PROFILE).filter(F.col("customer_id") == customer_id).collect()
        assert len(rows) == 1

    read_delta_rs()  # warm: the first read pays imports and the JVM's class loading
    read_spark()
    return {
        "files_latest_version": sum(files.values()),
        "files_on_disk": sum(on_disk.values()),
        "profile_files": files[PROFILE],
        "read_one_customer_delta_rs_s": round(median_seconds(read_delta_rs, repeats), 4),
        "read_one_customer_spark_s": round(median_seconds(read_spark, repeats), 4),
        "per_table": {t: {"latest": files[t], "on_disk": on_disk[t]} for t in tables},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lake", required=True, help="a lake folder built by c360 run")
    parser.add_argument("--label", required=True)
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()

    from c360.config import load_config
    from c360.lake import Lake
    from c360.runner import run_stages
    from c360.session import build_spark

    work = Path(tempfile.mkdtemp(prefix="c360-maintain-"))
    try:
        shutil.copytree(args.lake, work / "lake")
        layers = ("bronze", "silver", "gold", "ops")
        conf = load_config(
            args.conf,
            [f"lake.root={work / 'lake'}", "maintenance.allow_short_retention=true"]
            + [f"maintenance.retain_hours.{layer}=0" for layer in layers],
        )
        spark = build_spark(conf)
        lake = Lake.from_config(conf)
        customer_id = lake.read(spark, PROFILE).select("customer_id").first()[0]
        before = measure(spark, lake, customer_id, args.repeats)
        t0 = time.perf_counter()
        run_stages(spark, conf, dt.date.today(), ["maintain"])
        seconds = time.perf_counter() - t0
        run = (
            lake.read(spark, "ops.job_runs")
            .filter("stage = 'maintain' AND status = 'succeeded'")
            .first()
        )
        after = measure(spark, lake, customer_id, args.repeats)
        result = {
            "label": args.label,
            "lake": str(args.lake),
            "tables": len(before["per_table"]),
            "repeats": args.repeats,
            "maintain": {
                "seconds": round(seconds, 1),
                "spark_jobs": run["spark_jobs"],
                "delta_commits": run["delta_commits"],
            },
            "before": before,
            "after": after,
        }
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"maintain_{args.label}.json").write_text(json.dumps(result, indent=2) + "\n")
        lines = [
            f"# c360 maintain on {args.label} ({result['tables']} tables)",
            "",
            f"maintain: {result['maintain']['seconds']} s, "
            f"{result['maintain']['spark_jobs']} Spark jobs, "
            f"{result['maintain']['delta_commits']} Delta commits",
            "",
            "| | before | after |",
            "|---|---|---|",
        ]
        for key in (
            "files_latest_version",
            "files_on_disk",
            "profile_files",
            "read_one_customer_delta_rs_s",
            "read_one_customer_spark_s",
        ):
            lines.append(f"| {key} | {before[key]} | {after[key]} |")
        (out / f"maintain_{args.label}.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
