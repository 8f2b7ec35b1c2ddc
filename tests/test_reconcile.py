"""The reconcile stage on the small world's full run: every layer checked, nothing lost,
and the summary says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.lake import Lake
from c360.silver.sources import MODEL_BY_SOURCE, MODELS, select_versions
from c360.summary import lake_summary


def test_the_world_adds_up_in_every_layer(spark: SparkSession, world: Path) -> None:
    lake = Lake(root=str(world / "lake"))
    report = lake.read(spark, "ops.reconciliation").filter(F.col("as_of") == "2026-11-03")
    rows = report.collect()
    assert {r.layer for r in rows} == {"bronze", "silver", "identity", "gold", "export"}
    assert [r for r in rows if not r.ok] == []
    assert all(r.gap == r.actual - r.expected for r in rows)
    by_table = {r.table_name: r for r in rows if r.layer == "bronze"}
    landed = lake.read(spark, "ops.bronze_files").agg(F.sum("rows_landed")).first()[0]
    assert sum(r.expected for r in by_table.values()) == landed
    assert by_table["bronze.sales"].expected > 0
    # The generator cuts a few lines short: they are part of the bronze sum, not lost.
    assert lake.read(spark, "bronze.quarantine").count() > 0
    notes = lake_summary(spark, lake, str(world / "exports")).notes
    assert f"reconciliation as_of=2026-11-03: {len(rows)} of {len(rows)} checks add up" in notes


def test_equal_keys_counts_rows_and_one_sided_keys(spark: SparkSession) -> None:
    from c360.reconcile import _equal_keys

    a = spark.createDataFrame([("k1",), ("k1",), ("k2",), (None,), (" K3",)], "id string")
    b = spark.createDataFrame([("k1",), ("k4",), ("k4",)], "id string")
    c = _equal_keys("gold", "t", "rows", a, b, ["id"], ("A", "B"))
    # a: 5 rows, 3 of them (k2, NULL, ' K3') have no key in b; b: 3 rows, 2 (k4) not in a
    assert (c.expected, c.actual, c.gap, c.ok) == (5, 3, -2, False)
    assert c.detail == "3 only in A; 2 only in B"
    same = _equal_keys("gold", "t", "rows", b, b, ["id"], ("A", "B"))
    assert (same.expected, same.actual, same.ok, same.detail) == (3, 3, True, "")


def test_every_source_versions_exactly_its_key(spark: SparkSession) -> None:
    """Reconcile groups bronze rows by what ``model.version`` types: the silver key (and
    ``_change_ts``, NULL where a source has none), nothing else."""
    empty = spark.createDataFrame([], "x string")
    for m in MODELS:
        assert set(m.version(empty)) - {"_change_ts"} == set(m.key), m.source


@pytest.mark.parametrize("source", ["sales", "telematics", "market_research"])
def test_reconcile_types_keys_as_silver_does(spark: SparkSession, world: Path, source: str) -> None:
    """A person key, a composite key with a cleaned VIN, a key parsed with a raw value."""
    model = MODEL_BY_SOURCE[source]
    bronze = Lake(root=str(world / "lake")).read(spark, f"bronze.{source}")
    cols = ["_source_file", "_row_number", *model.key, "_change_ts"]
    expected = bronze.transform(model.typer).select(*cols)
    assert_df_equality(
        bronze.transform(select_versions, model).select(*cols),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


@pytest.mark.slow  # about 50 s of a copied world; the world's own run reconciles (batch scope)
def test_batch_scope_counts_the_days_files_and_full_counts_every_file(
    spark: SparkSession, world: Path, tmp_path: Path
) -> None:
    """The world loaded every file on one date: in a copy, the files of all sources but
    ``sales`` move to the day before, and a silver row of an older file goes missing."""
    import datetime as dt
    import shutil

    from c360.reconcile import Scope, batch_scope, build_checks

    shutil.copytree(world / "lake", tmp_path / "lake")
    lake = Lake(root=str(tmp_path / "lake"))
    day2, day1 = dt.date(2026, 11, 3), dt.date(2026, 11, 2)
    for log in ("ops.bronze_files", "ops.silver_files"):
        lake.delta(spark, log).update(F.col("source") != "sales", {"as_of": F.lit(day1)})
    scope = batch_scope(spark, lake, day2)
    sales = {r.file for r in lake.read(spark, "ops.silver_files").collect() if r.source == "sales"}
    assert scope.files == {"sales": frozenset(sales)}
    # telematics has no party records, so no whole-table identity check sees the row go
    old = lake.read(spark, "silver.telematics").select("_source_file").first()[0]
    lake.delta(spark, "silver.telematics").delete(F.col("_source_file") == old)

    batch = build_checks(spark, lake, day2, None, 2, scope)
    assert [c for c in batch if not c.ok] == []
    bronze = {c.table_name: c for c in batch if c.layer == "bronze"}
    landed = lake.read(spark, "ops.bronze_files").filter(F.col("source") == "sales")
    assert bronze["bronze.sales"].expected == landed.agg(F.sum("rows_landed")).first()[0] > 0
    assert bronze["bronze.telematics"].expected == 0  # no file of the day
    silver = {c.table_name for c in batch if c.layer == "silver"}
    assert "silver.sales" in silver and "silver.telematics" not in silver

    full = build_checks(spark, lake, day2, None, 2, Scope())
    gaps = [(c.table_name, c.gap < 0) for c in full if c.severity == "error" and not c.ok]
    assert gaps == [("silver.telematics", True)]  # the weekly audit finds the row
