"""Campaign results measured against what happened in silver, not what the platform says.

The audience of a campaign is everyone assigned to it: the treated (selected, or sent by
the platform) and the control group (held out by the contact plan, or reported as
``held_out`` by the platform). Assignment decides the group (intention to treat), so a
bounce does not move a customer out of the treated group and the comparison stays fair.

A conversion is a service visit or a purchase in silver by the same customer within
``attribution_days`` after the contact. A customer converts when it has at least one on
the plan's objective (service or purchase; ``any`` for unknown plans). The lift is the
difference of the converted shares, treated minus control, with Newcombe's score
interval (sound when conversions are rare, as purchases are)."""

from __future__ import annotations

import datetime as dt
from statistics import NormalDist

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from c360.activation.plan import IN_CAMPAIGN
from c360.columns import lookup, to_schema, with_run
from c360.config import ActivationConfig
from c360.io import checkpointed
from c360.schemas import gold as G

ALL = "ALL"
_AMOUNT = "decimal(20,2)"
EVENT_FLAGS = ("sent", "delivered", "bounced", "opened", "clicked", "unsubscribed")


def _objective(conf: ActivationConfig) -> Column:
    known = lookup({n: p.objective for n, p in conf.plans.items()}, F.col("contact_plan"))
    return F.coalesce(known, F.lit("any"))


def plan_audience(plan_table: DataFrame, conf: ActivationConfig) -> DataFrame:
    """Our own campaigns: each customer's first entry (selected or held out)."""
    cost = lookup({ch: c.cost for ch, c in conf.channels.items()}, F.col("channel"))
    w = Window.partitionBy("campaign_id", "customer_id").orderBy("plan_date")
    return (
        plan_table.filter(F.col("status").isin(*IN_CAMPAIGN))
        .withColumn("_n", F.row_number().over(w))
        .filter(F.col("_n") == 1)
        .select(
            "campaign_id",
            F.lit(1).alias("wave"),
            "customer_id",
            F.when(F.col("status") == "selected", "treated").otherwise("control").alias("group"),
            F.col("send_date").alias("contact_date"),
            "channel",
            "contact_plan",
            cost.cast("double").alias("cost_per_contact"),
            F.lit("contact_plan").alias("source"),
        )
    )


def platform_audience(events: DataFrame, campaigns: DataFrame) -> DataFrame:
    """Campaigns the platform ran: ``sent`` marks the treated, ``held_out`` the control."""
    camp = campaigns.filter(~F.col("_is_deleted")).select(
        "campaign_id", "contact_plan", F.col("cost_per_contact").cast("double")
    )
    assigned = events.filter(F.col("event").isin("sent", "held_out")).withColumn(
        "wave", F.coalesce("wave", F.lit(1))
    )
    return (
        assigned.groupBy("campaign_id", "wave", "customer_id")
        .agg(
            F.when(F.max(F.col("event") == "held_out"), "control")
            .otherwise("treated")
            .alias("group"),
            F.to_date(F.min("event_ts")).alias("contact_date"),
            F.min("channel").alias("channel"),
        )
        .join(camp, "campaign_id", "left")
        .withColumn("source", F.lit("platform"))
    )


def event_flags(events: DataFrame) -> DataFrame:
    """Per (campaign, wave, customer): 1 when the platform reported each event."""
    return events.groupBy(
        "campaign_id", F.coalesce("wave", F.lit(1)).alias("wave"), "customer_id"
    ).agg(*[F.max((F.col("event") == e).cast("int")).alias(f"_{e}") for e in EVENT_FLAGS])


def _in_window(date: Column, contact: Column, days: int, as_of: dt.date) -> Column:
    return (date > contact) & (date <= F.date_add(contact, days)) & (date <= F.lit(as_of))


