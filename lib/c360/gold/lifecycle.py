"""Lifecycle stages over a vehicle's life (0 to 15 years), per customer and vehicle.

The thresholds come from ``gold.lifecycle`` in conf/; the order of the rules is the
product's definition of the journey (see bronze_silver_gold.md)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.config import LifecycleConfig
from c360.errors import ConfigError, HistoryOrderError
from c360.gold.facts import day_end, months_since
from c360.io import append_if_empty, checkpointed
from c360.lake import Lake
from c360.schemas import gold as G

STAGES: tuple[str, ...] = (
    "lead_management",
    "order",
    "first_year",
    "brand_commitment",
    "renewal",
    "after_sales_in_warranty",
    "after_sales_out_of_warranty",
    "beyond_lifecycle",
)


def in_warranty(as_of: dt.date, warranty_end: Column, km: Column, warranty_km: int) -> Column:
    """Warranty holds until its end date (inclusive) or ``warranty_km``, whichever first."""
    return (F.lit(as_of) <= warranty_end) & (km.isNull() | (km < warranty_km))


def with_vehicle_stage(
    df: DataFrame, conf: LifecycleConfig, as_of: dt.date, warranty_km: int
) -> DataFrame:
    """Stage and a readable reason for each owned vehicle; the first rule that holds wins,
    and a vehicle no rule catches is in after-sales out of warranty.

    Needs acquired_date, first_registration, latest_km, warranty_end, finance_type,
    finance_active and maturity_date."""
    owned = months_since(as_of, F.col("acquired_date"))
    age = months_since(as_of, F.col("first_registration"))
    km = F.col("latest_km")
    window_end = F.add_months(F.lit(as_of), conf.renewal_window_months)
    maturing = (
        F.coalesce(F.col("finance_active"), F.lit(False))
        & (F.col("maturity_date") >= F.lit(as_of))
        & (F.col("maturity_date") <= window_end)
    )
    warranty = in_warranty(as_of, F.col("warranty_end"), km, warranty_km)
    rules: list[tuple[str, Column, Column]] = [
        (
            "beyond_lifecycle",
            age >= conf.max_vehicle_age_years * 12,
            F.format_string(
                "vehicle %d months old (>= %d years)", age, F.lit(conf.max_vehicle_age_years)
            ),
        ),
        (
            "first_year",
            owned < conf.first_year_months,
            F.format_string("owned %d months (< %d)", owned, F.lit(conf.first_year_months)),
        ),
        (
            "renewal",
            maturing,
            F.format_string(
                "%s contract matures %s (within %d months)",
                F.col("finance_type"),
                F.col("maturity_date").cast("string"),
                F.lit(conf.renewal_window_months),
            ),
        ),
        (
            "renewal",
            age >= conf.renewal_age_years * 12,
            F.format_string(
                "vehicle %d months old (>= %d years)", age, F.lit(conf.renewal_age_years)
            ),
        ),
        (
            "renewal",
            km >= conf.renewal_km,
            F.format_string("%d km (>= %d)", km, F.lit(conf.renewal_km)),
        ),
        (
            "brand_commitment",
            owned < conf.brand_commitment_months,
            F.format_string("owned %d months (< %d)", owned, F.lit(conf.brand_commitment_months)),
        ),
        (
            "after_sales_in_warranty",
            warranty,
            F.format_string("warranty until %s", F.col("warranty_end").cast("string")),
        ),
    ]
    stage: Column = F.lit("after_sales_out_of_warranty")
    reason: Column = F.format_string(
        "warranty ended %s or at %d km", F.col("warranty_end").cast("string"), F.lit(warranty_km)
    )
    # Built from the last rule backwards so that the first rule that holds wins.
    for name, cond, why in reversed(rules):
        holds = F.coalesce(cond, F.lit(False))
        stage = F.when(holds, F.lit(name)).otherwise(stage)
        reason = F.when(holds, why).otherwise(reason)
    return df.withColumns(
        {
            "owned_months": owned,
            "vehicle_age_months": age,
            "in_warranty": F.coalesce(warranty, F.lit(False)),
            "stage": stage,
            "stage_reason": reason,
        }
    )


def customer_stage_rows(
    leads: DataFrame, acquisitions: DataFrame, conf: LifecycleConfig, as_of: dt.date
) -> DataFrame:
    """Customer-level rows (no VIN): an order not yet delivered, else an open lead with
    no purchase since it was made. ``leads`` carries customer_id; ``acquisitions`` is
    (customer_id, acquired_date)."""
    made = F.to_date("created_at")
    live = leads.filter(~F.col("_is_deleted") & (F.col("created_at") < day_end(as_of)))
    orders = live.filter((F.col("lead_type") == "order") & (F.col("lead_status") == "ordered"))
    orders = orders.select(
        "customer_id",
        F.lit("order").alias("stage"),
        F.format_string(
            "ordered %s on %s, delivery expected %s",
            F.coalesce("model_of_interest", F.lit("a vehicle")),
            made.cast("string"),
            F.coalesce(F.col("expected_delivery").cast("string"), F.lit("unknown")),
        ).alias("stage_reason"),
        F.col("model_of_interest").alias("model"),
        made.alias("_d"),
        F.lit(0).alias("_rank"),
    )
    bought = acquisitions.select("customer_id", F.col("acquired_date").alias("_bought"))
    open_leads = (
        live.filter(
            F.col("lead_type").isin("lead", "quote")
            & (F.col("lead_status") == "open")
            & (made >= F.date_sub(F.lit(as_of), conf.lead_max_age_days))
        )
        .join(bought, "customer_id", "left")
        .groupBy(*live.columns)
        .agg(F.max(F.when(F.col("_bought") >= made, 1)).alias("_since"))
        .filter(F.col("_since").isNull())
    )
    open_leads = open_leads.select(
        "customer_id",
        F.lit("lead_management").alias("stage"),
        F.format_string(
            "open %s for %s since %s, no purchase since",
            F.col("lead_type"),
            F.coalesce("model_of_interest", F.lit("a vehicle")),
            made.cast("string"),
        ).alias("stage_reason"),
        F.col("model_of_interest").alias("model"),
        made.alias("_d"),
        F.lit(1).alias("_rank"),
    )
    picked = F.struct("stage", "stage_reason", "model")
    # the value itself breaks a tie (two leads the same day): min_by alone takes
    # whichever row the aggregate met first
    pick = F.min_by(picked, F.struct("_rank", F.negative(F.unix_date(F.col("_d"))), picked))
    return (
        orders.unionByName(open_leads)
        .groupBy("customer_id")
        .agg(pick.alias("_p"))
        .select("customer_id", "_p.*")
    )


def check_priority(priority: list[str]) -> None:
    """Every name in ``gold.lifecycle.stage_priority`` must be a stage this module makes."""
    unknown = [s for s in priority if s not in STAGES]
    if unknown:
        raise ConfigError(
            f"gold.lifecycle.stage_priority: unknown stage(s) {', '.join(unknown)}; "
            f"known: {', '.join(STAGES)}"
        )


def headline_stage(stage: Column, priority: list[str]) -> Column:
    """Position of a stage in the priority list (unknown stages last): min() picks the top."""
    pos = F.array_position(F.array(*[F.lit(s) for s in priority]), stage)
    return F.when(pos > 0, pos).otherwise(F.lit(len(priority) + 1))


def update_history(
    spark: SparkSession, lake: Lake, name: str, segments: DataFrame, as_of: dt.date, run_id: str
) -> int:
    """SCD type 2 in one MERGE: close the rows whose stage changed or vanished, open the
    new ones. A rerun for the same as_of finds nothing to change."""
    table = lake.ensure_table(spark, name, G.LIFECYCLE_HISTORY)
    history = lake.read(spark, name)
    latest = history.agg(F.max("valid_from")).first()[0]
    if latest is not None and as_of < latest:
        raise HistoryOrderError(name, as_of.isoformat(), latest.isoformat())
    keys = ["customer_id", "vin"]
    same_key = [F.col(f"o.{k}").eqNullSafe(F.col(f"n.{k}")) for k in keys]
    open_rows = history.filter("is_current").alias("o")
    now = segments.select(*keys, "stage").alias("n")
    joined = open_rows.join(now, same_key, "full_outer")
    o_stage, n_stage = F.col("o.stage"), F.col("n.stage")
    closing = joined.filter(o_stage.isNotNull() & ~o_stage.eqNullSafe(n_stage)).select(
        *[F.col(f"o.{k}").alias(k) for k in keys],
        F.col("o.valid_from").alias("_match_from"),
    )
    opening = joined.filter(n_stage.isNotNull() & ~n_stage.eqNullSafe(o_stage)).select(
        *[F.col(f"n.{k}").alias(k) for k in keys],
        n_stage.alias("stage"),
        o_stage.alias("previous_stage"),
    )
    staged = closing.select(
        *keys,
        "_match_from",
        F.lit(None).cast("string").alias("stage"),
        F.lit(None).cast("string").alias("previous_stage"),
    ).unionByName(opening.withColumn("_match_from", F.lit(None).cast("date")))
    staged = staged.transform(checkpointed)
    n = staged.count()
    if n == 0:
        return 0
    opened = {  # an open row, from a staged row with a stage (s.*)
        "customer_id": F.col("s.customer_id"),
        "vin": F.col("s.vin"),
        "stage": F.col("s.stage"),
        "valid_from": F.lit(as_of),
        "valid_to": F.lit(None).cast("date"),
        "is_current": F.lit(True),
        "previous_stage": F.col("s.previous_stage"),
        "run_id": F.lit(run_id),
    }
    first = staged.alias("s").filter(F.col("s.stage").isNotNull())
    if append_if_empty(spark, lake, name, first.select(*[c.alias(k) for k, c in opened.items()])):
        return n  # a first run only opens rows
    on = (
        "t.customer_id = s.customer_id AND t.vin <=> s.vin AND t.is_current "
        "AND t.valid_from = s._match_from"
    )
    (
        table.alias("t")
        .merge(staged.alias("s"), on)
        .whenMatchedUpdate(set={"valid_to": F.lit(as_of), "is_current": F.lit(False)})
        .whenNotMatchedInsert(condition="s.stage IS NOT NULL", values=opened)
        .execute()
    )
    return n
