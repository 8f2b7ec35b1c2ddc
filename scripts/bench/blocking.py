"""Profile of identity scoring: candidate pairs per blocking rule, on a lake's party records.

    .venv/bin/python scripts/bench/blocking.py --lake /tmp/b1m/lake-0 --label 1m

``identity.score`` (Splink on Spark) spends its time on the candidate pairs the blocking
rules of ``c360.identity.fs.person_settings`` generate: every pair is compared on every
field. This counts them exactly per rule (marginal: pairs no earlier rule produced;
cumulative), with the record counts of each rule's five largest blocks, and beside them the
probabilistic links that were accepted. A rule whose marginal pairs are many and whose
blocks are few and huge is where scoring time goes. Counting runs on DuckDB (Splink's own
blocking analysis) over the persons' match keys, which Spark computes once.

Only counts are reported: block key values are names and e-mails, never printed.
Results: ``bench/results/blocking_<label>.{json,md}``. Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def person_keys(spark, lake: str, out: str) -> int:
    """Current person records with the fields Splink compares, written as Parquet."""
    from pyspark.sql import functions as F

    from c360.identity import fs
    from c360.identity.keys import with_match_keys
    from c360.identity.stage import party_input

    records = party_input(spark.read.format("delta").load(f"{lake}/silver/party_records"))
    persons = with_match_keys(records.filter(~F.col("is_deleted"))).filter(
        F.col("party_type") == "person"
    )
    persons.select("uid", *fs.PERSON_FIELDS).write.mode("overwrite").parquet(out)
    return spark.read.parquet(out).count()


def accepted_links(spark, lake: str) -> dict[str, int]:
    from pyspark.sql import functions as F

    links = spark.read.format("delta").load(f"{lake}/silver/identity_links")
    rows = links.filter(F.col("party_type") == "person").groupBy("method", "status").count()
    return {f"{r.method} {r.status}": int(r["count"]) for r in rows.collect()}


def blocking_profile(parquet: str) -> list[dict[str, object]]:
    """Exact marginal and cumulative pairs per rule, and its largest block sizes."""
    import duckdb
    from splink import DuckDBAPI
    from splink.blocking_analysis import count_comparisons_from_blocking_rules, n_largest_blocks

    from c360.identity import fs

    con = duckdb.connect()
    db = DuckDBAPI(connection=con)
    sdf = db.register(con.read_parquet(parquet))
    rules = fs.person_settings().blocking_rules_to_generate_predictions
    t0 = time.perf_counter()
    counted = count_comparisons_from_blocking_rules(
        sdf,
        blocking_rules=rules,
        link_type="dedupe_only",
        unique_id_column_name="uid",
        record_sample_proportion=1.0,
    )
    out = []
    for rule, rec in zip(rules, counted, strict=True):
        blocks = n_largest_blocks(sdf, blocking_rule=rule, link_type="dedupe_only", n_largest=5)
        sizes = [int(r["count_l"]) for r in blocks.as_record_list()]  # sizes only: no PII
        out.append(
            {
                "rule": rec["blocking_rule"],
                "marginal_pairs": int(rec["marginal_comparison_count"]),
                "cumulative_pairs": int(rec["cumulative_comparison_count"]),
                "largest_blocks_records": sizes,
            }
        )
    sys.stderr.write(f"[blocking] counted in {time.perf_counter() - t0:.1f} s\n")
    return out


def markdown(res: dict) -> str:
    lines = [
        f"# Identity scoring profile ({res['label']}): candidate pairs per blocking rule",
        "",
        f"{res['person_records']:,} current person records from `{res['lake']}`. "
        "Written by `scripts/bench/blocking.py`; exact counts (no sampling).",
        "",
        "| blocking rule | marginal pairs | share | cumulative | records in its 5 largest blocks |",
        "|---|---|---|---|---|",
    ]
    total = res["rules"][-1]["cumulative_pairs"] if res["rules"] else 0
    for r in res["rules"]:
        share = r["marginal_pairs"] / total if total else 0.0
        sizes = ", ".join(f"{s:,}" for s in r["largest_blocks_records"])
        lines.append(
            f"| `{r['rule']}` | {r['marginal_pairs']:,} | {share:.0%} | "
            f"{r['cumulative_pairs']:,} | {sizes} |"
        )
    lines += ["", "Person links in `silver.identity_links`:", ""]
    lines += [f"- {k}: {v:,}" for k, v in sorted(res["links"].items())]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lake", required=True, help="a lake with silver.party_records")
    parser.add_argument("--label", required=True, help="scale label for the file names")
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()

    from c360.config import load_config
    from c360.session import build_spark

    spark = build_spark(load_config(args.conf))
    with tempfile.TemporaryDirectory(prefix="c360-blocking-") as tmp:
        parquet = str(Path(tmp) / "persons.parquet")
        n = person_keys(spark, args.lake, parquet)
        links = accepted_links(spark, args.lake)
        rules = blocking_profile(parquet)
    spark.stop()
    res = {
        "label": args.label,
        "lake": args.lake,
        "person_records": n,
        "rules": rules,
        "links": links,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"blocking_{args.label}.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / f"blocking_{args.label}.md").write_text(markdown(res))
    sys.stdout.write(markdown(res))


if __name__ == "__main__":
    main()
