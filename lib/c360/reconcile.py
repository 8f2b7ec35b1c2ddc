"""Stage ``reconcile``: the counts that must add up, per layer and table, after each run.

Everything is counted back from the tables as they are now (not from what the stages
said they wrote), so a gap left by a crash, a manual edit or an erasure shows up. The
report goes to ``ops.reconciliation`` (one row per as_of, layer, table and check); the
stage fails with ``ReconciliationError`` naming every check with a gap. Details name
files, tables and counts, never a row's content.

``reconcile.scope``: ``batch`` (the daily default) counts back, row by row, only the files
of this run date and any file silver has not processed yet; the identity and gold checks,
which compare keys of current tables, run whole either way. ``full`` (the weekly audit)
counts every file ever landed: the cost grows with the lake, not with the day.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from c360 import hfs
from c360.activation.export import read_manifest
from c360.errors import ReconciliationError
from c360.io import checkpointed, merge_changed, rows_frame
from c360.lake import Lake
from c360.logs import step
from c360.runner import StageContext, StageResult
from c360.schemas import pseudo as P
from c360.schemas import registry as R
from c360.schemas.ops import RECONCILIATION
from c360.silver.merge import row_states, version
from c360.silver.sources import MODELS, SourceModel, select_versions
from c360.silver.stage import pending_files

log = logging.getLogger(__name__)

TABLE = R.OPS_RECONCILIATION
BRONZE_FILES = R.OPS_BRONZE_FILES
SILVER_FILES = R.OPS_SILVER_FILES
ERASURES = R.OPS_ERASURE_LOG
BRONZE_QUARANTINE = R.BRONZE_QUARANTINE
SILVER_QUARANTINE = R.SILVER_QUARANTINE
PARTY = R.SILVER_PARTY_RECORDS
CROSSWALK = R.SILVER_IDENTITY_CROSSWALK
CUSTOMERS = R.SILVER_CUSTOMERS
PROFILE = R.GOLD_CUSTOMER_360
PSEUDO_TWINS = P.TWINS
PSEUDO_DATED = P.TWIN_DATED
VEHICLES = R.GOLD_VEHICLES
PLAN = R.GOLD_CONTACT_PLAN
RECORD_KEY = ["source", "source_record_id"]
MAX_NAMED = 5  # files or tables named in one detail


@dataclass(frozen=True)
class Check:
    layer: str
    table_name: str
    check: str
    expected: int
    actual: int
    detail: str = ""
    # "error": the counts must add up and a gap fails the stage; "warn": an open item
    # that is already reported where it happened (a landed file rejected whole).
    severity: str = "error"

    @property
    def gap(self) -> int:
        return self.actual - self.expected

    @property
    def ok(self) -> bool:
        return self.gap == 0


def _named(items: dict[str, int]) -> str:
    """``a (+2), b (-1)``: the first few names with their gaps, then how many more."""
    parts = [f"{k} ({v:+d})" for k, v in sorted(items.items())[:MAX_NAMED]]
    more = len(items) - MAX_NAMED
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class Scope:
    """The landed files a run checks, per source; ``files`` None means every file."""

    files: dict[str, frozenset[str]] | None = None

    def of(self, source: str) -> frozenset[str] | None:
        return None if self.files is None else self.files.get(source, frozenset())

    def rows(self, source: str) -> Column:
        """Rows of bronze or silver tables (``_source_file``) in scope for ``source``."""
        mine = self.of(source)
        return F.lit(True) if mine is None else F.col("_source_file").isin(sorted(mine))

    def all_rows(self) -> Column:
        """Rows of any source's files in scope (shared tables: the quarantines)."""
        if self.files is None:
            return F.lit(True)
        return F.col("_source_file").isin(sorted(set().union(*self.files.values())))

    def describe(self) -> str:
        if self.files is None:
            return "full"
        return f"batch of {sum(len(f) for f in self.files.values())} file(s)"


