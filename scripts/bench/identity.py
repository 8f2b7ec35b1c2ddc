"""Benchmark: identity resolution, ours (Spark) beside Splink on DuckDB, same records.

    .venv/bin/python scripts/bench/identity.py --persons 9000          # ~100k records
    .venv/bin/python scripts/bench/identity.py --lake demo/lake --truth demo/truth

Generates the synthetic world (or reuses a lake with its truth), runs bronze and silver
to get ``silver.party_records``, then on exactly those records times (1) our ``identity``
stage, full load, on a fresh lake, and (2) Splink 5 with DuckDB set up the way its
documentation does it (name, date of birth, e-mail, phone, postcode and street
comparisons with term frequencies; EM training; clusters at match probability 0.95,
then again at 0.99, 0.999 and 0.9999, and its best threshold against the truth is
reported too, so ours is compared with Splink at its best, not at a default).
Both are scored against the generator's truth: pairwise precision, recall, F1 and
B-cubed. Splink gets the person records (its model is a person model); ours is scored on
persons and on everything. Results: ``bench/results/identity_<records>.{json,md}``.
Not run in CI; no test asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import PeakMemory  # noqa: E402

AS_OF = dt.date(2026, 11, 3)


SPLINK_THRESHOLD = 0.95  # the documented default setup's cluster threshold: the timed run
SPLINK_SWEEP = (0.99, 0.999, 0.9999)  # stricter ones, to find Splink's best against the truth


def splink_duckdb(
    records_parquet: str, thresholds: tuple[float, ...] = (SPLINK_THRESHOLD, *SPLINK_SWEEP)
) -> list[tuple[float, object, float]]:
    """Splink on DuckDB, as documented; returns (threshold, pandas clusters, seconds) per
    threshold. The first threshold's seconds are the whole run (load, train, predict,
    cluster); a later one's are the first's minus its clustering plus its own, as if
    Splink had been run at that threshold alone."""
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t0 = time.perf_counter()
    con = duckdb.connect()
    df = con.sql(
        f"SELECT uid, lower(given_name) AS given_name, lower(family_name) AS family_name, "
        f"birth_date, email, phone, postal_code, lower(street) AS street "
        f"FROM read_parquet('{records_parquet}') WHERE party_type = 'person'"
    ).df()
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("family_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postal_code").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("street", [2, 5]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("family_name", "birth_date"),
            block_on("postal_code", "family_name"),
            block_on("given_name", "family_name"),
        ],
    )
    linker = Linker(DuckDBAPI(connection=con).register(df), settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("phone")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=42)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postal_code", "family_name")
    )
    pairs = linker.inference.predict(threshold_match_probability=0.5)
    before_clustering = time.perf_counter() - t0
    out = []
    for threshold in thresholds:
        t1 = time.perf_counter()
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, threshold)
        frame = clusters.as_pandas_dataframe()[["uid", "cluster_id"]]
        out.append((threshold, frame, before_clustering + time.perf_counter() - t1))
    return out


def side_by_side(
    spark, conf, work: Path, src_lake: Path, truth_root: Path, as_of: dt.date = AS_OF
) -> dict:
    """Our identity stage on a fresh lake holding a copy of ``src_lake``'s party records,
    then Splink on DuckDB on the same records; both scored against the truth."""
    from pyspark.sql import functions as F

    from c360.identity.evaluate import evaluate
    from c360.runner import run_stages

    conf = conf.with_overrides([f"lake.root={work / 'lake'}"])
    (work / "lake" / "silver").mkdir(parents=True, exist_ok=True)
    shutil.copytree(src_lake / "silver/party_records", work / "lake/silver/party_records")
    truth = spark.read.parquet(str(truth_root / "party_records")).select(
        F.concat_ws(":", "source", "record_id").alias("uid"),
        F.col("entity_id").cast("string").alias("truth"),
    )
    pr = spark.read.format("delta").load(str(work / "lake/silver/party_records"))
    records = pr.filter(~F.col("is_deleted")).withColumn(
        "uid", F.concat_ws(":", "source", "source_record_id")
    )
    parquet = str(work / "records.parquet")
    records.select(
        "uid",
        "party_type",
        "given_name",
        "family_name",
        "birth_date",
        "email",
        "phone",
        "postal_code",
        "street",
    ).write.parquet(parquet)
    n_records = records.count()
    n_persons = records.filter(F.col("party_type") == "person").count()
    loadavg_start = os.getloadavg()
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        run_stages(spark, conf, as_of, ["identity"])
        ours_s = time.perf_counter() - t0
    cw = spark.read.format("delta").load(str(work / "lake/silver/identity_crosswalk"))
    cw = cw.filter(~F.col("is_deleted")).withColumnRenamed("record_key", "uid")
    ours_all = evaluate(cw.join(truth, "uid"))
    ours_persons = evaluate(cw.filter(F.col("party_type") == "person").join(truth, "uid"))
    t1 = time.perf_counter()
    run_stages(spark, conf, as_of, ["identity"])  # the no-op rerun
    rerun_s = time.perf_counter() - t1

    def largest(clusters: object) -> int:
        return int(clusters.groupBy("customer_id").count().agg(F.max("count")).first()[0])

    splink_rows = []
    for threshold, frame, secs in splink_duckdb(parquet):
        sp = spark.createDataFrame(frame.astype(str)).withColumnRenamed("cluster_id", "customer_id")
        splink_rows.append((threshold, secs, evaluate(sp.join(truth, "uid")), largest(sp)))
    ours_largest = largest(cw.filter(F.col("party_type") == "person"))

    def row(name: str, secs: float, acc: object, big: int) -> dict[str, object]:
        return {"system": name, "seconds": round(secs, 1), **acc.as_dict(), "largest": big}

    documented = splink_rows[0]
    best = max(splink_rows, key=lambda r: r[2].pairwise_f1)

    # identity.engine: where our Fellegi-Sunter trains and scores (the rest is Spark)
    ours = "Spark" if conf.identity.engine == "spark" else f"Spark, FS on {conf.identity.engine}"

    return {
        "records": n_records,
        "person_records": n_persons,
        "loadavg_start": loadavg_start,
        "results": [
            row(f"c360 identity ({ours}), persons", ours_s, ours_persons, ours_largest),
            row(f"c360 identity ({ours}), all party records", ours_s, ours_all, -1),
            row(
                f"Splink 5 + DuckDB, persons, clusters at {documented[0]}",
                documented[1],
                documented[2],
                documented[3],
            ),
            row(
                f"Splink 5 + DuckDB, persons, best threshold against the truth: {best[0]}",
                best[1],
                best[2],
                best[3],
            ),
        ],
        "splink_sweep": [
            {"threshold": t, "seconds": round(secs, 1), **acc.as_dict(), "largest": big}
            for t, secs, acc, big in splink_rows
        ],
        "c360_rerun_no_new_input_seconds": round(rerun_s, 1),
        "c360_peak_jvm_rss_gb": round(mem.peak / 1e9, 2),
        "loadavg_end": os.getloadavg(),
    }


def markdown_table(results: list[dict]) -> list[str]:
    return [
        "| system | seconds | pairwise P | pairwise R | F1 | B-cubed P | B-cubed R "
        "| largest cluster |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {r['system']} | {r['seconds']:.0f} | {r['pairwise_precision']:.4f} | "
            f"{r['pairwise_recall']:.4f} | {r['pairwise_f1']:.4f} | "
            f"{r['bcubed_precision']:.4f} | {r['bcubed_recall']:.4f} | "
            f"{_largest(r.get('largest'))} |"
            for r in results
        ],
    ]


def _largest(n: int | None) -> str:
    """Records in the biggest predicted cluster; '-' where not measured (older results,
    or the all-party row)."""
    return "-" if n is None or n < 0 else f"{n:,}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=9000)
    parser.add_argument("--lake", default=None, help="reuse this lake (silver.party_records)")
    parser.add_argument("--truth", default=None, help="its ground truth folder")
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--set", action="append", default=[], help="config override, e.g. spark.driver_memory=12g"
    )
    args = parser.parse_args()

    from c360.config import load_config
    from c360.logs import configure_logging
    from c360.runner import run_stages
    from c360.session import build_spark

    work = Path(tempfile.mkdtemp(prefix="c360-bench-identity-"))
    configure_logging("WARNING")
    for handler in logging.getLogger().handlers:  # StepTimes listens at INFO; stderr does not
        handler.setLevel(logging.WARNING)
    if args.lake:
        src_lake, truth_root = Path(args.lake).resolve(), Path(args.truth).resolve()
        conf = load_config(args.conf, [f"lake.root={work / 'lake'}", *args.set])
        spark = build_spark(conf)
    else:
        from c360.generate.export import generate

        src_lake, truth_root = work / "source-lake", work / "truth"
        conf = load_config(
            args.conf,
            [
                f"generator.persons={args.persons}",
                f"generator.companies={max(10, args.persons // 25)}",
                f"landing.root={work / 'landing'}",
                f"generator.truth_root={truth_root}",
                f"lake.root={src_lake}",
                *args.set,
            ],
        )
        spark = build_spark(conf)
        generate(spark, conf)
        run_stages(spark, conf, AS_OF, ["bronze", "silver"])
    from run import StepTimes, commit, slowest_steps

    with StepTimes() as inner:  # the identity stage's own step lines: where its time goes
        compared = side_by_side(spark, conf, work, src_lake, truth_root)
    import splink

    n_records, n_persons = compared["records"], compared["person_records"]
    result: dict[str, object] = {
        "benchmark": "identity: c360 (Spark) vs Splink (DuckDB)",
        "date": dt.date.today().isoformat(),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {"spark": spark.version, "splink": splink.__version__},
        "commit": commit(),
        "overrides": args.set,
        **compared,
        "slowest_steps": slowest_steps(inner.steps, 10),
    }
    rerun_s, peak = compared["c360_rerun_no_new_input_seconds"], compared["c360_peak_jvm_rss_gb"]
    spark.stop()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"identity_{n_records}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"{n_records:,} party records ({n_persons:,} persons); 2 cores; "
        f"load average {result['loadavg_start'][0]:.1f} at start; code {result['commit']}",
        "",
        *markdown_table(result["results"]),
        "",
        f"c360 rerun with no new input: {rerun_s:.0f} s; peak JVM RSS {peak:.2f} GB.",
        "",
        "Slowest steps inside c360's identity runs: "
        + "; ".join(f"{s['step']} {s['seconds']:.0f} s" for s in result["slowest_steps"])
        + ".",
    ]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
