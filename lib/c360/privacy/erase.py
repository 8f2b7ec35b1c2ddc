"""Right to erasure: remove one customer from every layer, every export and every file.

The request is logged first (ids only, never the email or phone asked for), then rows go
in an order that keeps the request resumable: exports and gold, then bronze (found through
the silver typers, so every raw spelling and every older version of a record matches),
then silver, with the identity tables that define the person last. Then each table that
lost rows is purged (``purge``): ``REORG ... APPLY (PURGE)`` where deletion vectors are on,
then, on a local lake, the files the current version no longer reads are removed directly
(``VACUUM ... RETAIN 0 HOURS`` on other storage), so neither old data files nor
change-data files keep a copy.
A crashed erase leaves its request ``started``; the next ``c360 erase`` finishes it first.

Contact points (email, phone) are erased only where no other customer's record carries
them: a family's shared email stays with the rest of the family.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import logging
import os
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.activation.export import scrub_exports
from c360.config import Config
from c360.errors import ErasureError
from c360.lake import Lake, is_local, local_path
from c360.logs import step
from c360.schemas.ops import ERASURE_LOG
from c360.session import remove_old_checkpoints
from c360.silver import standardize as st
from c360.silver.phones import phone_e164
from c360.silver.sources import MODELS, SourceModel

log = logging.getLogger(__name__)

ERASURES = "ops.erasure_log"
CROSSWALK = "silver.identity_crosswalk"
CHANGELOG = "silver.identity_changelog"
PARTY_RECORDS = "silver.party_records"
CUSTOMERS = "silver.customers"

# Deleted last, in this order: the footprint of a resumed request is read from them.
IDENTITY_LAST = (CHANGELOG, CUSTOMERS, PARTY_RECORDS, CROSSWALK)
ID_COLUMNS = ("customer_id", "other_id")
RECORD_KEY_COLUMNS = ("record_key", "record_key_l", "record_key_r", "record_key_a", "record_key_b")
EMAIL_COLUMNS = ("email", "recipient_email", "contact_point")
PHONE_COLUMNS = ("phone", "recipient_phone", "contact_point")
ERASE_THREADS = 4  # tables searched, deleted from or purged at once


def lineage() -> Column:
    """A row of a bronze file as "<file>#<row>"."""
    return F.concat_ws("#", F.col("_source_file"), F.col("_row_number").cast("string"))


@dataclass(frozen=True)
class Request:
    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass
class Footprint:
    """Everything that identifies the person in the lake (kept in memory, never logged)."""

    ids: list[str]
    records: dict[str, list[str]]  # source -> source_record_ids
    record_keys: list[str]
    emails: list[str]
    phones: list[str]
    shared: int = 0  # contact points kept because another customer carries them too
    lineage: list[str] = field(default_factory=list)  # bronze "<file>#<row>" of the person


@dataclass
class ErasureResult:
    request_id: str
    customer_ids: list[str]
    rows_deleted: dict[str, int]
    bronze_files: dict[str, int]
    exports: dict[str, int]
    purged: list[str]
    resumed: bool = False


def _norm(spark: SparkSession, value: str, fn) -> str | None:
    return spark.range(1).select(fn(F.lit(value)).alias("v")).first()["v"]


def _table(spark: SparkSession, lake: Lake, name: str) -> DataFrame | None:
    return lake.read(spark, name) if lake.exists(spark, name) else None


def find_customers(spark: SparkSession, lake: Lake, req: Request) -> list[str]:
    """The customer ids a request names; an email or phone must name exactly one."""
    crosswalk = _table(spark, lake, CROSSWALK)
    if req.customer_id:
        if crosswalk is None or crosswalk.filter(F.col("customer_id") == req.customer_id).isEmpty():
            raise ErasureError(f"customer_id {req.customer_id} is not in {CROSSWALK}")
        return [req.customer_id]
    records = _table(spark, lake, PARTY_RECORDS)
    if records is None or crosswalk is None:
        raise ErasureError(f"no {PARTY_RECORDS} / {CROSSWALK} yet: nothing to erase")
    if req.email:
        column, value = "email", _norm(spark, req.email, st.email_clean)
    else:
        column, value = "phone", _norm(spark, req.phone or "", phone_e164)
    if value is None:
        raise ErasureError(f"the given {column} is not a valid {column} once normalized")
    ids = sorted(
        r["customer_id"]
        for r in records.filter(F.col(column) == value)
        .join(crosswalk, ["source", "source_record_id"])
        .select("customer_id")
        .distinct()
        .collect()
    )
    if not ids:
        raise ErasureError(f"no record in {PARTY_RECORDS} carries the given {column}")
    if len(ids) > 1:
        raise ErasureError(
            f"the given {column} is on the records of {len(ids)} customers ({', '.join(ids)}); "
            "erase them one at a time with --customer-id"
        )
    return ids


def with_merged_ids(spark: SparkSession, lake: Lake, ids: list[str]) -> list[str]:
    """The ids, plus the ids once retired into them by a merge (the same person)."""
    changelog = _table(spark, lake, CHANGELOG)
    if changelog is None:
        return sorted(ids)
    merged = (
        changelog.filter((F.col("event") == "merge") & F.col("customer_id").isin(ids))
        .select("other_id")
        .dropna()
        .collect()
    )
    return sorted({*ids, *(r["other_id"] for r in merged)})


def footprint(
    spark: SparkSession, lake: Lake, ids: list[str], req: Request | None = None
) -> Footprint:
    crosswalk = _table(spark, lake, CROSSWALK)
    mine = (
        []
        if crosswalk is None
        else crosswalk.filter(F.col("customer_id").isin(ids))
        .select("record_key", "source", "source_record_id")
        .collect()
    )
    records: dict[str, list[str]] = {}
    for r in mine:
        records.setdefault(r["source"], []).append(r["source_record_id"])
    emails: set[str] = set()
    phones: set[str] = set()
    party = _table(spark, lake, PARTY_RECORDS)
    shared = 0
    if party is not None and mine:
        keyed = party.withColumn("_mine", _record_match(records))
        for r in keyed.filter("_mine").select("email", "phone").distinct().collect():
            emails.update([r["email"]] if r["email"] else [])
            phones.update([r["phone"]] if r["phone"] else [])
        golden = _table(spark, lake, CUSTOMERS)
        if golden is not None:
            for r in (
                golden.filter(F.col("customer_id").isin(ids)).select("email", "phone").collect()
            ):
                emails.update([r["email"]] if r["email"] else [])
                phones.update([r["phone"]] if r["phone"] else [])
        if req is not None and req.email:
            emails.update(v for v in [_norm(spark, req.email, st.email_clean)] if v)
        if req is not None and req.phone:
            phones.update(v for v in [_norm(spark, req.phone, phone_e164)] if v)
        others = keyed.filter(~F.col("_mine"))
        shared_e = {
            r["email"]
            for r in others.filter(F.col("email").isin(list(emails))).select("email").collect()
        }
        shared_p = {
            r["phone"]
            for r in others.filter(F.col("phone").isin(list(phones))).select("phone").collect()
        }
        shared = len(shared_e) + len(shared_p)
        emails -= shared_e
        phones -= shared_p
    return Footprint(
        ids=ids,
        records=records,
        record_keys=sorted(r["record_key"] for r in mine),
        emails=sorted(emails),
        phones=sorted(phones),
        shared=shared,
    )


def _record_match(records: dict[str, list[str]]) -> Column:
    cond = F.lit(False)
    for source, rids in records.items():
        cond = cond | ((F.col("source") == source) & F.col("source_record_id").isin(rids))
    return cond


def person_filter(table: str, columns: list[str], fp: Footprint) -> Column | None:
    """The rows of ``table`` that are the person's, from the columns it has; None when the
    table has no column that can name a person."""
    conds: list[Column] = []
    cols = set(columns)
    conds += [F.col(c).isin(fp.ids) for c in ID_COLUMNS if c in cols]
    if fp.record_keys:
        conds += [F.col(c).isin(fp.record_keys) for c in RECORD_KEY_COLUMNS if c in cols]
    if {"source", "source_record_id"} <= cols and fp.records:
        conds.append(_record_match(fp.records))
    for model in MODELS:
        if model.party and table in (model.table, f"bronze.{model.source}"):
            (key,) = model.key
            if fp.records.get(model.source):
                conds.append(F.col(key).isin(fp.records[model.source]))
    if fp.emails:
        conds += [F.col(c).isin(fp.emails) for c in EMAIL_COLUMNS if c in cols]
    if fp.phones:
        conds += [F.col(c).isin(fp.phones) for c in PHONE_COLUMNS if c in cols]
    if fp.lineage and {"_source_file", "_row_number"} <= cols and table.endswith(".quarantine"):
        conds.append(lineage().isin(fp.lineage))
    return any_of(conds)


def any_of(conds: list[Column]) -> Column | None:
    """True where any condition holds (NULL counts as false); None for no conditions."""
    if not conds:
        return None
    return F.coalesce(functools.reduce(lambda a, b: a | b, conds), F.lit(False))


def bronze_lineage(spark: SparkSession, lake: Lake, fp: Footprint) -> dict[str, list[str]]:
    """Per bronze table, the person's rows as "<file>#<row>": each source's own silver
    typer reads the raw strings, so every spelling and every older version matches."""

    def rows_of(model: SourceModel) -> tuple[str, list[str]]:
        name = f"bronze.{model.source}"
        if not lake.exists(spark, name):
            return name, []
        typed = lake.read(spark, name).transform(model.typer)
        cond = person_filter(name, typed.columns, fp)
        if cond is None:
            return name, []
        rows = typed.filter(cond).select(lineage().alias("l")).distinct().collect()
        return name, sorted(r["l"] for r in rows)

    # Most of a source's cost is building and planning its typer on the driver: overlap
    # the sources, as silver does.
    with ThreadPoolExecutor(max_workers=ERASE_THREADS) as pool:
        return {name: rows for name, rows in pool.map(rows_of, MODELS) if rows}


def _bronze_quarantine_filter(fp: Footprint) -> Column | None:
    """Malformed raw lines: the person's email, or one of their record ids as a token."""
    conds = [F.lower(F.col("raw_line")).contains(e) for e in fp.emails]
    for source, rids in fp.records.items():
        for rid in rids:
            token = rf"(^|[^0-9A-Za-z]){_regex_escape(rid)}([^0-9A-Za-z]|$)"
            conds.append((F.col("source") == source) & F.col("raw_line").rlike(token))
    if fp.lineage:
        conds.append(lineage().isin(fp.lineage))
    return any_of(conds)


