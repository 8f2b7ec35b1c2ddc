"""Benchmark: liquid clustering (``maintenance.cluster_by``) against plain compaction.

    .venv/bin/python scripts/bench/cluster.py --lake demo/lake --label demo

Copies the lake twice and runs maintain's OPTIMIZE on each table of ``--conf``'s
``maintenance.cluster_by``: plain compaction on one copy, clustering on the other, both
with files cut at ``--max-file-bytes`` (the demo's tables are a few MB: small files stand
in for a large table's 1 GB ones, so that skipping files can show). For each table it
reports the files, the files a point read of a sampled key must open (from the files'
min/max, ``maintain.files_to_read``, median over ``--keys`` keys), and that read's time
with delta-rs and with Spark (median of ``--repeats``). Writes
``bench/results/cluster_<label>.{json,md}``. Not run in CI; no test asserts a time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from maintain import median_seconds  # scripts/bench/maintain.py, beside this one

REPO = Path(__file__).resolve().parents[2]


def measure(spark, lake, name: str, column: str, keys: list, repeats: int) -> dict:
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from pyspark.sql import functions as F

    from c360.maintain import files_to_read

    path = lake.path(name)
    key = keys[len(keys) // 2]

    def read_delta_rs() -> None:
        DeltaTable(path).to_pyarrow_dataset().to_table(filter=pc.field(column) == key)

    def read_spark() -> None:
        lake.read(spark, name).filter(F.col(column) == key).collect()

    read_delta_rs()  # warm
    read_spark()
    return {
        "files": lake.file_count(spark, name),
        "files_per_point_read": statistics.median(files_to_read(path, column, k) for k in keys),
        "read_delta_rs_s": round(median_seconds(read_delta_rs, repeats), 4),
        "read_spark_s": round(median_seconds(read_spark, repeats), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lake", required=True, help="a lake folder built by c360 run")
    parser.add_argument("--label", required=True)
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--max-file-bytes", type=int, default=256 * 1024)
    parser.add_argument("--keys", type=int, default=21)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()

    import dataclasses

    from pyspark.sql import functions as F

    from c360.config import load_config
    from c360.lake import Lake
    from c360.maintain import check_cluster_by, maintain_table
    from c360.session import build_spark, spark_conf

    work = Path(tempfile.mkdtemp(prefix="c360-cluster-"))
    try:
        conf = load_config(args.conf, [f"lake.root={work / 'session'}"])
        check_cluster_by(conf.maintenance)
        tables = dict(sorted(conf.maintenance.cluster_by.items()))
        spark = build_spark(conf)
        lakes = {}
        for kind in ("plain", "clustered"):
            shutil.copytree(args.lake, work / kind)
            lakes[kind] = Lake(str(work / kind))
        plain = dataclasses.replace(conf.maintenance, cluster_by={})
        small = {"spark.databricks.delta.optimize.maxFileSize": str(args.max_file_bytes)}
        result: dict = {"label": args.label, "max_file_bytes": args.max_file_bytes, "tables": {}}
        for name, columns in tables.items():
            lead = columns[-1] if name == "gold.contact_plan" else columns[0]
            sample = (
                lakes["plain"]
                .read(spark, name)
                .select(lead)
                .distinct()
                .orderBy(F.xxhash64(lead))
                .limit(args.keys)
                .collect()
            )
            keys = sorted(r[0] for r in sample)
            row: dict = {"columns": columns, "key": lead}
            for kind, lake in lakes.items():
                upkeep = plain if kind == "plain" else conf.maintenance
                t0 = time.perf_counter()
                with spark_conf(spark, small):
                    maintain_table(spark, lake, name, upkeep)
                row[kind] = {
                    "optimize_s": round(time.perf_counter() - t0, 1),
                    **measure(spark, lake, name, lead, keys, args.repeats),
                }
            result["tables"][name] = row
            print(name, json.dumps(row))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"cluster_{args.label}.json").write_text(json.dumps(result, indent=2) + "\n")
        lines = [
            f"# Liquid clustering on {args.label} (files cut at {args.max_file_bytes:,} bytes)",
            "",
            "| table | key | files plain / clustered | files per point read "
            "| delta-rs read s | Spark read s |",
            "|---|---|---|---|---|---|",
        ]
        for name, r in result["tables"].items():
            p, c = r["plain"], r["clustered"]
            lines.append(
                f"| {name} | {r['key']} | {p['files']} / {c['files']} "
                f"| {p['files_per_point_read']} → {c['files_per_point_read']} "
                f"| {p['read_delta_rs_s']} → {c['read_delta_rs_s']} "
                f"| {p['read_spark_s']} → {c['read_spark_s']} |"
            )
        (out / f"cluster_{args.label}.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
