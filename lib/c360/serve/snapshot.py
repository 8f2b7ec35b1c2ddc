"""One consistent, indexed, in-memory copy of the tables the lookups read.

delta-rs reads each Delta table and DuckDB holds the rows with an ART index per lookup
key, so a request is a few index probes, never a scan of Parquet files and never Spark. A
snapshot is immutable: a reload builds a new one beside it and swaps it in whole, so a
request sees one version of every table, and requests keep being served while a reload
runs.

A table is read as a pyarrow dataset that DuckDB scans (both release Python's GIL, so
request threads keep running during a reload), except a table with deletion vectors
(``silver.identity_links``): the pyarrow reader refuses those, and delta-rs's DataFusion
reader, which applies them, holds the GIL while it reads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from c360.lake import Lake

log = logging.getLogger(__name__)

# table -> the SQL over it (as ``t``) that the snapshot keeps; a missing table is empty
SOURCES: dict[str, str] = {
    "silver.identity_crosswalk": (
        "SELECT record_key, source, source_record_id, party_type, customer_id, is_deleted,"
        " flagged, first_seen, last_seen, component FROM t"
    ),
    "silver.party_records": (
        "SELECT source, source_record_id, party_type, given_name, family_name, full_name,"
        " company_name, email, phone, street, postal_code, city, vin, dealer_code,"
        " record_date FROM t WHERE NOT is_deleted"
    ),
    "silver.customers": "SELECT customer_id, records, sources, provenance FROM t",
    "silver.identity_links": "SELECT * FROM t",
    "silver.identity_changelog": "SELECT * FROM t",
    "silver.identity_overrides": "SELECT * FROM t",
    "silver.ownerships": (
        "SELECT source, source_record_id, vin, role, start_date, end_date FROM t"
        " WHERE NOT is_deleted"
    ),
    "silver.vehicles": "SELECT * FROM t",
    "gold.customer_360": "SELECT * FROM t",
    "pseudo.customer_360": "SELECT * FROM t",
    "gold.vehicles": "SELECT * EXCLUDE (run_id) FROM t",
    "gold.vehicle_owners": "SELECT * EXCLUDE (run_id, as_of) FROM t",
    "gold.contact_plan": ("SELECT * FROM t WHERE plan_date = (SELECT max(plan_date) FROM t)"),
    "gold.account_contacts": "SELECT company_id, customer_id, role, since, active FROM t",
    "ops.erasure_log": ("SELECT DISTINCT customer_id FROM t WHERE status IN ('started', 'done')"),
}

# DuckDB table name of each source, and the columns an index makes a point lookup
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "silver.identity_crosswalk": ("crosswalk", ("customer_id", "record_key")),
    "silver.party_records": ("records", ()),
    "silver.customers": ("customers", ("customer_id",)),
    "silver.identity_links": ("links", ("record_key_l", "record_key_r")),
    "silver.identity_changelog": ("changelog", ("customer_id", "other_id")),
    "silver.identity_overrides": ("overrides", ()),
    "silver.ownerships": ("ownerships", ("vin",)),
    "silver.vehicles": ("vehicles", ("vin",)),
    "gold.customer_360": ("c360", ("customer_id", "household_id")),
    "pseudo.customer_360": ("c360_pseudo", ("customer_key",)),
    "gold.vehicles": ("gold_vehicles", ("vin",)),
    "gold.vehicle_owners": ("vehicle_owners", ("vin",)),
    "gold.contact_plan": ("plan", ("customer_id",)),
    "gold.account_contacts": ("accounts", ("company_id", "customer_id")),
    "ops.erasure_log": ("erased", ()),
}

# The search keys: one row per (kind, value, customer) from the live records of current
# customers, the erased left out. Built once per snapshot, so a search is one probe.
KEYS_SQL = """
CREATE TABLE search_keys AS
WITH live AS (
  SELECT c.customer_id, c.record_key, r.*
  FROM records r JOIN crosswalk c USING (source, source_record_id)
  WHERE NOT c.is_deleted AND c.customer_id NOT IN (SELECT customer_id FROM erased)
)
SELECT 'email' AS kind, email AS value, customer_id, record_key, source FROM live
  WHERE email IS NOT NULL
UNION ALL
SELECT 'phone', phone, customer_id, record_key, source FROM live WHERE phone IS NOT NULL
UNION ALL
SELECT 'vin', vin, customer_id, record_key, source FROM live WHERE vin IS NOT NULL
UNION ALL
SELECT 'postal_code', postal_code, customer_id, record_key, source FROM live
  WHERE postal_code IS NOT NULL