def table_condition(
    spark: SparkSession, lake: Lake, name: str, fp: Footprint, found: dict[str, list[str]]
) -> Column | None:
    """The person's rows in ``name``: in a bronze table the rows its lineage names
    (``found``, from ``bronze_lineage``), in ``bronze.quarantine`` the raw lines that name
    them, elsewhere ``person_filter`` on the table's columns. None: nothing of theirs."""
    if name in found:
        return lineage().isin(found[name])
    if name == "bronze.quarantine":
        return _bronze_quarantine_filter(fp)
    if name.startswith("bronze."):
        return None
    return person_filter(name, lake.read(spark, name).columns, fp)


@dataclass
class ErasurePlan:
    """What ``c360 erase --dry-run`` reports: counts and row positions, nothing the
    person's rows hold."""

    customer_ids: list[str]
    rows: dict[str, int]  # table -> rows an erasure would delete now
    exports: dict[str, int]  # <folder>/<file> -> rows it would drop
    shared: int  # contact points kept because another customer carries them too
    lineage: dict[str, list[str]]  # bronze table -> the person's rows, "<file>#<row>"


def plan_erasure(spark: SparkSession, conf: Config, req: Request) -> ErasurePlan:
    """The rows ``run_erase`` would delete for ``req``, per table and export file, found
    the way it finds them, in one counting job; nothing is written or logged."""
    lake = Lake.from_config(conf)
    ids = with_merged_ids(spark, lake, find_customers(spark, lake, req))
    fp = footprint(spark, lake, ids, req)
    found = bronze_lineage(spark, lake, fp)
    fp.lineage = sorted({x for rows in found.values() for x in rows})
    scans = []
    for name in [t for t in lake.tables(spark) if not t.startswith("ops.")]:
        cond = table_condition(spark, lake, name, fp, found)
        if cond is not None:
            scans.append(lake.read(spark, name).filter(cond).select(F.lit(name).alias("t")))
    rows = {}
    if scans:
        union = functools.reduce(DataFrame.unionByName, scans)
        rows = {
            r["t"]: int(r["n"])
            for r in union.groupBy("t").count().withColumnRenamed("count", "n").collect()
        }
    exports = scrub_exports(conf.activation.export_root, set(ids), dry_run=True)
    return ErasurePlan(ids, dict(sorted(rows.items())), exports, fp.shared, found)


