"""Activation stage: ``gold.contact_plan``, the export files, ``gold.campaign_results``.

Reads gold as of the same run date (run the gold stage first) and silver for history and
outcomes. Order: contact plan (keyed MERGE, scoped to the run date) -> export folder
(written from the table, swapped in atomically) -> campaign results. A run killed at any
point is completed by the next; a rerun on the same input changes no table and rewrites
identical export files."""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.activation import export, plan, results
from c360.gold import facts
from c360.gold.scores import read_scores_as_of
from c360.io import (
    append_if_new_date,
    checkpointed,
    last_commit_rows,
    merge_changed,
    read_as_of,
    read_or_empty,
)
from c360.lake import Lake
from c360.logs import step
from c360.runner import StageContext, StageResult
from c360.schemas import gold as G
from c360.schemas import registry as R

log = logging.getLogger(__name__)

RESULT_KEYS = ["campaign_id", "wave", "channel", "contact_plan", "segment", "level", "objective"]


def prior_plan(spark: SparkSession, lake: Lake, as_of: dt.date) -> DataFrame:
    """Rows earlier runs planned; a rerun of this date never sees its own rows."""
    rows = read_or_empty(spark, lake, R.GOLD_CONTACT_PLAN)
    return rows.filter(F.col("plan_date") < F.lit(as_of))


def write_plan(spark: SparkSession, lake: Lake, rows: DataFrame, as_of: dt.date) -> int:
    """The run date's rows: appended on a new date, else MERGEd (a rerun), rows of that
    date no longer planned removed."""
    name = R.GOLD_CONTACT_PLAN
    if append_if_new_date(spark, lake, name, rows, G.CONTACT_PLAN, "plan_date", as_of):
        return last_commit_rows(spark, lake, name)
    return merge_changed(
        spark,
        lake,
        R.GOLD_CONTACT_PLAN,
        rows,
        G.CONTACT_PLAN,
        ["plan_date", "customer_id", "contact_plan"],
        delete=True,
        scope=F.col("plan_date") == F.lit(as_of),
    )


def run(ctx: StageContext) -> StageResult:
    spark, lake, conf, as_of = ctx.spark, ctx.lake, ctx.conf.activation, ctx.as_of
    plan.check_plans(conf)
    result = StageResult()
    send_date = as_of + dt.timedelta(days=conf.send_offset_days)
    with step(log, "activation.inputs") as p:
        c360 = read_as_of(spark, lake, R.GOLD_CUSTOMER_360, as_of)
        segments = read_as_of(spark, lake, R.GOLD_LIFECYCLE_SEGMENTS, as_of)
        records = facts.filter_current_records(
            read_or_empty(spark, lake, "silver.identity_crosswalk")
        ).transform(checkpointed)
        points = facts.contact_points(read_or_empty(spark, lake, "silver.party_records"), records)
        raw_events = read_or_empty(spark, lake, "silver.campaign_events")
        events = facts.events_with_customer(
            facts.unique_contact_points(points), raw_events.filter(~F.col("_is_deleted"))
        ).transform(checkpointed)
        consents = facts.consents_as_of(
            read_or_empty(spark, lake, "silver.consent_events"), send_date
        )
        hist = plan.History(
            erased=read_or_empty(spark, lake, R.OPS_ERASURE_LOG),
            events=events,
            prior_plan=prior_plan(spark, lake, as_of),
        )
        p.rows_in = events.count()
    result.rows_read["silver.campaign_events"] = p.rows_in
    with step(log, "activation.contact_plan") as p:
        rows = plan.build_contact_plan(
            spark,
            segments,
            c360,
            consents,
            hist,
            conf,
            ctx.conf.gold.mail_requires_opt_in,
            as_of,
            ctx.run_id,
            read_scores_as_of(spark, lake, as_of),
            read_or_empty(spark, lake, R.GOLD_ACCOUNT_CONTACTS),
        ).transform(checkpointed)
        p.rows_out = p.count(rows)
        result.rows_written[R.GOLD_CONTACT_PLAN] = write_plan(spark, lake, rows, as_of)
    with step(log, "activation.export") as p:
        manifest = export.write_export(
            lake.read(spark, R.GOLD_CONTACT_PLAN), conf.export_root, as_of
        )
        p.rows_out = manifest["rows"]
    with step(log, "activation.campaign_results") as p:
        service = facts.with_customer(
            read_or_empty(spark, lake, "silver.service_visits").filter(~F.col("_is_deleted")),
            records,
            "service",
            "ro_number",
        )
        sales = facts.with_customer(
            read_or_empty(spark, lake, "silver.sales").filter(~F.col("_is_deleted")),
            records,
            "sales",
            "sale_id",
        )
        seg = c360.select("customer_id", F.col("market_segment").alias("segment"))
        res = results.campaign_results(
            lake.read(spark, R.GOLD_CONTACT_PLAN),
            events,
            read_or_empty(spark, lake, "silver.campaigns"),
            service,
            sales,
            seg,
            conf,
            as_of,
            ctx.run_id,
        ).transform(checkpointed)
        p.rows_out = p.count(res)
        result.rows_written[R.GOLD_CAMPAIGN_RESULTS] = merge_changed(
            spark,
            lake,
            R.GOLD_CAMPAIGN_RESULTS,
            res,
            G.CAMPAIGN_RESULTS,
            RESULT_KEYS,
            delete=True,
            run_date=as_of,
        )
    return result
