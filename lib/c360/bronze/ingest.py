"""``c360 run --stage bronze``: land every new source file into append-only Delta tables.

Per file: hash it, skip it if it was loaded before (same path and content) or is a
copy of a loaded file, and parse it with the source's conventions. Per source, all its
new files at once: split malformed rows into ``bronze.quarantine`` with a reason, append
the rest to ``bronze.<source>`` with lineage (one commit each, whatever the number of
files), then reconcile ``rows landed = rows in bronze + rows quarantined`` per file from
the tables. The file log ``ops.bronze_files`` is read once and written once per run.

Crash safety: each append names the files it holds in its commit's ``userMetadata``. A
rerun after a crash between the appends and the file log finds them there and does not
append those files again; then the log is completed. Rows that reach a table any other
way are not excused: they break the file's counts.
"""

from __future__ import annotations

import datetime as dt
import json
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
from c360.tables import append_if_empty, insert_new

log = logging.getLogger(__name__)

QUARANTINE_TABLE = "bronze.quarantine"
FILES_TABLE = "ops.bronze_files"
SCHEMA_CHANGES_TABLE = "ops.schema_changes"
CORRUPT = "_corrupt_record"
# Bronze commits a rerun looks back through for files a killed run appended but never
# logged: a run writes at most one commit per source to each table.
HISTORY_LOOKBACK = 100

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


def _batch_tag(source: str, files: list[ParsedFile]) -> str:
    """The commit's ``userMetadata``: which landed files it holds, so a rerun after a crash
    between the commit and the file log knows they are in (names and hashes only)."""
    pairs = sorted([p.outcome.file.relative, p.outcome.sha] for p in files)
    return json.dumps({"c360": "bronze", "source": source, "files": pairs})


def committed_files(spark: SparkSession, lake: Lake, table: str, source: str) -> set[tuple]:
    """(file, sha) of ``source`` that recent bronze commits of ``table`` say they hold."""
    if not lake.exists(spark, table):
        return set()
    out: set[tuple] = set()
    for r in lake.delta(spark, table).history(HISTORY_LOOKBACK).select("userMetadata").collect():
        try:
            tag = json.loads(r["userMetadata"] or "null")
        except ValueError:
            continue
        if isinstance(tag, dict) and tag.get("c360") == "bronze" and tag.get("source") == source:
            out.update((f, sha) for f, sha in tag.get("files", []))
    return out


def load_batch(
    spark: SparkSession, lake: Lake, source: str, batch: list[ParsedFile], lin: Lineage
) -> None:
    """Every new file of a source in one pass: one count, one append to ``bronze.<source>``
    and one to the quarantine (was one of each per file).

    Crash safety: each append carries the files it holds in its commit's ``userMetadata``.
    A rerun whose files a commit already holds (the run died before logging them) does
    not append them again; rows written by anything else still break the counts."""
    table = f"bronze.{source}"
    exists = lake.exists(spark, table)
    known = set(lake.read(spark, table).columns) if exists else None
    columns: list[str] = []
    for p in batch:  # a column is new in the first file of the run that brings it
        p.outcome.columns_added = [c for c in p.columns if known is not None and c not in known]
        known = (known or set()) | set(p.columns)
        columns += [c for c in p.columns if c not in columns]
    rows = reduce(
        lambda a, b: a.unionByName(b, allowMissingColumns=True), [p.rows for p in batch]
    ).persist()
    try:
        counts = (
            rows.groupBy("_source_file", F.col("_reason").isNull().alias("ok")).count().collect()
        )
        landed: dict[str, int] = {}
        good = 0
        for r in counts:
            landed[r["_source_file"]] = landed.get(r["_source_file"], 0) + r["count"]
            good += r["count"] if r["ok"] else 0
        for p in batch:
            p.outcome.rows_landed = landed.get(p.outcome.file.relative, 0)
        bad = sum(landed.values()) - good
        tag = _batch_tag(source, batch)
        if good or not exists:
            good_rows = rows.filter(F.col("_reason").isNull()).select(*columns, *LINEAGE.names)
            _append_new(spark, lake, table, source, batch, good_rows, tag, merge_schema=True)
            lake.register(spark, table)
        if bad:
            lake.ensure_table(spark, QUARANTINE_TABLE, QUARANTINE)
            bad_rows = to_quarantine_rows(rows.filter(F.col("_reason").isNotNull()), source)
            _append_new(spark, lake, QUARANTINE_TABLE, source, batch, bad_rows, tag)
    finally:
        rows.unpersist()


def _append_new(
    spark: SparkSession,
    lake: Lake,
    table: str,
    source: str,
    batch: list[ParsedFile],
    df: DataFrame,
    tag: str,
    *,
    merge_schema: bool = False,
) -> None:
    """Append the batch's rows of the files no earlier commit holds (a killed run's)."""
    done = committed_files(spark, lake, table, source)
    todo = {(p.outcome.file.relative, p.outcome.sha) for p in batch} - done
    if not todo:
        return
    if len(todo) < len(batch):
        pair = F.concat_ws("\u0001", "_source_file", "_file_sha256")
        df = df.filter(pair.isin(sorted(f"{f}\u0001{sha}" for f, sha in todo)))
    _append(df, lake.path(table), tag, merge_schema=merge_schema)


def to_quarantine_rows(bad: DataFrame, source: str) -> DataFrame:
    """Malformed records of a batch (lineage already on them), as ``bronze.quarantine``."""
    lineage = [F.col(c) for c in LINEAGE.names]  # not "*": a source may have a "source" column
    return bad.select(
        F.lit(source).alias("source"),
        F.col("_reason").alias("reason"),
        F.col("_raw").alias("raw_line"),
        *lineage,
    ).select(*QUARANTINE.names)


def _append(df: DataFrame, path: str, tag: str, *, merge_schema: bool = False) -> None:
    writer = df.write.format("delta").mode("append").option("userMetadata", tag)
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
    if not append_if_empty(spark, lake, FILES_TABLE, src):
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
        lake.ensure_table(spark, SCHEMA_CHANGES_TABLE, SCHEMA_CHANGES)
        df = spark.createDataFrame(changes, SCHEMA_CHANGES)
        insert_new(spark, lake, SCHEMA_CHANGES_TABLE, df, ["table_name", "source_file"])


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
    batch: list[ParsedFile] = []
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
                parsed = parse_file(spark, f, sha, spec, lin, version + 1)
            except SourceError as exc:
                log.error("%s", exc)
                parsed = FileOutcome(f, sha, "failed", error=str(exc))
            if isinstance(parsed, ParsedFile):
                batch.append(parsed)
                outcome = parsed.outcome
            else:
                outcome = parsed
        if outcome.status == "loaded":
            version += 1
            loaded_shas[sha] = f.relative
        seen.add((f.relative, sha))
        outcome.seconds = time.perf_counter() - t0
        outcomes.append(outcome)
    if batch:
        t0 = time.perf_counter()
        load_batch(spark, lake, source, batch, lin)
        for p in batch:  # the batch's time, shared by its files
            p.outcome.seconds += (time.perf_counter() - t0) / len(batch)
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
