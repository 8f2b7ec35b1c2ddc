"""Profile of identity scoring: candidate pairs per blocking rule, on a lake's party records.

    .venv/bin/python scripts/bench/blocking.py --lake /tmp/b1m/lake-0 --label 1m

``identity.score`` (Splink on Spark) spends its time on the candidate pairs the blocking
rules of ``c360.identity.fs.person_settings`` generate: every pair is compared on every
field. This counts them exactly per rule (marginal: pairs no earlier rule produced;
cumulative), with the record counts of each rule's five largest blocks, and beside them the
probabilistic links that were accepted. A rule whose marginal pairs are many and whose
blocks are few and huge is where scoring time goes. Counting runs on DuckDB (Splink's own
blocking analysis) over the persons' match keys, which Spark computes once.

With ``--truth`` (the generator's truth folder) it also counts, per rule, the true pairs
(two records of one person) that no earlier rule found, the true pairs no rule finds (the
ceiling on recall that blocking sets), and for caps on the size of a name block what a
cap saves in pairs and loses in true pairs that only the name rule finds.

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


NAME_CAPS = (25, 50, 100, 200, 400)


def _agree(cols: tuple[str, ...]) -> str:
    return "(" + " AND ".join(f"coalesce(l.{c} = r.{c}, false)" for c in cols) + ")"


def truth_coverage(parquet: str, truth: str) -> dict[str, object]:
    """True pairs per blocking rule (marginal), those no rule finds, and name-block caps."""
    import duckdb

    from c360.identity import fs

    con = duckdb.connect()
    con.execute(
        f"""CREATE TABLE p AS SELECT k.*, t.entity_id,
                count(*) OVER (PARTITION BY k.name_lo, k.name_hi) AS name_n
            FROM read_parquet('{parquet}/*.parquet') k
            JOIN (SELECT source || ':' || record_id AS uid, entity_id
                  FROM read_parquet('{truth}/party_records/*.parquet')) t USING (uid)"""
    )
    rules = fs.PERSON_BLOCKING
    flags = ", ".join(f"{_agree(cols)} AS b{i}" for i, cols in enumerate(rules))
    con.execute(
        f"""CREATE TABLE tp AS SELECT {flags}, l.name_n
            FROM p l JOIN p r ON l.entity_id = r.entity_id AND l.uid < r.uid"""
    )
    total = con.execute("SELECT count(*) FROM tp").fetchone()[0]
    per_rule = []
    for i, cols in enumerate(rules):
        earlier = " OR ".join(f"b{j}" for j in range(i)) or "false"
        n = con.execute(f"SELECT count(*) FROM tp WHERE b{i} AND NOT ({earlier})").fetchone()[0]
        per_rule.append({"rule": ", ".join(cols), "marginal_true_pairs": int(n)})
    any_rule = " OR ".join(f"b{i}" for i in range(len(rules)))
    missed = con.execute(f"SELECT count(*) FROM tp WHERE NOT ({any_rule})").fetchone()[0]
    name = rules.index(fs.NAME_BLOCK)
    others = " OR ".join(f"b{i}" for i in range(len(rules)) if i != name)
    caps = []
    for cap in NAME_CAPS:
        lost = con.execute(
            f"SELECT count(*) FROM tp WHERE b{name} AND name_n > {cap} AND NOT ({others})"
        ).fetchone()[0]
        pairs = con.execute(
            f"""SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM p
                WHERE name_lo IS NOT NULL GROUP BY name_lo, name_hi HAVING count(*) <= {cap})"""
        ).fetchone()[0]
        caps.append({"cap": cap, "name_rule_pairs": int(pairs), "true_pairs_lost": int(lost)})
    return {
        "true_pairs": int(total),
        "true_pairs_no_rule_finds": int(missed),
        "per_rule": per_rule,
        "name_caps": caps,
    }


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
    cov = res.get("truth")
    if cov:
        lines += [
            "",
            f"Against the truth: {cov['true_pairs']:,} true person pairs; "
            f"{cov['true_pairs_no_rule_finds']:,} are in no block (recall ceiling "
            f"{1 - cov['true_pairs_no_rule_finds'] / max(cov['true_pairs'], 1):.4f}).",
            "",
            "| blocking rule | true pairs no earlier rule finds |",
            "|---|---|",
            *[f"| {r['rule']} | {r['marginal_true_pairs']:,} |" for r in cov["per_rule"]],
            "",
            "| name block capped at (records) | name-rule pairs | true pairs only it found, lost |",
            "|---|---|---|",
            *[
                f"| {c['cap']} | {c['name_rule_pairs']:,} | {c['true_pairs_lost']:,} |"
                for c in cov["name_caps"]
            ],
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lake", required=True, help="a lake with silver.party_records")
    parser.add_argument("--label", required=True, help="scale label for the file names")
    parser.add_argument("--truth", default=None, help="the generator's truth folder")
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
        coverage = truth_coverage(parquet, args.truth) if args.truth else None
    spark.stop()
    res = {
        "label": args.label,
        "lake": args.lake,
        "person_records": n,
        "rules": rules,
        "links": links,
        "truth": coverage,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"blocking_{args.label}.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / f"blocking_{args.label}.md").write_text(markdown(res))
    sys.stdout.write(markdown(res))


if __name__ == "__main__":
    main()