def _regex_escape(text: str) -> str:
    return "".join("\\" + ch if not ch.isalnum() else ch for ch in text)


def delete_where(spark: SparkSession, lake: Lake, name: str, cond: Column) -> int:
    """Delete the rows where ``cond`` holds, by a MERGE on a hash of the whole row.

    Not ``DELETE WHERE email IN (...)``: Delta writes a DELETE's predicate, literals and
    all, into the commit's ``operationParameters``, so the log would keep the very
    identifiers being erased. A MERGE records only its join condition. The person's row
    hashes come to the driver in the job that finds them (one person: a few rows per
    table), so a table without any costs that one job, and one with some no checkpoint."""
    df = lake.read(spark, name)
    row = F.sha2(F.to_json(F.struct(*[F.col(c) for c in df.columns])), 256)
    found = df.filter(cond).groupBy(row.alias("_h")).count().collect()
    if not found:
        return 0
    hashes = spark.createDataFrame([(r["_h"],) for r in found], "_h string")
    cols = ", ".join(f"t.`{c}`" for c in df.columns)
    (
        lake.delta(spark, name)
        .alias("t")
        .merge(hashes.alias("s"), f"sha2(to_json(struct({cols})), 256) = s._h")
        .whenMatchedDelete()
        .execute()
    )
    return sum(int(r["count"]) for r in found)