def with_outcomes(
    audience: DataFrame, service: DataFrame, sales: DataFrame, days: int, as_of: dt.date
) -> DataFrame:
    """Visits and purchases (count, revenue) of each audience member in the window."""
    keys = ["campaign_id", "wave", "customer_id"]
    a = audience.select(*keys, "contact_date")
    visits = service.select(
        "customer_id", F.col("open_date").alias("_d"), F.col("total_amount").alias("_amt")
    )
    buys = sales.select("customer_id", F.col("sale_date").alias("_d"), F.col("price").alias("_amt"))

    def count(facts: DataFrame, name: str) -> DataFrame:
        hit = a.join(facts, "customer_id").filter(
            _in_window(F.col("_d"), F.col("contact_date"), days, as_of)
        )
        return hit.groupBy(*keys).agg(
            F.count("*").alias(f"{name}_n"),
            # decimals: exact sums, equal in any partitioning, so reruns compare equal
            F.sum(F.coalesce(F.col("_amt"), F.lit(0)).cast(_AMOUNT)).alias(f"{name}_rev"),
        )

    out = audience.join(count(visits, "service"), keys, "left").join(
        count(buys, "purchase"), keys, "left"
    )
    zero = F.lit(0).cast(_AMOUNT)
    return (
        out.fillna(0, ["service_n", "purchase_n"])
        .withColumn("service_rev", F.coalesce("service_rev", zero))
        .withColumn("purchase_rev", F.coalesce("purchase_rev", zero))
    )


def with_objective_outcome(df: DataFrame) -> DataFrame:
    """``y`` and ``rev``: conversions and revenue on the row's objective."""
    obj = F.col("objective")
    y = (
        F.when(obj == "service", F.col("service_n"))
        .when(obj == "purchase", F.col("purchase_n"))
        .otherwise(F.col("service_n") + F.col("purchase_n"))
    )
    rev = (
        F.when(obj == "service", F.col("service_rev"))
        .when(obj == "purchase", F.col("purchase_rev"))
        .otherwise(F.col("service_rev") + F.col("purchase_rev"))
    )
    return df.withColumn("y", y.cast("double")).withColumn("rev", rev)


def wilson(x: Column, n: Column, z: float) -> tuple[Column, Column]:
    """Wilson score interval of a proportion x / n: sound at 0 and at small counts."""
    p = x / n
    zz = z * z
    centre = (p + F.lit(zz) / (2 * n)) / (1 + F.lit(zz) / n)
    half = F.lit(z) / (1 + F.lit(zz) / n) * F.sqrt(p * (1 - p) / n + F.lit(zz) / (4 * n * n))
    ok = n > 0
    return F.when(ok, centre - half), F.when(ok, centre + half)


def newcombe(xt: Column, nt: Column, xc: Column, nc: Column, z: float) -> tuple[Column, Column]:
    """Newcombe's hybrid score interval of pt - pc (method 10, 1998), from the two Wilson
    intervals. Unlike the Wald interval it keeps its coverage when conversions are rare or
    a control group has none, which is the normal case for purchases."""
    pt, pc = xt / nt, xc / nc
    lt, ut = wilson(xt, nt, z)
    lc, uc = wilson(xc, nc, z)
    d = pt - pc
    low = d - F.sqrt((pt - lt) * (pt - lt) + (uc - pc) * (uc - pc))
    high = d + F.sqrt((ut - pt) * (ut - pt) + (pc - lc) * (pc - lc))
    return low, high


