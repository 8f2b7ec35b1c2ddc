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

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.bronze.landing import (
    file_sha256,
    list_files,
    source_exists,
)
from c360.bronze.parse import FileOutcome, Lineage, ParsedFile, parse_file, to_quarantine_rows
from c360.config import SourceSpec
from c360.errors import ConfigError, ReconciliationError, SourceError
from c360.io import upsert_rows
from c360.lake import Lake
from c360.runner import StageContext, StageResult, quarantine_share_line
from c360.schemas.bronze import LINEAGE, QUARANTINE
from c360.schemas.ops import BRONZE_FILES
from c360.schemas.pii import STATS_PROPERTY, stats_columns
from c360.schemas.registry import BRONZE_QUARANTINE, OPS_BRONZE_FILES, OPS_SCHEMA_CHANGES

log = logging.getLogger(__name__)

# Bronze commits a rerun looks back through for files a killed run appended but never
# logged: a run writes at most one commit per source to each table.
HISTORY_LOOKBACK = 100


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
            if not exists:  # created first, with its description and lineage comments
                stats = {STATS_PROPERTY: ",".join(stats_columns(LINEAGE))}
                lake.ensure_table(spark, table, good_rows.schema, properties=stats)
            _append_new(
                spark,
                lake,
                table,
                source,
                batch,
                good_rows,
                tag,
                merge_schema=True,
                fresh=not exists,
            )
            lake.register(spark, table)
        if bad:
            lake.ensure_table(spark, BRONZE_QUARANTINE, QUARANTINE)
            bad_rows = to_quarantine_rows(rows.filter(F.col("_reason").isNotNull()), source)
            _append_new(spark, lake, BRONZE_QUARANTINE, source, batch, bad_rows, tag)
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
    fresh: bool = False,
) -> None:
    """Append the batch's rows of the files no earlier commit holds (a killed run's); a
    table this run created (``fresh``) holds none."""
    done = set() if fresh else committed_files(spark, lake, table, source)
    todo = {(p.outcome.file.relative, p.outcome.sha) for p in batch} - done
    if not todo:
        return
    if len(todo) < len(batch):
        pair = F.concat_ws("\u0001", "_source_file", "_file_sha256")
        df = df.filter(pair.isin(sorted(f"{f}\u0001{sha}" for f, sha in todo)))
    _append(df, lake.path(table), tag, merge_schema=merge_schema)


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
    if lake.exists(spark, BRONZE_QUARANTINE):
        parts.append(per_file(BRONZE_QUARANTINE))
    counts = {
        (r["_table"], r["_source_file"], r["_file_sha256"]): int(r["n"])
        for r in reduce(DataFrame.unionByName, parts).collect()
    }
    for o in loaded:
        o.rows_bronze = counts.get((table, o.file.relative, o.sha), 0)
        o.rows_quarantined = counts.get((BRONZE_QUARANTINE, o.file.relative, o.sha), 0)
        o.reconciled = o.rows_landed == o.rows_bronze + o.rows_quarantined


# --------------------------------------------------------------------------- the stage


def _log_rows(spark: SparkSession, lake: Lake) -> dict[str, list]:
    """The file log so far, per source: read once per stage, not once per source."""
    if not lake.exists(spark, OPS_BRONZE_FILES):
        return {}
    out: dict[str, list] = {}
    for r in (
        lake.read(spark, OPS_BRONZE_FILES)
        .select("source", "file", "file_sha256", "status", "txn_version")
        .collect()
    ):
        out.setdefault(r.source, []).append(r)
    return out


def _merge_log(spark: SparkSession, lake: Lake, outcomes: list[FileOutcome], lin: Lineage) -> None:
    if not outcomes:
        return
    run = {"run_id": lin.run_id, "as_of": lin.as_of, "recorded_at": lin.loaded_at}
    rows = [
        {
            "source": o.file.source,
            "file": o.file.relative,
            "file_sha256": o.sha,
            "batch_id": o.file.batch_id,
            "size_bytes": o.file.size,
            "status": o.status,
            "rows_landed": o.rows_landed,
            "rows_bronze": o.rows_bronze,
            "rows_quarantined": o.rows_quarantined,
            "reconciled": o.reconciled,
            "txn_version": o.txn_version,
            "columns_added": o.columns_added,
            "error": o.error,
            **run,
        }
        for o in outcomes
    ]
    upsert_rows(spark, lake, OPS_BRONZE_FILES, rows, ["source", "file", "file_sha256"], update=True)
    changes = [
        {
            "table_name": f"bronze.{o.file.source}",
            "source_file": o.file.relative,
            "batch_id": o.file.batch_id,
            "columns_added": o.columns_added,
            **run,
        }
        for o in outcomes
        if o.columns_added
    ]
    if changes:
        keys = ["table_name", "source_file"]
        upsert_rows(spark, lake, OPS_SCHEMA_CHANGES, changes, keys, update=False)


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
    ctx.lake.ensure_table(ctx.spark, OPS_BRONZE_FILES, BRONZE_FILES)
    ctx.lake.ensure_table(ctx.spark, BRONZE_QUARANTINE, QUARANTINE)
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
            result.rows_written[BRONZE_QUARANTINE] = (
                result.rows_written.get(BRONZE_QUARANTINE, 0) + q
            )
        failed += [o.file.relative for o in outcomes if o.status == "failed"]
        landed = sum(o.rows_landed for o in outcomes)
        share = ctx.conf.pipeline.max_quarantine_share
        line = quarantine_share_line(f"landing.{source}", q, landed, share)
        result.rejected += [line] if line else []
        unreconciled += [o.file.relative for o in outcomes if o.reconciled is False]
    if failed:
        # A bad file fails alone and is reported; the other files and sources are loaded.
        log.error(
            "bronze: %d file(s) failed: %s (see ops.bronze_files)", len(failed), ", ".join(failed)
        )
        result.rejected += [f"{f}: rejected whole (see ops.bronze_files)" for f in failed]
    if unreconciled:
        # Rows went missing between the file and the tables: never let that pass quietly.
        raise ReconciliationError(
            f"bronze: {len(unreconciled)} file(s) do not reconcile (landed != bronze + quarantined): "
            f"{', '.join(unreconciled)}; see ops.bronze_files"
        )
    return result
