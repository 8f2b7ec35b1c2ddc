"""The bad-input corpus (tests/bad_input_corpus.py) through bronze, silver and the
reconcile stage, once, on real files and real Delta tables; then one test per kind.

For every kind: the stages complete, each bad row is quarantined (or its file rejected)
with a reason, every good row is current in silver, and the counts add up from the landed
file to bronze, quarantine and silver."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bad_input_corpus import DEALERS, HOSTILE_STRINGS, KINDS, RESEND, Kind
from c360.activation.export import csv_safe
from c360.config import Config
from c360.errors import ReconciliationError
from c360.lake import Lake
from c360.runner import run_stages
from c360.silver.sources import MODEL_BY_SOURCE

AS_OF = dt.date(2026, 11, 3)
STAGES = ["bronze", "silver", "reconcile"]


@pytest.fixture(scope="module")
def corpus(spark: SparkSession, base_conf: Config, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("corpus")
    conf = base_conf.with_overrides(
        [
            f"lake.root={root / 'lake'}",
            f"landing.root={root / 'landing'}",
            f"activation.export_root={root / 'exports'}",
        ]
    )
    landing = root / "landing"
    for kind in [*KINDS, RESEND]:
        path = landing / kind.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(kind.content)
    (landing / "dealers" / "20261101-full").mkdir(parents=True)
    (landing / "dealers" / "20261101-full" / "dealers.csv").write_bytes(DEALERS)
    lake = Lake.from_config(conf)
    results = run_stages(spark, conf, AS_OF, STAGES)  # must complete: nothing here is fatal
    versions = {t: lake.delta(spark, t).history(1).first().version for t in tables(lake, spark)}
    return {
        "conf": conf,
        "lake": lake,
        "landing": landing,
        "results": results,
        "versions": versions,
    }


def tables(lake: Lake, spark: SparkSession) -> list[str]:
    names = ["bronze.quarantine", "silver.quarantine", "ops.reconciliation"]
    names += [f"bronze.{s}" for s in ("sales", "service", "ecommerce")]
    names += [MODEL_BY_SOURCE[s].table for s in ("sales", "service", "ecommerce")]
    return [n for n in names if lake.exists(spark, n)]


def _rows(lake: Lake, spark: SparkSession, table: str, file: str):
    if not lake.exists(spark, table):
        return []
    return lake.read(spark, table).filter(F.col("_source_file") == file).collect()


def _landed_lines(kind: Kind) -> int:
    """Data records in the file as a reader of the format sees them (not counting the header)."""
    if not kind.content:
        return 0
    if kind.source == "ecommerce":
        return sum(1 for line in kind.content.splitlines() if line.strip())
    enc = "utf-8" if kind.source != "sales" else "iso-8859-1"
    text = kind.content.decode(enc, errors="replace").lstrip("\ufeff")
    return _csv_rows(text)


def _csv_rows(text: str) -> int:
    csv.field_size_limit(10 * 2**20)
    delim = ";" if text.startswith("SALE_ID") else ","
    rows = [r for r in csv.reader(text.splitlines(keepends=True), delimiter=delim) if r]
    return max(0, len(rows) - 1)


def test_corpus_has_thirty_kinds_in_every_group() -> None:
    assert len(KINDS) >= 30
    assert len({k.name for k in KINDS}) == len(KINDS)
    assert {k.group for k in KINDS} == {"file", "value", "hostile", "batch"}


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_kind(spark: SparkSession, corpus: dict, kind: Kind) -> None:
    lake: Lake = corpus["lake"]
    model = MODEL_BY_SOURCE[kind.source]
    files = lake.read(spark, "ops.bronze_files").filter(F.col("file") == kind.file).collect()
    assert [r.status for r in files] == [kind.status], [(r.status, r.error) for r in files]
    if kind.status == "failed":
        assert files[0].error and kind.source in files[0].error  # the reason names the source
        assert not _rows(lake, spark, f"bronze.{kind.source}", kind.file)
        return
    bronze = _rows(lake, spark, f"bronze.{kind.source}", kind.file)
    quarantined = _rows(lake, spark, "bronze.quarantine", kind.file)
    assert len(quarantined) == kind.bronze_bad, [q.reason for q in quarantined]
    assert all(kind.bronze_reason in q.reason for q in quarantined), [q.reason for q in quarantined]
    # landed = bronze + quarantine (the file log agrees with the tables)
    if kind.status == "loaded":
        assert files[0].rows_landed == len(bronze) + len(quarantined)
        assert files[0].reconciled
    silver = _rows(lake, spark, model.table, kind.file)
    silver_q = [
        r for r in _rows(lake, spark, "silver.quarantine", kind.file) if r.table_name == model.table
    ]
    assert len(silver) == kind.good, [r._dq_warnings for r in silver]
    assert len(silver_q) == kind.silver_bad, [r.rules for r in silver_q]
    assert all(kind.silver_rule in r.rules for r in silver_q), [r.rules for r in silver_q]
    assert all(r.reason for r in silver_q)
    # bronze = silver current + silver quarantine (no duplicates within one kind's file)
    assert len(bronze) == len(silver) + len(silver_q) + kind.superseded
    if kind.flag:
        flagged = [r for r in silver if kind.flag in (r._dq_warnings or [])]
        assert flagged, [r._dq_warnings for r in silver]
    if kind.value:
        column, text = kind.value
        got = [str(r[column]).lower() for r in silver]
        assert any(text.lower() in g for g in got), got


def test_resent_record_is_superseded_not_lost(spark: SparkSession, corpus: dict) -> None:
    lake: Lake = corpus["lake"]
    first = next(k for k in KINDS if k.name == "same_record_resent")
    assert not _rows(lake, spark, "silver.sales", first.file)  # superseded by the resend
    assert len(_rows(lake, spark, "silver.sales", RESEND.file)) == 1


def test_every_landed_row_is_accounted_for(spark: SparkSession, corpus: dict) -> None:
    """The reconcile stage's own report: every error check adds up."""
    lake: Lake = corpus["lake"]
    report = lake.read(spark, "ops.reconciliation").filter(F.col("as_of") == F.lit(AS_OF))
    gaps = report.filter("severity = 'error' AND NOT ok").collect()
    assert gaps == []
    checked = {r.table_name for r in report.collect()}
    assert {"bronze.sales", "bronze.service", "bronze.ecommerce"} <= checked
    assert {"silver.sales", "silver.service_visits", "silver.leads"} <= checked
    rejected = report.filter("severity = 'warn' AND NOT ok").collect()
    assert sorted(r.table_name for r in rejected) == ["bronze.sales", "bronze.service"]
    # The landed side, counted here independently of the pipeline's own file log.
    loaded = [k for k in [*KINDS, RESEND] if k.status == "loaded"]
    for source in ("sales", "service", "ecommerce", "consents"):
        mine = [k for k in loaded if k.source == source]
        landed = sum(_landed_lines(k) for k in mine)
        bronze = lake.read(spark, f"bronze.{source}").count()
        q = lake.read(spark, "bronze.quarantine").filter(F.col("source") == source).count()
        assert landed == bronze + q, source