def batch_scope(spark: SparkSession, lake: Lake, as_of: dt.date) -> Scope:
    """Files bronze or silver logged on ``as_of``, and every file silver has still to
    process (whatever its date; ``silver.stage.pending_files``): read from the two file
    logs, a few rows per file."""
    if not lake.exists(spark, BRONZE_FILES):
        return Scope({})
    logs = [t for t in (BRONZE_FILES, SILVER_FILES) if lake.exists(spark, t)]
    today = reduce(
        DataFrame.unionByName,
        [
            lake.read(spark, t).filter(F.col("as_of") == F.lit(as_of)).select("source", "file")
            for t in logs
        ],
    )
    files: dict[str, set[str]] = {}
    for r in today.distinct().collect():
        files.setdefault(r.source, set()).add(r.file)
    for source, pending in pending_files(spark, lake).items():
        files.setdefault(source, set()).update(f.file for f in pending)
    return Scope({k: frozenset(v) for k, v in files.items()})


def _counts(df: DataFrame, key: str) -> dict[str, int]:
    return {r[key]: int(r["n"]) for r in df.groupBy(key).agg(F.count("*").alias("n")).collect()}


# --------------------------------------------------------------------------- bronze


def erased_landed_rows(spark: SparkSession, lake: Lake) -> dict[str, int]:
    """Landed rows removed by ``c360 erase``, per landed file (one request counts once)."""
    if not lake.exists(spark, ERASURES):
        return {}
    per_request = (
        lake.read(spark, ERASURES)
        .filter(F.col("status") == "done")
        .dropDuplicates(["request_id"])
        .select(F.explode("bronze_files").alias("file", "n"))
    )
    return {
        r.file: int(r.n) for r in per_request.groupBy("file").agg(F.sum("n").alias("n")).collect()
    }


def bronze_checks(spark: SparkSession, lake: Lake, scope: Scope = Scope()) -> list[Check]:
    """Per source: landed = bronze + quarantined + erased, per file then summed."""
    if not lake.exists(spark, BRONZE_FILES):
        return []
    files = lake.read(spark, BRONZE_FILES).collect()
    erased = erased_landed_rows(spark, lake)
    in_scope = scope.all_rows()
    quarantine = (
        _counts(lake.read(spark, BRONZE_QUARANTINE).filter(in_scope), "_source_file")
        if lake.exists(spark, BRONZE_QUARANTINE)
        else {}
    )
    sources = sorted({r.source for r in files})
    counted = [s for s in sources if scope.of(s) != frozenset()]  # a batch skips the rest
    per_file = lake.row_counts_by(
        spark,
        [t for t in (f"bronze.{s}" for s in counted) if lake.exists(spark, t)],
        "_source_file",
        in_scope,
    )
    out: list[Check] = []
    for source in sources:
        every = [r for r in files if r.source == source]
        checked = scope.of(source)
        mine = every if checked is None else [r for r in every if r.file in checked]
        table = f"bronze.{source}"
        bronze = per_file.get(table, {})
        landed = {r.file: int(r.rows_landed or 0) for r in mine if r.status == "loaded"}
        placed = {
            f: bronze.get(f, 0) + quarantine.get(f, 0) + erased.get(f, 0)
            for f in set(landed) | set(bronze)
        }
        gaps = {f: placed[f] - landed.get(f, 0) for f in placed if placed[f] != landed.get(f, 0)}
        out.append(
            Check(
                "bronze",
                table,
                "rows landed = bronze + bronze.quarantine + erased",
                sum(landed.values()),
                sum(placed.values()),
                f"files with a gap: {_named(gaps)}" if gaps else f"{len(landed)} file(s)",
            )
        )
        # A file rejected whole (a missing required column) has no rows anywhere; it is
        # retried every run until a corrected file replaces it.
        done = {r.file for r in every if r.status in {"loaded", "empty", "skipped_duplicate"}}
        rejected = sorted({r.file for r in every if r.status == "failed"} - done)
        if rejected:
            out.append(
                Check(
                    "bronze",
                    table,
                    "landed files rejected whole (see ops.bronze_files.error)",
                    0,
                    len(rejected),
                    ", ".join(rejected[:MAX_NAMED]),
                    severity="warn",
                )
            )
    return out


# --------------------------------------------------------------------------- silver


