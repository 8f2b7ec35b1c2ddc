"""The ``identity`` stage: silver.party_records -> persistent customer ids and golden records.

Incremental: only records that are new or whose matching fields changed (``match_hash``
differs from the crosswalk's) are scored, against everything and among themselves; links
of untouched records are kept from earlier runs. Clustering, id assignment and golden
records then run over the records in scope only: every record of each link-graph
component (stored in the crosswalk's ``component``) that a record with a new version, a
record gone, or one of today's links touches. Clustering decides everything per graph
component, so that scope gives the same answer as clustering all records (a test holds a
full pass over the result to zero changes). A first run, ``identity.full_pass``, or a
changed fingerprint (overrides, survivorship file, clustering settings; a property of
the crosswalk table) clusters everything. The Fellegi-Sunter model is trained once and
stored in ``ops.identity_models``; term frequencies are recomputed from all current
records on every scoring run.

Writes are ordered so that a run killed at any point is completed by the next one:
links (overwrite), changelog (insert-if-absent by event id), customers (MERGE), then the
crosswalk last: until it lands, the next run sees the same changes and recomputes the same
answer. Nothing is written when nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.columns import with_run
from c360.config import IdentityConfig
from c360.errors import ConfigError
from c360.identity.fingerprint import store_fingerprint, stored_fingerprint
from c360.identity.golden import Survivorship, golden_records
from c360.identity.ids import assign_ids
from c360.identity.resolve import MATCH_COLUMNS, cluster, find_links, match_hash
from c360.io import (
    checkpointed,
    erased_ids,
    insert_new,
    last_commit_rows,
    merge_changed,
    read_or_none,
)
from c360.lake import Lake
from c360.logs import step
from c360.runner import StageContext, StageResult
from c360.schemas import ops as ops_schemas
from c360.schemas import registry as R
from c360.schemas import silver as schemas
from c360.schemas.validate import validate_schema

log = logging.getLogger(__name__)

PARTY_RECORDS = R.SILVER_PARTY_RECORDS
LINKS = R.SILVER_IDENTITY_LINKS
# day-2 runs delete a changed record's links in place (write_links)
LINKS_PROPERTIES = {"delta.enableDeletionVectors": "true"}
# changed records whose stored links a run deletes in place (beyond: the table is rewritten)
LINKS_IN_PLACE_MAX = 50_000
CROSSWALK = R.SILVER_IDENTITY_CROSSWALK
CHANGELOG = R.SILVER_IDENTITY_CHANGELOG
CUSTOMERS = R.SILVER_CUSTOMERS
OVERRIDES = R.SILVER_IDENTITY_OVERRIDES
MODELS = R.OPS_IDENTITY_MODELS
GOLDEN_ONLY = ("salutation", "gender", "full_name")
# Bump when clustering, id assignment or golden records change what they compute: the
# next run then clusters everything once.
SCOPE_VERSION = "1"


# ------------------------------------------------------------------------------ inputs


def record_key(source: Column, record_id: Column) -> Column:
    return F.concat_ws(":", source, record_id)


def party_input(party_records: DataFrame) -> DataFrame:
    """One row per source record: ``uid``, matching fields, golden-only fields, version."""
    df = party_records.withColumn(
        "party_type", F.coalesce(F.col("party_type"), F.lit("person"))
    ).withColumn("uid", record_key(F.col("source"), F.col("source_record_id")))
    return df.select(
        "uid",
        "source",
        "source_record_id",
        *MATCH_COLUMNS,
        *GOLDEN_ONLY,
        "record_date",
        "_change_ts",
        F.col("_batch_id").alias("record_version"),
        "is_deleted",
    ).withColumn("match_hash", match_hash(df))


def load_survivorship(path: str) -> list[Survivorship]:
    data = _yaml(path)
    attrs = data.get("attributes")
    if not isinstance(attrs, dict) or not attrs:
        raise ConfigError(f"{path}: 'attributes' must map attribute names to rules")
    known = set(schemas.CUSTOMER_ATTRIBUTES.fieldNames())
    unknown = sorted(set(attrs) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown attribute(s) {', '.join(unknown)} (silver.customers has "
            f"{', '.join(sorted(known))})"
        )
    return [
        Survivorship(
            attribute=name,
            rule=spec.get("rule", "most_recent"),
            sources=list(spec.get("sources", [])),
            group=list(spec.get("group", [])),
        )
        for name, spec in attrs.items()
    ]


def _yaml(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"identity config file not found: {path}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_overrides(spark: SparkSession, lake: Lake, path: str) -> DataFrame:
    """Steward pairs from YAML and ``silver.identity_overrides``: (uid_a, uid_b, kind)."""
    data = _yaml(path)
    rows = []
    for kind in ("must_link", "must_not_link"):
        for i, item in enumerate(data.get(kind) or []):
            if not isinstance(item, dict) or not item.get("a") or not item.get("b"):
                raise ConfigError(f"{path}: {kind}[{i}] needs 'a' and 'b' record keys")
            rows.append((str(item["a"]), str(item["b"]), kind))
    df = spark.createDataFrame(rows, "uid_a string, uid_b string, kind string")
    if lake.exists(spark, OVERRIDES):
        table = lake.read(spark, OVERRIDES).select(
            F.col("record_key_a").alias("uid_a"), F.col("record_key_b").alias("uid_b"), "kind"
        )
        bad = table.filter(~F.col("kind").isin("must_link", "must_not_link")).count()
        if bad:
            raise ConfigError(
                f"table {OVERRIDES}: {bad} row(s) with a kind other than must_link/must_not_link "
                "(column kind)"
            )
        df = df.unionByName(table)
    return df.distinct()


def load_model(spark: SparkSession, lake: Lake) -> dict[str, Any] | None:
    if not lake.exists(spark, MODELS):
        return None
    row = (
        lake.read(spark, MODELS)
        .filter(F.col("party_type") == "person")
        .orderBy(F.desc("trained_as_of"), F.desc("run_id"))
        .select("model_json")
        .first()
    )
    return json.loads(row.model_json) if row else None


def save_model(ctx: StageContext, model: dict[str, Any], records: int) -> None:
    row = [("person", ctx.as_of, ctx.run_id, records, json.dumps(model, sort_keys=True))]
    df = ctx.spark.createDataFrame(row, ops_schemas.IDENTITY_MODELS)
    ctx.lake.ensure_table(ctx.spark, MODELS, ops_schemas.IDENTITY_MODELS)
    df.write.format("delta").mode("append").save(ctx.lake.path(MODELS))


# ---------------------------------------------------------------------------- outputs


def _with_run(df: DataFrame, ctx: StageContext) -> DataFrame:
    return df.transform(with_run, ctx.as_of, ctx.run_id)


def _evidence(links: DataFrame) -> Column:
    """The three strongest links as JSON: what a steward reads to see why."""
    item = F.struct(
        F.coalesce(F.col("match_weight"), F.lit(100.0)).alias("weight"),
        F.col("record_key_l"),
        F.col("record_key_r"),
        F.col("method"),
        F.col("rules"),
        F.col("status"),
        F.col("veto_reasons"),
    )
    top = F.slice(F.reverse(F.array_sort(F.collect_list(item))), 1, 3)
    return F.to_json(F.struct(top.alias("links")))


def changelog_events(
    events: DataFrame, links: DataFrame, old: DataFrame, new: DataFrame, ctx: StageContext
) -> DataFrame:
    """``events`` from ids.assign_ids plus evidence: the links that joined or were cut."""
    o = old.select("record_key", F.col("customer_id").alias("_old"))
    n = new.select("record_key", F.col("customer_id").alias("_new"))
    # Evidence is only read for merges and splits, and a link explains one only when its
    # left record now carries one of their ids: on a day 2 that is a few thousand of
    # millions of links, so filter before the four joins.
    moved = events.filter(F.col("event").isin("merge", "split"))
    moved_ids = moved.select("customer_id").unionByName(
        moved.select(F.col("other_id").alias("customer_id"))
    )
    explaining = n.join(
        moved_ids.select(F.col("customer_id").alias("_new")), "_new", "left_semi"
    ).select(F.col("record_key").alias("record_key_l"))
    links = links.join(explaining, "record_key_l", "left_semi")  # a semi join: no repeats
    lk = (
        links.join(o.toDF("record_key_l", "old_l"), "record_key_l", "left")
        .join(o.toDF("record_key_r", "old_r"), "record_key_r", "left")
        .join(n.toDF("record_key_l", "new_l"), "record_key_l")
        .join(n.toDF("record_key_r", "new_r"), "record_key_r")
    )
    # a merge: accepted links inside the surviving id that cross old ids or bring new records
    merged = (
        lk.filter((F.col("status") == "accepted") & (F.col("new_l") == F.col("new_r")))
        .filter(~F.col("old_l").eqNullSafe(F.col("old_r")) | F.col("old_l").isNull())
        .groupBy(F.col("new_l").alias("customer_id"))
        .agg(_evidence(lk).alias("evidence"))
    )
    split = (
        lk.filter((F.col("old_l") == F.col("old_r")) & (F.col("new_l") != F.col("new_r")))
        .groupBy(F.least("new_l", "new_r").alias("_a"), F.greatest("new_l", "new_r").alias("_b"))
        .agg(_evidence(lk).alias("evidence"))
    )
    pair = [
        F.least("customer_id", "other_id") == F.col("_a"),
        F.greatest("customer_id", "other_id") == F.col("_b"),
    ]
    m = events.filter(F.col("event") == "merge").join(merged, "customer_id", "left")
    s = events.filter(F.col("event") == "split").join(split, pair, "left")
    rest = events.filter(~F.col("event").isin("merge", "split")).withColumn(
        "evidence", F.lit(None).cast("string")
    )
    out = m.unionByName(s.drop("_a", "_b")).unionByName(rest)
    out = out.withColumn(
        "evidence",
        F.coalesce(
            "evidence",
            F.when(F.col("event") == "split", F.lit('{"reason":"records changed or removed"}')),
            F.when(F.col("event") == "retire", F.lit('{"reason":"all records deleted"}')),
        ),
    )
    event_id = F.sha2(
        F.concat_ws("|", F.lit(ctx.as_of.isoformat()), "event", "customer_id", "other_id"), 256
    )
    return _with_run(out, ctx).withColumn("event_id", event_id)


def _write(
    ctx: StageContext,
    name: str,
    df: DataFrame,
    key: str,
    compare: list[str],
    *,
    delete: bool,
    scope: DataFrame | None = None,
) -> int:
    schema = R.schema_of(name)
    return merge_changed(
        ctx.spark, ctx.lake, name, df, schema, [key], compare, delete=delete, scope=scope
    )


# ------------------------------------------------------------------------- the steps


@dataclass
class Changes:
    """What moved since the last run: records new or with changed matching fields
    (``new``: rescored), those plus records gone (``touched``: their stored links go), and
    those plus records with any new version (``dirty``: re-clustered, golden records
    rebuilt); all None on a first run."""

    new: DataFrame | None
    touched: DataFrame | None
    count: int
    dirty: DataFrame | None = None


def find_changes(current: DataFrame, prev: DataFrame | None) -> Changes:
    if prev is None:
        return Changes(None, None, current.count())
    before = prev.select(F.col("record_key").alias("uid"), "match_hash", "record_version")
    new = current.join(before.drop("record_version"), ["uid", "match_hash"], "left_anti")
    gone = before.select("uid").join(current.select("uid"), "uid", "left_anti")
    touched = new.select("uid").unionByName(gone).distinct().transform(checkpointed)
    was = before.toDF("_u", "_h", "_v")
    unchanged = (
        (F.col("uid") == F.col("_u"))
        & (F.col("match_hash") == F.col("_h"))
        & F.col("record_version").eqNullSafe(F.col("_v"))
    )
    versioned = current.join(was, unchanged, "left_anti").select("uid")
    dirty = versioned.unionByName(gone).distinct().transform(checkpointed)
    return Changes(new.select("uid").transform(checkpointed), touched, touched.count(), dirty)


def filter_untouched_links(links: DataFrame, touched: DataFrame) -> DataFrame:
    """Stored links between two records that did not change: kept without rescoring."""
    t = touched.select(F.col("uid").alias("_t"))
    return links.join(t, F.col("record_key_l") == F.col("_t"), "left_anti").join(
        t, F.col("record_key_r") == F.col("_t"), "left_anti"
    )


def write_links(ctx: StageContext, current: DataFrame, changes: Changes) -> None:
    """Score the changed records (all on a first run) and put their links in place of the
    stored ones they replace. A day's few changed records: a DELETE of their stored links
    (deletion vectors: no data file rewritten) and an append of the new ones, instead of
    rewriting millions of unchanged links; a killed run between the two is completed by
    the next, which finds the same records changed. Many changed records (over
    ``LINKS_IN_PLACE_MAX``, too many for one predicate): the table is rewritten. Trains
    and stores the model when none is stored."""
    spark, lake, conf = ctx.spark, ctx.lake, ctx.conf.identity
    model = None if conf.retrain else load_model(spark, lake)
    matched = find_links(spark, current.drop("is_deleted"), conf, model=model, new=changes.new)
    if model is None and matched.model is not None:
        save_model(ctx, matched.model, current.count())
    fresh = validate_schema(_with_run(matched.links, ctx), schemas.IDENTITY_LINKS, LINKS)
    stored = read_or_none(spark, lake, LINKS)
    with step(log, "identity.links_write") as p:
        lake.ensure_table(spark, LINKS, schemas.IDENTITY_LINKS, properties=LINKS_PROPERTIES)
        touched = None
        if stored is not None and changes.touched is not None:
            if changes.count <= LINKS_IN_PLACE_MAX:
                touched = [r[0] for r in changes.touched.collect()]
            else:
                kept = stored.transform(filter_untouched_links, changes.touched)
                fresh = kept.unionByName(fresh).transform(checkpointed)  # it overwrites its input
        if touched is None:
            fresh.write.format("delta").mode("overwrite").save(lake.path(LINKS))
        else:
            gone = F.col("record_key_l").isin(touched) | F.col("record_key_r").isin(touched)
            lake.delta(spark, LINKS).delete(gone)
            fresh.write.format("delta").mode("append").save(lake.path(LINKS))
        p.rows_out = last_commit_rows(spark, lake, LINKS)


def components(
    current: DataFrame, links: DataFrame, conf: IdentityConfig, overrides: DataFrame
) -> DataFrame:
    pair = ["uid_a", "uid_b"]
    return cluster(
        current.select("uid", "birth_date"),
        links,
        conf,
        overrides.filter(F.col("kind") == "must_link").select(*pair),
        overrides.filter(F.col("kind") == "must_not_link").select(*pair),
    )


def used_ids(spark: SparkSession, lake: Lake, prev_all: DataFrame | None) -> DataFrame | None:
    """Every id ever handed out (crosswalk, changelog) or erased: never issued again; an
    erased person's id not even to their own records."""
    used = None
    if prev_all is not None:
        used = prev_all.select("customer_id")
        changelog = read_or_none(spark, lake, CHANGELOG)
        if changelog is not None:
            used = used.unionByName(changelog.select("customer_id")).unionByName(
                changelog.select(F.col("other_id").alias("customer_id")).dropna()
            )
        used = used.distinct()
    erased = erased_ids(spark, lake)
    if erased is not None:
        used = erased if used is None else used.unionByName(erased).distinct()
    return used


