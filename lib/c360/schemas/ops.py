"""Schemas of the ``ops`` layer: operational metadata, never personal data."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
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
        StructField("spark_jobs", LongType(), True),
        StructField("delta_commits", LongType(), True),
    ]
)

BRONZE_FILES = StructType(
    [
        StructField("source", StringType(), False),
        StructField("file", StringType(), False),
        StructField("file_sha256", StringType(), False),
        StructField("batch_id", StringType(), True),
        StructField("size_bytes", LongType(), True),
        StructField("status", StringType(), False),
        StructField("rows_landed", LongType(), True),
        StructField("rows_bronze", LongType(), True),
        StructField("rows_quarantined", LongType(), True),
        StructField("reconciled", BooleanType(), True),
        StructField("txn_version", LongType(), True),
        StructField("columns_added", ArrayType(StringType()), True),
        StructField("error", StringType(), True),
        StructField("run_id", StringType(), False),
        StructField("as_of", DateType(), False),
        StructField("recorded_at", TimestampType(), False),
    ]
)

SCHEMA_CHANGES = StructType(
    [
        StructField("table_name", StringType(), False),
        StructField("source_file", StringType(), False),
        StructField("batch_id", StringType(), True),
        StructField("columns_added", ArrayType(StringType()), False),
        StructField("run_id", StringType(), False),
        StructField("as_of", DateType(), False),
        StructField("recorded_at", TimestampType(), False),
    ]
)

DQ_RESULTS = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("input_id", StringType(), False),
        StructField("table_name", StringType(), False),
        StructField("rule", StringType(), False),
        StructField("check", StringType(), False),
        StructField("severity", StringType(), False),
        StructField("columns", ArrayType(StringType()), False),
        StructField("rows_checked", LongType(), False),
        StructField("rows_failed", LongType(), False),
        StructField("as_of", DateType(), False),
        StructField("recorded_at", TimestampType(), False),
    ]
)

SILVER_FILES = StructType(
    [
        StructField("source", StringType(), False),
        StructField("table_name", StringType(), False),
        StructField("file", StringType(), False),
        StructField("file_sha256", StringType(), False),
        StructField("batch_id", StringType(), True),
        StructField("rows_bronze", LongType(), False),
        StructField("rows_current", LongType(), False),
        StructField("rows_quarantined", LongType(), False),
        StructField("rows_superseded", LongType(), False),
        StructField("reconciled", BooleanType(), False),
        StructField("input_id", StringType(), False),
        StructField("run_id", StringType(), False),
        StructField("as_of", DateType(), False),
        StructField("recorded_at", TimestampType(), False),
    ]
)


IDENTITY_MODELS = StructType(
    [
        StructField("party_type", StringType(), False),
        StructField("trained_as_of", DateType(), False),
        StructField("run_id", StringType(), False),
        StructField("records", LongType(), False),
        StructField("model_json", StringType(), False),
    ]
)

# Erasure requests (``c360 erase``): ids and counts only, never the identifiers asked
# for. One row per (request, customer id). The contact plan suppresses every customer
# listed here, and identity never issues these ids again.
ERASURE_LOG = StructType(
    [
        StructField("request_id", StringType(), False),
        StructField("customer_id", StringType(), False),
        StructField("requested_at", TimestampType(), False),
        StructField("status", StringType(), True),
        StructField("completed_at", TimestampType(), True),
        StructField("rows_deleted", MapType(StringType(), LongType()), True),
        StructField("bronze_files", MapType(StringType(), LongType()), True),
        StructField("export_rows", LongType(), True),
    ]
)

# One row per (as_of, layer, table_name, check): the counts that must add up after a run.
RECONCILIATION = StructType(
    [
        StructField("as_of", DateType(), False),
        StructField("layer", StringType(), False),
        StructField("table_name", StringType(), False),
        StructField("check", StringType(), False),
        StructField("expected", LongType(), False),
        StructField("actual", LongType(), False),
        StructField("gap", LongType(), False),
        StructField("ok", BooleanType(), False),
        StructField("severity", StringType(), False),
        StructField("detail", StringType(), True),
        StructField("run_id", StringType(), False),
        StructField("recorded_at", TimestampType(), False),
    ]
)

# Written by ``c360 serve`` with delta-rs (``c360.serve.access.ACCESS_LOG_SCHEMA`` is this
# schema in Arrow; tests/test_serve.py reads the table back with Spark and compares).
ACCESS_LOG = StructType(
    [
        StructField("accessed_at", TimestampType(), False),
        StructField("token_id", StringType(), False),
        StructField("scope", StringType(), False),
        StructField("method", StringType(), False),
        StructField("endpoint", StringType(), False),
        StructField("status", IntegerType(), False),
        StructField("customer_ids", ArrayType(StringType(), True), False),
    ]
)
