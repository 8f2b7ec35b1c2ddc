"""The contact plan: right customer, right moment, right offer, right channel.

Every eligible (customer, plan) of a run becomes one row, selected, held out or
suppressed with a reason, so a marketer can see who was left out and why. Checks run in a
fixed order; the first that fails names the row's reason:

erased -> complaint -> competing_plan -> fatigue (already in this campaign, or the
customer's contact cap) -> channel (consent, valid point, unsubscribe, channel cap,
economics, household letters) -> holdout.

Household letters: a household gets at most ``fatigue.household_letters`` letters per
campaign (plan and period). The channel choice runs once per row; where more members of
one household are selected by mail than that, the members with the highest expected
value keep the letter and the others choose again without mail (channel reason
``household_already_contacted``); with no channel left that is the row's reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)

from c360.columns import exact_mean, lookup, to_schema, with_run
from c360.config import ActivationConfig, PlanConfig
from c360.errors import ConfigError
from c360.gold import facts
from c360.gold.accounts import addressees
from c360.gold.lifecycle import STAGES
from c360.ml import CHURN, MODELS, RENEWAL
from c360.schemas import gold as G

CHANNELS = facts.CHANNELS
OBJECTIVES = ("service", "purchase")
PERIODS = ("month", "week")
SENT = ("selected",)
IN_CAMPAIGN = ("selected", "held_out")
# With no channel left, the row takes the first reason among its channels' in this order:
# the one that, lifted, would let the contact through soonest.
CHANNEL_REASON_ORDER = (
    "fatigue",
    "household_already_contacted",
    "not_profitable",
    "unsubscribed",
    "invalid_contact_point",
    "no_consent",
)
# Columns a plan's ``where`` may use (bronze_silver_gold.md lists them).
CANDIDATE_COLUMNS = (
    "stage",
    "party_type",
    "account_type",
    "model",
    "owned_months",
    "vehicle_age_months",
    "latest_km",
    "in_warranty",
    "finance_type",
    "months_to_maturity",
    "days_since_service",
    "vehicles_current",
    "affluence_index",
    "loyalty_tier",
    "latest_nps",
    "renewal_score",
    "renewal_decile",
    "churn_score",
    "churn_decile",
)
# Offer rules may also use the plan's own score (the columns of its ``score`` model).
OFFER_COLUMNS = (*CANDIDATE_COLUMNS, "propensity", "propensity_decile")

_PLAN_ROW = StructType(
    [
        StructField("contact_plan", StringType(), False),
        StructField("priority", IntegerType(), False),
        StructField("objective", StringType(), False),
        StructField("offer", StringType()),
        StructField("service", StringType()),
        StructField("price", DoubleType()),
        StructField("conversion_value", DoubleType(), False),
        StructField("uplift", DoubleType(), False),
        StructField("plan_channels", ArrayType(StringType()), False),
        StructField("period", StringType(), False),
        StructField("campaign_id", StringType(), False),
        StructField("holdout_share", DoubleType(), False),
        StructField("plan_where", StringType(), False),
        StructField("plan_score", StringType(), False),
    ]
)


@dataclass(frozen=True)
class History:
    """What happened before this run, per customer, that the checks need."""

    erased: DataFrame  # customer_id
    events: DataFrame  # campaign events with customer_id
    prior_plan: DataFrame  # earlier rows of gold.contact_plan


def period_of(send_date: dt.date, period: str) -> str:
    """The campaign period of a send date: 2026-11 (month) or 2026-W47 (ISO week)."""
    if period == "week":
        year, week, _ = send_date.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{send_date.year}-{send_date.month:02d}"


def campaign_id(plan: str, period: str) -> str:
    return f"C360-{plan.upper()}-{period}"


def check_plans(conf: ActivationConfig) -> None:
    """Fail before any work on a plan that names an unknown stage, channel or objective."""
    if not conf.plans:
        raise ConfigError("activation.plans is empty: no contact plan to build")
    seen: dict[int, str] = {}
    for name, p in conf.plans.items():
        where = f"activation.plans.{name}"
        bad = sorted(set(p.stages) - set(STAGES))
        if not p.stages or bad:
            raise ConfigError(f"{where}.stages: unknown or missing stage(s) {bad or p.stages}")
        bad = sorted(set(p.channels) - set(CHANNELS))
        if not p.channels or bad:
            raise ConfigError(f"{where}.channels: unknown channel(s) {bad}; known {CHANNELS}")
        missing = sorted(set(p.channels) - set(conf.channels))
        if missing:
            raise ConfigError(f"{where}.channels: no cost in activation.channels for {missing}")
        if p.objective not in OBJECTIVES:
            raise ConfigError(f"{where}.objective must be one of {OBJECTIVES}, got {p.objective}")
        if p.period not in PERIODS:
            raise ConfigError(f"{where}.period must be one of {PERIODS}, got {p.period}")
        if p.score and p.score not in MODELS:
            raise ConfigError(f"{where}.score must be one of {MODELS} or empty, got {p.score}")
        for i, rule in enumerate(p.offers):
            if not rule.when.strip() or not rule.offer.strip():
                raise ConfigError(f"{where}.offers[{i}] needs both 'when' and 'offer'")
        if not 0.0 <= p.holdout_share < 1.0:
            raise ConfigError(f"{where}.holdout_share must be in [0, 1), got {p.holdout_share}")
        if p.priority in seen:
            raise ConfigError(
                f"{where}.priority {p.priority} is also {seen[p.priority]}'s: priorities "
                "must differ so that a competing plan has one winner"
            )
        seen[p.priority] = name


def plan_rows(spark: SparkSession, plans: dict[str, PlanConfig], send_date: dt.date) -> DataFrame:
    """The plans as a small frame, joined to the candidates rather than inlined per row."""
    rows = []
    for name, p in sorted(plans.items()):
        period = period_of(send_date, p.period)
        rows.append(
            (
                name,
                p.priority,
                p.objective,
                p.offer or None,
                p.service or None,
                p.price,
                p.conversion_value,
                p.uplift,
                list(p.channels),
                period,
                campaign_id(name, period),
                p.holdout_share,
                p.where,
                p.score,
            )
        )
    return spark.createDataFrame(rows, _PLAN_ROW)


def vehicle_scores(scores: DataFrame) -> DataFrame:
    """(customer_id, vin) with each model's score and decile side by side."""
    cols = []
    for model, prefix in ((RENEWAL, "renewal"), (CHURN, "churn")):
        mine = F.col("model") == model
        cols += [
            F.max(F.when(mine, F.col("score"))).alias(f"{prefix}_score"),
            F.max(F.when(mine, F.col("decile"))).alias(f"{prefix}_decile"),
        ]
    return scores.groupBy("customer_id", "vin").agg(*cols)