def with_retire_events(events: DataFrame, old: DataFrame, crosswalk_ids: DataFrame) -> DataFrame:
    """The events plus a ``retire`` for each old id that survives nowhere and was not
    merged into another (all its records deleted)."""
    survivors = crosswalk_ids.select("customer_id").distinct()
    retired = (
        old.select("customer_id")
        .distinct()
        .join(survivors, "customer_id", "left_anti")
        .join(events.select(F.col("other_id").alias("customer_id")), "customer_id", "left_anti")
        .select(
            F.lit("retire").alias("event"),
            "customer_id",
            F.lit(None).cast("string").alias("other_id"),
            F.lit(0).cast("long").alias("records"),
        )
    )
    return events.unionByName(retired)


def customer_rows(
    current: DataFrame,
    crosswalk_ids: DataFrame,
    survivorship: list[Survivorship],
    ctx: StageContext,
) -> DataFrame:
    """silver.customers: one golden record per id, with provenance, party type and sources."""
    members = current.join(crosswalk_ids.withColumnRenamed("record_key", "uid"), "uid")
    golden = golden_records(members, survivorship)
    extra = members.groupBy("customer_id").agg(
        # the records' most common type, the first by name on a tie: first() would take
        # whichever row came first, which a resumed run or another layout changes
        F.mode("party_type", deterministic=True).alias("party_type"),
        F.array_sort(F.collect_set("source")).cast("array<string>").alias("sources"),
    )
    customers = _with_run(
        golden.join(extra, "customer_id")
        .withColumn("provenance", F.col("provenance").cast(schemas.PROVENANCE))
        .withColumn("records", F.col("records").cast("long")),
        ctx,
    )
    missing = [a for a in schemas.CUSTOMER_ATTRIBUTES.fieldNames() if a not in customers.columns]
    return customers.withColumns(
        {a: F.lit(None).cast(schemas.CUSTOMERS[a].dataType) for a in missing}
    )


