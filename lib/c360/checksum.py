"""Content checksums of lake tables: did a rerun, or a run killed and resumed, give the
same tables as one clean run?

A table's checksum is its row count and an order-free sum of a 64-bit hash of each row's
content. Run metadata (which run wrote a row, when it was loaded) is left out, since it
names the run rather than the data; so are the ``ops`` tables, which are that metadata.
Maps are hashed with their entries sorted, so two equal maps built in another order agree.
Printed by ``c360 checksum``; nothing here reads a row's content into the driver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import MapType

from c360.errors import ConfigError
from c360.lake import LAYERS, Lake

log = logging.getLogger(__name__)

# Columns that describe the run, not the data: equal data written by two runs differs here.
RUN_COLUMNS = frozenset(
    {"run_id", "_run_id", "_loaded_at", "recorded_at", "started_at", "ended_at"}
)
CONTENT_LAYERS = ("bronze", "silver", "gold", "pseudo")
# The ops tables asked for by name (``--layer ops``) are compared on what they say of the
# data, not of the attempt: which Delta version a commit got, how long a step took, on
# which cluster. ops.job_runs is left out whole: a run killed and resumed logs attempts
# that one clean run never made.
OPS_RUN_COLUMNS = RUN_COLUMNS | {
    "pipeline_run_id",
    "seconds",
    "spark_master",
    "app_id",
    "spark_jobs",
    "delta_commits",
    "txn_version",
    "requested_at",
    "completed_at",
}
ATTEMPT_LOGS = frozenset({"ops.job_runs", "ops.access_log"})  # attempts and requests


@dataclass(frozen=True)
class TableChecksum:
    table: str
    rows: int
    digest: str  # the hash sum as hex; equal content gives an equal digest

    def __str__(self) -> str:
        return f"{self.table} rows={self.rows} digest={self.digest}"


def _canonical(df: DataFrame, name: str) -> Column:
    c = F.col(f"`{name}`")
    if isinstance(df.schema[name].dataType, MapType):
        return F.array_sort(F.map_entries(c)).alias(name)
    return c.alias(name)


def content_columns(df: DataFrame, exclude: frozenset[str] = RUN_COLUMNS) -> list[str]:
    return sorted(c for c in df.columns if c not in exclude)


def table_checksum(
    df: DataFrame, table: str, exclude: frozenset[str] = RUN_COLUMNS
) -> TableChecksum:
    cols = content_columns(df, exclude)
    row = F.to_json(F.struct(*[_canonical(df, c) for c in cols]))
    agg = df.select(F.xxhash64(row).cast("decimal(38,0)").alias("h")).agg(
        F.count("*").alias("n"), F.coalesce(F.sum("h"), F.lit(0)).alias("s")
    )
    r = agg.first()
    digest = format(int(r["s"]) % (1 << 64), "016x")
    return TableChecksum(table, int(r["n"]), digest)


def lake_checksums(
    spark: SparkSession, lake: Lake, layers: tuple[str, ...] = CONTENT_LAYERS
) -> dict[str, TableChecksum]:
    """Every existing table of ``layers``, by name."""
    unknown = set(layers) - set(LAYERS)
    if unknown:
        raise ConfigError(f"unknown layer(s): {', '.join(sorted(unknown))} (known: {LAYERS})")
    out: dict[str, TableChecksum] = {}
    for name in [t for t in lake.tables(spark) if t.split(".", 1)[0] in layers]:
        if name in ATTEMPT_LOGS:
            continue
        exclude = OPS_RUN_COLUMNS if name.startswith("ops.") else RUN_COLUMNS
        out[name] = table_checksum(lake.read(spark, name), name, exclude)
        log.info("step=checksum %s", out[name])
    return out


__all__ = ["OPS_RUN_COLUMNS", "RUN_COLUMNS", "TableChecksum", "lake_checksums", "table_checksum"]