"""

NAMES_SQL = """
CREATE TABLE search_names AS
SELECT DISTINCT k.customer_id, k.value AS postal_code, k.record_key, k.source,
  lower(strip_accents(coalesce(r.full_name, r.company_name, ''))) AS name
FROM search_keys k
JOIN crosswalk c ON c.record_key = k.record_key
JOIN records r ON r.source = c.source AND r.source_record_id = c.source_record_id
WHERE k.kind = 'postal_code'
"""


def storage_options(root: str) -> dict[str, str]:
    """delta-rs reads object stores with its own client: S3 settings from the usual
    ``AWS_*`` variables (``AWS_ENDPOINT_URL`` for an S3-compatible server)."""
    if not root.startswith(("s3://", "s3a://")):
        return {}
    opts = {"AWS_REGION": os.environ.get("AWS_REGION", "us-east-1")}
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if os.environ.get(key):
            opts[key] = os.environ[key]
    if opts.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        opts["AWS_ALLOW_HTTP"] = "true"
    return opts


Root = str | Lake  # a lake root, or the lake (its pseudo twins may live elsewhere)


def table_uri(root: Root, name: str) -> str:
    """Where delta-rs finds the table: the lake's own path, with ``s3://`` for ``s3a://``."""
    lake = root if isinstance(root, Lake) else Lake(root.rstrip("/"))
    uri = lake.path(name)
    return "s3://" + uri[len("s3a://") :] if uri.startswith("s3a://") else uri


def open_table(root: Root, name: str):  # type: ignore[no-untyped-def]
    """The table at its latest version (its log read once), or None when it does not
    exist (yet)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri = table_uri(root, name)
    try:
        return DeltaTable(uri, storage_options=storage_options(uri))
    except TableNotFoundError:
        return None


def table_version(root: Root, name: str) -> int | None:
    """The table's latest version, or None when it does not exist (yet)."""
    table = open_table(root, name)
    return None if table is None else table.version()


def versions(root: Root) -> dict[str, int | None]:
    return {name: table_version(root, name) for name in SOURCES}


