"""Customer-linked facts as of a date: who each source record, contact point and vehicle
belongs to. Records dated after ``as_of`` are left out, so a run for an earlier date sees
what was known then (for the record types that carry a date)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

CHANNELS: tuple[str, ...] = ("email", "sms", "telemarketing", "mail")


def day_end(as_of: dt.date) -> Column:
    """The first instant after ``as_of``: timestamps compare ``< day_end(as_of)``."""
    return F.lit(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))


def address_point(street: Column, postal_code: Column) -> Column:
    """The postal contact point as consents and campaign events spell it."""
    return F.when(
        street.isNotNull() & postal_code.isNotNull(), F.concat_ws(", ", street, postal_code)
    )


def months_since(as_of: dt.date, date: Column) -> Column:
    """Whole months from ``date`` to ``as_of`` (a date exactly 12 months back gives 12)."""
    return F.floor(F.months_between(F.lit(as_of), date)).cast("int")


def filter_current_records(crosswalk: DataFrame) -> DataFrame:
    """(source, source_record_id) -> customer_id for records that still exist."""
    return crosswalk.filter(~F.col("is_deleted")).select(
        "source", "source_record_id", "customer_id"
    )


def with_customer(df: DataFrame, records: DataFrame, source: str, key: str) -> DataFrame:
    """Attach the customer of a party-bearing source record (inner: unresolved rows go)."""
    r = records.filter(F.col("source") == source).select(
        F.col("source_record_id").alias(key), "customer_id"
    )
    return df.join(r, key)


def contact_points(party_records: DataFrame, records: DataFrame) -> DataFrame:
    """Every email, phone and postal address seen on a customer's records, with validity."""
    p = party_records.filter(~F.col("is_deleted")).join(records, ["source", "source_record_id"])
    kinds = F.array(
        F.struct(
            F.lit("email").alias("t"), F.col("email").alias("v"), F.col("email_valid").alias("ok")
        ),
        F.struct(
            F.lit("phone").alias("t"), F.col("phone").alias("v"), F.col("phone_valid").alias("ok")
        ),
        F.struct(
            F.lit("address").alias("t"),
            address_point(F.col("street"), F.col("postal_code")).alias("v"),
            F.col("postal_code").rlike("^[0-9]{5}$").alias("ok"),
        ),
    )
    return (
        p.select("customer_id", "phone_mobile", F.explode(kinds).alias("c"))
        .filter(F.col("c.v").isNotNull())
        .groupBy(
            "customer_id", F.col("c.t").alias("contact_type"), F.col("c.v").alias("contact_point")
        )
        .agg(
            F.max(F.coalesce("c.ok", F.lit(False))).alias("valid"),
            F.max(F.coalesce("phone_mobile", F.lit(False))).alias("mobile"),
        )
    )


def unique_contact_points(points: DataFrame) -> DataFrame:
    """Contact points that belong to exactly one customer: safe to attribute events by."""
    w = Window.partitionBy("contact_type", "contact_point")
    return (
        points.withColumn("_n", F.size(F.collect_set("customer_id").over(w)))
        .filter(F.col("_n") == 1)
        .select("contact_type", "contact_point", "customer_id")
    )


def consents_as_of(consent_events: DataFrame, as_of: dt.date) -> DataFrame:
    """The latest consent status per (contact point, channel) at the end of ``as_of``.

    Channels in the feed: email, sms, phone (= telemarketing) and mail."""
    e = consent_events.filter(
        ~F.col("_is_deleted")
        & F.col("contact_point").isNotNull()
        & (F.col("consent_ts") < day_end(as_of))
    )
    channel = F.when(F.col("channel") == "phone", "telemarketing").otherwise(F.col("channel"))
    latest = F.max_by("status", F.struct("consent_ts", "consent_id"))
    return e.groupBy("contact_point", channel.alias("channel")).agg(latest.alias("status"))


def attributed(unique_points: DataFrame, df: DataFrame, keys: list[tuple[str, str]]) -> DataFrame:
    """customer_id for rows that name a contact point of exactly one customer.

    ``keys`` pairs a contact type with the column holding it, tried in order."""
    out = None
    for kind, col in keys:
        pts = unique_points.filter(F.col("contact_type") == kind).select(
            F.col("contact_point").alias(col), F.col("customer_id").alias(f"_c_{kind}")
        )
        df = df.join(pts, col, "left")
        out = F.col(f"_c_{kind}") if out is None else F.coalesce(out, F.col(f"_c_{kind}"))
    return df.withColumn("customer_id", out).drop(*[f"_c_{k}" for k, _ in keys])