def score_means(scores: DataFrame) -> DataFrame:
    """Mean score per model over everyone scored: the propensity index's 100."""
    return scores.groupBy(F.col("model").alias("plan_score")).agg(
        exact_mean(F.col("score")).alias("_mean_score")
    )


def candidate_rows(
    segments: DataFrame, c360: DataFrame, as_of: dt.date, scores: DataFrame
) -> DataFrame:
    """Lifecycle rows with the profile facts a plan's moment is written in, and the
    vehicle's model scores (NULL for a lead, or when scoring has not run)."""
    prof = c360.select(
        "customer_id",
        "last_service_date",
        "affluence_index",
        F.col("market_segment").alias("segment"),
        "vehicles_current",
        "loyalty_tier",
        "latest_nps",
    )
    return (
        segments.drop("as_of", "run_id")
        .join(prof, "customer_id", "left")
        .join(vehicle_scores(scores), ["customer_id", "vin"], "left")
        .withColumn("days_since_service", F.datediff(F.lit(as_of), F.col("last_service_date")))
        .withColumn(
            "months_to_maturity",
            F.floor(F.months_between(F.col("maturity_date"), F.lit(as_of))).cast("int"),
        )
    )


def with_eligible_plans(df: DataFrame, plans: dict[str, PlanConfig]) -> DataFrame:
    """One row per (candidate row, plan it qualifies for); a plan's ``where`` is its moment."""
    options = []
    for name, p in sorted(plans.items()):
        cond = F.col("stage").isin(*p.stages) & F.col("party_type").isin(*p.party_types)
        if p.where.strip():
            cond = cond & F.expr(p.where)
        options.append(F.when(F.coalesce(cond, F.lit(False)), F.lit(name)))
    eligible = F.filter(F.array(*options), lambda x: x.isNotNull())
    return df.withColumn("contact_plan", F.explode(eligible))