def source_states(
    spark: SparkSession,
    lake: Lake,
    model: SourceModel,
    quarantine: DataFrame,
    processed: DataFrame,
    scope: Scope = Scope(),
) -> DataFrame:
    """Every bronze row of one source in ``scope`` with its state in silver; rows of files
    silver has not processed yet are ``pending``. ``quarantine`` (table_name, _source_file,
    _row_number) and ``processed`` (table_name, file) are shared by every source. Whether
    a row is superseded is decided against every version of its key, in scope or not."""
    key = list(model.key)
    versions = (
        lake.read(spark, f"bronze.{model.source}")
        .transform(select_versions, model)
        .select("_source_file", "_row_number", *key, version().alias("_v"))
    )
    rows = versions.filter(scope.rows(model.source))
    if scope.files is not None:
        versions = versions.join(rows.select(*key).distinct(), key, "left_semi")
    top = versions.groupBy(*key).agg(F.max("_v").alias("_top"))
    silver = lake.read(spark, model.table).filter(scope.rows(model.source))
    mine = F.col("table_name") == model.table
    files = processed.filter(mine).select(
        F.col("file").alias("_source_file"), F.lit(True).alias("_processed")
    )
    states = row_states(rows, silver, quarantine.filter(mine), top, key).join(
        F.broadcast(files), "_source_file", "left"
    )
    pending = F.col("_processed").isNull() & (F.col("_state") == "lost")
    return states.withColumn("_state", F.when(pending, "pending").otherwise(F.col("_state")))


def silver_checks(
    spark: SparkSession, lake: Lake, parallel: int = 1, scope: Scope = Scope()
) -> list[Check]:
    """Per source table: bronze rows = current + quarantined + superseded. The sources are
    counted ``parallel`` at a time: on small data each is mostly driver-side planning, and
    one source's planning overlaps another's job. A batch scope skips sources with no file
    in it."""
    if not lake.exists(spark, SILVER_FILES):
        return []
    models = [
        m
        for m in MODELS
        if lake.exists(spark, f"bronze.{m.source}")
        and lake.exists(spark, m.table)
        and scope.of(m.source) != frozenset()
    ]
    # read once for all sources (a Delta scan plans a job of its own)
    quarantine = (
        lake.read(spark, SILVER_QUARANTINE)
        .filter(scope.all_rows())
        .select("table_name", "_source_file", "_row_number")
        .transform(checkpointed)
    )
    processed = (
        lake.read(spark, SILVER_FILES)
        .select("table_name", "file")
        .distinct()
        .transform(checkpointed)
    )
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(
            pool.map(lambda m: _silver_check(spark, lake, m, quarantine, processed, scope), models)
        )


def _silver_check(
    spark: SparkSession,
    lake: Lake,
    model: SourceModel,
    quarantine: DataFrame,
    processed: DataFrame,
    scope: Scope,
) -> Check:
    counts = (
        source_states(spark, lake, model, quarantine, processed, scope)
        .groupBy("_source_file", "_state")
        .agg(F.count("*").alias("n"))
        .collect()
    )
    total = sum(int(r.n) for r in counts)
    by_state: dict[str, int] = {}
    missing: dict[str, int] = {}
    for r in counts:
        by_state[r._state] = by_state.get(r._state, 0) + int(r.n)
        if r._state in {"lost", "pending"}:
            missing[f"{r._source_file} {r._state}"] = -int(r.n)
    placed = sum(by_state.get(s, 0) for s in ("current", "quarantined", "superseded"))
    parts = [f"{s} {by_state.get(s, 0):,}" for s in ("current", "quarantined", "superseded")]
    detail = "; ".join(parts)
    if scope.files is not None:
        detail += f"; {len(scope.of(model.source) or ())} file(s) of the batch"
    if missing:
        detail += f"; not placed: {_named(missing)}"
    return Check(
        "silver",
        model.table,
        "bronze rows = current + silver.quarantine + superseded",
        total,
        placed,
        detail,
    )


# --------------------------------------------------------------------------- identity, gold


def _equal_keys(
    layer: str, name: str, check: str, a: DataFrame, b: DataFrame, key: list[str], names: tuple
) -> Check:
    """Rows of ``a`` (expected) and ``b`` (actual), and the rows whose key the other side
    lacks, in one join of per-key counts rather than four separate jobs."""
    per_key = [df.groupBy(*key).agg(F.count("*").alias(n)) for df, n in ((a, "_na"), (b, "_nb"))]
    r = (
        per_key[0]
        .join(per_key[1], key, "full_outer")
        .agg(
            F.coalesce(F.sum("_na"), F.lit(0)).alias("na"),
            F.coalesce(F.sum("_nb"), F.lit(0)).alias("nb"),
            F.coalesce(F.sum(F.when(F.col("_nb").isNull(), F.col("_na"))), F.lit(0)).alias("oa"),
            F.coalesce(F.sum(F.when(F.col("_na").isNull(), F.col("_nb"))), F.lit(0)).alias("ob"),
        )
        .first()
    )
    detail = f"{r.oa:,} only in {names[0]}; {r.ob:,} only in {names[1]}" if r.oa or r.ob else ""
    return Check(layer, name, check, int(r.na), int(r.nb), detail)


