"""``c360 run --stage bronze``: land every new source file into append-only Delta tables.

Per file: hash it, skip it if it was loaded before (same path and content) or is a
copy of a loaded file, parse it with the source's conventions, split malformed rows into
``bronze.quarantine`` with a reason, append the rest to ``bronze.<source>`` with lineage,
then reconcile ``rows landed = rows in bronze + rows quarantined`` from the tables.
The file log ``ops.bronze_files`` is read once and written once per run, for every source.

Crash safety: both appends carry Delta's idempotent-write options
(``txnAppId`` = ``c360-bronze-<source>``, ``txnVersion`` = the source's file sequence).
A rerun after a crash recomputes the same sequence for the same file, so Delta skips a
write that already committed, and the log in ``ops.bronze_files`` is completed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StringType, StructField, StructType

from c360.bronze.landing import (
    LandedFile,
    csv_header,
    file_sha256,
    list_files,
    normalize_column,
    read_head,
    source_exists,
    unique_columns,
)
from c360.config import SourceSpec
from c360.errors import ConfigError, ReconciliationError, SourceError
from c360.lake import Lake
from c360.privacy.pii import STATS_PROPERTY, stats_columns
from c360.runner import StageContext, StageResult
from c360.schemas.bronze import LINEAGE, QUARANTINE
from c360.schemas.ops import BRONZE_FILES, SCHEMA_CHANGES

log = logging.getLogger(__name__)

QUARANTINE_TABLE = "bronze.quarantine"
FILES_TABLE = "ops.bronze_files"
SCHEMA_CHANGES_TABLE = "ops.schema_changes"
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


def to_bronze_rows(
    parsed: DataFrame, columns: list[str], f: LandedFile, sha: str, lin: Lineage
) -> DataFrame:
    good = parsed.filter(F.col("_reason").isNull()).select(*columns, "_row_number")
    out = with_lineage(good, f, sha, lin)
    return out.select(*columns, *LINEAGE.names)


def to_quarantine_rows(parsed: DataFrame, f: LandedFile, sha: str, lin: Lineage) -> DataFrame:
    bad = parsed.filter(F.col("_reason").isNotNull()).select(
        F.lit(f.source).alias("source"),
        F.col("_reason").alias("reason"),
        F.col("_raw").alias("raw_line"),
        "_row_number",
    )
    out = with_lineage(bad, f, sha, lin)
    return out.select(*QUARANTINE.names)


# --------------------------------------------------------------------------- one file


def _required_missing(spec: SourceSpec, columns: list[str]) -> list[str]:
    return [c for c in spec.required_columns if c not in columns]


def ingest_file(
    spark: SparkSession,
    lake: Lake,
    f: LandedFile,
    sha: str,
    spec: SourceSpec,
    lin: Lineage,
    txn_version: int,
) -> FileOutcome:
    """Parse one file and append it to bronze and quarantine (idempotently)."""
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

    parsed = parsed.persist()
    try:
        counts = parsed.groupBy((F.col("_reason").isNull()).alias("ok")).count().collect()
        by_ok = {row.ok: row["count"] for row in counts}
        landed = sum(by_ok.values())
        table = f"bronze.{f.source}"
        existing_cols = lake.read(spark, table).columns if lake.exists(spark, table) else None
        added = [c for c in columns if existing_cols is not None and c not in existing_cols]
        if by_ok.get(True, 0) or existing_cols is None:
            _append(
                to_bronze_rows(parsed, columns, f, sha, lin),
                lake.path(table),
                f"c360-bronze-{f.source}",
                txn_version,
                merge_schema=True,
            )
            lake.register(spark, table)
        if by_ok.get(False, 0):
            lake.ensure_table(spark, QUARANTINE_TABLE, QUARANTINE)
            _append(
                to_quarantine_rows(parsed, f, sha, lin),
                lake.path(QUARANTINE_TABLE),
                f"c360-bronze-quarantine-{f.source}",
                txn_version,
            )
    finally:
        parsed.unpersist()
    # rows_bronze and rows_quarantined are counted from the tables once the source's
    # files are all in (count_from_tables): one job per source, not two per file.
    return FileOutcome(
        f, sha, "loaded", rows_landed=landed, txn_version=txn_version, columns_added=added
    )


def _append(
    df: DataFrame, path: str, app_id: str, version: int, *, merge_schema: bool = False
) -> None:
    writer = (
        df.write.format("delta")
        .mode("append")
        .option("txnAppId", app_id)
        .option("txnVersion", version)
    )
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    # A new source table keeps statistics on the lineage columns only: its raw strings
    # may be anyone's name or email, and the Delta log is never rewritten by an erasure.
    writer = writer.option(STATS_PROPERTY, ",".join(stats_columns(LINEAGE)))
    writer.save(path)


def count_from_tables(
    spark: SparkSession, lake: Lake, source: str, outcomes: list[FileOutcome]
) -> None:
    """Fill in, for each loaded file, its rows in ``bronze.<source>`` and in the quarantine
    as the tables hold them, and whether ``landed = bronze + quarantined``: a writer that
    added rows twice, or lost some, shows here. One Spark job for all the files."""
    loaded = [o for o in outcomes if o.status == "loaded"]
    if not loaded:
        return
    files = sorted({o.file.relative for o in loaded})

    def per_file(name: str) -> DataFrame:
        return (
            lake.read(spark, name)
            .filter(F.col("_source_file").isin(files))
            .groupBy("_source_file", "_file_sha256")
            .agg(F.count(F.lit(1)).alias("n"))
            .withColumn("_table", F.lit(name))
        )

    table = f"bronze.{source}"
    parts = [per_file(table)]
    if lake.exists(spark, QUARANTINE_TABLE):
        parts.append(per_file(QUARANTINE_TABLE))
    counts = {
        (r["_table"], r["_source_file"], r["_file_sha256"]): int(r["n"])
        for r in reduce(DataFrame.unionByName, parts).collect()
    }
    for o in loaded:
        o.rows_bronze = counts.get((table, o.file.relative, o.sha), 0)
        o.rows_quarantined = counts.get((QUARANTINE_TABLE, o.file.relative, o.sha), 0)
        o.reconciled = o.rows_landed == o.rows_bronze + o.rows_quarantined


# --------------------------------------------------------------------------- the stage


def _log_rows(spark: SparkSession, lake: Lake) -> dict[str, list]:
    """The file log so far, per source: read once per stage, not once per source."""
    if not lake.exists(spark, FILES_TABLE):
        return {}
    out: dict[str, list] = {}
    for r in (
        lake.read(spark, FILES_TABLE)
        .select("source", "file", "file_sha256", "status", "txn_version")
        .collect()
    ):
        out.setdefault(r.source, []).append(r)
    return out


def _merge_log(spark: SparkSession, lake: Lake, outcomes: list[FileOutcome], lin: Lineage) -> None:
    if not outcomes:
        return
    rows = [
        (
            o.file.source,
            o.file.relative,
            o.sha,
            o.file.batch_id,
            o.file.size,
            o.status,
            o.rows_landed,
            o.rows_bronze,
            o.rows_quarantined,
            o.reconciled,
            o.txn_version,
            o.columns_added,
            o.error,
            lin.run_id,
            lin.as_of,
            lin.loaded_at,
        )
        for o in outcomes
    ]
    src = spark.createDataFrame(rows, BRONZE_FILES)
    table = lake.ensure_table(spark, FILES_TABLE, BRONZE_FILES)
    (
        table.alias("t")
        .merge(
            src.alias("s"),
            "t.source = s.source AND t.file = s.file AND t.file_sha256 = s.file_sha256",
        )
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    changes = [
        (
            f"bronze.{o.file.source}",
            o.file.relative,
            o.file.batch_id,
            o.columns_added,
            lin.run_id,
            lin.as_of,
            lin.loaded_at,
        )
        for o in outcomes
        if o.columns_added
    ]
    if changes:
        sc = lake.ensure_table(spark, SCHEMA_CHANGES_TABLE, SCHEMA_CHANGES)
        (
            sc.alias("t")
            .merge(
                spark.createDataFrame(changes, SCHEMA_CHANGES).alias("s"),
                "t.table_name = s.table_name AND t.source_file = s.source_file",
            )
            .whenNotMatchedInsertAll()
            .execute()
        )


def ingest_source(
    spark: SparkSession,
    lake: Lake,
    landing_root: str,
    source: str,
    spec: SourceSpec,
    lin: Lineage,
    history: list,
) -> list[FileOutcome]:
    """Ingest every new file of one source (``history``: its rows of the file log so far);
    a bad file fails alone. The caller writes the outcomes to the log."""
    if spec.format == "jsonl" and spec.encoding.upper().replace("_", "-") not in {"UTF-8", "UTF8"}:
        raise ConfigError(
            f"source {source}: JSON lines must be UTF-8 (RFC 8259), got {spec.encoding}"
        )
    if not source_exists(spark, landing_root, source):
        log.warning(
            "source=%s has no landing folder under %s: nothing to load", source, landing_root
        )
        return []
    files = list_files(spark, landing_root, source)
    if not files:
        log.warning("source=%s landing folder is empty: nothing to load", source)
        return []
    seen = {
        (r.file, r.file_sha256)
        for r in history
        if r.status in {"loaded", "empty", "skipped_duplicate"}
    }
    loaded_shas = {r.file_sha256: r.file for r in history if r.status == "loaded"}
    version = max([r.txn_version for r in history if r.txn_version is not None], default=0)
    outcomes: list[FileOutcome] = []
    for f in files:
        t0 = time.perf_counter()
        sha = file_sha256(spark, f.path) if f.size else "empty"
        if (f.relative, sha) in seen:
            continue
        if f.size == 0:
            outcome = FileOutcome(f, sha, "empty")
        elif sha in loaded_shas and loaded_shas[sha] != f.relative:
            outcome = FileOutcome(
                f, sha, "skipped_duplicate", error=f"same content as {loaded_shas[sha]}"
            )
        else:
            try:
                outcome = ingest_file(spark, lake, f, sha, spec, lin, version + 1)
            except SourceError as exc:
                log.error("%s", exc)
                outcome = FileOutcome(f, sha, "failed", error=str(exc))
        if outcome.status == "loaded":
            version += 1
            loaded_shas[sha] = f.relative
        seen.add((f.relative, sha))
        outcome.seconds = time.perf_counter() - t0
        outcomes.append(outcome)
    count_from_tables(spark, lake, source, outcomes)
    for outcome in outcomes:
        if outcome.reconciled is False:
            log.error(
                "source=%s file=%s does not reconcile: landed=%d bronze=%d quarantined=%d",
                source,
                outcome.file.relative,
                outcome.rows_landed,
                outcome.rows_bronze,
                outcome.rows_quarantined,
            )
        log.info(
            "step=bronze.%s file=%s status=%s rows_in=%d rows_out=%d quarantined=%d seconds=%.1f",
            source,
            outcome.file.relative,
            outcome.status,
            outcome.rows_landed,
            outcome.rows_bronze,
            outcome.rows_quarantined,
            outcome.seconds,
        )
    return outcomes


def run(ctx: StageContext) -> StageResult:
    conf = ctx.conf
    # Shared tables are created before the sources start, so no two threads race to it.
    ctx.lake.ensure_table(ctx.spark, FILES_TABLE, BRONZE_FILES)
    ctx.lake.ensure_table(ctx.spark, QUARANTINE_TABLE, QUARANTINE)
    history = _log_rows(ctx.spark, ctx.lake)

    def one(item: tuple[str, SourceSpec]) -> tuple[str, list[FileOutcome]]:
        source, spec = item
        lin = Lineage(spec.system or source, ctx.run_id, ctx.started_at, ctx.as_of)
        return source, ingest_source(
            ctx.spark, ctx.lake, conf.landing.root, source, spec, lin, history.get(source, [])
        )

    # Sources are independent: overlap their small Spark jobs and Delta commits.
    with ThreadPoolExecutor(max_workers=conf.bronze.parallel_sources) as pool:
        done = list(pool.map(one, sorted(conf.sources.items())))
    # One log commit for every source's files. A run killed before it leaves the files
    # unlogged; the next run loads them again, and Delta skips the appends that committed.
    _merge_log(
        ctx.spark,
        ctx.lake,
        [o for _, outcomes in done for o in outcomes],
        Lineage("", ctx.run_id, ctx.started_at, ctx.as_of),
    )

    result = StageResult()
    failed: list[str] = []
    unreconciled: list[str] = []
    for source, outcomes in done:
        if not outcomes:
            continue
        result.rows_read[f"landing.{source}"] = sum(o.rows_landed for o in outcomes)
        result.rows_written[f"bronze.{source}"] = sum(o.rows_bronze for o in outcomes)
        q = sum(o.rows_quarantined for o in outcomes)
        if q:
            result.rows_written[QUARANTINE_TABLE] = result.rows_written.get(QUARANTINE_TABLE, 0) + q
        failed += [o.file.relative for o in outcomes if o.status == "failed"]
        unreconciled += [o.file.relative for o in outcomes if o.reconciled is False]
    if failed:
        # A bad file fails alone and is reported; the other files and sources are loaded.
        log.error(
            "bronze: %d file(s) failed: %s (see ops.bronze_files)", len(failed), ", ".join(failed)
        )
    if unreconciled:
        # Rows went missing between the file and the tables: never let that pass quietly.
        raise ReconciliationError(
            f"bronze: {len(unreconciled)} file(s) do not reconcile (landed != bronze + quarantined): "
            f"{', '.join(unreconciled)}; see ops.bronze_files"
        )
    return result