def filter_one_vehicle_per_plan(df: DataFrame) -> DataFrame:
    """A customer enters a plan once, for the most recently acquired qualifying vehicle."""
    w = Window.partitionBy("customer_id", "contact_plan").orderBy(
        F.col("acquired_date").desc_nulls_last(), F.col("vin").asc_nulls_last()
    )
    return df.withColumn("_n", F.row_number().over(w)).filter(F.col("_n") == 1).drop("_n")


def check_where(candidates: DataFrame, plans: dict[str, PlanConfig]) -> None:
    """A plan's ``where`` and its offer rules must parse and name known columns only."""
    with_score = candidates.withColumn("propensity", F.lit(0.0)).withColumn(
        "propensity_decile", F.lit(1)
    )
    for name, p in sorted(plans.items()):
        checks = [(f"activation.plans.{name}.where", p.where, candidates, CANDIDATE_COLUMNS)]
        checks += [
            (f"activation.plans.{name}.offers[{i}].when", r.when, with_score, OFFER_COLUMNS)
            for i, r in enumerate(p.offers)
        ]
        for key, sql, frame, known in checks:
            if not sql.strip():
                continue
            try:
                _ = frame.select(F.expr(sql).cast("boolean")).schema
            except AnalysisException as exc:
                first = str(exc).splitlines()[0][:300]
                raise ConfigError(
                    f"{key} '{sql}' does not apply to the columns {', '.join(known)}: {first}"
                ) from None


def with_propensity(df: DataFrame, means: DataFrame) -> DataFrame:
    """The plan's model score and decile, and its index (score / mean score; 1 when the
    plan has no model or the vehicle no score)."""
    model = F.col("plan_score")
    score = F.when(model == RENEWAL, F.col("renewal_score")).when(
        model == CHURN, F.col("churn_score")
    )
    decile = F.when(model == RENEWAL, F.col("renewal_decile")).when(
        model == CHURN, F.col("churn_decile")
    )
    return (
        df.join(F.broadcast(means), "plan_score", "left")
        .withColumn("propensity", score)
        .withColumn("propensity_decile", decile)
        .withColumn(
            "propensity_index",
            F.coalesce(F.col("propensity") / F.col("_mean_score"), F.lit(1.0)),
        )
        .drop("_mean_score")
    )


def with_offer_choice(df: DataFrame, plans: dict[str, PlanConfig]) -> DataFrame:
    """The first offer rule of the row's plan that holds replaces offer, service and
    price; ``offer_rule`` keeps which (NULL: the plan's default)."""
    offer, service, price, rule = (
        F.col("offer"),
        F.col("service"),
        F.col("price"),
        F.lit(None).cast("string"),
    )
    for name, p in sorted(plans.items()):
        for r in reversed(p.offers):
            holds = (F.col("contact_plan") == name) & F.coalesce(F.expr(r.when), F.lit(False))
            offer = F.when(holds, F.lit(r.offer)).otherwise(offer)
            service = F.when(holds, F.lit(r.service or None)).otherwise(service)
            price = F.when(holds, F.lit(r.price).cast("double")).otherwise(price)
            rule = F.when(holds, F.lit(r.when)).otherwise(rule)
    return df.withColumns({"offer": offer, "service": service, "price": price, "offer_rule": rule})


# ----------------------------------------------------------------------------- history


def _window(ts: Column, send_date: dt.date, days: int) -> Column:
    start = dt.datetime.combine(send_date - dt.timedelta(days=days), dt.time())
    end = dt.datetime.combine(send_date, dt.time())
    return (ts >= F.lit(start)) & (ts < F.lit(end))


def past_contacts(hist: History, send_date: dt.date, days: int) -> DataFrame:
    """(customer_id, campaign_id, channel) contacted in the ``days`` before the send date:
    sends the platform reported, and rows earlier runs selected that it may not have yet."""
    sent = hist.events.filter(
        (F.col("event") == "sent") & _window(F.col("event_ts"), send_date, days)
    ).select("customer_id", "campaign_id", "channel")
    planned = hist.prior_plan.filter(
        F.col("status").isin(*SENT) & _window(F.col("send_date").cast("timestamp"), send_date, days)
    ).select("customer_id", "campaign_id", "channel")
    # a send without a channel still counts for the customer's cap, under "unknown"
    both = sent.unionByName(planned).distinct()
    return both.withColumn("channel", F.coalesce("channel", F.lit("unknown")))