def identity_checks(spark: SparkSession, lake: Lake) -> list[Check]:
    """Every live party record has one customer, every customer has records."""
    if not lake.exists(spark, PARTY):
        return []
    party = lake.read(spark, PARTY)
    out: list[Check] = []
    by_source = _counts(party, "source")
    models = [m for m in MODELS if m.party and lake.exists(spark, m.table)]
    rows = lake.row_counts(spark, [m.table for m in models])
    for model in models:
        out.append(
            Check(
                "silver",
                PARTY,
                f"{model.table} rows = party records of source {model.source}",
                rows[model.table],
                by_source.get(model.source, 0),
            )
        )
    if not lake.exists(spark, CROSSWALK):
        return out
    crosswalk = lake.read(spark, CROSSWALK)
    live = party.filter(~F.col("is_deleted"))
    out.append(
        _equal_keys(
            "identity",
            CROSSWALK,
            "live party records = crosswalk rows (one customer_id each)",
            live,
            crosswalk.filter(~F.col("is_deleted")),
            RECORD_KEY,
            (PARTY, CROSSWALK),
        )
    )
    if lake.exists(spark, CUSTOMERS):
        ids = crosswalk.filter(~F.col("is_deleted")).select("customer_id").distinct()
        out.append(
            _equal_keys(
                "identity",
                CUSTOMERS,
                "customers = distinct customer_id of the crosswalk",
                ids,
                lake.read(spark, CUSTOMERS),
                ["customer_id"],
                (CROSSWALK, CUSTOMERS),
            )
        )
    return out


def gold_checks(spark: SparkSession, lake: Lake, as_of: dt.date) -> list[Check]:
    """One profile per customer; no gold row of this run names an unknown customer."""
    if not (lake.exists(spark, PROFILE) and lake.exists(spark, CUSTOMERS)):
        return []
    profile = lake.read(spark, PROFILE).select("customer_id")
    out = [
        _equal_keys(
            "gold",
            PROFILE,
            "profiles = silver.customers",
            lake.read(spark, CUSTOMERS),
            profile,
            ["customer_id"],
            (CUSTOMERS, PROFILE),
        )
    ]
    out += twin_checks(spark, lake, as_of)
    if lake.exists(spark, VEHICLES) and lake.exists(spark, R.SILVER_VEHICLES):
        out.append(
            _equal_keys(
                "gold",
                VEHICLES,
                "vehicles = silver.vehicles",
                lake.read(spark, R.SILVER_VEHICLES).select("vin"),
                lake.read(spark, VEHICLES).select("vin"),
                ["vin"],
                (R.SILVER_VEHICLES, VEHICLES),
            )
        )
    if lake.exists(spark, R.GOLD_HOUSEHOLDS) and lake.exists(spark, R.GOLD_HOUSEHOLD_MEMBERS):
        out += household_checks(spark, lake)
    if lake.exists(spark, R.GOLD_ACCOUNT_CONTACTS):
        out.append(account_check(spark, lake))
    # Current-state tables, and this run date's rows of the dated ones (older dates may
    # name ids merged since, which is history, not a gap).
    scoped: dict[str, Column | None] = {
        "gold.lifecycle_segments": None,
        R.GOLD_VEHICLE_OWNERS: None,
        R.GOLD_HOUSEHOLD_MEMBERS: None,
        R.GOLD_ACCOUNT_CONTACTS: None,
        "gold.customer_scores": F.col("as_of") == F.lit(as_of),
        PLAN: F.col("plan_date") == F.lit(as_of),
    }
    for name, scope in scoped.items():
        if not lake.exists(spark, name):
            continue
        df = lake.read(spark, name)
        df = df if scope is None else df.filter(scope)
        rows, orphans = rows_and_unknown(df, "customer_id", profile)
        out.append(
            Check(
                "gold",
                name,
                "rows = rows whose customer_id has a profile",
                rows,
                rows - orphans,
                f"{orphans:,} row(s) name a customer without a profile" if orphans else "",
            )
        )
    return out


