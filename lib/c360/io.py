"""Table I/O every layer shares, below all of them: reads that tolerate a table not
written yet, the as-of reads, the ops rows built from dicts, and the writes that keep a
table equal to a freshly computed frame. Table names and schemas come from the registry
(``schemas/registry.py``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from c360.errors import SchemaError, StaleInputError
from c360.lake import Lake
from c360.schemas.registry import OPS_ERASURE_LOG, schema_of
from c360.schemas.validate import validate_schema

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------ reads


# spark.c360.checkpoint: how ``checkpointed`` cuts a lineage (build_spark sets it from
# spark.checkpoint; "auto" when unset).
CHECKPOINT_CONF = "spark.c360.checkpoint"


def reliable_checkpoints(spark: SparkSession) -> bool:
    """Whether ``checkpointed`` writes to the checkpoint folder: on a cluster ("auto"),
    or when configured so. A local checkpoint's blocks live in its executor; when a worker
    dies they die with it, and a job that needs them fails instead of recomputing them."""
    mode = spark.conf.get(CHECKPOINT_CONF, "auto")
    if mode == "auto":
        return not spark.sparkContext.master.startswith("local")
    return mode == "reliable"


def checkpointed(df: DataFrame, disk_only: bool = False) -> DataFrame:
    """``df`` computed once and its lineage cut (``df.transform(checkpointed)``): in the
    executors' block stores on a local master (fast), in the checkpoint folder under the
    lake root (``build_spark`` sets it) on a cluster, which survives the loss of an
    executor. ``disk_only``: a local checkpoint kept on disk, not in memory."""
    if reliable_checkpoints(df.sparkSession):
        return df.checkpoint(eager=True)
    if disk_only:
        from pyspark import StorageLevel

        return df.localCheckpoint(storageLevel=StorageLevel.DISK_ONLY)
    return df.localCheckpoint()


def read_or_none(spark: SparkSession, lake: Lake, name: str) -> DataFrame | None:
    """Table ``name``, or None when it was never written."""
    return lake.read(spark, name) if lake.exists(spark, name) else None


def read_or_empty(
    spark: SparkSession, lake: Lake, name: str, schema: StructType | None = None
) -> DataFrame:
    """Table ``name``, or an empty frame of its schema (the registry's unless given) when
    it was never written: a source that never landed reads as no rows."""
    if lake.exists(spark, name):
        return lake.read(spark, name)
    log.info("table=%s absent; read as empty", name)
    return spark.createDataFrame([], schema if schema is not None else schema_of(name))


def read_as_of(spark: SparkSession, lake: Lake, name: str, as_of: dt.date) -> DataFrame:
    """A table rebuilt per run date (gold), which must have been built for this one: an
    older table read by a later stage would mix two days."""
    layer = name.split(".")[0]
    if not lake.exists(spark, name):
        raise StaleInputError(f"table {name} does not exist: run the {layer} stage first")
    df = lake.read(spark, name)
    dates = sorted(r["as_of"] for r in df.select("as_of").distinct().collect())
    if dates and dates != [as_of]:
        shown = ", ".join(d.isoformat() for d in dates[:3])
        raise StaleInputError(
            f"table {name} is as of {shown}, not {as_of.isoformat()}: "
            f"run the {layer} stage with --as-of {as_of.isoformat()} first"
        )
    return df


def erased_ids(spark: SparkSession, lake: Lake) -> DataFrame | None:
    """Every id ever erased (``customer_id``): identity never issues them again, and
    activation never contacts them."""
    table = read_or_none(spark, lake, OPS_ERASURE_LOG)
    return None if table is None else table.select("customer_id")


# --------------------------------------------------------------------------- ops rows


def rows_frame(spark: SparkSession, name: str, rows: Iterable[Mapping[str, Any]]) -> DataFrame:
    """Rows given as dicts (column -> value) as a frame of table ``name``'s schema; a
    missing column is NULL, a column the table lacks is an error naming it."""
    schema = schema_of(name)
    names = schema.fieldNames()
    data = []
    for r in rows:
        unknown = sorted(set(r) - set(names))
        if unknown:
            raise SchemaError(name, "rows carry columns the table does not have", unknown)
        data.append(tuple(r.get(c) for c in names))
    return spark.createDataFrame(data, schema)


def append_rows(spark: SparkSession, lake: Lake, name: str, rows: list[dict[str, Any]]) -> None:
    """Append rows to an append-only ops table (one job, never a conflict)."""
    lake.ensure_table(spark, name, schema_of(name))
    rows_frame(spark, name, rows).write.format("delta").mode("append").save(lake.path(name))


def upsert_rows(
    spark: SparkSession,
    lake: Lake,
    name: str,
    rows: list[dict[str, Any]],
    key: list[str],
    *,
    update: bool,
) -> None:
    """Insert rows whose ``key`` the table lacks; with ``update``, rows it has are
    replaced (a file's or a request's status moving on). A rerun writes nothing twice."""
    lake.ensure_table(spark, name, schema_of(name))
    insert_new(spark, lake, name, rows_frame(spark, name, rows), key, update=update)


# ----------------------------------------------------------------------------- writes


def append_if_empty(spark: SparkSession, lake: Lake, name: str, df: DataFrame) -> bool:
    """Write ``df`` as the first rows of a table that has none; False (nothing written)
    when the table has rows, for the caller to MERGE. Into an empty table a MERGE only
    inserts, and an append does the same in 1 Spark job instead of 7. The lake lock keeps
    other writers out between the check and the append; a run killed after it finds the
    rows there and MERGEs."""
    if not lake.is_empty(spark, name):
        return False
    _append(spark, lake, name, df)
    return True


def append_if_new_date(
    spark: SparkSession,
    lake: Lake,
    name: str,
    df: DataFrame,
    schema: StructType,
    column: str,
    date: dt.date,
) -> bool:
    """Append ``df``, every row of which is dated ``date`` in ``column`` (a key column), when
    the table holds no row of that date: a MERGE keyed on the date, its deletes kept to
    that date, would only insert, in about 12 Spark jobs instead of 1. False when the
    date is there already (a rerun): the caller MERGEs."""
    df = validate_schema(df, schema, name)
    lake.ensure_table(spark, name, schema)
    if holds_date(spark, lake, name, column, date):
        return False
    _append(spark, lake, name, df)
    return True


def holds_date(spark: SparkSession, lake: Lake, name: str, column: str, date: dt.date) -> bool:
    """Whether the table has a row dated ``date`` in ``column``: one small Spark job (the
    files' statistics of the column let Delta skip the others), none when it is empty."""
    if not lake.exists(spark, name) or lake.is_empty(spark, name):
        return False
    return not lake.read(spark, name).filter(F.col(column) == F.lit(date)).isEmpty()


def _append(spark: SparkSession, lake: Lake, name: str, df: DataFrame) -> None:
    target = lake.delta(spark, name).toDF().schema
    have = set(df.columns)
    cols = [
        F.col(f.name) if f.name in have else F.lit(None).cast(f.dataType).alias(f.name)
        for f in target.fields
    ]
    df.select(*cols).write.format("delta").mode("append").save(lake.path(name))


def insert_new(
    spark: SparkSession,
    lake: Lake,
    name: str,
    df: DataFrame,
    key: list[str],
    *,
    update: bool = False,
) -> None:
    """Insert the rows whose ``key`` the table does not hold yet (logs and event tables:
    a rerun inserts nothing twice); with ``update``, replace the rows it holds; into an
    empty table, an append."""
    if append_if_empty(spark, lake, name, df):
        return
    cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)
    merge = lake.delta(spark, name).alias("t").merge(df.alias("s"), cond)
    if update:
        merge = merge.whenMatchedUpdateAll()
    merge.whenNotMatchedInsertAll().execute()


def last_commit_rows(spark: SparkSession, lake: Lake, name: str) -> int:
    """Rows the table's latest commit wrote, from its metrics (no scan of the data)."""
    row = lake.delta(spark, name).history(1).select("operationMetrics").first()
    metrics = (row[0] if row else None) or {}
    return int(metrics.get("numOutputRows", 0))


def merge_changed(
    spark: SparkSession,
    lake: Lake,
    name: str,
    df: DataFrame,
    schema: StructType,
    keys: list[str],
    compare: list[str] | None = None,
    *,
    delete: bool,
    scope: Column | DataFrame | None = None,
    run_date: dt.date | None = None,
) -> int:
    """MERGE only the rows whose ``compare`` columns differ (and, with ``delete``, remove
    rows absent from ``df``); no commit at all when nothing differs, so reruns change
    nothing. Keys are compared null-safely. ``scope`` limits the deletes to the rows of
    the table it holds for (one run date of a history table), or, as a frame of keys, to
    those keys (the customers a day-2 identity run recomputed). ``compare`` defaults to
    every column but ``run_id`` (lineage, not content). Returns the rows written or
    deleted.

    ``run_date``: every row of ``df`` carries it in ``as_of``, a compared column (a gold
    table as of its run). Then, on a date the table holds no row of yet, every stored row
    differs from its new one or is gone, so the MERGE would give ``df`` itself: it is
    written by one overwrite, without comparing rows (returns the rows written)."""
    if compare is None:
        compare = [c for c in schema.fieldNames() if c != "run_id"]
    df = validate_schema(df, schema, name)
    table = lake.ensure_table(spark, name, schema)
    if append_if_empty(spark, lake, name, df):
        return last_commit_rows(spark, lake, name)
    whole = "as_of" in compare and delete and scope is None
    if run_date is not None and whole and not holds_date(spark, lake, name, "as_of", run_date):
        df.write.format("delta").mode("overwrite").save(lake.path(name))
        return last_commit_rows(spark, lake, name)
    current = lake.read(spark, name)

    def sig(d: DataFrame) -> Column:
        return F.sha2(F.to_json(F.struct(*[d[c] for c in compare])), 256)

    old = current.select(*[F.col(k).alias(f"_k_{k}") for k in keys], sig(current).alias("_old"))
    same = [F.col(k).eqNullSafe(F.col(f"_k_{k}")) for k in keys]
    changed = (
        df.withColumn("_sig", sig(df))
        .join(old, [*same, F.col("_sig") == F.col("_old")], "left_anti")
        .drop("_sig")
        .withColumn("_delete", F.lit(False))
    )
    if delete:
        present = df.select(*[F.col(k).alias(f"_k_{k}") for k in keys])
        if scope is None:
            mine = current
        elif isinstance(scope, DataFrame):
            mine = current.join(scope.select(*keys).distinct(), keys, "left_semi")
        else:
            mine = current.filter(scope)
        gone = mine.join(
            present, [F.col(k).eqNullSafe(F.col(f"_k_{k}")) for k in keys], "left_anti"
        ).withColumn("_delete", F.lit(True))
        changed = changed.unionByName(gone)
    changed = changed.transform(checkpointed)
    n = changed.count()
    if n == 0:
        return 0
    cols = {c: f"s.`{c}`" for c in schema.fieldNames()}
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    (
        table.alias("t")
        .merge(changed.alias("s"), on)
        .whenMatchedDelete(condition="s._delete")
        .whenMatchedUpdate(set=cols)
        .whenNotMatchedInsert(condition="NOT s._delete", values=cols)
        .execute()
    )
    return n
