"""Bronze ingestion on real files and real Delta tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.bronze import parse
from c360.bronze.landing import list_files, normalize_column
from c360.bronze.parse import Lineage, parse_file
from c360.bronze.stage import load_batch
from c360.cli import rejected_exit
from c360.config import Config, SourceSpec
from c360.lake import Lake
from c360.runner import StageResult, latest_runs, quarantine_share_line, run_stages
from c360.schemas.bronze import LINEAGE
from conftest import copy_world

AS_OF = dt.date(2026, 11, 3)

TOY = SourceSpec(
    system="Toy CSV", format="csv", delimiter=",", required_columns=["id", "name"], key=["id"]
)
TOYJ = SourceSpec(system="Toy JSON", format="jsonl", required_columns=["id"], key=["id"])


def land(root: Path, source: str, batch: str, name: str, content: bytes) -> Path:
    path = root / source / batch / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def toy_conf(conf: Config, **sources: SourceSpec) -> Config:
    return dataclasses.replace(conf, sources=sources or {"toy": TOY, "toyj": TOYJ})


def files_log(spark: SparkSession, conf: Config):
    return Lake.from_config(conf).read(spark, "ops.bronze_files")


def test_normalize_column() -> None:
    assert normalize_column("\ufeffPolicy ID") == "policy_id"
    assert normalize_column("MemberID") == "member_id"
    assert normalize_column(" RO Number ") == "ro_number"
    assert normalize_column('"EnrolledOn"') == "enrolled_on"
    assert normalize_column("SALE_ID") == "sale_id"


def test_sample_loads_reconciles_and_is_idempotent(
    spark: SparkSession, sample: dict[str, int], sample_conf: Config, world: Path, tmp_path: Path
) -> None:
    """The small world's bronze (``c360 run`` loaded it, conftest ``world``) holds every
    generated record; bronze run again on a copy of it commits nothing."""
    conf = sample_conf.with_overrides([f"lake.root={copy_world(world, tmp_path) / 'lake'}"])
    lake = Lake.from_config(conf)
    log = lake.read(spark, "ops.bronze_files")
    assert log.filter("status != 'loaded'").count() == 0
    assert log.filter("NOT reconciled").count() == 0
    per_source = {
        r.source: r.n for r in log.groupBy("source").agg(F.sum("rows_landed").alias("n")).collect()
    }
    assert per_source == sample  # every generated record landed, none lost
    quarantine = lake.read(spark, "bronze.quarantine")
    assert quarantine.count() > 0  # the generator cuts a few exported lines short
    for source, n in sample.items():
        in_q = quarantine.filter(F.col("source") == source).count()
        assert lake.read(spark, f"bronze.{source}").count() + in_q == n
    versions = {s: lake.delta(spark, f"bronze.{s}").history(1).first().version for s in sample}
    before = lake.read(spark, "bronze.sales")

    run_stages(spark, conf, AS_OF, ["bronze"])  # same input again
    assert {
        s: lake.delta(spark, f"bronze.{s}").history(1).first().version for s in sample
    } == versions
    assert_df_equality(lake.read(spark, "bronze.sales"), before, ignore_row_order=True)
    lineage = (
        lake.read(spark, "bronze.sales")
        .select("_source_system", "_batch_id", "_row_number")
        .distinct()
    )
    assert lineage.filter("_row_number IS NULL OR _batch_id IS NULL").count() == 0
    assert {r._source_system for r in lineage.select("_source_system").distinct().collect()} == {
        "VPP (Sales Operations)"
    }


CASES = [
    # (name, content, expected good rows, expected reasons)
    ("short_row", b"id,name,city\n1,Ana,Madrid\n2,Luis\n", 1, ["malformed row"]),
    ("long_row", b"id,name,city\n1,Ana,Madrid\n2,Luis,Vigo,extra\n", 1, ["malformed row"]),
    ("unterminated_quote", b'id,name,city\n1,Ana,Madrid\n2,"Luis,Vigo\n', 1, ["malformed row"]),
    ("bad_utf8", b"id,name,city\n1,Ana,Madrid\n2,Jos\xe9,Vigo\n", 1, ["bad encoding"]),
    ("embedded_newline_ok", b'id,name,city\n1,"Ana\nMaria",Madrid\n2,"O""Brien",Vigo\n', 2, []),
    ("bom_header", b"\xef\xbb\xbfid,name,city\n1,Ana,Madrid\n", 1, []),
    ("none_values", b"id,name,city\n1,,\n,,\n", 2, []),
]


@pytest.mark.parametrize("name, content, good, reasons", CASES, ids=[c[0] for c in CASES])
def test_csv_malformed_rows_are_quarantined(
    spark: SparkSession,
    conf: Config,
    tmp_path: Path,
    name: str,
    content: bytes,
    good: int,
    reasons: list[str],
) -> None:
    conf = toy_conf(conf, toy=TOY)
    land(Path(conf.landing.root), "toy", "20261101-full", f"{name}.csv", content)
    run_stages(spark, conf, AS_OF, ["bronze"])
    lake = Lake.from_config(conf)
    assert lake.read(spark, "bronze.toy").count() == good
    got = (
        [r.reason for r in lake.read(spark, "bronze.quarantine").collect()]
        if lake.exists(spark, "bronze.quarantine")
        else []
    )
    assert len(got) == len(reasons)
    for reason, expected in zip(sorted(got), sorted(reasons), strict=True):
        assert reason.startswith(expected)
    row = files_log(spark, conf).first()
    assert row.reconciled and row.rows_landed == good + len(reasons)


def test_quarantine_keeps_raw_line_and_row_number(spark: SparkSession, conf: Config) -> None:
    conf = toy_conf(conf, toy=TOY)
    land(
        Path(conf.landing.root),
        "toy",
        "b1",
        "a.csv",
        b"id,name,city\n1,Ana,Madrid\n2,Luis\n3,Eva,Vigo\n",
    )
    run_stages(spark, conf, AS_OF, ["bronze"])
    q = (
        Lake.from_config(conf)
        .read(spark, "bronze.quarantine")
        .select("source", "_source_file", "_row_number", "raw_line")
    )
    expected = spark.createDataFrame([("toy", "toy/b1/a.csv", 2, "2,Luis")], q.schema)
    assert_df_equality(q, expected, ignore_nullable=True)
    good = (
        Lake.from_config(conf).read(spark, "bronze.toy").select("id", "_row_number").orderBy("id")
    )
    assert [(r.id, r._row_number) for r in good.collect()] == [("1", 1), ("3", 3)]


def test_latin1_source_and_mojibake(spark: SparkSession, conf: Config) -> None:
    spec = dataclasses.replace(TOY, delimiter=";", encoding="ISO-8859-1")
    conf = toy_conf(conf, toy=spec)
    content = "id;name;city\n1;José;Córdoba\n2;JosÃ©;Vigo\n".encode("latin-1")
    land(Path(conf.landing.root), "toy", "b1", "a.csv", content)
    run_stages(spark, conf, AS_OF, ["bronze"])
    lake = Lake.from_config(conf)
    assert [r.name for r in lake.read(spark, "bronze.toy").collect()] == ["José"]
    assert lake.read(spark, "bronze.quarantine").first().reason.startswith("encoding mismatch")


def test_jsonl_broken_lines(spark: SparkSession, conf: Config) -> None:
    conf = toy_conf(conf, toyj=TOYJ)
    content = (
        b'{"id": "1", "Name": "Ana", "nps": 9, "tags": {"a": 1}}\n'
        b"\n"
        b'{"id": "2", "Name": "Luis"\n'
        b'["not", "an", "object"]\n'
        b'{"id": "3", "Name": null, "extra": true}\n'
    )
    land(Path(conf.landing.root), "toyj", "b1", "a.jsonl", content)
    results = run_stages(spark, conf, AS_OF, ["bronze"])
    # 2 of 4 landed rows quarantined: above pipeline.max_quarantine_share, so exit 3
    assert results["bronze"].rejected == ["landing.toyj: 2 of 4 rows quarantined (50.0% > 5.0%)"]
    lake = Lake.from_config(conf)
    good = (
        lake.read(spark, "bronze.toyj")
        .orderBy("id")
        .select("id", "name", "nps", "tags", "extra", "_row_number")
    )
    expected = spark.createDataFrame(
        [("1", "Ana", "9", '{"a":1}', None, 1), ("3", None, None, None, "true", 5)], good.schema
    )
    assert_df_equality(good, expected, ignore_nullable=True)
    q = (
        lake.read(spark, "bronze.quarantine")
        .orderBy("_row_number")
        .select("_row_number", "reason")
        .collect()
    )
    assert [(r._row_number, r.reason) for r in q] == [
        (3, parse.REASON_BROKEN_JSON),
        (4, parse.REASON_BROKEN_JSON),
    ]
    assert files_log(spark, conf).first().reconciled


def test_schema_drift_and_missing_required_column(
    spark: SparkSession, conf: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = toy_conf(conf)
    root = Path(conf.landing.root)
    land(root, "toy", "b1", "a.csv", b"id,name\n1,Ana\n")
    land(root, "toy", "b2", "b.csv", b"id,name,loyalty_tier\n2,Luis,Gold\n")
    land(root, "toy", "b3", "c.csv", b"id,city\n3,Vigo\n")  # lost the required 'name'
    land(root, "toyj", "b1", "a.jsonl", b'{"id": "9"}\n')  # another source carries on
    results = run_stages(spark, conf, AS_OF, ["bronze"])
    assert results["bronze"].rejected == ["toy/b3/c.csv: rejected whole (see ops.bronze_files)"]
    assert rejected_exit(results) == 3
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith("c360:")] == [
        "c360: completed, but input was rejected: toy/b3/c.csv: rejected whole (see "
        "ops.bronze_files); see ops.bronze_files, bronze.quarantine and silver.quarantine"
    ]
    assert rejected_exit({"silver": StageResult()}) == 0
    lake = Lake.from_config(conf)
    toy = lake.read(spark, "bronze.toy").orderBy("id").select("id", "name", "loyalty_tier")
    assert [tuple(r) for r in toy.collect()] == [("1", "Ana", None), ("2", "Luis", "Gold")]
    changes = lake.read(spark, "ops.schema_changes").collect()
    assert [(c.table_name, c.source_file, list(c.columns_added)) for c in changes] == [
        ("bronze.toy", "toy/b2/b.csv", ["loyalty_tier"])
    ]
    failed = files_log(spark, conf).filter("status = 'failed'").first()
    assert failed.file == "toy/b3/c.csv"
    assert "missing required column(s): name" in failed.error and "toy/b3/c.csv" in failed.error
    assert lake.read(spark, "bronze.toyj").count() == 1


def test_empty_zero_byte_and_duplicate_files(spark: SparkSession, conf: Config) -> None:
    conf = toy_conf(conf, toy=TOY)
    root = Path(conf.landing.root)
    land(root, "toy", "b1", "a.csv", b"id,name\n1,Ana\n")
    land(root, "toy", "b2", "a_copy.csv", b"id,name\n1,Ana\n")
    land(root, "toy", "b3", "zero.csv", b"")
    land(root, "toy", "b4", "header_only.csv", b"id,name\n")
    land(root, "toy", "b5", "blank.csv", b"\n\n")
    run_stages(spark, conf, AS_OF, ["bronze"])
    status = {r.file: r.status for r in files_log(spark, conf).collect()}
    assert status == {
        "toy/b1/a.csv": "loaded",
        "toy/b2/a_copy.csv": "skipped_duplicate",
        "toy/b3/zero.csv": "empty",
        "toy/b4/header_only.csv": "loaded",
        "toy/b5/blank.csv": "empty",
    }
    assert Lake.from_config(conf).read(spark, "bronze.toy").count() == 1


def test_missing_source_folder_is_not_fatal(spark: SparkSession, conf: Config) -> None:
    conf = toy_conf(conf)
    land(Path(conf.landing.root), "toyj", "b1", "a.jsonl", b'{"id": "1"}\n')
    result = run_stages(spark, conf, AS_OF, ["bronze"])["bronze"]
    assert result.rows_written == {"bronze.toyj": 1}


def test_crash_after_append_does_not_duplicate(spark: SparkSession, conf: Config) -> None:
    """A run killed after the bronze append but before its log entry: the rerun completes."""
    conf = toy_conf(conf, toy=TOY)
    land(Path(conf.landing.root), "toy", "b1", "a.csv", b"id,name\n1,Ana\n2,Luis\n")
    lake = Lake.from_config(conf)
    (f,) = list_files(spark, conf.landing.root, "toy")
    from c360.bronze.landing import file_sha256

    lin = Lineage("Toy CSV", "crashed-run", dt.datetime(2026, 11, 3, 6, 0), AS_OF)
    parsed = parse_file(spark, f, file_sha256(spark, f.path), TOY, lin, 1)
    load_batch(spark, lake, "toy", [parsed], lin)
    assert not lake.exists(spark, "ops.bronze_files")  # the crash: nothing was logged
    # a new file lands before the rerun: it joins the rerun's batch, the first is not redone
    land(Path(conf.landing.root), "toy", "b2", "b.csv", b"id,name\n3,Eva\n")
    run_stages(spark, conf, AS_OF, ["bronze"])
    assert sorted(r.id for r in lake.read(spark, "bronze.toy").collect()) == ["1", "2", "3"]
    rows = files_log(spark, conf).orderBy("file").collect()
    assert [(r.status, r.reconciled, r.txn_version) for r in rows] == [
        ("loaded", True, 1),
        ("loaded", True, 2),
    ]


def test_unreconciled_file_fails_the_stage(spark: SparkSession, conf: Config) -> None:
    """Rows for a file that appear from elsewhere (a non-idempotent writer) break the counts."""
    from c360.bronze.landing import file_sha256
    from c360.errors import ReconciliationError

    conf = toy_conf(conf, toy=TOY)
    path = land(Path(conf.landing.root), "toy", "b1", "a.csv", b"id,name\n1,Ana\n")
    (f,) = list_files(spark, conf.landing.root, "toy")
    lin = Lineage("Toy CSV", "rogue", dt.datetime(2026, 11, 3), AS_OF)
    parsed = parse_file(spark, f, file_sha256(spark, str(path)), TOY, lin, 1)
    stray = parsed.rows.filter("_reason IS NULL").select("id", "name", *LINEAGE.names)
    stray.write.format("delta").save(Lake.from_config(conf).path("bronze.toy"))  # no batch tag
    with pytest.raises(ReconciliationError, match=r"toy/b1/a.csv"):
        run_stages(spark, conf, AS_OF, ["bronze"])
    row = files_log(spark, conf).first()
    assert row.reconciled is False and row.rows_landed == 1 and row.rows_bronze == 2
    runs = latest_runs(Lake.from_config(conf).read(spark, "ops.job_runs")).first()
    assert runs.status == "failed" and "ReconciliationError" in runs.error


def test_quarantine_share_line() -> None:
    assert quarantine_share_line("silver.sales", 6, 100, 0.05) == (
        "silver.sales: 6 of 100 rows quarantined (6.0% > 5.0%)"
    )
    assert quarantine_share_line("silver.sales", 5, 100, 0.05) is None  # at the limit
    assert quarantine_share_line("silver.sales", 0, 0, 0.05) is None  # nothing landed
