"""Schemas of the bronze layer.

A bronze source table holds the file's own columns, all as strings and named by the
normalized header, followed by the lineage columns below. Quarantine is shared by all
sources.
"""

from __future__ import annotations

from pyspark.sql.types import (
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

LINEAGE = StructType(
    [
        StructField("_source_system", StringType(), False),
        StructField("_source_file", StringType(), False),
        StructField("_file_sha256", StringType(), False),
        StructField("_batch_id", StringType(), False),
        StructField("_row_number", LongType(), False),
        StructField("_run_id", StringType(), False),
        StructField("_loaded_at", TimestampType(), False),
        StructField("_as_of", DateType(), False),
    ]
)

QUARANTINE = StructType(
    [
        StructField("source", StringType(), False),
        StructField("_source_file", StringType(), False),
        StructField("_file_sha256", StringType(), False),
        StructField("_batch_id", StringType(), False),
        StructField("_row_number", LongType(), False),
        StructField("reason", StringType(), False),
        StructField("raw_line", StringType(), True),
        StructField("_run_id", StringType(), False),
        StructField("_loaded_at", TimestampType(), False),
        StructField("_as_of", DateType(), False),
    ]
)
