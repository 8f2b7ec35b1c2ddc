"""``c360 run --stage silver``: bronze files not yet processed -> typed, deduplicated silver.

Per source, in dependency waves (a table a rule references is built first):
type and standardize -> rank versions of each key in the batch -> declarative DQ rules
(warn / drop / fail) -> MERGE the latest version per key (never older over newer;
deletes as tombstones). Then the shared tables: quarantine, party records, ownerships,
and the vehicles and consents touched. Finally every file is reconciled from the tables
(bronze rows = current + quarantined + superseded) and logged in ``ops.silver_files``.

Crash safety: every write is idempotent (version-guarded MERGE, insert-only MERGE
for quarantine and logs), and the file log is written last. A killed run leaves its
files unlogged, so the next run processes them again and converges to the same tables.
"""

from __future__ import annotations

import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.errors import DataQualityError, ReconciliationError
from c360.io import checkpointed, insert_new, upsert_rows
from c360.lake import Lake
from c360.runner import StageContext, StageResult, quarantine_share_line
from c360.schemas import silver as S
from c360.schemas.registry import (
    OPS_BRONZE_FILES,
    OPS_DQ_RESULTS,
    OPS_SILVER_FILES,
    SILVER_QUARANTINE,
    schema_of,
)
from c360.schemas.validate import validate_schema
from c360.silver import domain
from c360.silver.dq import (
    DqContext,
    DqRule,
    DqRuleSet,
    RuleResult,
    apply_checks_and_split,
    load_rules,
    raise_on_fail,
    referenced_tables,
)
from c360.silver.merge import (
    VERSION_COLS,
    merge_latest,
    row_states,
    version,
    with_version_rank,
)
from c360.silver.sources import MODELS, SourceModel

log = logging.getLogger(__name__)

SILVER_FILE_COUNTS = ("rows_bronze", "rows_current", "rows_quarantined", "rows_superseded")

VEHICLE_SOURCES = {"sales", "service", "telematics", "finance", "insurance", "subscriptions"}


@dataclass(frozen=True)
class PendingFile:
    file: str
    sha: str
    batch_id: str | None


@dataclass
class SourceOutcome:
    model: SourceModel
    files: list[PendingFile]
    input_id: str
    typed: DataFrame  # every bronze row of the files, typed, with _rank (local checkpoint)
    kept: DataFrame  # latest versions that passed DQ (persisted)
    quarantined: DataFrame  # rows for silver.quarantine
    results: list[RuleResult] = field(default_factory=list)
    merged: dict[str, int] = field(default_factory=dict)
    error: DataQualityError | None = None
    checked: DataFrame | None = None  # the checkpointed frame the rules were evaluated on


def key_rule(model: SourceModel) -> DqRule:
    """Built in, first, and not configurable: a record without its business key is dropped."""
    return DqRule(name="key_present", check="not_null", columns=list(model.key), severity="drop")


