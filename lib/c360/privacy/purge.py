"""Deleting a person's rows so that no copy outlives them: a MERGE on row hashes (no
identifier in the Delta log), then only the files the current version reads are left
on disk."""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Iterator

from delta.tables import DeltaTable
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from c360.lake import Lake, is_local, local_path


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
    props = lake.properties(spark, name)
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