def rows_and_unknown(df: DataFrame, column: str, known: DataFrame) -> tuple[int, int]:
    """(rows of ``df``, rows whose ``column`` is not among ``known``'s ``customer_id``),
    in one job: a left join to the distinct known ids."""
    ids = known.select(F.col("customer_id").alias(column)).distinct()
    r = (
        df.select(column)
        .join(ids.withColumn("_known", F.lit(True)), column, "left")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.count(F.when(F.col("_known").isNull(), 1)).alias("unknown"),
        )
        .first()
    )
    return int(r["rows"]), int(r["unknown"])


def account_check(spark: SparkSession, lake: Lake) -> Check:
    """Every account contact row names a company profile as its company (the person side
    is the orphan check's)."""
    companies = lake.read(spark, R.GOLD_CUSTOMER_360).filter(F.col("party_type") == "company")
    rows, bad = rows_and_unknown(lake.read(spark, R.GOLD_ACCOUNT_CONTACTS), "company_id", companies)
    return Check(
        "gold",
        R.GOLD_ACCOUNT_CONTACTS,
        "rows = rows whose company_id is a company profile",
        rows,
        rows - bad,
        f"{bad:,} row(s) name a company_id that is not a company profile" if bad else "",
    )


def twin_checks(spark: SparkSession, lake: Lake, as_of: dt.date) -> list[Check]:
    """Each pseudonymized twin has a row per row of its gold table (this run date's rows
    of the contact plan); counted, since the twins' keys are keyed hashes."""
    out = []
    for name, (source, _) in PSEUDO_TWINS.items():
        if not (lake.exists(spark, name) and lake.exists(spark, source)):
            continue
        if name in PSEUDO_DATED:
            on = F.col(PSEUDO_DATED[name]) == F.lit(as_of)
            n_src = lake.read(spark, source).filter(on).count()
            n_twin = lake.read(spark, name).filter(on).count()
        else:
            counts = lake.row_counts(spark, [source, name])
            n_src, n_twin = counts[source], counts[name]
        out.append(Check("gold", name, f"pseudonymized rows = {source} rows", n_src, n_twin))
    return out


def household_checks(spark: SparkSession, lake: Lake) -> list[Check]:
    """Every household has a row, and the rows count their members once each."""
    members = lake.read(spark, R.GOLD_HOUSEHOLD_MEMBERS)
    households = lake.read(spark, R.GOLD_HOUSEHOLDS)
    tables = (R.GOLD_HOUSEHOLD_MEMBERS, R.GOLD_HOUSEHOLDS)
    listed = households.agg(F.coalesce(F.sum(F.size("member_ids")), F.lit(0)).alias("n")).first()
    n_members = lake.row_counts(spark, [R.GOLD_HOUSEHOLD_MEMBERS])[R.GOLD_HOUSEHOLD_MEMBERS]
    return [
        _equal_keys(
            "gold",
            R.GOLD_HOUSEHOLDS,
            "households = distinct household_id of household_members",
            members.select("household_id").distinct(),
            households.select("household_id"),
            ["household_id"],
            tables,
        ),
        Check(
            "gold",
            R.GOLD_HOUSEHOLDS,
            "household members = member_ids listed by the households",
            n_members,
            int(listed["n"]),
        ),
    ]


