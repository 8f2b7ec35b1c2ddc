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
