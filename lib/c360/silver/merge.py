"""Latest-version-wins MERGE for silver record tables.

A record's version is ``(_change_ts, _batch_id, _source_file, _row_number)``: the source's
own change timestamp first (NULL sorts first), then landing order. Within a batch the
highest version of a key wins; in the MERGE a target row is replaced only by a strictly
higher version, so late and replayed records never overwrite newer ones and a rerun of
the same rows changes nothing. Deletes arrive as rows with ``_is_deleted`` and are kept
as tombstones.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from c360.io import append_if_empty, last_commit_rows
from c360.lake import Lake

VERSION_COLS = ("_change_ts", "_batch_id", "_source_file", "_row_number")
_EPOCH = "TIMESTAMP'1900-01-01 00:00:00'"


def version(prefix: str = "") -> Column:
    p = f"{prefix}." if prefix else ""
    return F.expr(
        f"struct(coalesce({p}_change_ts, {_EPOCH}), {p}_batch_id, {p}_source_file, {p}_row_number)"
    )


def newer(s: str, t: str) -> Column:
    """Whether ``s``'s version is strictly higher than ``t``'s: ``version(s) > version(t)``,
    field by field. A struct of the MERGE target's columns would carry their comments into
    its type, and two struct types that differ there do not compare."""
    fields = [f"coalesce({{p}}._change_ts, {_EPOCH})", *[f"{{p}}.{c}" for c in VERSION_COLS[1:]]]
    out: Column | None = None
    for field in reversed(fields):
        a, b = F.expr(field.format(p=s)), F.expr(field.format(p=t))
        out = a > b if out is None else (a > b) | ((a == b) & out)
    assert out is not None
    return out


def row_states(
    rows: DataFrame, silver: DataFrame, quarantine: DataFrame, top: DataFrame, key: list[str]
) -> DataFrame:
    """``_state`` of each bronze row (``_source_file``, ``_row_number``, key, ``_v``):
    current if silver holds it, quarantined if the quarantine holds it, superseded if a
    higher version of its key exists (``top``: key, ``_top``), else lost."""
    placed = (
        silver.select("_source_file", "_row_number", F.lit("current").alias("_state"))
        .unionByName(
            quarantine.select("_source_file", "_row_number", F.lit("quarantined").alias("_state"))
        )
        .dropDuplicates(["_source_file", "_row_number"])
    )
    return (
        rows.join(placed, ["_source_file", "_row_number"], "left")
        .join(top, key, "left")
        .withColumn(
            "_state",
            F.coalesce(
                F.col("_state"), F.when(F.col("_v") < F.col("_top"), "superseded"), F.lit("lost")
            ),
        )
    )


def with_version_rank(df: DataFrame, key: tuple[str, ...]) -> DataFrame:
    """``_rank`` = 1 for the highest version of each key in this batch."""
    w = Window.partitionBy(*key).orderBy(*[F.col(c).desc_nulls_last() for c in VERSION_COLS])
    return df.withColumn("_rank", F.row_number().over(w))


def filter_latest(df: DataFrame, key: tuple[str, ...]) -> DataFrame:
    return with_version_rank(df, key).filter(F.col("_rank") == 1).drop("_rank")


def merge_latest(
    lake: Lake, spark, table: str, updates: DataFrame, key: tuple[str, ...]
) -> dict[str, int]:
    """MERGE one row per key; returns Delta's inserted/updated counts."""
    if append_if_empty(spark, lake, table, updates):
        return {"inserted": last_commit_rows(spark, lake, table), "updated": 0}
    target = lake.delta(spark, table)
    cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)
    metrics = (
        target.alias("t")
        .merge(updates.alias("s"), cond)
        .whenMatchedUpdateAll(condition=newer("s", "t"))
        .whenNotMatchedInsertAll()
        .execute()
    )
    row = metrics.collect()[0].asDict() if metrics is not None else {}
    return {
        "inserted": int(row.get("num_inserted_rows", 0) or 0),
        "updated": int(row.get("num_updated_rows", 0) or 0),
    }
