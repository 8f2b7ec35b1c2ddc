"""``c360 maintain``: the weekly upkeep of every table. OPTIMIZE rewrites the small files
each daily MERGE and append leaves into few large ones (reads open fewer files), and
VACUUM removes the files no version within the layer's retention reads. Without it a
lake grows without bound, and the old versions of a changed row keep its personal data
(an erasure purges its own tables at once, see privacy/purge.py)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from pyspark.sql import SparkSession

from c360.config import MaintenanceConfig
from c360.errors import ConfigError
from c360.lake import LAYERS, Lake
from c360.runner import StageContext, StageResult
from c360.schemas.pii import stats_columns
from c360.schemas.registry import SCHEMAS
from c360.session import spark_conf

log = logging.getLogger(__name__)

# Delta refuses a VACUUM that keeps less than the table's delete retention (7 days by
# default) while this check is on: a reader or writer still on an older version would
# lose its files.
DELTA_MIN_RETAIN_HOURS = 168.0
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
VACUUM_LOGGING = "spark.databricks.delta.vacuum.logging.enabled"
# VACUUM lists the table's files in this many tasks: Spark's default is 10,000, which on a
# small lake is 10,000 empty tasks (a 3-file table: 90 s on 2 cores, 5.5 s with 4).
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


@dataclass(frozen=True)
class TableUpkeep:
    table: str
    files_before: int  # data files the latest version reads
    files_after: int
    compacted: int  # files OPTIMIZE rewrote (removed from the current version)
    vacuumed: int  # files VACUUM deleted from storage
    seconds: float
    clustered_by: tuple[str, ...] = ()  # the table's liquid clustering columns after it


def retain_hours(conf: MaintenanceConfig, layer: str) -> float:
    """The layer's VACUUM retention; below Delta's minimum only when allowed."""
    unknown = sorted(set(conf.retain_hours) - set(LAYERS))
    if unknown:
        raise ConfigError(
            f"maintenance.retain_hours: unknown layer(s) {', '.join(unknown)} "
            f"(known: {', '.join(LAYERS)})"
        )
    hours = float(conf.retain_hours.get(layer, DELTA_MIN_RETAIN_HOURS))
    if hours < 0:
        raise ConfigError(f"maintenance.retain_hours.{layer}: {hours:g} is negative")
    if hours < DELTA_MIN_RETAIN_HOURS and not conf.allow_short_retention:
        raise ConfigError(
            f"maintenance.retain_hours.{layer}: {hours:g} is below Delta's "
            f"{DELTA_MIN_RETAIN_HOURS:g} hours; set maintenance.allow_short_retention: true "
            "only when no reader or writer can be on a version that old"
        )
    return hours


def check_cluster_by(conf: MaintenanceConfig) -> None:
    """Every clustered table is a lake table, and its columns are columns of it that keep
    statistics (clustering skips files by their min/max, which personal columns lack)."""
    for table, columns in sorted(conf.cluster_by.items()):
        if table not in SCHEMAS:
            raise ConfigError(f"maintenance.cluster_by: {table} is not a lake table")
        allowed = stats_columns(SCHEMAS[table])
        bad = [c for c in columns if c not in allowed]
        if bad or not columns:
            raise ConfigError(
                f"maintenance.cluster_by.{table}: {', '.join(bad) or 'no column'} cannot "
                f"cluster it (columns with statistics: {', '.join(allowed)})"
            )


def clustering_columns(spark: SparkSession, lake: Lake, name: str) -> list[str]:
    return list(lake.delta(spark, name).detail().first()["clusteringColumns"] or [])


def _cluster(spark: SparkSession, lake: Lake, name: str, columns: list[str]) -> bool:
    """Set the table's clustering columns; True when they changed (its files are then
    laid out anew by a full OPTIMIZE)."""
    if clustering_columns(spark, lake, name) == columns:
        return False
    spark.sql(f"ALTER TABLE delta.`{lake.path(name)}` CLUSTER BY ({', '.join(columns)})")
    return True


def files_to_read(path: str, column: str, value: object) -> int:
    """Data files of the latest version whose min/max statistics of ``column`` can hold
    ``value``: what a point read opens (delta-rs and Spark both skip the others). A file
    without statistics counts."""
    import pyarrow as pa
    from deltalake import DeltaTable

    actions = pa.table(DeltaTable(path).get_add_actions(flatten=True)).to_pylist()
    lo, hi = f"min.{column}", f"max.{column}"
    return sum(
        1 for a in actions if a.get(lo) is None or a.get(hi) is None or a[lo] <= value <= a[hi]
    )


@contextlib.contextmanager
def _vacuum_settings(spark: SparkSession, short_retention: bool) -> Iterator[None]:
    """VACUUM logs its deletes as commits (their metrics count the files) and lists files
    in as many tasks as the cluster has cores; the retention check is off only when short
    retention is configured. All restored afterwards."""
    tasks = str(max(1, spark.sparkContext.defaultParallelism))
    keys = {VACUUM_LOGGING: "true", LISTING_PARALLELISM: tasks}
    keys |= {RETENTION_CHECK: "false"} if short_retention else {}
    with spark_conf(spark, keys):
        yield


def _file_count(spark: SparkSession, lake: Lake, name: str) -> int:
    n = lake.file_count(spark, name)
    return n if n is not None else int(lake.delta(spark, name).detail().first()["numFiles"])


def _vacuumed_files(spark: SparkSession, lake: Lake, name: str, since: int) -> int:
    """Files deleted by the VACUUM commits after version ``since``, from their metrics."""
    rows = (
        lake.delta(spark, name)
        .history()
        .filter(f"version > {since} AND operation = 'VACUUM END'")
        .select("operationMetrics")
        .collect()
    )
    return sum(int((r[0] or {}).get("numDeletedFiles", 0)) for r in rows)


def maintain_table(
    spark: SparkSession, lake: Lake, name: str, conf: MaintenanceConfig
) -> TableUpkeep:
    t0 = time.perf_counter()
    hours = retain_hours(conf, name.split(".", 1)[0])
    table = lake.delta(spark, name)
    version = table.history(1).select("version").first()[0]
    before = _file_count(spark, lake, name)
    compacted = 0
    columns = conf.cluster_by.get(name, [])
    if conf.optimize and columns and _cluster(spark, lake, name, columns):
        # FULL: files written before the clustering columns were set are laid out too
        result = spark.sql(f"OPTIMIZE delta.`{lake.path(name)}` FULL")
        compacted = int(result.select("metrics").first()[0]["numFilesRemoved"])
    elif conf.optimize and before > 1:
        metrics = table.optimize().executeCompaction().select("metrics").first()[0]
        compacted = int(metrics["numFilesRemoved"])
    with _vacuum_settings(spark, hours < DELTA_MIN_RETAIN_HOURS):
        table.vacuum(hours)
    vacuumed = _vacuumed_files(spark, lake, name, version)
    after = _file_count(spark, lake, name) if compacted else before
    return TableUpkeep(
        name, before, after, compacted, vacuumed, time.perf_counter() - t0, tuple(columns)
    )


def maintain(spark: SparkSession, lake: Lake, conf: MaintenanceConfig) -> list[TableUpkeep]:
    for layer in LAYERS:
        retain_hours(conf, layer)  # a bad setting stops the run before any table
    check_cluster_by(conf)
    out = []
    for name in lake.tables(spark):
        done = maintain_table(spark, lake, name, conf)
        log.info(
            "step=maintain table=%s files=%d->%d compacted=%d vacuumed=%d seconds=%.1f",
            name,
            done.files_before,
            done.files_after,
            done.compacted,
            done.vacuumed,
            done.seconds,
        )
        out.append(done)
    return out


def run(ctx: StageContext) -> StageResult:
    """The ``maintain`` stage (``c360 maintain``, or ``c360 run --stage maintain``): no
    table's content changes, so it reads and writes no rows."""
    done = maintain(ctx.spark, ctx.lake, ctx.conf.maintenance)
    log.info(
        "step=maintain tables=%d files=%d->%d vacuumed=%d",
        len(done),
        sum(d.files_before for d in done),
        sum(d.files_after for d in done),
        sum(d.vacuumed for d in done),
    )
    return StageResult()