def test_hostile_values_are_stored_verbatim_and_no_table_was_touched(
    spark: SparkSession, corpus: dict
) -> None:
    lake: Lake = corpus["lake"]
    raw = lake.read(spark, "bronze.ecommerce").filter(F.col("first_name").contains("DROP TABLE"))
    assert raw.count() == 1
    assert lake.read(spark, "silver.sales").count() > 0  # the SQL-looking text did nothing


# slow tier (the default tier's 15-minute budget): test_bronze and test_silver_stage cover reruns changing nothing on the sample
@pytest.mark.slow
def test_rerun_on_the_corpus_changes_nothing(spark: SparkSession, corpus: dict) -> None:
    lake: Lake = corpus["lake"]
    run_stages(spark, corpus["conf"], AS_OF, STAGES)
    after = {t: lake.delta(spark, t).history(1).first().version for t in tables(lake, spark)}
    assert after == corpus["versions"]


@pytest.mark.parametrize("text", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_no_hostile_string_reaches_an_export_as_a_formula(spark: SparkSession, text: str) -> None:
    """What a spreadsheet would evaluate is prefixed with a quote; the rest is unchanged."""
    got = spark.createDataFrame([(text,), (None,)], "v string").select(
        csv_safe(F.col("v")).alias("v")
    )
    safe, none = (r.v for r in got.collect())
    assert none is None
    assert safe.lstrip(" \u3000")[:1] not in set("=+-@\t\r\uff1d"), repr(safe)
    assert safe in {text, "'" + text}  # nothing else is changed


def test_reconcile_names_a_row_that_went_missing(spark: SparkSession, corpus: dict) -> None:
    """A silver row deleted behind the pipeline's back (last: it edits the corpus lake)."""
    lake: Lake = corpus["lake"]
    lake.delta(spark, "silver.leads").delete(F.col("lead_id") == "WEB-BAD00021")
    with pytest.raises(ReconciliationError) as err:
        run_stages(spark, corpus["conf"], AS_OF, ["reconcile"])
    message = str(err.value)
    assert "silver.leads" in message and "gap -1" in message
    assert "ecommerce/20261101-full/broken_json_line.jsonl lost (-1)" in message
    assert "WEB-BAD00021" not in message  # files and counts, never a record's content
    report = lake.read(spark, "ops.reconciliation").filter("NOT ok AND severity = 'error'")
    gaps = sorted((r.table_name, r.gap) for r in report.collect())
    # the silver check, and party records that now outnumber their source table
    assert gaps == [("silver.leads", -1), ("silver.party_records", 1)]
