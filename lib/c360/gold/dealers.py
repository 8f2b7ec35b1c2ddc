"""``gold.dealer_radiography`` and ``gold.kpi_counts``: the seed's dashboards as tables."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from c360.config import GoldConfig
from c360.gold.facts import day_end
from c360.gold.profile import RESPONSES


def month_of(date: Column) -> Column:
    return F.trunc(date, "month")


def _ratio(num: str, den: str) -> Column:
    return F.when(F.col(den) > 0, F.col(num) / F.col(den))


def radiography(
    dealers: DataFrame,
    customers: DataFrame,
    sales: DataFrame,
    visits: DataFrame,
    surveys: DataFrame,
    events: DataFrame,
    conf: GoldConfig,
    as_of: dt.date,
) -> DataFrame:
    """Per dealer and month, from the first month with activity to the as_of month.

    ``customers`` is the customer 360 (customer_id, preferred_dealer_code, first_seen);
    ``visits`` and ``events`` carry customer_id."""
    d = dealers.filter(~F.col("_is_deleted")).select("dealer_code", "dealer_name", "region")
    sold = (
        sales.filter((F.col("sale_date") <= F.lit(as_of)) & F.col("dealer_code").isNotNull())
        .groupBy("dealer_code", month_of(F.col("sale_date")).alias("month"))
        .agg(
            F.count("*").alias("sales"),
            F.coalesce(F.sum("price"), F.lit(0)).cast("decimal(14,2)").alias("sales_revenue"),
        )
    )
    back = Window.partitionBy("customer_id", "dealer_code").orderBy("open_date", "ro_number")
    v = visits.filter((F.col("open_date") <= F.lit(as_of)) & F.col("dealer_code").isNotNull())
    v = v.withColumn("_prev", F.lag("open_date").over(back)).withColumn(
        "_returned",
        F.col("_prev") >= F.add_months(F.col("open_date"), -conf.retention_months),
    )
    served = v.groupBy("dealer_code", month_of(F.col("open_date")).alias("month")).agg(
        F.count("*").alias("service_visits"),
        F.coalesce(F.sum("total_amount"), F.lit(0)).cast("decimal(14,2)").alias("service_revenue"),
        F.countDistinct("customer_id").alias("service_customers"),
        F.countDistinct(F.when(F.col("_returned"), F.col("customer_id"))).alias(
            "returning_customers"
        ),
    )
    s = surveys.filter(
        (F.col("response_ts") < day_end(as_of))
        & F.col("dealer_code").isNotNull()
        & F.col("nps").isNotNull()
    )
    promoters = F.count(F.when(F.col("nps") >= conf.nps_promoter_min, 1))
    detractors = F.count(F.when(F.col("nps") <= conf.nps_detractor_max, 1))
    nps = s.groupBy("dealer_code", month_of(F.to_date("response_ts")).alias("month")).agg(
        F.count("*").alias("survey_responses"),
        F.round((promoters - detractors) * 100.0 / F.count("*"), 1).alias("nps"),
    )
    pref = customers.select("customer_id", F.col("preferred_dealer_code").alias("dealer_code"))
    e = events.filter(F.col("event_ts") < day_end(as_of)).join(pref, "customer_id")
    contact = F.struct("campaign_id", "wave", "customer_id")
    camp = e.groupBy("dealer_code", month_of(F.to_date("event_ts")).alias("month")).agg(
        F.countDistinct(F.when(F.col("event") == "sent", contact)).alias("campaign_contacts"),
        F.countDistinct(F.when(F.col("event").isin(*RESPONSES), contact)).alias(
            "campaign_responses"
        ),
    )
    joined_in = (
        customers.filter(F.col("preferred_dealer_code").isNotNull())
        .groupBy(
            F.col("preferred_dealer_code").alias("dealer_code"),
            month_of(F.col("first_seen")).alias("month"),
        )
        .agg(F.count("*").alias("_new_customers"))
    )
    facts = [sold, served, nps, camp, joined_in]
    first = min(f.agg(F.min("month")).first()[0] or as_of for f in facts[:4])
    months = F.sequence(F.lit(first), month_of(F.lit(as_of)), F.expr("INTERVAL 1 MONTH"))
    grid = d.select("*", F.explode(months).alias("month"))
    out = grid
    for f in facts:
        out = out.join(f, ["dealer_code", "month"], "left")
    zero = ["sales", "service_visits", "service_customers", "returning_customers"]
    zero += ["survey_responses", "campaign_contacts", "campaign_responses", "_new_customers"]
    out = out.fillna(0, subset=zero).fillna(0, subset=["sales_revenue", "service_revenue"])
    running = (
        Window.partitionBy("dealer_code").orderBy("month").rowsBetween(Window.unboundedPreceding, 0)
    )
    # Customers first seen before the grid starts still count in its first month.
    before = (
        joined_in.filter(F.col("month") < first)
        .groupBy("dealer_code")
        .agg(F.sum("_new_customers").alias("_before"))
    )
    out = out.join(before, "dealer_code", "left").withColumn(
        "customers_in_area",
        (F.sum("_new_customers").over(running) + F.coalesce("_before", F.lit(0))).cast("long"),
    )
    return out.select(
        "dealer_code",
        "month",
        "dealer_name",
        "region",
        "customers_in_area",
        F.col("sales").cast("long"),
        "sales_revenue",
        F.col("service_visits").cast("long"),
        "service_revenue",
        F.col("service_customers").cast("long"),
        F.col("returning_customers").cast("long"),
        F.round(_ratio("returning_customers", "service_customers"), 4).alias("service_retention"),
        F.col("survey_responses").cast("long"),
        "nps",
        F.col("campaign_contacts").cast("long"),
        F.col("campaign_responses").cast("long"),
        F.round(_ratio("campaign_responses", "campaign_contacts"), 4).alias("response_rate"),
    )


def kpi_counts(c360: DataFrame) -> DataFrame:
    """Individuals and companies by region, lifecycle stage and contactability."""
    has = F.array_contains
    ch = F.col("contactable_channels")

    def n(cond: Column) -> Column:
        return F.count(F.when(cond, 1)).cast("long")

    return c360.groupBy(
        "party_type",
        F.coalesce("region", F.lit("unknown")).alias("region"),
        F.coalesce("lifecycle_stage", F.lit("no_stage")).alias("lifecycle_stage"),
        F.when(F.size(ch) > 0, "contactable").otherwise("not_contactable").alias("contactability"),
    ).agg(
        F.count("*").cast("long").alias("customers"),
        n(has(ch, "email")).alias("email_contactable"),
        n(has(ch, "sms")).alias("sms_contactable"),
        n(has(ch, "mail")).alias("mail_contactable"),
        n(has(ch, "telemarketing")).alias("telemarketing_contactable"),
        n(F.col("vehicles_current") > 0).alias("with_vehicle"),
        n(F.col("account_type") == "fleet").alias("fleet_accounts"),
    )
