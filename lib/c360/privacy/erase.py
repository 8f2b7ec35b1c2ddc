"""Right to erasure: remove one customer from every layer, every export and every file.

The request is logged first (ids only, never the email or phone asked for), then rows go
in an order that keeps the request resumable: exports and gold, then bronze (found through
the silver typers, so every raw spelling and every older version of a record matches),
then silver, with the identity tables that define the person last. Then each table that
lost rows is purged (``purge``): ``REORG ... APPLY (PURGE)`` where deletion vectors are on,
then the files the current version no longer reads are deleted through the lake's own
file system (local, S3, ADLS, HDFS alike), so neither old data files nor change-data
files keep a copy.
A crashed erase leaves its request ``started``; the next ``c360 erase`` finishes it first.

Contact points (email, phone) are erased only where no other customer's record carries
them: a family's shared email stays with the rest of the family.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.activation.export import scrub_exports
from c360.config import Config
from c360.errors import ErasureError
from c360.identity.fingerprint import forget_fingerprint
from c360.io import read_or_none, upsert_rows
from c360.lake import Lake
from c360.logs import step
from c360.privacy.footprint import (
    CHANGELOG,
    CROSSWALK,
    CUSTOMERS,
    PARTY_RECORDS,
    Request,
    find_customers,
    footprint,
    table_condition,
    with_bronze_lineage,
    with_merged_ids,
)
from c360.privacy.pseudo import keyed_hash, load_key
from c360.privacy.purge import delete_where, purge
from c360.schemas.registry import BRONZE_QUARANTINE, OPS_ERASURE_LOG
from c360.session import remove_old_checkpoints

log = logging.getLogger(__name__)

ERASURES = OPS_ERASURE_LOG
# Deleted last, in this order: the footprint of a resumed request is read from them.
IDENTITY_LAST = (CHANGELOG, CUSTOMERS, PARTY_RECORDS, CROSSWALK)
ERASE_THREADS = 4  # tables deleted from or purged at once

__all__ = ["Request", "footprint", "plan_erasure", "run_erase"]


@dataclass
class ErasureResult:
    request_id: str
    customer_ids: list[str]
    rows_deleted: dict[str, int]
    bronze_files: dict[str, int]
    exports: dict[str, int]
    purged: list[str]
    resumed: bool = False


@dataclass
class ErasurePlan:
    """What ``c360 erase --dry-run`` reports: counts and row positions, nothing the
    person's rows hold."""

    customer_ids: list[str]
    rows: dict[str, int]  # table -> rows an erasure would delete now
    exports: dict[str, int]  # <folder>/<file> -> rows it would drop
    shared: int  # contact points kept because another customer carries them too
    lineage: dict[str, list[str]]  # bronze table -> the person's rows, "<file>#<row>"


def pseudonym_key(conf: Config, tables: list[str]) -> bytes | None:
    """The twins (``pseudo.*``) name a person by the keyed hash of their ids: with twins in
    the lake the key is needed, and a missing one fails before anything is erased
    (``PrivacyError`` names where it was looked for)."""
    return load_key(conf) if any(t.startswith("pseudo.") for t in tables) else None


def keyed_ids(key: bytes | None, ids: list[str]) -> list[str]:
    return [] if key is None else sorted(keyed_hash(key, i) for i in ids)


def plan_erasure(spark: SparkSession, conf: Config, req: Request) -> ErasurePlan:
    """The rows ``run_erase`` would delete for ``req``, per table and export file, found
    the way it finds them, in one counting job; nothing is written or logged."""
    lake = Lake.from_config(conf)
    ids = with_merged_ids(spark, lake, find_customers(spark, lake, req))
    tables = lake.tables(spark)
    key = pseudonym_key(conf, tables)
    fp = footprint(spark, lake, ids, req)
    fp.keys = keyed_ids(key, ids)
    found = with_bronze_lineage(spark, lake, fp)
    scans = []
    for name in [t for t in tables if not t.startswith("ops.")]:
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
    exports = scrub_exports(spark, conf.activation.export_root, set(ids), dry_run=True)
    return ErasurePlan(ids, dict(sorted(rows.items())), exports, fp.shared, found)


