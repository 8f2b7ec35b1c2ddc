"""The pieces of ``gold.customer_360``: one small frame per facet, keyed by customer_id."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from c360.columns import exact_mean
from c360.config import GoldConfig
from c360.gold.facts import day_end

RESPONSES = ("opened", "clicked")
WARRANTY_WORK = ("warranty", "recall")


def province(postal_code: Column) -> Column:
    """Spanish postal codes start with the province number."""
    return F.when(postal_code.rlike("^[0-9]{5}$"), F.substring(postal_code, 1, 2))


def service_summary(visits: DataFrame, as_of: dt.date) -> DataFrame:
    """Visits and spend in the last 12 and 36 months; warranty and recall vs paid work."""
    v = visits.filter(F.col("open_date") <= F.lit(as_of))
    in_12 = F.col("open_date") > F.add_months(F.lit(as_of), -12)
    in_36 = F.col("open_date") > F.add_months(F.lit(as_of), -36)
    warranty = F.col("service_type").isin(*WARRANTY_WORK)
    money = F.coalesce(F.col("total_amount"), F.lit(0)).cast("decimal(14,2)")

    def count(cond: Column) -> Column:
        return F.count(F.when(cond, 1)).cast("int")

    def spend(cond: Column) -> Column:
        return F.sum(F.when(cond, money).otherwise(F.lit(0).cast("decimal(14,2)"))).cast(
            "decimal(14,2)"
        )

    return v.groupBy("customer_id").agg(
        F.max("open_date").alias("last_service_date"),
        count(in_12).alias("service_visits_12m"),
        count(in_36).alias("service_visits_36m"),
        spend(in_12).alias("service_spend_12m"),
        spend(in_36).alias("service_spend_36m"),
        count(in_36 & warranty).alias("warranty_visits_36m"),
        count(in_36 & ~warranty).alias("paid_visits_36m"),
    )


def area_dealers(customers: DataFrame, dealers: DataFrame) -> DataFrame:
    """Nearest active dealer in the customer's province, by postal code distance.

    Joined on the province (a block), never across all dealers."""
    d = dealers.filter(F.col("active") & F.col("postal_code").isNotNull()).select(
        province(F.col("postal_code")).alias("_prov"),
        F.col("dealer_code").alias("area_dealer"),
        F.col("postal_code").cast("int").alias("_dpc"),
    )
    c = customers.select(
        "customer_id",
        province(F.col("postal_code")).alias("_prov"),
        F.col("postal_code").cast("int").alias("_cpc"),
    ).filter(F.col("_prov").isNotNull())
    nearest = F.min_by("area_dealer", F.struct(F.abs(F.col("_cpc") - F.col("_dpc")), "area_dealer"))
    return c.join(F.broadcast(d), "_prov").groupBy("customer_id").agg(nearest.alias("area_dealer"))


def preferred_dealers(
    visits: DataFrame, sales: DataFrame, area: DataFrame, conf: GoldConfig, as_of: dt.date
) -> DataFrame:
    """Most service visits in the window (ties: latest visit, then code), else the
    latest sale's dealer, else the area dealer; with the basis used."""
    since = F.add_months(F.lit(as_of), -conf.preferred_dealer_months)
    svc = (
        visits.filter(
            (F.col("open_date") <= F.lit(as_of))
            & (F.col("open_date") > since)
            & F.col("dealer_code").isNotNull()
        )
        .groupBy("customer_id", "dealer_code")
        .agg(F.count("*").alias("_n"), F.max("open_date").alias("_last"))
        .groupBy("customer_id")
        .agg(
            F.max_by(
                "dealer_code",
                F.struct("_n", "_last", F.negative(F.hash("dealer_code")), "dealer_code"),
            ).alias("service_dealer")
        )
    )
    sold = (
        sales.filter((F.col("sale_date") <= F.lit(as_of)) & F.col("dealer_code").isNotNull())
        .groupBy("customer_id")
        .agg(F.max_by("dealer_code", F.struct("sale_date", "sale_id")).alias("sales_dealer"))
    )
    out = area.join(svc, "customer_id", "full").join(sold, "customer_id", "full")
    return out.select(
        "customer_id",
        F.coalesce("service_dealer", "sales_dealer", "area_dealer").alias("preferred_dealer_code"),
        F.when(F.col("service_dealer").isNotNull(), "service")
        .when(F.col("sales_dealer").isNotNull(), "sales")
        .when(F.col("area_dealer").isNotNull(), "area")
        .alias("preferred_dealer_basis"),
        "area_dealer",
    )


def loyalty_summary(members: DataFrame, as_of: dt.date) -> DataFrame:
    m = members.filter(F.col("enrolled_on").isNull() | (F.col("enrolled_on") <= F.lit(as_of)))
    newest = F.max_by(
        F.struct(
            F.col("tier").alias("loyalty_tier"),
            F.col("points").alias("loyalty_points"),
            F.col("member_status").alias("loyalty_status"),
        ),
        F.struct((F.col("member_status") == "active").alias("_active"), "enrolled_on", "member_id"),
    )
    return m.groupBy("customer_id").agg(newest.alias("_l")).select("customer_id", "_l.*")


def survey_summary(surveys: DataFrame, as_of: dt.date) -> DataFrame:
    """``surveys`` already carries customer_id (by email, else by the VIN's owner)."""
    s = surveys.filter(F.col("response_ts") < day_end(as_of))
    newest = F.max_by(
        F.struct(
            F.col("nps").alias("latest_nps"),
            F.col("csat").alias("latest_csat"),
            F.to_date("response_ts").alias("latest_survey_date"),
            F.col("sentiment_label").alias("latest_sentiment"),
        ),
        F.struct("response_ts", "response_id"),
    )
    return (
        s.groupBy("customer_id")
        .agg(newest.alias("_s"), exact_mean(F.col("sentiment_score")).alias("avg_sentiment_score"))
        .select("customer_id", "_s.*", "avg_sentiment_score")
    )


def engagement_summary(events: DataFrame, as_of: dt.date) -> DataFrame:
    """``events`` already carries customer_id (by the recipient's contact point)."""
    e = events.filter(F.col("event_ts") < day_end(as_of))
    counts = e.groupBy("customer_id").agg(
        F.count(F.when(F.col("event") == "sent", 1)).cast("int").alias("campaign_contacts"),
        F.count(F.when(F.col("event") == "opened", 1)).cast("int").alias("campaign_opens"),
        F.count(F.when(F.col("event") == "clicked", 1)).cast("int").alias("campaign_clicks"),
    )
    last = F.max_by(
        F.struct(
            F.to_date("event_ts").alias("last_response_date"),
            F.col("event").alias("last_response_event"),
        ),
        F.struct("event_ts", "event_id"),
    )
    responses = (
        e.filter(F.col("event").isin(*RESPONSES))
        .groupBy("customer_id")
        .agg(last.alias("_r"))
        .select("customer_id", "_r.*")
    )
    return counts.join(responses, "customer_id", "left")
