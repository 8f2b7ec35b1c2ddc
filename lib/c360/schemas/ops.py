"""Schemas of the ``ops`` layer: operational metadata, never personal data."""

from __future__ import annotations

from pyspark.sql.types import (
    DateType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

JOB_RUNS = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("pipeline_run_id", StringType(), False),
        StructField("stage", StringType(), False),
        StructField("as_of", DateType(), False),
        StructField("env", StringType(), True),
        StructField("status", StringType(), False),
        StructField("started_at", TimestampType(), False),
        StructField("ended_at", TimestampType(), True),
        StructField("seconds", DoubleType(), True),
        StructField("rows_read", MapType(StringType(), LongType()), True),
        StructField("rows_written", MapType(StringType(), LongType()), True),
        StructField("error", StringType(), True),
        StructField("spark_master", StringType(), True),
        StructField("app_id", StringType(), True),
    ]
)