def request_id(ids: list[str], requested_at: dt.datetime) -> str:
    seed = "|".join([*sorted(ids), requested_at.isoformat()])
    return "E" + hashlib.sha256(seed.encode()).hexdigest()[:16]


def _log(spark: SparkSession, lake: Lake, rows: list[dict], *, update: bool) -> None:
    upsert_rows(spark, lake, ERASURES, rows, ["request_id", "customer_id"], update=update)


def pending(spark: SparkSession, lake: Lake) -> list[tuple[str, list[str], dt.datetime]]:
    """Requests a crash left unfinished: (request_id, customer ids, requested_at)."""
    table = read_or_none(spark, lake, ERASURES)
    if table is None:
        return []
    rows = table.filter(F.col("status") == "started").collect()
    out: dict[str, tuple[list[str], dt.datetime]] = {}
    for r in rows:
        out.setdefault(r["request_id"], ([], r["requested_at"]))[0].append(r["customer_id"])
    return [(k, sorted(v[0]), v[1]) for k, v in sorted(out.items())]


def _utcnow() -> dt.datetime:
    # Ops metadata only: when the request was made and finished.
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


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
    tables = lake.tables(spark)  # the command holds the lake lock: no table comes or goes
    key = pseudonym_key(conf, tables)
    if not resumed:
        _log(spark, lake, [{**base, "customer_id": c} for c in ids], update=False)
    fp = footprint(spark, lake, ids, req)
    fp.keys = keyed_ids(key, ids)
    log.info(
        "step=erase.footprint request=%s customers=%d records=%d contact_points=%d shared_kept=%d",
        rid,
        len(ids),
        len(fp.record_keys),
        len(fp.emails) + len(fp.phones),
        fp.shared,
    )
    deleted: dict[str, int] = {}
    scrubbed = scrub_exports(spark, conf.activation.export_root, set(ids))
    with step(log, "erase.bronze_lineage") as p:
        found = with_bronze_lineage(spark, lake, fp)
        p.rows_out = len(fp.lineage)
    files: dict[str, int] = {}
    for rows in found.values():
        for x in rows:
            f = x.rsplit("#", 1)[0]
            files[f] = files.get(f, 0) + 1
    # Gold, then bronze, then silver, the identity tables last and one by one: a run
    # killed midway still finds the person through the crosswalk. Within a group the
    # tables are independent, so their deletes overlap.
    groups = [
        [t for t in tables if t.startswith(("gold.", "pseudo."))],
        [t for t in tables if t.startswith("bronze.")],
        [t for t in tables if t.startswith("silver.") and t not in IDENTITY_LAST],
    ]
    order = [t for g in groups for t in g] + [t for t in IDENTITY_LAST if t in tables]

    def erase_table(name: str) -> None:
        cond = table_condition(spark, lake, name, fp, found)
        if cond is None:
            return
        if name == BRONZE_QUARANTINE:
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
    forget_fingerprint(spark, lake)  # the components that lost records: all, next run
    deleted = dict(sorted(deleted.items()))  # the threads finish in any order
    log.info("step=erase.delete tables=%d seconds=%.1f", len(order), time.perf_counter() - t_del)
    to_purge = sorted(deleted) if not resumed else [t for t in order if t != ERASURES]
    with step(log, "erase.purge") as p, ThreadPoolExecutor(max_workers=ERASE_THREADS) as pool:
        list(pool.map(lambda name: purge(spark, lake, name), to_purge))
        p.rows_in = len(to_purge)
    checkpoints = remove_old_checkpoints(spark, lake.root)
    # Found in the crosswalk yet in no table: the tables were not all seen (a listing of
    # the wrong store), so "done" would be a lie.
    status = "not_found" if not (deleted or scrubbed or resumed) else "done"
    _log(
        spark,
        lake,
        [
            {
                **base,
                "customer_id": c,
                "status": status,
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
    if status == "not_found":
        raise ErasureError(
            f"request {rid}: {', '.join(ids)} is in {CROSSWALK} but no row of theirs was "
            f"found in the {len(tables)} tables listed under {lake.root}; recorded as "
            "not_found in ops.erasure_log"
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
    table = read_or_none(spark, lake, ERASURES)
    mine = (F.col("customer_id") == customer_id) & (F.col("status") == "done")
    return table is not None and not table.filter(mine).isEmpty()