def contact_counts(contacts: DataFrame) -> DataFrame:
    """Per customer: contacts in the window, and per channel as a map."""
    per_channel = contacts.groupBy("customer_id", "channel").agg(F.count("*").alias("_n"))
    return per_channel.groupBy("customer_id").agg(
        F.sum("_n").cast("int").alias("contacts_in_window"),
        F.map_from_entries(  # entries by channel: the same map bytes whatever the row order
            F.array_sort(F.collect_list(F.struct("channel", F.col("_n").cast("int"))))
        ).alias("contacts_by_channel"),
    )


def customer_signals(hist: History, conf: ActivationConfig, send_date: dt.date) -> DataFrame:
    """Per customer: erased, latest complaint, unsubscribed channels, preferred channel,
    contacts in the fatigue window."""
    ev = hist.events

    def recent(event: str, days: int) -> DataFrame:
        return ev.filter(
            (F.col("event") == event) & _window(F.col("event_ts"), send_date, days)
        ).groupBy("customer_id")

    complaint = recent("complained", conf.complaint_days).agg(
        F.max(F.to_date("event_ts")).alias("complaint_date")
    )
    unsub = recent("unsubscribed", conf.unsubscribe_days).agg(
        F.array_sort(F.collect_set("channel")).alias("unsubscribed_channels")
    )
    before = F.col("event_ts") < F.lit(dt.datetime.combine(send_date, dt.time()))
    pref = (
        ev.filter(F.col("event").isin("opened", "clicked") & before)
        .groupBy("customer_id")
        .agg(F.max_by("channel", F.struct("event_ts", "event_id")).alias("preferred_channel"))
    )
    counts = contact_counts(past_contacts(hist, send_date, conf.fatigue.window_days))
    erased = hist.erased.select("customer_id").distinct().withColumn("erased", F.lit(True))
    out = erased.join(complaint, "customer_id", "full")
    for df in (unsub, pref, counts):
        out = out.join(df, "customer_id", "full")
    return out


def prior_entries(hist: History) -> DataFrame:
    """Customers already in a campaign (selected or held out by an earlier run)."""
    return (
        hist.prior_plan.filter(F.col("status").isin(*IN_CAMPAIGN))
        .groupBy("customer_id", "campaign_id")
        .agg(F.min(F.struct("plan_date", "status")).alias("_prior"))  # the status breaks a tie
    )


# ----------------------------------------------------------------------------- channels


# the points a company's plan row takes from its fleet contact, by group: a group the
# contact lacks stays the company's own
_PERSON_POINTS = {
    "email": ("email", "email_valid"),
    "phone": ("phone", "phone_valid", "phone_mobile"),
}


def _contact_person(c360: DataFrame, cols: list[str]) -> DataFrame:
    """The contact person's own ``cols`` as ``_a_<col>``, keyed by ``contact_person_id``."""
    return c360.select(
        F.col("customer_id").alias("contact_person_id"), *[F.col(c).alias(f"_a_{c}") for c in cols]
    )


def with_addressee_points(points: DataFrame, c360: DataFrame, heads: DataFrame) -> DataFrame:
    """A company with an active fleet contact is written to at the contact's email and
    phone (their consent then decides, as for any person); the letter still goes to the
    company's address."""
    cols = [c for group in _PERSON_POINTS.values() for c in group]
    person = _contact_person(c360, cols)
    out = points.join(heads, "customer_id", "left").join(person, "contact_person_id", "left")
    for lead, group in _PERSON_POINTS.items():
        has = F.col(f"_a_{lead}").isNotNull()
        out = out.withColumns({c: F.when(has, F.col(f"_a_{c}")).otherwise(F.col(c)) for c in group})
    return out.drop("contact_person_id", *[f"_a_{c}" for c in cols])


