"""Latest-version MERGE against a real Delta table in tmp_path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from c360.lake import Lake, with_comments
from c360.meter import jobs_started
from c360.silver.merge import VERSION_COLS, filter_latest, merge_latest

SCHEMA = (
    "id string, city string, _is_deleted boolean, _change_ts timestamp, "
    "_batch_id string, _source_file string, _row_number long"
)
TABLE = "silver.toy"
T = dt.datetime


def batch(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """As a typed silver batch: its version columns are NOT NULL."""
    schema = spark.createDataFrame([], SCHEMA).schema
    return spark.createDataFrame(
        rows,
        StructType(
            [StructField(f.name, f.dataType, f.name not in VERSION_COLS[1:]) for f in schema]
        ),
    )


def current(spark: SparkSession, lake: Lake) -> DataFrame:
    return lake.read(spark, TABLE).select("id", "city", "_is_deleted").orderBy("id")


def expected(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, "id string, city string, _is_deleted boolean")


def new_lake(spark: SparkSession, tmp_path: Path) -> Lake:
    """As in silver, the table's columns carry comments, which a MERGE sees on its
    target's side only (next to the target's columns read as nullable)."""
    lake = Lake(root=str(tmp_path / "lake"))
    schema = batch(spark, []).schema
    lake.ensure_table(spark, TABLE, with_comments(schema, {c: f"the {c}" for c in schema.names}))
    return lake


def merge(spark: SparkSession, lake: Lake, rows: list[tuple]) -> dict[str, int]:
    return merge_latest(lake, spark, TABLE, filter_latest(batch(spark, rows), ("id",)), ("id",))


def test_in_batch_duplicates_resolve_deterministically(spark: SparkSession) -> None:
    rows = [
        ("1", "Madrid", False, T(2026, 11, 1), "b1", "f1", 1),
        ("1", "Sevilla", False, T(2026, 11, 2), "b1", "f1", 2),  # newer change: wins
        ("2", "Bilbao", False, None, "b1", "f1", 3),
        ("2", "BILBAO ", False, None, "b1", "f1", 4),  # same (NULL) time: later row wins
        ("3", None, False, T(2026, 11, 1), "b1", "f1", 5),
        ("3", "Vigo", False, T(2026, 11, 1), "b1", "f2", 1),  # tie: later file wins
    ]
    for order in (rows, list(reversed(rows))):
        got = filter_latest(batch(spark, order), ("id",)).select("id", "city", "_is_deleted")
        want = expected(
            spark, [("1", "Sevilla", False), ("2", "BILBAO ", False), ("3", "Vigo", False)]
        )
        assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)


def test_late_records_never_overwrite_newer(spark: SparkSession, tmp_path: Path) -> None:
    lake = new_lake(spark, tmp_path)
    merge(
        spark,
        lake,
        [
            ("1", "Madrid", False, T(2026, 11, 2), "b2", "f2", 1),
            ("2", "Bilbao", False, T(2026, 11, 2), "b2", "f2", 2),
        ],
    )
    # batch 3 brings an older change of id 1 (arrived late) and a newer one of id 2
    counts = merge(
        spark,
        lake,
        [
            ("1", "Toledo", False, T(2026, 10, 1), "b3", "f3", 1),
            ("2", "Gijón", False, T(2026, 11, 3), "b3", "f3", 2),
            ("3", None, False, T(2026, 11, 3), "b3", "f3", 3),
        ],
    )
    assert counts == {"inserted": 1, "updated": 1}
    want = expected(spark, [("1", "Madrid", False), ("2", "Gijón", False), ("3", None, False)])
    assert_df_equality(current(spark, lake), want, ignore_nullable=True)


def test_deletes_are_tombstones_and_rerun_changes_nothing(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = new_lake(spark, tmp_path)
    first = [("1", "Madrid", False, T(2026, 11, 1), "b1", "f1", 1)]
    merge(spark, lake, first)
    delete = [("1", None, True, T(2026, 11, 2), "b2", "f2", 1)]
    merge(spark, lake, delete)
    want = expected(spark, [("1", None, True)])
    assert_df_equality(current(spark, lake), want, ignore_nullable=True)

    version = lake.delta(spark, TABLE).history(1).collect()[0].version
    # replaying both batches: nothing is newer, so no row changes
    assert merge(spark, lake, first + delete) == {"inserted": 0, "updated": 0}
    assert_df_equality(current(spark, lake), want, ignore_nullable=True)
    last = lake.delta(spark, TABLE).history(1).collect()[0]
    assert last.version == version + 1  # Delta commits the MERGE, but rewrites nothing
    assert int(last.operationMetrics.get("numTargetRowsUpdated", "0")) == 0
    # a late pre-delete change does not resurrect the record
    merge(spark, lake, [("1", "Toledo", False, T(2026, 11, 1, 12), "b3", "f3", 1)])
    assert current(spark, lake).filter(F.col("_is_deleted")).count() == 1


def test_first_write_into_an_empty_table_is_an_append(spark: SparkSession, tmp_path: Path) -> None:
    """Into an empty table a MERGE could only insert: the first write appends (1 Spark
    job, not 7) with the same rows and counts; once the table has rows, MERGE again."""
    lake = new_lake(spark, tmp_path)
    assert lake.is_empty(spark, TABLE)
    rows = [
        ("1", "Madrid", False, T(2026, 11, 1), "b1", "f1", 1),
        ("2", None, None, None, "b1", "f1", 2),  # a None row
        (" 3", "VIGO ", False, T(2026, 11, 1), "b1", "f1", 3),  # a messy one, kept as is
    ]
    assert merge(spark, lake, rows) == {"inserted": 3, "updated": 0}
    assert lake.delta(spark, TABLE).history(1).first().operation == "WRITE"
    want = expected(spark, [(" 3", "VIGO ", False), ("1", "Madrid", False), ("2", None, None)])
    assert_df_equality(current(spark, lake), want, ignore_nullable=True)
    assert not lake.is_empty(spark, TABLE)
    later = [("1", "Toledo", False, T(2026, 11, 2), "b2", "f2", 1)]
    assert merge(spark, lake, later) == {"inserted": 0, "updated": 1}
    assert lake.delta(spark, TABLE).history(1).first().operation == "MERGE"
    # a table whose rows were all deleted is empty again
    lake.delta(spark, TABLE).delete()
    assert lake.is_empty(spark, TABLE)


def test_row_counts_come_from_the_commit_checksum(spark: SparkSession, tmp_path: Path) -> None:
    """Rows per table from the statistics of the files the latest commit's checksum
    lists, less the rows deletion vectors hide: the same numbers as a count, without a
    Spark job; without a checksum, one count job gives them."""
    lake = new_lake(spark, tmp_path)
    path = lake.path(TABLE)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES (delta.enableDeletionVectors = true)")
    rows = [
        ("1", "Madrid", False, T(2026, 11, 1), "b1", "f1", 1),
        ("2", None, None, None, "b1", "f1", 2),  # a None row
        (" 3", "VIGO ", False, T(2026, 11, 1), "b1", "f1", 3),  # a messy one
    ]
    batch(spark, rows).write.format("delta").mode("append").save(path)
    batch(spark, rows[:1]).write.format("delta").mode("append").save(path)
    # a deletion vector hides a row of the first file; the second file goes whole
    lake.delta(spark, TABLE).delete(F.col("id") == "1")
    metrics = lake.delta(spark, TABLE).history(1).first().operationMetrics
    assert (metrics["numDeletionVectorsAdded"], metrics["numRemovedFiles"]) == ("1", "1")
    other = "silver.toy_empty"
    lake.ensure_table(spark, other, batch(spark, []).schema)
    want = {TABLE: lake.read(spark, TABLE).count(), other: 0}
    assert want[TABLE] == 2
    jobs = jobs_started(spark)
    assert lake.row_counts(spark, [TABLE, other]) == want
    assert jobs_started(spark) == jobs
    # no checksum beside the latest commit (another writer, say): counted by Spark
    for crc in Path(path, "_delta_log").glob("*.crc"):
        crc.unlink()
    spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    assert lake.logged_row_count(spark, TABLE) is None
    assert lake.row_counts(spark, [TABLE, other]) == want
    assert jobs_started(spark) > jobs
