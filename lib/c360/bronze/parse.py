"""Parsing a landed file into bronze rows, with no table written: a source's conventions
(format, encoding, delimiter, quote), malformed rows marked with a reason for the
quarantine, and the lineage every bronze row carries. ``bronze/stage.py`` loads what
this parses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StringType, StructField, StructType

from c360.bronze.landing import (
    LandedFile,
    csv_header,
    normalize_column,
    read_head,
    unique_columns,
)
from c360.config import SourceSpec
from c360.errors import ConfigError, SourceError
from c360.schemas.bronze import LINEAGE, QUARANTINE

CORRUPT = "_corrupt_record"

REASON_MALFORMED = "malformed row: wrong column count or unbalanced quotes"
REASON_BAD_ENCODING = "bad encoding: bytes not valid in {encoding}"
REASON_MOJIBAKE = "encoding mismatch: UTF-8 text in a {encoding} file"
REASON_BROKEN_JSON = "broken JSON: not a JSON object"


@dataclass
class FileOutcome:
    file: LandedFile
    sha: str
    status: str  # loaded | skipped_duplicate | empty | failed
    rows_landed: int = 0
    rows_bronze: int = 0
    rows_quarantined: int = 0
    reconciled: bool | None = None
    txn_version: int | None = None
    columns_added: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0  # hashing, parsing and writing the file


@dataclass(frozen=True)
class Lineage:
    system: str
    run_id: str
    loaded_at: dt.datetime
    as_of: dt.date


# --------------------------------------------------------------------------- parsing


def parse_csv(
    spark: SparkSession, f: LandedFile, spec: SourceSpec, columns: list[str]
) -> DataFrame:
    """Columns as strings, ``_row_number`` (record index, 1-based) and ``_reason``."""
    schema = StructType(
        [StructField(c, StringType()) for c in columns] + [StructField(CORRUPT, StringType())]
    )
    df = (
        spark.read.schema(schema)
        # The header is parsed by us (normalized names); Spark reads it as record 1.
        .option("header", False)
        .option("sep", spec.delimiter)
        .option("encoding", spec.encoding)
        .option("quote", spec.quote)
        .option("escape", spec.quote)
        # One task per file, in file order: keeps quoted newlines and row numbers right.
        .option("multiLine", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .csv(f.path)
    )
    df = df.withColumn(
        "_row_number",
        (F.row_number().over(Window.orderBy(F.monotonically_increasing_id())) - 1).cast("long"),
    ).filter(F.col("_row_number") > 0)
    any_col = [F.col(c) for c in columns]
    return (
        df.withColumn("_reason", _csv_reason(any_col, spec))
        .withColumn(
            "_raw",
            F.coalesce(
                F.col(CORRUPT),
                F.concat_ws(spec.delimiter, *[F.coalesce(c, F.lit("")) for c in any_col]),
            ),
        )
        .drop(CORRUPT)
    )


def _csv_reason(cols: list[Column], spec: SourceSpec) -> Column:
    joined = F.concat_ws("\u0001", *cols)
    reason = F.when(F.col(CORRUPT).isNotNull(), F.lit(REASON_MALFORMED)).when(
        joined.contains("\ufffd"), F.lit(REASON_BAD_ENCODING.format(encoding=spec.encoding))
    )
    if spec.encoding.upper().replace("_", "-") in {
        "ISO-8859-1",
        "LATIN1",
        "LATIN-1",
        "WINDOWS-1252",
        "CP1252",
    }:
        reason = reason.when(
            joined.rlike("Ã[\u0080-\u00bf]"), F.lit(REASON_MOJIBAKE.format(encoding=spec.encoding))
        )
    return reason


def parse_jsonl(spark: SparkSession, f: LandedFile) -> tuple[DataFrame, list[str]]:
    """One JSON object per line; returns the rows and the (normalized) keys in order.

    Row numbers are physical line numbers; blank lines are not records.
    """
    text = spark.read.option("lineSep", "\n").text(f.path)
    text = text.withColumn(
        "_row_number",
        F.row_number().over(Window.orderBy(F.monotonically_increasing_id())).cast("long"),
    )
    text = text.filter(F.trim(F.regexp_replace("value", "\r$", "")) != "")
    text = text.withColumn("_m", F.from_json("value", MapType(StringType(), StringType())))
    first_seen = (
        text.select("_row_number", F.explode(F.map_keys("_m")).alias("k"))
        .groupBy("k")
        .agg(F.min("_row_number").alias("r"))
        .orderBy("r", "k")
        .collect()
    )
    keys = [row.k for row in first_seen]
    names = unique_columns([normalize_column(k) for k in keys])
    reason = F.when(F.col("_m").isNull(), F.lit(REASON_BROKEN_JSON)).when(
        F.col("value").contains("\ufffd"), F.lit(REASON_BAD_ENCODING.format(encoding="UTF-8"))
    )
    df = text.select(
        *[F.col("_m")[k].alias(n) for k, n in zip(keys, names, strict=True)],
        "_row_number",
        reason.alias("_reason"),
        F.col("value").alias("_raw"),
    )
    return df, names


def with_lineage(df: DataFrame, f: LandedFile, sha: str, lin: Lineage) -> DataFrame:
    return df.select(
        "*",
        F.lit(lin.system).alias("_source_system"),
        F.lit(f.relative).alias("_source_file"),
        F.lit(sha).alias("_file_sha256"),
        F.lit(f.batch_id).alias("_batch_id"),
        F.lit(lin.run_id).alias("_run_id"),
        F.lit(lin.loaded_at).cast("timestamp").alias("_loaded_at"),
        F.lit(lin.as_of).cast("date").alias("_as_of"),
    )


# --------------------------------------------------------------------------- one source


@dataclass
class ParsedFile:
    outcome: FileOutcome
    rows: DataFrame  # the file's records: its columns, _row_number, _reason, _raw, lineage
    columns: list[str]


def _required_missing(spec: SourceSpec, columns: list[str]) -> list[str]:
    return [c for c in spec.required_columns if c not in columns]


def parse_file(
    spark: SparkSession, f: LandedFile, sha: str, spec: SourceSpec, lin: Lineage, seq: int
) -> ParsedFile | FileOutcome:
    """The file's records, lazily (no Spark job for CSV); or its outcome when there is
    nothing to load. A missing required column raises ``SourceError``."""
    if spec.format == "csv":
        header = csv_header(read_head(spark, f.path), spec.encoding, spec.delimiter, spec.quote)
        if header is None:
            return FileOutcome(f, sha, "empty")
        columns = header
        parsed = parse_csv(spark, f, spec, columns)
    elif spec.format == "jsonl":
        parsed, columns = parse_jsonl(spark, f)
        if not columns and parsed.limit(1).count() == 0:
            return FileOutcome(f, sha, "empty")
    else:
        raise ConfigError(f"source {f.source}: unknown format '{spec.format}'")
    missing = _required_missing(spec, columns)
    if missing:
        raise SourceError(
            f.source, f"missing required column(s): {', '.join(missing)}", file=f.relative
        )
    outcome = FileOutcome(f, sha, "loaded", txn_version=seq)
    return ParsedFile(outcome, with_lineage(parsed, f, sha, lin), columns)


def to_quarantine_rows(bad: DataFrame, source: str) -> DataFrame:
    """Malformed records of a batch (lineage already on them), as ``bronze.quarantine``."""
    lineage = [F.col(c) for c in LINEAGE.names]  # not "*": a source may have a "source" column
    return bad.select(
        F.lit(source).alias("source"),
        F.col("_reason").alias("reason"),
        F.col("_raw").alias("raw_line"),
        *lineage,
    ).select(*QUARANTINE.names)