def with_addressee_names(rows: DataFrame, c360: DataFrame) -> DataFrame:
    """The salutation and name a company's row is addressed with: its contact's."""
    names = ["salutation", "gender", "given_name", "family_name"]
    person = _contact_person(c360, names)
    has = F.col("contact_person_id").isNotNull()
    return (
        rows.join(person, "contact_person_id", "left")
        .withColumns({c: F.when(has, F.col(f"_a_{c}")).otherwise(F.col(c)) for c in names})
        .drop(*[f"_a_{c}" for c in names])
    )


def channel_points(
    c360: DataFrame,
    consents: DataFrame,
    mail_requires_opt_in: bool,
    heads: DataFrame | None = None,
) -> DataFrame:
    """Golden contact points with consent as of the send date (not the run date).
    ``heads``: company -> the contact person addressed (``accounts.addressees``)."""
    c = c360.select(
        "customer_id",
        "email",
        "email_valid",
        "phone",
        "phone_valid",
        "phone_mobile",
        "street",
        "postal_code",
        "city",
        "address_valid",
        facts.address_point(F.col("street"), F.col("postal_code")).alias("_addr"),
    )
    if heads is not None:
        c = c.transform(with_addressee_points, c360, heads)
    return facts.with_channel_consent(c, consents, mail_requires_opt_in).drop("_addr")


def net_value(channel: str, conf: ActivationConfig) -> Column:
    """Expected value of a contact by this channel, less its cost (EUR)."""
    ch = conf.channels[channel]
    return F.col("expected_value") * F.lit(ch.response_factor) - F.lit(ch.cost)


def with_channel_choice(df: DataFrame, conf: ActivationConfig, mail_opt_in: bool) -> DataFrame:
    """``channel_reasons`` (allowed channel -> ok or why not) and the chosen ``channel``:
    the customer's preferred channel when it passes, else the best net value."""
    entries, options = [], []
    for ch in CHANNELS:
        cap = conf.channels[ch].max_contacts if ch in conf.channels else 0
        used = F.coalesce(F.col("contacts_by_channel")[ch], F.lit(0))
        unsub = F.coalesce(F.array_contains("unsubscribed_channels", ch), F.lit(False))
        net = net_value(ch, conf) if ch in conf.channels else F.lit(None).cast("double")
        household = F.lit(ch == "mail") & F.coalesce(F.col("_household_mailed"), F.lit(False))
        reason = (
            F.when(~facts.consented(ch, mail_opt_in), "no_consent")
            .when(~facts.point_valid(ch), "invalid_contact_point")
            .when(unsub, "unsubscribed")
            .when(used >= cap, "fatigue")
            .when(household, "household_already_contacted")
            .when(F.coalesce(net, F.lit(0.0)) <= 0, "not_profitable")
            .otherwise("ok")
        )
        allowed = F.array_contains("plan_channels", ch)
        entries.append(F.when(allowed, F.struct(F.lit(ch).alias("k"), reason.alias("v"))))
        preferred = F.coalesce(F.col("preferred_channel") == ch, F.lit(False))
        options.append(
            F.when(
                allowed & (reason == "ok"),
                F.struct(
                    preferred.alias("preferred"),
                    F.round(net, 6).alias("net"),
                    F.lit(-conf.channels[ch].cost if ch in conf.channels else 0.0).alias("thrift"),
                    F.lit(ch).alias("channel"),
                ),
            )
        )
    reasons = F.map_from_entries(F.filter(F.array(*entries), lambda x: x.isNotNull()))
    best = F.array_max(F.filter(F.array(*options), lambda x: x.isNotNull()))
    return (
        df.withColumns({"channel_reasons": reasons, "_best": best})
        .withColumns(
            {
                "channel": F.col("_best.channel"),
                "_chose_preferred": F.col("_best.preferred"),
                "_net": F.col("_best.net"),
            }
        )
        .drop("_best")
    )


def prior_household_letters(hist: History) -> DataFrame:
    """Letters earlier runs of the same campaign sent to each household."""
    return (
        hist.prior_plan.filter(
            F.col("status").isin(*SENT)
            & (F.col("channel") == "mail")
            & F.col("household_id").isNotNull()
        )
        .groupBy("household_id", "campaign_id")
        .agg(F.count_distinct("customer_id").cast("int").alias("_hh_prior"))
    )