@dataclass
class Snapshot:
    """The lake's lookup tables at one set of versions, in an in-memory DuckDB."""

    root: Root
    versions: dict[str, int | None]
    db: duckdb.DuckDBPyConnection
    rows: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Root) -> Snapshot:
        from deltalake import QueryBuilder

        start = time.monotonic()
        db = duckdb.connect(":memory:")
        got: dict[str, int | None] = {}
        rows: dict[str, int] = {}
        for name, sql in SOURCES.items():
            local, indexed = TABLES[name]
            table = open_table(root, name)
            got[name] = None if table is None else table.version()
            if table is None:
                db.execute(f"CREATE TABLE {local} AS SELECT * FROM ({_empty(name)})")
            else:
                if "deletionVectors" in (table.protocol().reader_features or []):
                    data = QueryBuilder().register("t", table).execute(sql).read_all()  # noqa: F841
                    db.execute(f"CREATE TABLE {local} AS SELECT * FROM data")
                else:
                    db.register("t", table.to_pyarrow_dataset())
                    db.execute(f"CREATE TABLE {local} AS {sql}")
                    db.unregister("t")
            for column in indexed:
                db.execute(f"CREATE INDEX {local}_{column} ON {local} ({column})")
            rows[name] = db.execute(f"SELECT count(*) FROM {local}").fetchall()[0][0]
        db.execute(KEYS_SQL)
        db.execute("CREATE INDEX search_keys_value ON search_keys (value)")
        db.execute(NAMES_SQL)
        db.execute("CREATE INDEX search_names_postal_code ON search_names (postal_code)")
        log.info(
            "step=serve.load tables=%d rows=%d seconds=%.1f",
            sum(v is not None for v in got.values()),
            sum(rows.values()),
            time.monotonic() - start,
        )
        return cls(root=root, versions=got, db=db, rows=rows)

    def has(self, name: str) -> bool:
        return self.versions.get(name) is not None

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts, on a cursor of its own (requests run on several threads)."""
        cur = self.db.cursor()
        try:
            res = cur.execute(sql, params or [])
            names = [d[0] for d in res.description]
            return [dict(zip(names, row, strict=True)) for row in res.fetchall()]
        finally:
            cur.close()


# The columns a missing table still has, so every query runs (and finds nothing).
_EMPTY: dict[str, str] = {
    "silver.identity_crosswalk": (
        "SELECT ''::VARCHAR record_key, ''::VARCHAR source, ''::VARCHAR source_record_id,"
        " ''::VARCHAR party_type, ''::VARCHAR customer_id, false is_deleted, false flagged,"
        " NULL::DATE first_seen, NULL::DATE last_seen, ''::VARCHAR component"
    ),
    "silver.party_records": (
        "SELECT ''::VARCHAR source, ''::VARCHAR source_record_id, ''::VARCHAR party_type,"
        " ''::VARCHAR given_name, ''::VARCHAR family_name, ''::VARCHAR full_name,"
        " ''::VARCHAR company_name, ''::VARCHAR email, ''::VARCHAR phone, ''::VARCHAR street,"
        " ''::VARCHAR postal_code, ''::VARCHAR city, ''::VARCHAR vin,"
        " ''::VARCHAR dealer_code, NULL::DATE record_date"
    ),
    "silver.customers": (
        "SELECT ''::VARCHAR customer_id, 0::BIGINT records, []::VARCHAR[] sources,"
        " MAP {}::MAP(VARCHAR, STRUCT(source VARCHAR, source_record_id VARCHAR,"
        " rule VARCHAR)) provenance"
    ),
    "silver.identity_links": (
        "SELECT ''::VARCHAR record_key_l, ''::VARCHAR record_key_r, ''::VARCHAR party_type,"
        " ''::VARCHAR method, []::VARCHAR[] rules, 0.0::DOUBLE match_probability,"
        " 0.0::DOUBLE match_weight, MAP {}::MAP(VARCHAR, DOUBLE) weights,"
        " ''::VARCHAR status, []::VARCHAR[] veto_reasons, NULL::DATE as_of,"
        " ''::VARCHAR run_id"
    ),
    "silver.identity_changelog": (
        "SELECT ''::VARCHAR event_id, ''::VARCHAR event, ''::VARCHAR customer_id,"
        " ''::VARCHAR other_id, 0::BIGINT records, ''::VARCHAR evidence, NULL::DATE as_of,"
        " ''::VARCHAR run_id"
    ),
    "silver.identity_overrides": (
        "SELECT ''::VARCHAR record_key_a, ''::VARCHAR record_key_b, ''::VARCHAR kind,"
        " ''::VARCHAR reason"
    ),
    "silver.ownerships": (
        "SELECT ''::VARCHAR source, ''::VARCHAR source_record_id, ''::VARCHAR vin,"
        " ''::VARCHAR role, NULL::DATE start_date, NULL::DATE end_date"
    ),
    "silver.vehicles": "SELECT ''::VARCHAR vin, ''::VARCHAR _run_id",
    "gold.customer_360": (
        "SELECT ''::VARCHAR customer_id, ''::VARCHAR household_id, ''::VARCHAR party_type,"
        " ''::VARCHAR full_name, ''::VARCHAR city, ''::VARCHAR postal_code,"
        " ''::VARCHAR lifecycle_stage, 0 vehicles_current"
    ),
    "pseudo.customer_360": "SELECT ''::VARCHAR customer_key",
    "gold.vehicles": "SELECT ''::VARCHAR vin",
    "gold.vehicle_owners": (
        "SELECT ''::VARCHAR vin, ''::VARCHAR customer_id, ''::VARCHAR ownership,"
        " NULL::DATE start_date, NULL::DATE end_date, ''::VARCHAR source,"
        " NULL::DATE last_evidence"
    ),
    "gold.contact_plan": "SELECT ''::VARCHAR customer_id",
    "gold.account_contacts": (
        "SELECT ''::VARCHAR company_id, ''::VARCHAR customer_id, ''::VARCHAR role,"
        " NULL::DATE since, false active"
    ),
    "ops.erasure_log": "SELECT ''::VARCHAR customer_id",
}


def _empty(name: str) -> str:
    return f"{_EMPTY[name]} WHERE false"


class Current:
    """The snapshot requests read, swapped for a newer one when any table's version moves
    (polled every ``interval`` seconds on a daemon thread)."""

    def __init__(
        self,
        root: Root,
        interval: float,
        loader: Callable[[Root], Snapshot] = Snapshot.load,
    ) -> None:
        self.root = root
        self.interval = interval
        self._loader = loader
        self._snapshot = loader(root)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reloads = 0

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def refresh(self) -> bool:
        """Load a new snapshot if a table moved; True when it did."""
        now = versions(self.root)
        if now == self._snapshot.versions:
            return False
        moved = sorted(t for t in now if now[t] != self._snapshot.versions.get(t))
        log.info("step=serve.reload tables=%s", ",".join(moved))
        self._snapshot = self._loader(self.root)
        self.reloads += 1
        return True

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="c360-serve-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as exc:  # keep serving the snapshot we have
                log.warning("step=serve.reload failed error=%s", type(exc).__name__)
