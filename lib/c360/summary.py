"""``c360 summary`` and ``c360 status``: plain-text summaries of a lake for the terminal
(tables, row counts, last runs, reconciliation); ``html_report.py`` is the HTML report."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.activation.export import read_manifest
from c360.lake import Lake
from c360.runner import JOB_RUNS_TABLE, latest_runs


@dataclass(frozen=True)
class TableInfo:
    name: str
    path: str
    rows: int


@dataclass
class LakeSummary:
    tables: list[TableInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def lake_summary(spark: SparkSession, lake: Lake, export_root: str | None = None) -> LakeSummary:
    """Counts only: nothing here reads or prints a row's content."""
    out = LakeSummary()
    names = lake.tables(spark)
    for name, rows in lake.row_counts(spark, names).items():
        out.tables.append(TableInfo(name, lake.path(name), rows))
    if JOB_RUNS_TABLE in names:
        out.notes.extend(run_status(spark, lake, pipelines=1))
    if "ops.bronze_files" in names:
        files = lake.read(spark, "ops.bronze_files")
        agg = files.agg(
            F.count("*").alias("files"),
            F.sum(F.when(F.col("status") == "loaded", 1).otherwise(0)).alias("loaded"),
            F.sum(F.when(F.col("status") == "failed", 1).otherwise(0)).alias("failed"),
            F.sum(F.when(F.col("reconciled") == F.lit(False), 1).otherwise(0)).alias(
                "unreconciled"
            ),
            F.sum("rows_landed").alias("landed"),
            F.sum("rows_bronze").alias("bronze"),
            F.sum("rows_quarantined").alias("quarantined"),
        ).first()
        out.notes.append(
            f"bronze files: {agg.files} ({agg.loaded} loaded, {agg.failed} failed, "
            f"{agg.unreconciled or 0} not reconciled); rows landed {agg.landed or 0:,} = "
            f"bronze {agg.bronze or 0:,} + quarantined {agg.quarantined or 0:,}"
        )
    if "ops.silver_files" in names:
        agg = (
            lake.read(spark, "ops.silver_files")
            .agg(
                F.count("*").alias("files"),
                F.sum(F.when(~F.col("reconciled"), 1).otherwise(0)).alias("unreconciled"),
                F.sum("rows_bronze").alias("bronze"),
                F.sum("rows_current").alias("current"),
                F.sum("rows_quarantined").alias("quarantined"),
                F.sum("rows_superseded").alias("superseded"),
            )
            .first()
        )
        out.notes.append(
            f"silver files: {agg.files} ({agg.unreconciled or 0} not reconciled); bronze rows "
            f"{agg.bronze or 0:,} = current {agg.current or 0:,} + quarantined "
            f"{agg.quarantined or 0:,} + superseded {agg.superseded or 0:,}"
        )
    if "ops.dq_results" in names:
        dq = lake.read(spark, "ops.dq_results")
        failing = (
            dq.filter(F.col("rows_failed") > 0)
            .groupBy("severity")
            .agg(
                F.countDistinct("table_name", "rule").alias("rules"),
                F.sum("rows_failed").alias("rows"),
            )
            .orderBy("severity")
            .collect()
        )
        parts = [f"{r.severity} {r.rules} rules / {r.rows:,} rows" for r in failing]
        out.notes.append(
            "silver data quality: " + ("; ".join(parts) if parts else "no rule failed")
        )
    if "ops.reconciliation" in names:
        out.notes.extend(_reconciliation_notes(spark, lake))
    if "gold.model_metrics" in names:
        out.notes.extend(_model_notes(spark, lake))
    if "gold.contact_plan" in names:
        out.notes.extend(_activation_notes(spark, lake, names, export_root))
    return out