def input_id(files: list[PendingFile]) -> str:
    return hashlib.sha256("\n".join(sorted(f.sha for f in files)).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- discovery


def pending_files(spark: SparkSession, lake: Lake) -> dict[str, list[PendingFile]]:
    """Files bronze loaded that silver has not logged yet, per source."""
    if not lake.exists(spark, OPS_BRONZE_FILES):
        return {}
    loaded = lake.read(spark, OPS_BRONZE_FILES).filter(
        (F.col("status") == "loaded") & (F.col("rows_bronze") > 0)
    )
    if lake.exists(spark, OPS_SILVER_FILES):
        done = lake.read(spark, OPS_SILVER_FILES).select("source", "file", "file_sha256")
        loaded = loaded.join(done, ["source", "file", "file_sha256"], "left_anti")
    out: dict[str, list[PendingFile]] = {}
    for r in loaded.select("source", "file", "file_sha256", "batch_id").collect():
        out.setdefault(r.source, []).append(PendingFile(r.file, r.file_sha256, r.batch_id))
    for files in out.values():
        files.sort(key=lambda f: (f.batch_id or "", f.file))
    return out


def waves(models: tuple[SourceModel, ...], rules: DqRuleSet) -> list[list[SourceModel]]:
    """Group sources so that a table a rule references is built in an earlier wave."""
    by_table = {m.table: m for m in models}
    level: dict[str, int] = {}

    def depth(m: SourceModel, seen: tuple[str, ...] = ()) -> int:
        if m.table in level:
            return level[m.table]
        deps = [
            by_table[t]
            for t in referenced_tables(rules.for_table(m.table))
            if t in by_table and t != m.table and t not in seen
        ]
        level[m.table] = 1 + max((depth(d, (*seen, m.table)) for d in deps), default=-1)
        return level[m.table]

    for m in models:
        depth(m)
    out: list[list[SourceModel]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for m in models:
        out[level[m.table]].append(m)
    return out


# --------------------------------------------------------------------------- one source


def process_source(
    ctx: StageContext, model: SourceModel, files: list[PendingFile], rules: list[DqRule]
) -> SourceOutcome:
    spark, lake = ctx.spark, ctx.lake
    t0 = time.perf_counter()
    pairs = [(f.file, f.sha) for f in files]
    bronze = lake.read(spark, f"bronze.{model.source}").filter(
        F.col("_source_file").isin([a for a, _ in pairs])
        & F.col("_file_sha256").isin([b for _, b in pairs])
    )
    typed = bronze.transform(model.typer).withColumns(
        {"_run_id": F.lit(ctx.run_id), "_as_of": F.lit(ctx.as_of)}
    )
    typed = with_version_rank_or_keyless(typed, model.key).transform(checkpointed)
    winners = typed.filter(F.col("_rank") == 1).drop("_rank")
    dq_ctx = DqContext(spark, lake, model.table, model.key, ctx.as_of)
    split = apply_checks_and_split(winners, [key_rule(model), *rules], dq_ctx)
    outcome = SourceOutcome(model, files, input_id(files), typed, split.kept, split.quarantined)
    outcome.results = split.results
    outcome.checked = split.checked
    try:
        raise_on_fail(split)
    except DataQualityError as exc:
        outcome.error = exc
        log.error("step=silver.%s %s", model.source, exc)
        return outcome
    kept = validate_schema(split.kept, model.schema, model.table).persist()
    outcome.kept = kept
    outcome.quarantined = quarantine_rows(split.quarantined, bronze, model)
    outcome.merged = merge_latest(lake, spark, model.table, kept, model.key)
    log.info(
        "step=silver.%s files=%d rows_checked=%d inserted=%d updated=%d seconds=%.1f",
        model.source,
        len(files),
        split.results[0].rows_checked,  # latest version per key (key_present is first)
        outcome.merged["inserted"],
        outcome.merged["updated"],
        time.perf_counter() - t0,
    )
    return outcome


def with_version_rank_or_keyless(df: DataFrame, key: tuple[str, ...]) -> DataFrame:
    """Rank versions per key; rows without a key are not versions of anything (rank 1)."""
    keyless = reduce(lambda a, b: a | b, [F.col(k).isNull() for k in key])
    ranked = with_version_rank(df, key)
    return ranked.withColumn("_rank", F.when(keyless, F.lit(1)).otherwise(F.col("_rank")))


def quarantine_rows(bad: DataFrame, bronze: DataFrame, model: SourceModel) -> DataFrame:
    """The quarantined rows with the bronze record they came from, as JSON text."""
    raw_cols = [c for c in bronze.columns if not c.startswith("_")]
    record = bronze.select(
        "_source_file", "_row_number", F.to_json(F.struct(*raw_cols)).alias("record")
    )
    out = bad.select(
        F.lit(model.source).alias("source"),
        F.lit(model.table).alias("table_name"),
        "_source_file",
        "_batch_id",
        "_row_number",
        F.col("_dq_rules").alias("rules"),
        F.col("_dq_reason").alias("reason"),
        F.col("_dq_columns").alias("columns"),
        "_run_id",
        "_as_of",
    ).join(record, ["_source_file", "_row_number"], "left")
    return out.select(*S.QUARANTINE.names)


# --------------------------------------------------------------------------- shared tables


def _union(frames: list[DataFrame]) -> DataFrame | None:
    return reduce(DataFrame.unionByName, frames) if frames else None


def write_shared(ctx: StageContext, outcomes: list[SourceOutcome]) -> None:
    spark, lake = ctx.spark, ctx.lake
    q = _union([o.quarantined for o in outcomes])
    if q is not None:
        insert_new(spark, lake, SILVER_QUARANTINE, q, ["table_name", "_source_file", "_row_number"])
    party = _union([domain.to_party_records(o.kept, o.model) for o in outcomes if o.model.party])
    if party is not None:
        merge_latest(lake, spark, domain.PARTY_TABLE, party, ("source", "source_record_id"))
    own = _union(
        [domain.to_ownerships(o.kept, o.model) for o in outcomes if o.model.ownership_role]
    )
    if own is not None:
        merge_latest(lake, spark, domain.OWNERSHIPS_TABLE, own, ("source", "source_record_id"))
    vins = _union(
        [
            o.kept.select("vin").filter(F.col("vin").isNotNull())
            for o in outcomes
            if o.model.source in VEHICLE_SOURCES
        ]
    )
    if vins is not None:
        vehicles = domain.vehicles_for(spark, lake, vins, ctx.conf.silver, ctx.run_id)
        domain.merge_by_key(lake, spark, domain.VEHICLES_TABLE, vehicles, ["vin"])
    points = _union(
        [
            o.kept.select("contact_point").filter(F.col("contact_point").isNotNull())
            for o in outcomes
            if o.model.source == "consents"
        ]
    )
    if points is not None:
        consents = domain.consents_for(spark, lake, points, ctx.run_id)
        domain.merge_by_key(
            lake, spark, domain.CONSENTS_TABLE, consents, ["contact_point", "channel"]
        )


# --------------------------------------------------------------------------- reconciliation


def reconcile(ctx: StageContext, o: SourceOutcome) -> list[dict]:
    """Per file, from the tables: bronze rows = current + quarantined + superseded.

    A row is current if silver holds it, quarantined if the quarantine holds it, and
    superseded if a higher version of its key exists (in silver or in this batch).
    Anything else was lost, and the file does not reconcile.
    """
    spark, lake, m = ctx.spark, ctx.lake, o.model
    files = [f.file for f in o.files]
    rows = o.typed.select("_source_file", "_row_number", *m.key, version().alias("_v"))
    current = lake.read(spark, m.table).filter(F.col("_source_file").isin(files))
    quarantined = lake.read(spark, SILVER_QUARANTINE).filter(
        (F.col("table_name") == m.table) & F.col("_source_file").isin(files)
    )
    target = lake.read(spark, m.table).select(*m.key, version().alias("_v"))
    top = (
        target.unionByName(o.typed.select(*m.key, version().alias("_v")))
        .groupBy(*m.key)
        .agg(F.max("_v").alias("_top"))
    )
    state = row_states(rows, current, quarantined, top, list(m.key))
    counts = (
        state.groupBy("_source_file")
        .pivot("_state", ["current", "quarantined", "superseded", "lost"])
        .count()
        .collect()
    )
    by_file = {r["_source_file"]: r for r in counts}
    out = []
    for f in o.files:
        r = by_file.get(f.file)
        cur, qua, sup, lost = (
            int((r[k] if r else 0) or 0) for k in ("current", "quarantined", "superseded", "lost")
        )
        total = cur + qua + sup + lost
        out.append(
            {
                "source": m.source,
                "table_name": m.table,
                "file": f.file,
                "file_sha256": f.sha,
                "batch_id": f.batch_id,
                "rows_bronze": total,
                "rows_current": cur,
                "rows_quarantined": qua,
                "rows_superseded": sup,
                "reconciled": lost == 0,
                "input_id": o.input_id,
                "run_id": ctx.run_id,
                "as_of": ctx.as_of,
                "recorded_at": ctx.started_at,
            }
        )
    return out


def record_results(ctx: StageContext, outcomes: list[SourceOutcome]) -> None:
    rows = [
        {
            "run_id": ctx.run_id,
            "input_id": o.input_id,
            "table_name": r.table,
            "rule": r.rule,
            "check": r.check,
            "severity": r.severity,
            "columns": r.columns,
            "rows_checked": r.rows_checked,
            "rows_failed": r.rows_failed,
            "as_of": ctx.as_of,
            "recorded_at": ctx.started_at,
        }
        for o in outcomes
        for r in o.results
    ]
    if rows:
        keys = ["input_id", "table_name", "rule"]
        upsert_rows(ctx.spark, ctx.lake, OPS_DQ_RESULTS, rows, keys, update=False)


# --------------------------------------------------------------------------- the stage


def ensure_tables(spark: SparkSession, lake: Lake) -> None:
    shared = [SILVER_QUARANTINE, domain.PARTY_TABLE, domain.OWNERSHIPS_TABLE]
    shared += [domain.VEHICLES_TABLE, domain.CONSENTS_TABLE, OPS_DQ_RESULTS, OPS_SILVER_FILES]
    for name in [*(m.table for m in MODELS), *shared]:
        lake.ensure_table(spark, name, schema_of(name))


def run(ctx: StageContext) -> StageResult:
    spark, lake = ctx.spark, ctx.lake
    rules = load_rules(ctx.conf.silver.dq_rules)
    ensure_tables(spark, lake)
    pending = pending_files(spark, lake)
    result = StageResult()
    outcomes: list[SourceOutcome] = []
    try:
        for wave in waves(MODELS, rules):
            todo = [m for m in wave if pending.get(m.source)]
            if not todo:
                continue
            with ThreadPoolExecutor(max_workers=max(1, ctx.conf.silver.parallel_sources)) as pool:
                outcomes += list(
                    pool.map(
                        lambda m: process_source(
                            ctx, m, pending[m.source], rules.for_table(m.table)
                        ),
                        todo,
                    )
                )
            failed = [o for o in outcomes if o.error is not None]
            if failed:
                record_results(ctx, outcomes)
                raise failed[0].error  # type: ignore[misc]
        if not outcomes:
            log.info("step=silver nothing new in bronze")
            return result
        t0 = time.perf_counter()
        write_shared(ctx, outcomes)
        log.info("step=silver.shared seconds=%.1f", time.perf_counter() - t0)
        with ThreadPoolExecutor(max_workers=max(1, ctx.conf.silver.parallel_sources)) as pool:
            log_rows = [
                row for rows in pool.map(lambda o: reconcile(ctx, o), outcomes) for row in rows
            ]
        record_results(ctx, outcomes)
        keys = ["source", "file", "file_sha256"]
        upsert_rows(spark, lake, OPS_SILVER_FILES, log_rows, keys, update=False)
    finally:
        for o in outcomes:
            o.typed.unpersist()
            o.kept.unpersist()
            if o.checked is not None:
                o.checked.unpersist()
    bad = [r for r in log_rows if not r["reconciled"]]
    for r in log_rows:
        bronze = f"bronze.{r['source']}"
        result.rows_read[bronze] = result.rows_read.get(bronze, 0) + r["rows_bronze"]
        written = result.rows_written
        written[r["table_name"]] = written.get(r["table_name"], 0) + r["rows_current"]
        if r["rows_quarantined"]:
            written[SILVER_QUARANTINE] = written.get(SILVER_QUARANTINE, 0) + r["rows_quarantined"]
    per_table: dict[str, tuple[int, int]] = {}
    for r in log_rows:
        q, n = per_table.get(r["table_name"], (0, 0))
        per_table[r["table_name"]] = (q + r["rows_quarantined"], n + r["rows_bronze"])
    share = ctx.conf.pipeline.max_quarantine_share
    lines = [quarantine_share_line(t, q, n, share) for t, (q, n) in sorted(per_table.items())]
    result.rejected += [line for line in lines if line]
    warned = sum(r.rows_failed for o in outcomes for r in o.results if r.severity == "warn")
    log.info(
        "step=silver files=%d rows_in=%d current=%d quarantined=%d superseded=%d warnings=%d",
        len(log_rows),
        *(sum(r[c] for r in log_rows) for c in SILVER_FILE_COUNTS),
        warned,
    )
    if bad:
        raise ReconciliationError(
            f"silver: {len(bad)} file(s) do not reconcile (bronze != current + quarantined + "
            f"superseded): {', '.join(r['file'] for r in bad)}; see {OPS_SILVER_FILES}"
        )
    return result


__all__ = ["VERSION_COLS", "run"]