@contextlib.contextmanager
def retention_check_off(spark: SparkSession) -> Iterator[None]:
    """VACUUM RETAIN 0 HOURS is refused unless Delta's retention check is off; turn it
    off once around all the purges (they run in threads that share the session)."""
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        yield
    finally:
        spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")


def purge(spark: SparkSession, lake: Lake, name: str) -> int:
    """Leave on disk only the files the current version reads: no old data file, orphan of
    a crashed write, change-data file or deletion vector keeps a copy of a deleted row.
    Rows hidden by deletion vectors are first rewritten out (REORG ... APPLY (PURGE)).
    Local lakes: remove every other file outside ``_delta_log`` (as VACUUM RETAIN 0 HOURS
    does, in a second instead of half a minute per table); other storage: VACUUM.
    Readers of older versions lose them either way. Returns the files removed."""
    path = lake.path(name)
    props = {
        r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()
    }
    if props.get("delta.enableDeletionVectors", "false").lower() == "true":
        spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
    if not is_local(lake.root):
        DeltaTable.forPath(spark, path).vacuum(0)  # inside retention_check_off()
        return -1
    folder = local_path(path)
    live = {local_path(urllib.parse.unquote(f)) for f in lake.read(spark, name).inputFiles()}
    removed = 0
    for sub, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "_delta_log"]
        for f in files:
            full = os.path.join(sub, f)
            if full not in live:
                os.remove(full)
                removed += 1
    return removed


def request_id(ids: list[str], requested_at: dt.datetime) -> str:
    seed = "|".join([*sorted(ids), requested_at.isoformat()])
    return "E" + hashlib.sha256(seed.encode()).hexdigest()[:16]


def _log(spark: SparkSession, lake: Lake, rows: list[dict], *, update: bool) -> None:
    table = lake.ensure_table(spark, ERASURES, ERASURE_LOG)
    src = spark.createDataFrame(
        [tuple(r.get(f.name) for f in ERASURE_LOG.fields) for r in rows], ERASURE_LOG
    )
    merge = table.alias("t").merge(
        src.alias("s"), "t.request_id = s.request_id AND t.customer_id = s.customer_id"
    )
    if update:
        merge = merge.whenMatchedUpdateAll()
    merge.whenNotMatchedInsertAll().execute()


def pending(spark: SparkSession, lake: Lake) -> list[tuple[str, list[str], dt.datetime]]:
    """Requests a crash left unfinished: (request_id, customer ids, requested_at)."""
    table = _table(spark, lake, ERASURES)
    if table is None:
        return []
    rows = table.filter(F.coalesce(F.col("status"), F.lit("done")) != "done").collect()
    out: dict[str, tuple[list[str], dt.datetime]] = {}
    for r in rows:
        out.setdefault(r["request_id"], ([], r["requested_at"]))[0].append(r["customer_id"])
    return [(k, sorted(v[0]), v[1]) for k, v in sorted(out.items())]