def export_checks(spark: SparkSession, lake: Lake, root: str, as_of: dt.date) -> list[Check]:
    """The export folder of this run date: manifest rows = selected plan rows, and every
    file has the rows and checksum its manifest entry says."""
    manifest = read_manifest(spark, root, as_of)
    if manifest is None or not lake.exists(spark, PLAN):
        return []
    folder = f"{root.rstrip('/')}/{as_of.isoformat()}"
    selected = (
        lake.read(spark, PLAN)
        .filter((F.col("plan_date") == F.lit(as_of)) & (F.col("status") == "selected"))
        .count()
    )
    wrong: dict[str, int] = {}
    on_disk = 0
    for entry in manifest["files"]:
        data = hfs.read_bytes(spark, f"{folder}/{entry['file']}")
        rows = sum(1 for _ in csv.reader(data.decode("utf-8").splitlines(keepends=True))) - 1
        on_disk += rows
        if rows != entry["rows"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            wrong[entry["file"]] = rows - entry["rows"]
    name = f"exports/{as_of.isoformat()}"
    return [
        Check(
            "export",
            name,
            "selected contact plan rows = rows in the export files",
            selected,
            on_disk,
            f"{len(manifest['files'])} file(s)",
        ),
        Check(
            "export",
            name,
            "export files = manifest entries with matching rows and sha256",
            len(manifest["files"]),
            len(manifest["files"]) - len(wrong),
            f"files that differ from the manifest: {_named(wrong)}" if wrong else "",
        ),
    ]


# --------------------------------------------------------------------------- the report


def build_checks(
    spark: SparkSession,
    lake: Lake,
    as_of: dt.date,
    export_root: str | None,
    parallel: int = 1,
    scope: Scope = Scope(),
) -> list[Check]:
    layers: list[tuple[str, Callable[[], list[Check]]]] = [
        ("bronze", lambda: bronze_checks(spark, lake, scope)),
        ("silver", lambda: silver_checks(spark, lake, parallel, scope)),
        ("identity", lambda: identity_checks(spark, lake)),
        ("gold", lambda: gold_checks(spark, lake, as_of)),
        ("export", lambda: export_checks(spark, lake, export_root, as_of) if export_root else []),
    ]

    def one(layer: tuple[str, Callable[[], list[Check]]]) -> list[Check]:
        name, fn = layer
        with step(log, f"reconcile.{name}") as p:
            found = fn()
            p.rows_out = len(found)
        return found

    # The layers only read, and each is mostly small jobs and driver-side planning:
    # overlapping them keeps the cores busy. The report keeps the layer order.
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return [c for found in pool.map(one, layers) for c in found]


def report_frame(spark: SparkSession, checks: list[Check], ctx: StageContext) -> DataFrame:
    run = {"as_of": ctx.as_of, "run_id": ctx.run_id, "recorded_at": ctx.started_at}
    rows = [
        {
            "layer": c.layer,
            "table_name": c.table_name,
            "check": c.check,
            "expected": c.expected,
            "actual": c.actual,
            "gap": c.gap,
            "ok": c.ok,
            "severity": c.severity,
            "detail": c.detail or None,
            **run,
        }
        for c in checks
    ]
    return rows_frame(spark, TABLE, rows)


def run(ctx: StageContext) -> StageResult:
    spark, lake = ctx.spark, ctx.lake
    scope = Scope() if ctx.conf.reconcile.scope == "full" else batch_scope(spark, lake, ctx.as_of)
    log.info("step=reconcile scope=%s", scope.describe())
    checks = build_checks(
        spark,
        lake,
        ctx.as_of,
        ctx.conf.activation.export_root,
        ctx.conf.silver.parallel_sources,
        scope,
    )
    report = report_frame(spark, checks, ctx)
    # One report per run date: a rerun replaces it, and an identical one commits nothing.
    content = [c for c in RECONCILIATION.fieldNames() if c not in {"run_id", "recorded_at"}]
    key = ["as_of", "layer", "table_name", "check"]
    written = merge_changed(
        spark,
        lake,
        TABLE,
        report,
        RECONCILIATION,
        key,
        content,
        delete=True,
        scope=F.col("as_of") == F.lit(ctx.as_of),
    )
    for c in checks:
        level = (
            logging.INFO if c.ok else (logging.ERROR if c.severity == "error" else logging.WARNING)
        )
        log.log(
            level,
            "step=reconcile layer=%s table=%s check=%r expected=%d actual=%d gap=%+d %s",
            c.layer,
            c.table_name,
            c.check,
            c.expected,
            c.actual,
            c.gap,
            c.detail,
        )
    result = StageResult(rows_read={"checks": len(checks)}, rows_written={TABLE: written})
    gaps = [c for c in checks if c.severity == "error" and not c.ok]
    if gaps:
        named = "; ".join(f"{c.table_name}: {c.check} (gap {c.gap:+,d}) {c.detail}" for c in gaps)
        raise ReconciliationError(
            f"reconcile: {len(gaps)} check(s) do not add up: {named}; see {TABLE}"
        )
    return result


__all__ = ["Check", "Scope", "batch_scope", "build_checks", "run"]