def crosswalk_rows(
    records: DataFrame,
    crosswalk_ids: DataFrame,
    comps: DataFrame,
    prev_all: DataFrame | None,
    ctx: StageContext,
) -> DataFrame:
    """silver.identity_crosswalk: every record's id and flag; a record deleted at source
    keeps its last id, marked deleted. ``last_seen`` moves only when the record's version
    does."""
    flagged = comps.select(
        F.col("uid").alias("record_key"), "flagged", F.col("graph_component").alias("component")
    )
    now = (
        records.filter(~F.col("is_deleted"))
        .select(
            F.col("uid").alias("record_key"),
            "source",
            "source_record_id",
            "party_type",
            "match_hash",
            "record_version",
            F.lit(False).alias("is_deleted"),
        )
        .join(crosswalk_ids, "record_key")
        .join(flagged, "record_key")
    )
    if prev_all is not None:
        deleted = (
            prev_all.join(now.select("record_key"), "record_key", "left_anti")
            .drop("first_seen", "last_seen", "run_id")
            .withColumns(
                {
                    "is_deleted": F.lit(True),
                    "flagged": F.lit(False),
                    "component": F.lit(None).cast("string"),
                }
            )
        )
        firsts = prev_all.select(
            "record_key",
            "first_seen",
            F.col("last_seen").alias("_ls"),
            F.col("record_version").alias("_rv"),
        )
        now = now.unionByName(deleted).join(firsts, "record_key", "left")
    else:
        now = now.withColumns(
            {
                "first_seen": F.lit(None).cast("date"),
                "_ls": F.lit(None).cast("date"),
                "_rv": F.lit(None).cast("string"),
            }
        )
    unchanged = F.col("_ls").isNotNull() & F.col("record_version").eqNullSafe(F.col("_rv"))
    return (
        now.withColumn("first_seen", F.coalesce("first_seen", F.lit(ctx.as_of)))
        .withColumn("last_seen", F.when(unchanged, F.col("_ls")).otherwise(F.lit(ctx.as_of)))
        .drop("_ls", "_rv")
        .withColumn("run_id", F.lit(ctx.run_id))
    )