def events_with_customer(unique_points: DataFrame, events: DataFrame) -> DataFrame:
    """Campaign events whose recipient is a contact point of exactly one customer."""
    e = events.withColumnRenamed("recipient_address", "_addr")
    keys = [("email", "recipient_email"), ("phone", "recipient_phone"), ("address", "_addr")]
    return attributed(unique_points, e, keys).filter(F.col("customer_id").isNotNull())


CHANNEL_POINT = {"email": "email", "sms": "phone", "telemarketing": "phone", "mail": "_addr"}


def consented(channel: str, mail_requires_opt_in: bool) -> Column:
    """The channel's consent allows contact: an opt-in; for postal mail (legitimate
    interest) anything but an opt-out, unless an opt-in is required. Never NULL."""
    status = F.col(f"{channel}_consent")
    if channel == "mail" and not mail_requires_opt_in:
        return F.coalesce(status, F.lit("none")) != "opt_out"
    return F.coalesce(status == "opt_in", F.lit(False))


def point_valid(channel: str) -> Column:
    """The golden contact point the channel uses is present and valid (SMS: a mobile)."""
    valid = {
        "email": F.col("email_valid"),
        "sms": F.col("phone_valid") & F.col("phone_mobile"),
        "telemarketing": F.col("phone_valid"),
        "mail": F.col("address_valid"),
    }[channel]
    return F.coalesce(valid, F.lit(False))


def with_channel_consent(
    df: DataFrame, consents: DataFrame, mail_requires_opt_in: bool
) -> DataFrame:
    """``<channel>_consent`` and ``contactable_channels`` for golden contact points.

    ``df`` carries email, phone, _addr (street, postal code) and their validity flags;
    ``consents`` is :func:`consents_as_of` for the date that matters (run or send date).
    A channel is contactable with a valid point and an opt-in; postal mail, under
    legitimate interest, unless opted out (or with an opt-in when so configured)."""
    for channel, col in CHANNEL_POINT.items():
        cons = consents.filter(F.col("channel") == channel).select(
            F.col("contact_point").alias(col), F.col("status").alias(f"{channel}_consent")
        )
        df = df.join(cons, col, "left")
    ok = {ch: point_valid(ch) & consented(ch, mail_requires_opt_in) for ch in CHANNELS}
    channels = F.filter(
        F.array(*[F.when(ok[ch], F.lit(ch)) for ch in CHANNELS]), lambda x: x.isNotNull()
    )
    return df.withColumn("contactable_channels", channels)


def vehicle_links(
    ownerships: DataFrame, service: DataFrame, records: DataFrame, as_of: dt.date
) -> DataFrame:
    """One row per (customer, VIN) with how and when the customer got it.

    acquired_date is the customer's first sale record for the VIN; without one (a car
    bought elsewhere), the first finance, insurance, subscription or service record."""
    own = ownerships.filter(~F.col("is_deleted") & (F.col("start_date") <= F.lit(as_of))).select(
        "source", "source_record_id", "vin", "role", F.col("start_date").alias("d")
    )
    svc = service.filter(
        ~F.col("_is_deleted") & F.col("vin").isNotNull() & (F.col("open_date") <= F.lit(as_of))
    ).select(
        F.lit("service").alias("source"),
        F.col("ro_number").alias("source_record_id"),
        "vin",
        F.lit("service_customer").alias("role"),
        F.col("open_date").alias("d"),
    )
    ev = own.unionByName(svc).join(records, ["source", "source_record_id"])
    first = F.min_by("source", F.struct("d", "source"))
    return (
        ev.groupBy("customer_id", "vin")
        .agg(
            F.min(F.when(F.col("role") == "buyer", F.col("d"))).alias("sale_date"),
            F.min("d").alias("first_evidence"),
            first.alias("first_source"),
            F.max("d").alias("last_evidence"),
        )
        .select(
            "customer_id",
            "vin",
            F.coalesce("sale_date", "first_evidence").alias("acquired_date"),
            F.when(F.col("sale_date").isNotNull(), "sale")
            .otherwise(F.col("first_source"))
            .alias("acquired_basis"),
            "last_evidence",
        )
    )