def with_household_mail(df: DataFrame, prior: DataFrame, letters: int) -> DataFrame:
    """``_household_mailed``: true for a row selected by mail beyond its household's
    ``letters`` in this campaign (earlier runs' letters count first); the highest expected
    value, then the smallest customer_id, keeps a letter. Rows of no household and
    ``letters`` 0 (the rule off) are never flagged."""
    if letters <= 0:
        return df.withColumn("_household_mailed", F.lit(False))
    mailed = (F.col("status") == "selected") & (F.col("channel") == "mail")
    mailed = mailed & F.col("household_id").isNotNull()
    w = Window.partitionBy("household_id", "campaign_id", mailed).orderBy(
        F.col("expected_value").desc_nulls_last(), "customer_id"
    )
    rank = F.row_number().over(w) + F.coalesce(F.col("_hh_prior"), F.lit(0))
    return (
        df.join(F.broadcast(prior), ["household_id", "campaign_id"], "left")
        .withColumn("_household_mailed", mailed & (rank > letters))
        .drop("_hh_prior")
    )


def rejected_channels(reasons: Column) -> Column:
    """``email no_consent, mail invalid_contact_point``: the channels that did not pass."""
    return F.array_join(
        F.transform(
            F.filter(F.map_entries(reasons), lambda e: e["value"] != "ok"),
            lambda e: F.concat(e["key"], F.lit(" "), e["value"]),
        ),
        ", ",
    )


def channel_row_reason(reasons: Column) -> Column:
    values = F.map_values(reasons)
    return F.coalesce(
        *[F.when(F.array_contains(values, r), F.lit(r)) for r in CHANNEL_REASON_ORDER]
    )


# ----------------------------------------------------------------------------- status


def holdout_draw(salt: str) -> Column:
    """Uniform in [0, 1) from a hash of customer, plan and period: reruns draw the same."""
    h = F.xxhash64(F.lit(salt), F.col("customer_id"), F.col("contact_plan"), F.col("period"))
    return F.pmod(h, F.lit(1_000_000)).cast("double") / 1_000_000.0


def with_status(df: DataFrame, conf: ActivationConfig) -> DataFrame:
    """``status``, ``suppression_reason`` and ``suppression_detail``, first failing check."""
    cap = conf.fatigue.max_contacts
    contacts = F.coalesce(F.col("contacts_in_window"), F.lit(0))
    no_channel = F.col("channel").isNull()
    reason = (
        F.when(F.coalesce(F.col("erased"), F.lit(False)), "erased")
        .when(F.col("complaint_date").isNotNull(), "complaint")
        .when(F.col("plan_rank") > 1, "competing_plan")
        .when(F.col("_prior").isNotNull(), "fatigue")
        .when(contacts >= cap, "fatigue")
        .when(no_channel, channel_row_reason(F.col("channel_reasons")))
    )
    rejected = rejected_channels(F.col("channel_reasons"))
    detail = (
        F.when(F.col("_r") == "erased", F.lit("an erasure request is on file"))
        .when(
            F.col("_r") == "complaint",
            F.format_string("complained on %s", F.col("complaint_date").cast("string")),
        )
        .when(
            F.col("_r") == "competing_plan",
            F.format_string(
                "in plan %s (priority %d) this run", F.col("_top.plan"), F.col("_top.priority")
            ),
        )
        .when(
            (F.col("_r") == "fatigue") & F.col("_prior").isNotNull(),
            F.format_string(
                "already in campaign %s (%s on %s)",
                F.col("campaign_id"),
                F.col("_prior.status"),
                F.col("_prior.plan_date").cast("string"),
            ),
        )
        .when(
            (F.col("_r") == "fatigue") & (contacts >= cap),
            F.format_string(
                "%d contacts in the last %d days (cap %d)",
                contacts,
                F.lit(conf.fatigue.window_days),
                F.lit(cap),
            ),
        )
        .when(F.col("_r").isNotNull(), F.concat(F.lit("no channel left: "), rejected))
    )
    held = F.col("_r").isNull() & (holdout_draw(conf.holdout_salt) < F.col("holdout_share"))
    return (
        df.withColumn("_r", reason)
        .withColumn("suppression_reason", F.col("_r"))
        .withColumn("suppression_detail", detail)
        .withColumn(
            "status",
            F.when(F.col("_r").isNotNull(), "suppressed")
            .when(held, "held_out")
            .otherwise("selected"),
        )
        .drop("_r")
    )


