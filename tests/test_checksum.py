"""Content checksums (``c360 checksum``): equal content in any row order, file layout or
map order gives an equal digest; one changed value, or a lost row, does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, MapType, StringType, StructField, StructType

from c360.checksum import OPS_RUN_COLUMNS, lake_checksums, table_checksum
from c360.errors import ConfigError
from c360.lake import Lake

SCHEMA = StructType(
    [
        StructField("id", StringType(), False),
        StructField("name", StringType(), True),
        StructField("weights", MapType(StringType(), LongType()), True),
        StructField("_run_id", StringType(), True),
    ]
)
ROWS = [
    ("a", "Ana", {"email": 3, "phone": 1}, "run-1"),
    ("b", None, None, "run-1"),  # the None row
    ("c", "  JOSÉ-María\t ", {"x": -1}, "run-1"),  # the messy row
]


def frame(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


def test_equal_content_equal_digest_in_any_order_layout_or_run(spark: SparkSession) -> None:
    want = table_checksum(frame(spark, ROWS), "silver.t")
    assert want.rows == 3
    # reversed rows, maps built in the other order, four files, another run's id
    other = [
        ("c", "  JOSÉ-María\t ", {"x": -1}, "run-2"),
        ("b", None, None, "run-2"),
        ("a", "Ana", {"phone": 1, "email": 3}, "run-2"),
    ]
    got = table_checksum(frame(spark, other).repartition(4), "silver.t")
    assert got == want


@pytest.mark.parametrize(
    "rows",
    [
        [ROWS[0], ROWS[1], ("c", "  JOSÉ-María ", {"x": -1}, "run-1")],  # a tab lost
        [ROWS[0], ROWS[1], ("c", "  JOSÉ-María\t ", {"x": 1}, "run-1")],  # a map value
        [ROWS[0], ROWS[2]],  # a row lost
        [*ROWS, ROWS[1]],  # a row twice
    ],
    ids=["value", "map-value", "lost-row", "duplicated-row"],
)
def test_a_change_changes_the_checksum(spark: SparkSession, rows: list[tuple]) -> None:
    assert table_checksum(frame(spark, rows), "silver.t") != table_checksum(
        frame(spark, ROWS), "silver.t"
    )


def test_lake_checksums_cover_content_layers_only(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(root=str(tmp_path / "lake"))
    df = frame(spark, ROWS)
    for table in ("bronze.t", "silver.t", "gold.t", "ops.job_runs"):
        layer, name = table.split(".")
        df.write.format("delta").save(str(tmp_path / "lake" / layer / name))
    sums = lake_checksums(spark, lake)
    assert sorted(sums) == ["bronze.t", "gold.t", "silver.t"]
    assert len({s.digest for s in sums.values()}) == 1  # same content, same digest
    assert lake_checksums(spark, lake, ("gold",)).keys() == {"gold.t"}
    with pytest.raises(ConfigError, match="unknown layer"):
        lake_checksums(spark, lake, ("platinum",))
    # an empty table: zero rows, digest of nothing
    empty = table_checksum(df.filter(F.lit(False)), "gold.e")
    assert (empty.rows, empty.digest) == (0, "0" * 16)

    # ops on request: on their content, so the same files loaded by a killed and resumed
    # run (other Delta versions, other timings) agree; the log of attempts is left out
    ddl = "file string, rows_bronze long, txn_version long, seconds double"
    first = spark.createDataFrame([("f1", 10, 3, 1.5), ("f2", None, 4, None)], ddl)
    resumed = spark.createDataFrame([("f1", 10, 7, 9.0), ("f2", None, 9, 2.5)], ddl)
    first.write.format("delta").save(str(tmp_path / "lake" / "ops" / "bronze_files"))
    ops = lake_checksums(spark, lake, ("ops",))
    assert ops.keys() == {"ops.bronze_files"}
    assert ops["ops.bronze_files"] == table_checksum(resumed, "ops.bronze_files", OPS_RUN_COLUMNS)
    fewer = resumed.withColumn("rows_bronze", F.lit(9).cast("long"))
    assert ops["ops.bronze_files"] != table_checksum(fewer, "ops.bronze_files", OPS_RUN_COLUMNS)