def with_ownership(
    links: DataFrame, vin_activity: DataFrame, party_types: DataFrame, detect_replaced: bool
) -> DataFrame:
    """``current`` or ``previous`` per (customer, VIN).

    Previous when another customer acquired the VIN later, or (persons, if
    ``detect_replaced``) when the customer bought a newer vehicle and this one shows no
    activity since. Fleets run many vehicles at once, so companies are never 'replaced'."""
    by_vin = Window.partitionBy("vin").orderBy(
        F.col("acquired_date").desc(), F.col("last_evidence").desc(), "customer_id"
    )
    newer = (
        # the next purchase strictly later: of two bought the same day neither replaced
        # the other (rows after it in date order, as before, made one of them replaced
        # by whichever the sort put second)
        Window.partitionBy("customer_id")
        .orderBy(F.unix_date("acquired_date"))
        .rangeBetween(1, Window.unboundedFollowing)
    )
    df = (
        links.join(party_types, "customer_id", "left")
        .join(vin_activity, "vin", "left")
        .withColumn("_latest_owner", F.row_number().over(by_vin) == 1)
        .withColumn("_next_purchase", F.min("acquired_date").over(newer))
    )
    activity = F.greatest("last_evidence", "last_activity")
    replaced = (
        F.lit(detect_replaced)
        & (F.col("party_type") == "person")
        & F.col("_next_purchase").isNotNull()
        & (F.col("_next_purchase") > F.col("acquired_date"))
        & (activity < F.col("_next_purchase"))
    )
    ownership = F.when(F.col("_latest_owner") & ~replaced, "current").otherwise("previous")
    return df.withColumn("ownership", ownership).drop(
        "_latest_owner", "_next_purchase", "party_type"
    )


def latest_km(service: DataFrame, telematics: DataFrame, as_of: dt.date) -> DataFrame:
    """The newest odometer reading per VIN on or before ``as_of`` (service or telematics)."""
    s = service.filter(~F.col("_is_deleted") & (F.col("open_date") <= F.lit(as_of))).select(
        "vin", F.col("open_date").alias("d"), "odometer_km", F.lit("service").alias("src")
    )
    t = telematics.filter(~F.col("_is_deleted") & (F.col("reading_ts") < day_end(as_of))).select(
        "vin", F.to_date("reading_ts").alias("d"), "odometer_km", F.lit("telematics").alias("src")
    )
    r = s.unionByName(t).filter(F.col("vin").isNotNull() & F.col("odometer_km").isNotNull())
    newest = F.max_by(F.struct("odometer_km", "d", "src"), F.struct("d", "odometer_km", "src"))
    return (
        r.groupBy("vin")
        .agg(newest.alias("_r"), F.max("d").alias("last_activity"))
        .select(
            "vin",
            F.col("_r.odometer_km").alias("latest_km"),
            F.col("_r.d").alias("latest_km_date"),
            F.col("_r.src").alias("latest_km_source"),
            "last_activity",
        )
    )


def finance_as_of(finance: DataFrame, as_of: dt.date) -> DataFrame:
    """The newest contract per VIN started by ``as_of``, and whether it still runs then."""
    f = finance.filter(~F.col("_is_deleted") & (F.col("start_date") <= F.lit(as_of)))
    ends = F.coalesce("payoff_date", "maturity_date")
    newest = F.max_by(
        F.struct(
            F.col("contract_type").alias("finance_type"),
            (ends.isNull() | (ends > F.lit(as_of))).alias("finance_active"),
            "maturity_date",
        ),
        F.struct("start_date", "contract_id"),
    )
    return f.groupBy("vin").agg(newest.alias("_f")).select("vin", "_f.*")


def insurance_as_of(insurance: DataFrame, as_of: dt.date) -> DataFrame:
    i = insurance.filter(~F.col("_is_deleted") & (F.col("start_date") <= F.lit(as_of)))
    running = F.col("end_date").isNull() | (F.col("end_date") >= F.lit(as_of))
    status = (
        F.when(F.col("policy_status") == "cancelled", "cancelled")
        .when(running, "active")
        .otherwise("lapsed")
    )
    newest = F.max_by(status, F.struct("start_date", "policy_id"))
    return i.groupBy("vin").agg(newest.alias("insurance_status"))


def connected_as_of(subscriptions: DataFrame, as_of: dt.date) -> DataFrame:
    s = subscriptions.filter(
        ~F.col("_is_deleted")
        & (F.col("start_at") < day_end(as_of))
        & (F.col("end_at").isNull() | (F.col("end_at") >= day_end(as_of)))
    )
    label = F.concat(F.col("product"), F.lit(" ("), F.col("plan_type"), F.lit(")"))
    return s.groupBy("vin").agg(F.array_sort(F.collect_set(label)).alias("connected_services"))