def _aggregate(df: DataFrame, keys: list[str], as_of: dt.date, days: int, z: float) -> DataFrame:
    t = F.col("group") == "treated"
    c = F.col("group") == "control"

    def tsum(col: Column) -> Column:
        return F.sum(F.when(t, col).otherwise(F.lit(0)))

    def csum(col: Column) -> Column:
        return F.sum(F.when(c, col).otherwise(F.lit(0)))

    agg = df.groupBy(*keys).agg(
        F.min("contact_date").alias("first_contact_date"),
        F.max("contact_date").alias("_last_contact"),
        F.count(F.when(t, 1)).alias("targeted"),
        F.count(F.when(c, 1)).alias("held_out"),
        *[tsum(F.coalesce(F.col(f"_{e}"), F.lit(0))).cast("long").alias(e) for e in EVENT_FLAGS],
        tsum(F.col("service_n")).cast("long").alias("service_conversions"),
        tsum(F.col("purchase_n")).cast("long").alias("purchase_conversions"),
        F.count(F.when(t & (F.col("y") > 0), 1)).alias("converted_customers"),
        F.count(F.when(c & (F.col("y") > 0), 1)).alias("control_converted_customers"),
        tsum(F.col("rev")).alias("_rt"),
        csum(F.col("rev")).alias("_rc"),
        tsum(
            F.coalesce(F.col("cost_per_contact"), F.lit(0.0)).cast("decimal(14,4)")
            * F.coalesce(F.col("_sent"), F.lit(0))
        ).alias("_cost"),
    )
    nt, nc = F.col("targeted"), F.col("held_out")
    xt, xc = F.col("converted_customers"), F.col("control_converted_customers")
    mt = F.when(nt > 0, xt / nt)
    mc = F.when(nc > 0, xc / nc)
    lift = mt - mc
    low, high = newcombe(xt, nt, xc, nc, z)
    rt, rc = F.col("_rt").cast("double"), F.col("_rc").cast("double")
    inc_rev = F.when((nt > 0) & (nc > 0), (rt / nt - rc / nc) * nt)
    cost = F.col("_cost")
    return agg.withColumns(
        {
            "treated_rate": mt,
            "control_rate": mc,
            "lift": lift,
            "lift_ci_low": low,
            "lift_ci_high": high,
            "relative_lift": F.when(mc > 0, lift / mc),
            "incremental_conversions": lift * nt,
            "revenue": F.round(F.col("_rt"), 2),
            "incremental_revenue": F.round(inc_rev, 2),
            "cost": F.round(cost, 2),
            "roi": F.when(cost > 0, (inc_rev - cost.cast("double")) / cost.cast("double")),
            "window_complete": F.coalesce(
                F.date_add("_last_contact", days) <= F.lit(as_of), F.lit(False)
            ),
        }
    )


def campaign_results(
    plan_table: DataFrame | None,
    events: DataFrame,
    campaigns: DataFrame,
    service: DataFrame,
    sales: DataFrame,
    segment_of: DataFrame,
    conf: ActivationConfig,
    as_of: dt.date,
    run_id: str,
) -> DataFrame:
    """Rows at three levels: segment (campaign x segment), campaign (segment ALL) and
    objective (every campaign of one objective pooled: the most precise estimate).
    ``segment_of`` maps customer_id to its segment (market research)."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    events = events.filter(F.col("event_ts") < F.lit(end))
    audience = platform_audience(events, campaigns)
    if plan_table is not None:
        own = plan_audience(plan_table.filter(F.col("plan_date") <= F.lit(as_of)), conf)
        audience = audience.join(own.select("campaign_id").distinct(), "campaign_id", "left_anti")
        audience = audience.unionByName(own)
    audience = audience.filter(F.col("contact_date") <= F.lit(as_of))
    keys = ["campaign_id", "wave", "customer_id"]
    df = (
        audience.join(event_flags(events), keys, "left")
        .join(segment_of, "customer_id", "left")
        .withColumns(
            {
                "segment": F.coalesce("segment", F.lit("unknown")),
                "objective": _objective(conf),
                "channel": F.coalesce("channel", F.lit("unknown")),
                "contact_plan": F.coalesce("contact_plan", F.lit("unknown")),
            }
        )
        .transform(with_outcomes, service, sales, conf.attribution_days, as_of)
        .transform(with_objective_outcome)
    ).transform(checkpointed)
    z = NormalDist().inv_cdf(0.5 + conf.confidence / 2)
    dims = ["campaign_id", "wave", "channel", "contact_plan", "segment", "objective", "source"]

    def level(name: str, fixed: dict[str, Column]) -> DataFrame:
        d = df
        for col, value in fixed.items():
            d = d.withColumn(col, value)
        return _aggregate(d, dims, as_of, conf.attribution_days, z).withColumn("level", F.lit(name))

    out = (
        level("segment", {})
        .unionByName(level("campaign", {"segment": F.lit(ALL)}))
        .unionByName(
            level(
                "objective",
                {
                    "campaign_id": F.lit(ALL),
                    "wave": F.lit(0),
                    "channel": F.lit(ALL),
                    "contact_plan": F.lit(ALL),
                    "segment": F.lit(ALL),
                    "source": F.lit(ALL),
                },
            )
        )
        .transform(with_run, as_of, run_id)
    )
    return out.transform(to_schema, G.CAMPAIGN_RESULTS)