# ------------------------------------------------------------------------------ scope


def fingerprint(conf: IdentityConfig, overrides: DataFrame) -> str:
    """What every component's answer depends on besides its records and links."""
    pairs = sorted(tuple(r) for r in overrides.collect())  # a steward's few pairs
    survivorship = Path(conf.survivorship).read_text(encoding="utf-8")
    parts = [SCOPE_VERSION, repr(conf.max_cluster_size), repr(conf.min_split_weight)]
    parts += [survivorship, json.dumps(pairs)]
    return hashlib.sha256("\u0000".join(parts).encode()).hexdigest()[:16]


def scope_records(
    prev_all: DataFrame, dirty: DataFrame, links: DataFrame, must_link: DataFrame
) -> DataFrame:
    """``uid`` of every record to re-cluster: the dirty records, the records today's
    accepted links or must-link pairs join them to, and every record of the graph
    components any of those were in. A component with none of them kept all its edges
    and vertices, so its answer stands."""
    d = dirty.select("uid")
    edges = (
        links.filter(F.col("status") == "accepted")
        .select(F.col("record_key_l").alias("a"), F.col("record_key_r").alias("b"))
        .unionByName(must_link.select(F.col("uid_a").alias("a"), F.col("uid_b").alias("b")))
    )
    ends = [
        edges.join(d.withColumnRenamed("uid", x), x, "left_semi").select(F.col(y).alias("uid"))
        for x, y in (("a", "b"), ("b", "a"))
    ]
    seeds = d.unionByName(ends[0]).unionByName(ends[1]).distinct()
    live = prev_all.filter(~F.col("is_deleted") & F.col("component").isNotNull())
    hit = live.join(seeds.withColumnRenamed("uid", "record_key"), "record_key", "left_semi")
    members = live.join(hit.select("component").distinct(), "component", "left_semi")
    return seeds.unionByName(members.select(F.col("record_key").alias("uid"))).distinct()