# ----------------------------------------------------------------------------- wording


def _money(c: Column) -> Column:
    return F.format_number(c, 2)


def with_explanations(df: DataFrame, conf: ActivationConfig) -> DataFrame:
    """Why this customer, plan, offer and channel, in words a marketer reads."""
    others = F.array_join(
        F.transform(
            F.filter(F.col("_plans"), lambda p: p["plan"] != F.col("contact_plan")),
            lambda p: p["plan"],
        ),
        ", ",
    )
    why_plan = F.concat(
        F.format_string(
            "plan %s (priority %d) takes stage %s",
            F.col("contact_plan"),
            F.col("priority"),
            F.col("lifecycle_stage"),
        ),
        F.when(F.col("plan_where") != "", F.concat(F.lit(" when "), F.col("plan_where"))).otherwise(
            F.lit("")
        ),
        F.when(others != "", F.concat(F.lit("; also eligible for "), others)).otherwise(F.lit("")),
    )
    why_offer = F.concat(
        F.format_string("%s: the %s offer", F.coalesce("offer", F.lit("no offer")), "contact_plan"),
        F.when(
            F.col("price").isNotNull(),
            F.concat(
                F.lit(" ("), F.col("service"), F.lit(", "), _money(F.col("price")), F.lit(" EUR)")
            ),
        ).otherwise(F.lit("")),
        F.format_string(" for stage %s", F.col("lifecycle_stage")),
        F.when(
            F.col("offer_rule").isNotNull(), F.concat(F.lit(", because "), F.col("offer_rule"))
        ).otherwise(F.lit("")),
    )
    basis = F.when(
        F.col("_chose_preferred"), F.lit("the customer last responded by this channel")
    ).otherwise(F.lit("the best expected return among the channels that passed"))
    cost = lookup({ch: c.cost for ch, c in conf.channels.items()}, F.col("channel"))
    factor = lookup({ch: c.response_factor for ch, c in conf.channels.items()}, F.col("channel"))
    rejected = rejected_channels(F.col("channel_reasons"))
    why_channel = F.when(
        F.col("channel").isNull(), F.concat(F.lit("no channel: "), rejected)
    ).otherwise(
        F.concat(
            F.format_string(
                "%s: consented and valid; %s (expected %s EUR x %.1f - %s EUR cost)",
                F.col("channel"),
                basis,
                _money(F.col("expected_value")),
                factor,
                _money(cost),
            ),
            F.when(rejected != "", F.concat(F.lit("; not "), rejected)).otherwise(F.lit("")),
        )
    )
    why_customer = F.concat(
        F.format_string("stage %s: %s", F.col("lifecycle_stage"), F.col("stage_reason")),
        F.when(
            F.col("propensity").isNotNull(),
            F.format_string(
                "; %s score %.2f (decile %d)",
                F.col("plan_score"),
                F.col("propensity"),
                F.col("propensity_decile"),
            ),
        ).otherwise(F.lit("")),
    )
    return df.withColumns(
        {
            "why_customer": why_customer,
            "why_plan": why_plan,
            "why_offer": why_offer,
            "why_channel": why_channel,
        }
    )


def image_key(plan: Column, party_type: Column, gender: Column) -> Column:
    """The creative's image: one per plan and audience (woman, man, business, neutral)."""
    who = (
        F.when(party_type == "company", "business")
        .when(gender == "F", "woman")
        .when(gender == "M", "man")
        .otherwise("neutral")
    )
    return F.concat_ws("/", plan, who)


# ----------------------------------------------------------------------------- assemble


