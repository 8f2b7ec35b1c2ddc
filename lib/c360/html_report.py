"""``c360 report`` (the HTML report; ``summary.py`` is the CLI's plain-text summary): one
self-contained HTML file of charts over the gold and ops tables.

Only aggregates leave Spark (counts per stage, dealer, rule, day); no row of personal
data is read into the report. Charts are Plotly, with plotly.js inlined once."""

from __future__ import annotations

import datetime as dt
import html
import logging
from dataclasses import dataclass, field

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360 import hfs
from c360.config import is_uri
from c360.io import read_or_none
from c360.lake import Lake

log = logging.getLogger(__name__)

# (anchor, title) in the order the report shows them.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("counts", "Individuals and companies"),
    ("lifecycle", "Lifecycle stages and transitions"),
    ("vehicles", "Vehicles over their life"),
    ("households", "Households"),
    ("dealers", "Dealer radiography"),
    ("campaigns", "Campaign results"),
    ("data-quality", "Data quality over time"),
    ("identity", "Identity resolution health"),
)


@dataclass
class Section:
    anchor: str
    title: str
    parts: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")


class _Charts:
    """Turns figures into HTML; the first one carries plotly.js, the rest reuse it."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, fig: go.Figure) -> str:
        fig.update_layout(margin={"l": 40, "r": 20, "t": 50, "b": 40}, height=420)
        out = fig.to_html(full_html=False, include_plotlyjs=self.first)
        self.first = False
        return out


def _pdf(df: DataFrame) -> pd.DataFrame:
    return df.toPandas()


def _campaign_charts(s: Section, chart: _Charts, results: DataFrame) -> None:
    """Lift with its interval per campaign, the audience funnel, and the pooled lift."""
    cols = ["targeted", "held_out", "sent", "converted_customers"]
    camp = _pdf(
        results.filter(F.col("level") == "campaign")
        .select(
            F.concat_ws(" ", "campaign_id", "channel").alias("campaign"),
            "contact_plan",
            *cols,
            "lift",
            F.col("lift_ci_low").alias("low"),
            F.col("lift_ci_high").alias("high"),
        )
        .orderBy("campaign")
    )
    if camp.empty:
        s.note("No campaign has an audience yet.")
        return
    fig = go.Figure(
        go.Scatter(
            x=camp["campaign"],
            y=camp["lift"],
            mode="markers",
            text=camp["contact_plan"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": camp["high"] - camp["lift"],
                "arrayminus": camp["lift"] - camp["low"],
            },
        )
    )
    fig.update_layout(
        title="Lift per campaign: share of customers converting, treated minus control",
        yaxis_title="lift",
    )
    s.parts.append(chart(fig))
    s.parts.append(
        chart(
            px.bar(
                camp.melt(id_vars="campaign", value_vars=cols),
                x="campaign",
                y="value",
                color="variable",
                barmode="group",
                title="Audience, control group, sends and converted customers",
            )
        )
    )
    for r in results.filter(F.col("level") == "objective").orderBy("objective").collect():
        if r["lift"] is not None:
            s.note(
                f"All {r['objective']} campaigns pooled: lift {r['lift']:.3f} in the share of "
                f"customers converting ({r['lift_ci_low']:.3f} to {r['lift_ci_high']:.3f}), "
                f"{r['targeted']} targeted, {r['held_out']} held out."
            )


def _households(spark: SparkSession, lake: Lake, s: Section, chart: _Charts) -> None:
    """Household sizes and what ties the members, and the id events of the runs."""
    households = read_or_none(spark, lake, "gold.households")
    members = read_or_none(spark, lake, "gold.household_members")
    if households is None or members is None:
        s.note("gold.households does not exist yet: run the gold stage.")
        return
    sizes = _pdf(
        households.groupBy(F.least("member_count", F.lit(5)).alias("members"))
        .agg(F.count(F.lit(1)).alias("households"))
        .orderBy("members")
    )
    s.parts.append(
        chart(
            px.bar(
                sizes,
                x="members",
                y="households",
                title="Households by members (5 = five or more; gold.households)",
            )
        )
    )
    r = households.agg(
        F.count(F.lit(1)).alias("n"),
        F.count(F.when(F.col("member_count") > 1, 1)).alias("shared"),
        F.count(F.when(F.col("mail_contactable"), 1)).alias("mail"),
    ).first()
    ties = members.select(F.explode("shared_by").alias("k")).groupBy("k").count().collect()
    tied = ", ".join(f"{t['k']} {t['count']:,}" for t in sorted(ties, key=lambda t: t["k"]))
    s.note(
        f"{r['n']:,} households; {r['shared']:,} with more than one member; "
        f"{r['mail']:,} reachable by letter. Members tied by: {tied or 'nothing yet'}."
    )
    events = read_or_none(spark, lake, "gold.household_changelog")
    if events is not None:
        got = events.groupBy("as_of", "event").count().orderBy("as_of", "event").collect()
        s.note(
            "Household id events by run date: "
            + "; ".join(f"{e['as_of']} {e['event']} {e['count']:,}" for e in got)
        )


def _accounts(spark: SparkSession, lake: Lake, s: Section) -> None:
    """Companies and the persons they deal through (gold.account_contacts)."""
    links = read_or_none(spark, lake, "gold.account_contacts")
    c360 = read_or_none(spark, lake, "gold.customer_360")
    if links is None or c360 is None:
        return
    persons = c360.select(
        F.col("customer_id"), F.coalesce("vehicles_current", F.lit(0)).alias("_own")
    )
    r = (
        links.join(persons, "customer_id", "left")
        .agg(
            F.count(F.lit(1)).alias("links"),
            F.countDistinct("company_id").alias("companies"),
            F.countDistinct(F.when(F.col("active"), F.col("company_id"))).alias("addressed"),
            F.countDistinct(F.when(F.col("_own") > 0, F.col("customer_id"))).alias("private"),
        )
        .first()
    )
    n_co = c360.filter(F.col("party_type") == "company").count()
    roles = links.groupBy("role").count().orderBy("role").collect()
    s.note(
        f"Company contacts (gold.account_contacts): {r['links']:,} links; "
        f"{r['companies']:,} of {n_co:,} companies name a contact, {r['addressed']:,} an "
        f"active one (their plans address that person); {r['private']:,} contacts own a "
        "vehicle themselves. Roles: "
        + (", ".join(f"{x['role']} {x['count']:,}" for x in roles) or "none")
        + "."
    )


def build_report(spark: SparkSession, lake: Lake, as_of: dt.date | None = None) -> str:
    chart = _Charts()
    sections = {a: Section(a, t) for a, t in SECTIONS}

    kpi = read_or_none(spark, lake, "gold.kpi_counts")
    s = sections["counts"]
    if kpi is None:
        s.note("gold.kpi_counts does not exist yet: run the gold stage.")
    else:
        by_region = _pdf(kpi.groupBy("party_type", "region").agg(F.sum("customers").alias("n")))
        s.parts.append(
            chart(
                px.bar(
                    by_region.sort_values("region"),
                    x="region",
                    y="n",
                    color="party_type",
                    title="Customers by region: individuals (person) and companies",
                )
            )
        )
        contact = _pdf(
            kpi.groupBy("party_type").agg(
                *[
                    F.sum(f"{c}_contactable").alias(c)
                    for c in ("email", "sms", "mail", "telemarketing")
                ]
            )
        ).melt(id_vars="party_type", var_name="channel", value_name="n")
        s.parts.append(
            chart(
                px.bar(
                    contact,
                    x="channel",
                    y="n",
                    color="party_type",
                    barmode="group",
                    title="Contactable customers per channel (valid contact point and consent)",
                )
            )
        )

    s = sections["lifecycle"]
    seg = read_or_none(spark, lake, "gold.lifecycle_segments")
    hist = read_or_none(spark, lake, "gold.lifecycle_history")
    if seg is None or hist is None:
        s.note("gold.lifecycle_segments does not exist yet: run the gold stage.")
    else:
        stages = _pdf(seg.groupBy("stage", "account_type").count())
        s.parts.append(
            chart(
                px.bar(
                    stages,
                    x="stage",
                    y="count",
                    color="account_type",
                    title="Customer-vehicle segments by lifecycle stage",
                )
            )
        )
        moves = _pdf(
            hist.filter(F.col("previous_stage").isNotNull())
            .groupBy("valid_from", "previous_stage", "stage")
            .count()
        )
        if moves.empty:
            s.note("No stage transitions yet: the history has one run date.")
        else:
            moves["transition"] = moves["previous_stage"] + " → " + moves["stage"]
            moves["valid_from"] = moves["valid_from"].astype(str)
            s.parts.append(
                chart(
                    px.bar(
                        moves,
                        x="transition",
                        y="count",
                        color="valid_from",
                        title="Stage transitions per run date (from gold.lifecycle_history)",
                    )
                )
            )
            per_date = moves.groupby("valid_from")["count"].sum()
            s.note(
                "Stage transitions by run date: "
                + "; ".join(f"{d} {int(n):,}" for d, n in per_date.items())
            )

    s = sections["vehicles"]
    vehicles = read_or_none(spark, lake, "gold.vehicles")
    if vehicles is None:
        s.note("gold.vehicles does not exist yet: run the gold stage.")
    else:
        age = F.floor(F.months_between("as_of", "first_sale_date") / 12).cast("int")
        by_age = _pdf(
            vehicles.filter(F.col("first_sale_date").isNotNull())
            .groupBy(
                age.alias("age_years"),
                F.coalesce("lifecycle_stage", F.lit("no holder")).alias("stage"),
            )
            .count()
            .orderBy("age_years")
        )
        s.parts.append(
            chart(
                px.bar(
                    by_age,
                    x="age_years",
                    y="count",
                    color="stage",
                    title="Vehicles by age in years and their holder's lifecycle stage (gold.vehicles)",
                )
            )
        )
        r = vehicles.agg(
            F.count(F.lit(1)).alias("n"),
            F.count(F.when(~F.col("has_current_owner"), 1)).alias("ownerless"),
            F.count(F.when(F.col("owners") > 1, 1)).alias("resold"),
        ).first()
        s.note(
            f"{r['n']:,} vehicles; {r['resold']:,} held by more than one customer; "
            f"{r['ownerless']:,} with no current owner (gold.vehicle_owners has each period)."
        )

    _accounts(spark, lake, sections["counts"])
    _households(spark, lake, sections["households"], chart)

    s = sections["dealers"]
    radio = read_or_none(spark, lake, "gold.dealer_radiography")
    if radio is None:
        s.note("gold.dealer_radiography does not exist yet: run the gold stage.")
    else:
        last = radio.agg(F.max("month")).first()[0]
        since = (pd.Timestamp(last) - pd.DateOffset(months=11)).date()
        year = _pdf(
            radio.filter(F.col("month") >= F.lit(since))
            .groupBy("dealer_code", "dealer_name")
            .agg(
                F.sum("sales").alias("sales"),
                F.sum("service_visits").alias("service_visits"),
                (F.sum("returning_customers") / F.sum("service_customers")).alias(
                    "service_retention"
                ),
                F.max_by("customers_in_area", "month").alias("customers_in_area"),
            )
        ).sort_values("dealer_code")
        s.parts.append(
            chart(
                px.bar(
                    year.melt(
                        id_vars=["dealer_code", "dealer_name"],
                        value_vars=["sales", "service_visits"],
                    ),
                    x="dealer_code",
                    y="value",
                    color="variable",
                    barmode="group",
                    title=f"Sales and service visits per dealer, 12 months to {last:%Y-%m}",
                )
            )
        )
        s.parts.append(
            chart(
                px.scatter(
                    year,
                    x="customers_in_area",
                    y="service_retention",
                    text="dealer_code",
                    title="Customers in the area vs service retention (12 months)",
                )
            )
        )

    s = sections["campaigns"]
    results = read_or_none(spark, lake, "gold.campaign_results")
    if results is None:
        s.note(
            "gold.campaign_results does not exist yet (it is written by the activation stage); campaign engagement per dealer is below."
        )
        if radio is not None:
            eng = _pdf(
                radio.groupBy("month")
                .agg(
                    F.sum("campaign_contacts").alias("contacts"),
                    F.sum("campaign_responses").alias("responses"),
                )
                .filter("contacts > 0")
            )
            if not eng.empty:
                s.parts.append(
                    chart(
                        px.line(
                            eng.sort_values("month").melt(id_vars="month"),
                            x="month",
                            y="value",
                            color="variable",
                            title="Campaign contacts and responses per month",
                        )
                    )
                )
    else:
        _campaign_charts(s, chart, results)

    s = sections["data-quality"]
    dq = read_or_none(spark, lake, "ops.dq_results")
    if dq is None:
        s.note("ops.dq_results does not exist yet: run the silver stage.")
    else:
        daily = _pdf(
            dq.groupBy("as_of", "severity").agg(
                F.sum("rows_failed").alias("rows_failed"),
                F.sum("rows_checked").alias("rows_checked"),
            )
        )
        daily["as_of"] = daily["as_of"].astype(str)
        s.parts.append(
            chart(
                px.bar(
                    daily,
                    x="as_of",
                    y="rows_failed",
                    color="severity",
                    title="Rows failing data-quality rules per run date",
                )
            )
        )
        rules = _pdf(
            dq.groupBy("table_name", "rule")
            .agg(F.sum("rows_failed").alias("rows_failed"))
            .filter("rows_failed > 0")
        )
        if not rules.empty:
            rules["rule"] = rules["table_name"] + ": " + rules["rule"]
            s.parts.append(
                chart(
                    px.bar(
                        rules.sort_values("rows_failed"),
                        x="rows_failed",
                        y="rule",
                        orientation="h",
                        title="Failing rows per rule (all runs)",
                    )
                )
            )

    s = sections["identity"]
    xwalk = read_or_none(spark, lake, "silver.identity_crosswalk")
    log_t = read_or_none(spark, lake, "silver.identity_changelog")
    if xwalk is None:
        s.note("silver.identity_crosswalk does not exist yet: run the identity stage.")
    else:
        sizes = _pdf(
            xwalk.filter(~F.col("is_deleted"))
            .groupBy("customer_id", "party_type")
            .agg(F.count("*").alias("records"))
            .groupBy("party_type", "records")
            .agg(F.count("*").alias("customers"))
        )
        s.parts.append(
            chart(
                px.bar(
                    sizes,
                    x="records",
                    y="customers",
                    color="party_type",
                    log_y=True,
                    title="Cluster sizes: source records per customer_id",
                )
            )
        )
        flagged = (
            xwalk.filter(F.col("flagged") & ~F.col("is_deleted"))
            .select("customer_id")
            .distinct()
            .count()
        )
        s.note(f"Customers flagged for review (oversized or conflicting clusters): {flagged:,}.")
    if log_t is not None:
        events = _pdf(log_t.groupBy("as_of", "event").count())
        events["as_of"] = events["as_of"].astype(str)
        s.parts.append(
            chart(
                px.bar(
                    events,
                    x="as_of",
                    y="count",
                    color="event",
                    barmode="group",
                    title="Identity changelog: new ids, merges, splits and retirements per run",
                )
            )
        )
        counts = {(r["as_of"], r["event"]): int(r["count"]) for r in events.to_dict("records")}
        kinds = ("new", "merge", "split", "retire")
        s.note(
            "Identity events by run date: "
            + "; ".join(
                f"{d}: " + ", ".join(f"{counts.get((d, k), 0):,} {k}" for k in kinds)
                for d in sorted({d for d, _ in counts})
            )
        )

    stamp = f" as of {as_of.isoformat()}" if as_of else ""
    toc = "".join(f'<li><a href="#{a}">{html.escape(t)}</a></li>' for a, t in SECTIONS)
    body = "".join(
        f'<section id="{sec.anchor}"><h2>{html.escape(sec.title)}</h2>{"".join(sec.parts)}</section>'
        for sec in sections.values()
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>C360 lakehouse report{stamp}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "section{margin-bottom:2em}h2{border-bottom:1px solid #ccc}</style></head><body>"
        f"<h1>C360 lakehouse report{stamp}</h1><p>Lake: {html.escape(lake.root)}</p>"
        f"<ul>{toc}</ul>{body}</body></html>"
    )


def write_report(spark: SparkSession, lake: Lake, path: str, as_of: dt.date | None = None) -> str:
    text = build_report(spark, lake, as_of)
    if is_uri(path):  # the default, <lake root>/report.html, on the lake's own storage
        hfs.write_bytes(spark, path, text.encode("utf-8"))
    else:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    log.info("report written: %s (%d bytes)", path, len(text))
    return path
