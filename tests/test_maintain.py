"""``c360 maintain``: OPTIMIZE and VACUUM on real Delta tables, content unchanged."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.checksum import table_checksum
from c360.config import Config
from c360.errors import ConfigError
from c360.lake import Lake
from c360.maintain import (
    check_cluster_by,
    clustering_columns,
    files_to_read,
    maintain,
    maintain_table,
    retain_hours,
)
from c360.session import spark_conf
from c360.stages import STAGES

TABLE = "silver.t_upkeep"


def parquet_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts]


def test_maintain_compacts_and_vacuums_and_content_is_unchanged(
    spark: SparkSession, conf: Config
) -> None:
    conf = conf.with_overrides(
        [f"maintenance.retain_hours.{layer}=0" for layer in ("bronze", "silver", "gold", "ops")]
        + ["maintenance.allow_short_retention=true"]
    )
    lake = Lake.from_config(conf)
    batches = [
        [("1", "ana.lopez@example.es", 10)],
        [("2", None, None)],  # a None row
        [("3", "  JOSÉ  <Pérez@Example.ES> ", -1), ("4", "x", 4)],  # a messy row
    ]
    for rows in batches:  # one file per daily append
        df = spark.createDataFrame(rows, "id string, email string, n int")
        df.write.format("delta").mode("append").save(lake.path(TABLE))
    lake.delta(spark, TABLE).delete(F.col("id") == "4")  # a rewritten file, one removed
    before = lake.read(spark, TABLE).localCheckpoint()
    digest = table_checksum(lake.read(spark, TABLE), TABLE)
    folder = Path(lake.path(TABLE))
    assert lake.file_count(spark, TABLE) == 3
    assert len(parquet_files(folder)) == 4

    done = maintain(spark, lake, conf.maintenance)  # the stage's body (no ops tables here)

    assert [(d.table, d.files_before, d.files_after, d.compacted) for d in done] == [
        (TABLE, 3, 1, 3)
    ]
    assert done[0].vacuumed == 4  # the three compacted files and the one the delete replaced
    assert lake.file_count(spark, TABLE) == 1  # compacted
    assert len(parquet_files(folder)) == 1  # the old files are gone from storage
    assert table_checksum(lake.read(spark, TABLE), TABLE) == digest
    assert_df_equality(lake.read(spark, TABLE), before, ignore_row_order=True)
    history = lake.delta(spark, TABLE).history().select("operation").collect()
    assert {"OPTIMIZE", "VACUUM START", "VACUUM END"} <= {r[0] for r in history}

    # a second run has nothing to compact and nothing to remove
    again = maintain_table(spark, lake, TABLE, conf.maintenance)
    assert (again.files_before, again.files_after, again.compacted, again.vacuumed) == (1, 1, 0, 0)
    assert len(parquet_files(folder)) == 1


def test_retention_below_deltas_minimum_needs_to_be_allowed(conf: Config) -> None:
    assert STAGES["maintain"] == "c360.maintain:run"  # c360 maintain, jobs/maintain.py
    short = conf.with_overrides(["maintenance.retain_hours.silver=24"])
    assert retain_hours(short.maintenance, "gold") == 168
    with pytest.raises(ConfigError, match=r"maintenance.retain_hours.silver: 24 .*allow_short"):
        retain_hours(short.maintenance, "silver")
    allowed = short.with_overrides(["maintenance.allow_short_retention=true"])
    assert retain_hours(allowed.maintenance, "silver") == 24
    bad = conf.with_overrides(["maintenance.retain_hours.platinum=1"])
    with pytest.raises(ConfigError, match=r"unknown layer.*platinum"):
        retain_hours(bad.maintenance, "silver")


def test_clustering_lays_rows_out_by_the_key_a_point_read_skips_to(
    spark: SparkSession, conf: Config
) -> None:
    """Four daily appends each spread over the whole id range: every file can hold any id.
    Compacted into small files (as a large table's are), the plain table still makes a
    point read open several; clustered by id, one per id range, so a read opens one.
    Content unchanged; a rerun re-lays nothing."""
    lake = Lake.from_config(conf)
    rows = [(f"C{i:04d}", None if i == 7 else f"  n{i} ", i) for i in range(400)]  # None, messy
    tables = {"plain": "silver.t_plain", "clustered": "silver.t_cluster"}
    for name in tables.values():
        for day in range(4):
            day_rows = [r for r in rows if r[2] % 4 == day]
            df = spark.createDataFrame(day_rows, "id string, s string, n int")
            df.write.format("delta").mode("append").save(lake.path(name))
    name = tables["clustered"]
    digest = table_checksum(lake.read(spark, name), name)
    assert files_to_read(lake.path(name), "id", "C0123") == 4
    plain = conf.maintenance
    clustered = dataclasses.replace(plain, cluster_by={name: ["id"]})
    small = {"spark.databricks.delta.optimize.maxFileSize": "2048"}
    with spark_conf(spark, small):
        maintain_table(spark, lake, tables["plain"], plain)
        done = maintain_table(spark, lake, name, clustered)
    assert files_to_read(lake.path(tables["plain"]), "id", "C0123") > 1
    assert clustering_columns(spark, lake, name) == ["id"] and done.clustered_by == ("id",)
    assert done.files_after > 1
    reads = [files_to_read(lake.path(name), "id", k) for k in ("C0000", "C0123", "C0399")]
    assert reads == [1, 1, 1]
    assert table_checksum(lake.read(spark, name), name) == digest
    with spark_conf(spark, small):
        again = maintain_table(spark, lake, name, clustered)
    assert again.compacted == 0 and again.files_after == done.files_after


def test_cluster_by_names_lake_tables_and_columns_with_statistics(conf: Config) -> None:
    ok = dataclasses.replace(conf.maintenance, cluster_by={"gold.customer_360": ["customer_id"]})
    check_cluster_by(ok)
    for bad, match in (
        ({"gold.nothing": ["customer_id"]}, r"gold.nothing is not a lake table"),
        ({"gold.customer_360": ["email"]}, r"cluster_by.gold.customer_360: email cannot"),
        ({"gold.vehicles": []}, r"gold.vehicles: no column cannot"),
    ):
        with pytest.raises(ConfigError, match=match):
            check_cluster_by(dataclasses.replace(conf.maintenance, cluster_by=bad))