def build_contact_plan(
    spark: SparkSession,
    segments: DataFrame,
    c360: DataFrame,
    consents: DataFrame,
    hist: History,
    conf: ActivationConfig,
    mail_requires_opt_in: bool,
    as_of: dt.date,
    run_id: str,
    scores: DataFrame | None = None,
    account_contacts: DataFrame | None = None,
) -> DataFrame:
    """``scores``: the run date's gold.customer_scores rows (None or empty: no model).
    ``account_contacts``: gold.account_contacts; a company's rows then address its fleet
    contact (``contact_person_id``)."""
    check_plans(conf)
    if scores is None:
        scores = spark.createDataFrame([], G.CUSTOMER_SCORES)
    send_date = as_of + dt.timedelta(days=conf.send_offset_days)
    plans = F.broadcast(plan_rows(spark, conf.plans, send_date))
    candidates = candidate_rows(segments, c360, as_of, scores)
    check_where(candidates, conf.plans)
    rows = (
        candidates.transform(with_eligible_plans, conf.plans)
        .transform(filter_one_vehicle_per_plan)
        .join(plans, "contact_plan")
        .transform(with_propensity, score_means(scores))
        .transform(with_offer_choice, conf.plans)
    )
    by_customer = Window.partitionBy("customer_id")
    ranked = by_customer.orderBy("priority", "contact_plan")  # two plans may share one
    affluence = F.coalesce(F.col("affluence_index") / 100.0, F.lit(1.0))
    rows = (
        rows.withColumn("plan_rank", F.row_number().over(ranked))
        .withColumn(
            "_plans",
            F.array_sort(
                F.collect_list(
                    F.struct(
                        F.col("priority").alias("priority"), F.col("contact_plan").alias("plan")
                    )
                ).over(by_customer)
            ),
        )
        .withColumn("_top", F.col("_plans")[0])
        .withColumn(
            "expected_value",
            F.col("conversion_value") * F.col("uplift") * affluence * F.col("propensity_index"),
        )
    )
    prof = c360.select(
        "customer_id",
        "salutation",
        "gender",
        "given_name",
        "family_name",
        "company_name",
        "household_id",
        F.col("preferred_dealer_code").alias("dealer_code"),
        F.col("preferred_dealer_name").alias("dealer_name"),
        F.col("preferred_dealer_basis").alias("dealer_basis"),
    )
    heads = None if account_contacts is None else F.broadcast(addressees(account_contacts))
    points = channel_points(c360, consents, mail_requires_opt_in, heads)
    if heads is None:
        rows = rows.withColumn("contact_person_id", F.lit(None).cast("string"))
    else:
        rows = rows.join(heads, "customer_id", "left")
    rows = (
        rows.join(prof, "customer_id", "left")
        .transform(with_addressee_names, c360)
        .join(points, "customer_id", "left")
        .join(customer_signals(hist, conf, send_date), "customer_id", "left")
        .join(prior_entries(hist), ["customer_id", "campaign_id"], "left")
        .withColumnRenamed("stage", "lifecycle_stage")
        .withColumn("_household_mailed", F.lit(False))
        .transform(with_channel_choice, conf, mail_requires_opt_in)
        .transform(with_status, conf)
        .transform(
            with_household_mail, prior_household_letters(hist), conf.fatigue.household_letters
        )
        # the flagged rows choose again without mail; every other row chooses the same
        .transform(with_channel_choice, conf, mail_requires_opt_in)
        .transform(with_status, conf)
        .transform(with_explanations, conf)
    )
    in_campaign = F.col("status").isin(*IN_CAMPAIGN)
    rank_w = Window.partitionBy("campaign_id", in_campaign).orderBy(
        F.col("expected_value").desc(), F.col("customer_id")
    )
    sel = F.col("status") == "selected"

    def only(ch: tuple[str, ...], c: str) -> Column:
        return F.when(sel & F.col("channel").isin(*ch), F.col(c))

    out = rows.withColumns(
        {
            "rank_in_plan": F.when(in_campaign, F.row_number().over(rank_w)),
            "plan_date": F.lit(as_of),
            "send_date": F.lit(send_date),
            "contact_id": F.sha2(F.concat_ws(":", "campaign_id", "customer_id"), 256).substr(1, 20),
            "vehicle_model": F.col("model"),
            "vehicle_km": F.col("latest_km"),
            "image": image_key(F.col("contact_plan"), F.col("party_type"), F.col("gender")),
            "dealer_role": F.when(F.col("objective") == "purchase", "sales").otherwise(
                "after_sales"
            ),
            "email": only(("email",), "email"),
            "phone": only(("sms", "telemarketing"), "phone"),
            "street": only(("mail",), "street"),
            "postal_code": only(("mail",), "postal_code"),
            "city": only(("mail",), "city"),
        }
    ).transform(with_run, as_of, run_id)
    return out.transform(to_schema, G.CONTACT_PLAN)