def run_status(spark: SparkSession, lake: Lake, pipelines: int = 3) -> list[str]:
    """The newest ``pipelines`` pipeline runs in ``ops.job_runs``, newest first, a line
    per stage run: status, rows in and out, seconds, Spark jobs, Delta commits and the
    error. A stage with only its ``running`` row was killed, or is still running."""
    if not lake.exists(spark, JOB_RUNS_TABLE):
        return [f"no runs yet ({JOB_RUNS_TABLE} does not exist under {lake.root})"]
    runs = latest_runs(lake.read(spark, JOB_RUNS_TABLE)).collect()  # ops rows: a few per run
    by_pipeline: dict[str, list] = {}
    for r in sorted(runs, key=lambda r: r.started_at):
        by_pipeline.setdefault(r.pipeline_run_id, []).append(r)
    newest = sorted(by_pipeline.values(), key=lambda rs: rs[0].started_at, reverse=True)
    lines: list[str] = []
    for stages in newest[:pipelines]:
        first = stages[0]
        failed = [r.stage for r in stages if r.status == "failed"]
        running = [r.stage for r in stages if r.status == "running"]
        outcome = (
            f"failed in {', '.join(failed)}"
            if failed
            else f"not finished: {', '.join(running)} killed or still running"
            if running
            else "succeeded"
        )
        lines.append(
            f"pipeline run {first.pipeline_run_id} as_of={first.as_of} started "
            f"{first.started_at:%Y-%m-%d %H:%M:%S} UTC: {len(stages)} stage(s), {outcome}"
        )
        for r in stages:
            rows_in = sum((r.rows_read or {}).values())
            rows_out = sum((r.rows_written or {}).values())
            secs = f"{r.seconds:.1f}s" if r.seconds is not None else "-"
            cost = f"jobs={r.spark_jobs} commits={r.delta_commits}" if r.spark_jobs else ""
            line = (
                f"  {r.stage:<12} {r.status:<9} rows_in={rows_in:,} rows_out={rows_out:,} "
                f"{secs} {cost}".rstrip()
            )
            if r.error:
                line += f"  error: {r.error.splitlines()[0][:200]}"
            lines.append(line)
    return lines


def _reconciliation_notes(spark: SparkSession, lake: Lake) -> list[str]:
    """The newest run date's report: how many checks add up, and each one that does not."""
    report = lake.read(spark, "ops.reconciliation")
    newest = report.agg(F.max("as_of").alias("d")).first().d
    if newest is None:
        return []
    rows = report.filter(F.col("as_of") == F.lit(newest)).orderBy("layer", "table_name").collect()
    bad = [r for r in rows if not r.ok]
    notes = [f"reconciliation as_of={newest}: {len(rows) - len(bad)} of {len(rows)} checks add up"]
    notes += [
        f"  {r.severity}: {r.table_name}: {r.check} (gap {r.gap:+,d}) {r.detail or ''}".rstrip()
        for r in bad
    ]
    return notes


def _model_notes(spark: SparkSession, lake: Lake) -> list[str]:
    """The newest version of each model, its AUC and lift beside the rules baseline."""
    m = lake.read(spark, "gold.model_metrics").filter(
        F.col("metric").isin("auc", "top_decile_lift")
    )
    newest = m.groupBy("model").agg(F.max("version").alias("version"))
    rows = m.join(newest, ["model", "version"]).collect()
    vals = {(r.model, r.version, r.scorer, r.metric): r.value for r in rows}
    notes = []
    for model, version in sorted({(r.model, r.version) for r in rows}):

        def v(scorer: str, metric: str, mv: tuple[str, str] = (model, version)) -> float:
            return vals.get((*mv, scorer, metric)) or float("nan")

        notes.append(
            f"model {model} {version}: AUC {v('model', 'auc'):.3f} (rules "
            f"{v('baseline', 'auc'):.3f}), top-decile lift {v('model', 'top_decile_lift'):.2f} "
            f"(rules {v('baseline', 'top_decile_lift'):.2f})"
        )
    return notes


def _activation_notes(
    spark: SparkSession, lake: Lake, names: list[str], export_root: str | None
) -> list[str]:
    plan = lake.read(spark, "gold.contact_plan")
    latest = plan.agg(F.max("plan_date")).first()[0]
    if latest is None:
        return []
    counts = dict(plan.filter(F.col("plan_date") == latest).groupBy("status").count().collect())
    notes = [
        f"contact plan {latest}: {counts.get('selected', 0):,} selected, "
        f"{counts.get('held_out', 0):,} held out, {counts.get('suppressed', 0):,} suppressed"
    ]
    m = read_manifest(spark, export_root, latest) if export_root else None
    if m is not None:
        folder = f"{export_root}/{latest.isoformat()}"
        notes.append(f"exports: {folder} ({len(m['files'])} files, {m['rows']:,} rows)")
    if "gold.campaign_results" in names:
        pooled = (
            lake.read(spark, "gold.campaign_results")
            .filter((F.col("level") == "objective") & F.col("lift").isNotNull())
            .orderBy("objective")
            .collect()
        )
        for r in pooled:
            notes.append(
                f"campaign lift, {r.objective} (all campaigns): {r.lift:+.3f} "
                f"[{r.lift_ci_low:+.3f}, {r.lift_ci_high:+.3f}] "
                f"({r.targeted:,} targeted, {r.held_out:,} held out)"
            )
    return notes