def _utcnow() -> dt.datetime:
    # Ops metadata only: when the request was made and finished.
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def erase_customers(
    spark: SparkSession,
    conf: Config,
    ids: list[str],
    *,
    req: Request | None = None,
    request: tuple[str, dt.datetime] | None = None,
) -> ErasureResult:
    """Erase ``ids`` (one person: an id and the ids merged into it) everywhere."""
    lake = Lake.from_config(conf)
    t0 = time.perf_counter()
    resumed = request is not None
    requested_at = request[1] if request else _utcnow()
    rid = request[0] if request else request_id(ids, requested_at)
    base = {"request_id": rid, "requested_at": requested_at, "status": "started"}
    if not resumed:
        _log(spark, lake, [{**base, "customer_id": c} for c in ids], update=False)
    fp = footprint(spark, lake, ids, req)
    log.info(
        "step=erase.footprint request=%s customers=%d records=%d contact_points=%d shared_kept=%d",
        rid,
        len(ids),
        len(fp.record_keys),
        len(fp.emails) + len(fp.phones),
        fp.shared,
    )
    deleted: dict[str, int] = {}
    scrubbed = scrub_exports(conf.activation.export_root, set(ids))
    with step(log, "erase.bronze_lineage") as p:
        found = bronze_lineage(spark, lake, fp)
        p.rows_out = sum(len(v) for v in found.values())
    fp.lineage = sorted({x for rows in found.values() for x in rows})
    files: dict[str, int] = {}
    for rows in found.values():
        for x in rows:
            f = x.rsplit("#", 1)[0]
            files[f] = files.get(f, 0) + 1
    tables = lake.tables(spark)
    # Gold, then bronze, then silver, the identity tables last and one by one: a run
    # killed midway still finds the person through the crosswalk. Within a group the
    # tables are independent, so their deletes overlap.
    groups = [
        [t for t in tables if t.startswith("gold.")],
        [t for t in tables if t.startswith("bronze.")],
        [t for t in tables if t.startswith("silver.") and t not in IDENTITY_LAST],
    ]
    order = [t for g in groups for t in g] + [t for t in IDENTITY_LAST if t in tables]

    def erase_table(name: str) -> None:
        cond = table_condition(spark, lake, name, fp, found)
        if cond is None:
            return
        if name == "bronze.quarantine":
            # Malformed landed lines count as landed rows too: keep per-file counts so
            # landed = bronze + quarantined + erased still adds up (c360.reconcile).
            for r in lake.read(spark, name).filter(cond).groupBy("_source_file").count().collect():
                files[r["_source_file"]] = files.get(r["_source_file"], 0) + int(r["count"])
        n = delete_where(spark, lake, name, cond)
        if n:
            deleted[name] = n
            log.info("step=erase.delete request=%s table=%s rows=%d", rid, name, n)

    t_del = time.perf_counter()
    with ThreadPoolExecutor(max_workers=ERASE_THREADS) as pool:
        for group in groups:
            list(pool.map(erase_table, group))
    for name in IDENTITY_LAST:
        if name in tables:
            erase_table(name)
    deleted = dict(sorted(deleted.items()))  # the threads finish in any order
    log.info("step=erase.delete tables=%d seconds=%.1f", len(order), time.perf_counter() - t_del)
    to_purge = sorted(deleted) if not resumed else [t for t in order if t != ERASURES]
    with (
        step(log, "erase.purge") as p,
        retention_check_off(spark),
        ThreadPoolExecutor(max_workers=ERASE_THREADS) as pool,
    ):
        list(pool.map(lambda name: purge(spark, lake, name), to_purge))
        p.rows_in = len(to_purge)
    checkpoints = remove_old_checkpoints(spark, lake.root)
    _log(
        spark,
        lake,
        [
            {
                **base,
                "customer_id": c,
                "status": "done",
                "completed_at": _utcnow(),
                "rows_deleted": deleted,
                "bronze_files": files,
                "export_rows": sum(scrubbed.values()),
            }
            for c in ids
        ],
        update=True,
    )
    log.info(
        "step=erase request=%s tables=%d rows=%d exports_rows=%d purged=%d checkpoints=%d "
        "seconds=%.1f",
        rid,
        len(deleted),
        sum(deleted.values()),
        sum(scrubbed.values()),
        len(to_purge),
        checkpoints,
        time.perf_counter() - t0,
    )
    return ErasureResult(rid, ids, deleted, files, scrubbed, to_purge, resumed)


def run_erase(spark: SparkSession, conf: Config, req: Request) -> list[ErasureResult]:
    """Finish any request a crash left unfinished, then erase the person ``req`` names."""
    lake = Lake.from_config(conf)
    out = [
        erase_customers(spark, conf, ids, request=(rid, at))
        for rid, ids, at in pending(spark, lake)
    ]
    done = {c for r in out for c in r.customer_ids}
    if req.customer_id and (req.customer_id in done or _erased(spark, lake, req.customer_id)):
        log.info("step=erase customer already erased; nothing left to do")
        return out
    ids = with_merged_ids(spark, lake, find_customers(spark, lake, req))
    out.append(erase_customers(spark, conf, ids, req=req))
    return out


def _erased(spark: SparkSession, lake: Lake, customer_id: str) -> bool:
    table = _table(spark, lake, ERASURES)
    return table is not None and not table.filter(F.col("customer_id") == customer_id).isEmpty()


def erased_ids(spark: SparkSession, lake: Lake) -> DataFrame | None:
    """Every id ever erased: identity never issues them again."""
    table = _table(spark, lake, ERASURES)
    return None if table is None else table.select("customer_id")