def full_pass_reason(
    ctx: StageContext, prev_all: DataFrame | None, changes: Changes, stored: str | None, now: str
) -> str | None:
    """Why this run clusters every record, or None for a scoped run."""
    if prev_all is None or changes.dirty is None:
        return "first run"
    if ctx.conf.identity.full_pass:
        return "identity.full_pass"
    if stored != now:
        return "overrides, survivorship or clustering settings changed"
    unplaced = prev_all.filter(~F.col("is_deleted") & F.col("component").isNull())
    if not unplaced.isEmpty():
        return f"{CROSSWALK} rows without a component (written before that column)"
    return None


def within(df: DataFrame, scope: DataFrame | None, column: str) -> DataFrame:
    """The rows of ``df`` whose ``column`` is a ``uid`` in scope (all of them for None)."""
    if scope is None:
        return df
    return df.join(scope.select(F.col("uid").alias(column)), column, "left_semi")


CROSSWALK_COMPARE = [
    "customer_id",
    "match_hash",
    "record_version",
    "is_deleted",
    "flagged",
    "party_type",
    "component",
]


def ids_in_scope(old: DataFrame | None, crosswalk_ids: DataFrame) -> DataFrame:
    """``customer_id`` of every customer a scoped run recomputed: its old ids (some now
    merged away or retired) and its new ones."""
    new = crosswalk_ids.select("customer_id")
    return new if old is None else new.unionByName(old.select("customer_id")).distinct()


def write_changelog(
    ctx: StageContext,
    events: DataFrame,
    links: DataFrame,
    old: DataFrame | None,
    crosswalk_ids: DataFrame,
) -> None:
    spark, lake = ctx.spark, ctx.lake
    base = (
        old
        if old is not None
        else spark.createDataFrame([], "record_key string, customer_id string")
    )
    rows = changelog_events(events, links, base, crosswalk_ids, ctx)
    rows = validate_schema(rows, schemas.IDENTITY_CHANGELOG, CHANGELOG)
    lake.ensure_table(spark, CHANGELOG, schemas.IDENTITY_CHANGELOG)
    insert_new(spark, lake, CHANGELOG, rows, ["event_id"])


# -------------------------------------------------------------------------------- run


def run(ctx: StageContext) -> StageResult:
    spark, lake, conf = ctx.spark, ctx.lake, ctx.conf.identity
    survivorship = load_survivorship(conf.survivorship)
    overrides = load_overrides(spark, lake, conf.overrides).transform(checkpointed)
    with step(log, "identity.input") as p:
        records = party_input(lake.read(spark, PARTY_RECORDS)).transform(checkpointed)
        current = records.filter(~F.col("is_deleted"))
        n_records = p.rows_in = records.count()
    prev_all = read_or_none(spark, lake, CROSSWALK)
    prev_all = None if prev_all is None else prev_all.transform(checkpointed)
    prev = None if prev_all is None else prev_all.filter(~F.col("is_deleted"))

    with step(log, "identity.changes") as p:
        changes = find_changes(current, prev)
        p.rows_out = changes.count
    if changes.count or not lake.exists(spark, LINKS):
        with step(log, "identity.links"):
            write_links(ctx, current, changes)
    links = lake.read(spark, LINKS)

    with step(log, "identity.scope") as p:
        now = fingerprint(conf, overrides)
        stored = stored_fingerprint(spark, lake)
        reason = full_pass_reason(ctx, prev_all, changes, stored, now)
        must_link = overrides.filter(F.col("kind") == "must_link")
        scope = None
        if reason is None:
            scope = scope_records(prev_all, changes.dirty, links, must_link).transform(checkpointed)
        p.rows_out = n_scope = n_records if scope is None else scope.count()
        pass_ = f"full ({reason})" if reason else "changed components"
        log.info("step=identity.scope pass=%s records=%d", pass_, n_scope)
    if n_scope == 0:
        return StageResult(rows_read={PARTY_RECORDS: n_records}, rows_written={CROSSWALK: 0})
    mine = within(current, scope, "uid")
    old_all = None if prev_all is None else within(prev_all, scope, "record_key")
    old = (
        None
        if prev is None
        else within(prev, scope, "record_key").select("record_key", "customer_id")
    )

    with step(log, "identity.cluster"):
        comps = components(mine, within(links, scope, "record_key_l"), conf, overrides)
        comps = comps.transform(checkpointed)

    with step(log, "identity.ids") as p:
        members = comps.select(F.col("uid").alias("record_key"), "component")
        ids = assign_ids(members, old, used_ids(spark, lake, prev_all))
        crosswalk_ids = ids.crosswalk.transform(checkpointed)
        events = ids.events
        if old is not None:
            events = with_retire_events(events, old, crosswalk_ids)
        events = events.transform(checkpointed)
        n_events = p.rows_out = events.count()

    with step(log, "identity.changelog") as p:
        if n_events:
            write_changelog(ctx, events, links, old, crosswalk_ids)
        p.rows_in = p.rows_out = n_events

    with step(log, "identity.customers") as p:
        customers = customer_rows(mine, crosswalk_ids, survivorship, ctx)
        touched = None if scope is None else ids_in_scope(old, crosswalk_ids)
        compare = [c for c in schemas.CUSTOMERS.fieldNames() if c not in ("as_of", "run_id")]
        p.rows_out = _write(
            ctx, CUSTOMERS, customers, "customer_id", compare, delete=True, scope=touched
        )

    with step(log, "identity.crosswalk") as p:
        rows = crosswalk_rows(within(records, scope, "uid"), crosswalk_ids, comps, old_all, ctx)
        p.rows_in = n_records
        p.rows_out = _write(ctx, CROSSWALK, rows, "record_key", CROSSWALK_COMPARE, delete=False)
        if reason is not None and stored != now:
            store_fingerprint(spark, lake, now)  # last: a run killed before it clusters all

    return StageResult(rows_read={PARTY_RECORDS: p.rows_in}, rows_written={CROSSWALK: p.rows_out})
