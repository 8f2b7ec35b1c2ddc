"""Turn the true world into the noisy exports each source system really lands.

Every source keeps its own conventions (delimiter, encoding, date and phone formats,
name casing, header style, change flags). Party fields get the configured noise, and a
share of records is exported twice under another id. Records are cut into an initial
full dump plus daily deltas with new, changed and deleted records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from c360.columns import lookup
from c360.config import GeneratorConfig, NoiseConfig
from c360.generate.noise import maybe, strip_accents, typo
from c360.generate.rand import digits, uniform
from c360.generate.reference import NICKNAMES
from c360.generate.world import Horizon, World, address_at, email_at


@dataclass(frozen=True)
class Export:
    """One source's landed records: string columns in header order, plus ``_batch``."""

    name: str
    df: DataFrame
    truth: DataFrame | None  # source, record_id, entity_id for party-bearing sources


def batch_id(day: dt.date, full: bool) -> str:
    return f"{day:%Y%m%d}-{'full' if full else 'delta'}"


def _batch_col(date_col: Column, h: Horizon) -> Column:
    """Full dump for everything up to the start date, then one delta per day."""
    full = F.lit(batch_id(h.start, True))
    delta = F.concat(F.date_format(date_col, "yyyyMMdd"), F.lit("-delta"))
    return F.when(date_col <= F.lit(h.start), full).when(date_col <= F.lit(h.end), delta)


def with_batch(df: DataFrame, date_col: Column, h: Horizon) -> DataFrame:
    """Assign each record to its batch by date; records after the last batch are dropped."""
    return df.withColumn("_batch", _batch_col(date_col, h)).filter(F.col("_batch").isNotNull())


# --------------------------------------------------------------------------- noise


def with_duplicates(
    df: DataFrame, g: GeneratorConfig, source: str, id_col: str, prefix: str
) -> DataFrame:
    """Export a share of records twice, under a new id (noise is then drawn per id)."""
    dup = df.filter(uniform(g.seed, f"{source}:dup", id_col) < g.noise.duplicate)
    dup = dup.withColumn(
        id_col, F.concat(F.lit(prefix), digits(g.seed, f"{source}:dupid", 10, F.col(id_col)))
    )
    return df.unionByName(dup)


def with_party_noise(
    df: DataFrame, g: GeneratorConfig, source: str, id_col: str, date_col: Column
) -> DataFrame:
    """Noisy copies of the party fields as this source would hold them on that date.

    Built in steps (one column per step) so that nested damage does not inline into
    one huge expression: Spark keeps a non-cheap column computed once.
    """
    n: NoiseConfig = g.noise
    s = g.seed

    def u(salt: str) -> Column:
        return uniform(s, f"{source}:{salt}", id_col)

    nick = F.coalesce(lookup(NICKNAMES, F.col("given_name")), F.col("given_name"))
    df = df.withColumn("_g", maybe(u("nick"), n.nickname, nick, F.col("given_name")))
    df = df.withColumn(
        "_g", maybe(u("typog"), n.typo, typo(F.col("_g"), u("tg1"), u("tg2")), F.col("_g"))
    )
    df = df.withColumn(
        "_f",
        maybe(
            u("typof"), n.typo, typo(F.col("family_name"), u("tf1"), u("tf2")), F.col("family_name")
        ),
    )
    df = df.withColumn("_swap", u("swap") < n.swap_names).withColumn(
        "_strip", u("strip") < n.strip_accents
    )
    g2 = F.when(F.col("_swap"), F.col("_f")).otherwise(F.col("_g"))
    f2 = F.when(F.col("_swap"), F.col("_g")).otherwise(F.col("_f"))
    df = df.withColumn("n_given", F.when(F.col("_strip"), strip_accents(g2)).otherwise(g2))
    df = df.withColumn("n_family", F.when(F.col("_strip"), strip_accents(f2)).otherwise(f2))
    company = maybe(
        u("typoc"), n.typo, typo(F.col("company_name"), u("tc1"), u("tc2")), F.col("company_name")
    )
    df = df.withColumn("_c", company)
    df = df.withColumn(
        "n_company", F.when(F.col("_strip"), strip_accents(F.col("_c"))).otherwise(F.col("_c"))
    )
    df = df.withColumn("_e", email_at(date_col))
    df = df.withColumn(
        "_e", maybe(u("typoe"), n.typo / 4, typo(F.col("_e"), u("te1"), u("te2")), F.col("_e"))
    )
    df = df.withColumn(
        "n_email", F.when(u("noemail") < n.missing_email, F.lit(None)).otherwise(F.col("_e"))
    )
    # Household members often give the shared landline instead of their own mobile.
    phone = F.when(F.col("no_mobile") | (u("landline") < 0.15), F.col("landline")).otherwise(
        F.col("mobile")
    )
    df = df.withColumn(
        "n_phone", F.when(u("nophone") < n.missing_phone, F.lit(None)).otherwise(phone)
    )
    addr = address_at(date_col)
    df = df.withColumn("_stale", addr["moved"] & (u("stale") < n.stale_address))
    stale = F.col("_stale")
    df = df.withColumn("n_street", F.when(stale, addr["stale_street"]).otherwise(addr["street"]))
    df = df.withColumn(
        "n_postal", F.when(stale, addr["stale_postal_code"]).otherwise(addr["postal_code"])
    )
    df = df.withColumn("n_city", F.when(stale, addr["stale_city"]).otherwise(addr["city"]))
    df = df.withColumn(
        "n_birth",
        F.when(u("nobirth") < n.missing_birth_date, F.lit(None)).otherwise(F.col("birth_date")),
    )
    return df.drop("_g", "_f", "_swap", "_strip", "_c", "_e", "_stale")


def phone_fmt(national: Column, u: Column, styles: list[str]) -> Column:
    """Format a 9-digit Spanish number in one of the given styles."""
    forms = {
        "e164": F.concat(F.lit("+34"), national),
        "spaced": F.concat_ws(
            " ",
            national.substr(1, 3),
            national.substr(4, 2),
            national.substr(6, 2),
            national.substr(8, 2),
        ),
        "plain": national,
        "intl00": F.concat(F.lit("0034-"), national),
        "paren": F.concat(F.lit("(+34) "), national),
        "dotted": F.concat_ws(
            ".", national.substr(1, 3), national.substr(4, 3), national.substr(7, 3)
        ),
    }
    out: Column = forms[styles[-1]]
    for i, style in reversed(list(enumerate(styles[:-1]))):
        out = F.when(u < (i + 1) / len(styles), forms[style]).otherwise(out)
    return F.when(national.isNull(), F.lit(None)).otherwise(out)


def money_eu(x: Column) -> Column:
    """23.450,00 — thousands dot, decimal comma."""
    return F.translate(F.format_number(x, 2), ",.", ".,")


def _truth(df: DataFrame, source: str, id_col: str) -> DataFrame:
    return df.select(
        F.lit(source).alias("source"),
        F.col(id_col).alias("record_id"),
        "entity_id",
        "entity_type",
        "household_id",
    )


# --------------------------------------------------------------------------- changes


def with_changes(
    df: DataFrame,
    g: GeneratorConfig,
    h: Horizon,
    source: str,
    key: str,
    date_col: str,
    *,
    change_rate: float,
    delete_rate: float,
    mutate: Callable[[DataFrame], DataFrame],
) -> DataFrame:
    """Add ``_op`` (I/U/D), ``_changed`` (date) and ``_batch`` with daily changes and deletes.

    Changed records are re-exported with new values; deleted ones with a delete flag.
    From the second delta on, a share of yesterday's changes is replayed with the *old*
    values and an older timestamp: late, out-of-order data that must not win.
    """
    s = g.seed
    df = df.persist()  # re-read by every daily delta below
    base = df.withColumn("_op", F.lit("I")).withColumn("_changed", F.col(date_col))
    base = with_batch(base, F.col(date_col), h)
    out = base
    existing = base.filter(F.col(date_col) < F.lit(h.start))
    for d in range(1, g.daily_batches + 1):
        day = h.start + dt.timedelta(days=d)
        u = uniform(s, f"{source}:chg{d}", key)
        changed = mutate(existing.filter(u < change_rate)).withColumn("_op", F.lit("U"))
        deleted = existing.filter((u >= change_rate) & (u < change_rate + delete_rate)).withColumn(
            "_op", F.lit("D")
        )
        batch = F.lit(batch_id(day, False))
        out = out.unionByName(
            changed.withColumn("_changed", F.lit(day)).withColumn("_batch", batch)
        )
        out = out.unionByName(
            deleted.withColumn("_changed", F.lit(day)).withColumn("_batch", batch)
        )
        if d >= 2:
            prev = uniform(s, f"{source}:chg{d - 1}", key)
            replay = existing.filter(
                (prev < change_rate) & (uniform(s, f"{source}:replay{d}", key) < 0.3)
            )
            out = out.unionByName(replay.withColumn("_op", F.lit("U")).withColumn("_batch", batch))
    return out


# --------------------------------------------------------------------------- sources


def export_sales(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = w.vehicles.filter(F.col("sale_date") <= F.lit(h.end))
    v = with_duplicates(v, g, "sales", "sale_id", "VPP9")
    v = with_party_noise(v, g, "sales", "sale_id", F.col("sale_date"))

    def mutate(df: DataFrame) -> DataFrame:
        return df.withColumn("price", F.col("price") - 250).withColumn("trim", F.lit("Tekna"))

    v = with_changes(
        v, g, h, "sales", "sale_id", "sale_date", change_rate=0.01, delete_rate=0.003, mutate=mutate
    )
    is_co = F.col("entity_type") == "company"
    up = lambda c: F.upper(F.col(c))  # noqa: E731 - the legacy VPP stores names in upper case
    title = (
        F.when(is_co, F.lit(None))
        .when(
            F.col("gender") == "F",
            F.when(uniform(g.seed, "sales:tt", "sale_id") < 0.5, "SRA.").otherwise("DÑA."),
        )
        .otherwise(F.when(uniform(g.seed, "sales:tt", "sale_id") < 0.5, "SR.").otherwise("D."))
    )
    title = F.when(uniform(g.seed, "sales:notitle", "sale_id") < 0.4, F.lit(None)).otherwise(title)
    out = v.select(
        F.col("sale_id").alias("SALE_ID"),
        F.col("vin").alias("VIN"),
        F.upper("model").alias("MODEL"),
        F.col("model_year").cast("string").alias("MODEL_YEAR"),
        F.col("trim").alias("TRIM"),
        F.when(F.col("new_used") == "new", "N").otherwise("U").alias("NEW_USED"),
        F.upper("sale_type").alias("SALE_TYPE"),
        F.date_format("sale_date", "dd/MM/yyyy").alias("SALE_DATE"),
        money_eu(F.col("price")).alias("PRICE"),
        F.col("dealer_code").alias("DEALER_CODE"),
        F.when(is_co, "C").otherwise("P").alias("BUYER_TYPE"),
        title.alias("TITLE"),
        F.when(is_co, F.lit(None)).otherwise(up("n_given")).alias("FIRST_NAME"),
        F.when(is_co, F.lit(None)).otherwise(up("n_family")).alias("LAST_NAME"),
        F.upper("n_company").alias("COMPANY_NAME"),
        F.col("tax_id").alias("TAX_ID"),
        up("n_street").alias("STREET"),
        F.col("n_postal").alias("POSTAL_CODE"),
        up("n_city").alias("CITY"),
        phone_fmt(
            F.col("n_phone"), uniform(g.seed, "sales:pf", "sale_id"), ["spaced", "plain", "e164"]
        ).alias("PHONE"),
        F.upper("n_email").alias("EMAIL"),
        F.date_format("n_birth", "dd/MM/yyyy").alias("BIRTH_DATE"),
        F.when(F.col("_op") == "I", "A")
        .when(F.col("_op") == "U", "M")
        .otherwise("D")
        .alias("RECORD_STATUS"),
        F.date_format(F.col("_changed"), "dd/MM/yyyy 10:00:00").alias("LAST_UPDATE"),
        "_batch",
    )
    return Export("sales", out, _truth(v.filter(F.col("_op") == "I"), "sales", "sale_id"))


def export_service(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = with_duplicates(w.service, g, "service", "ro_id", "RO9")
    v = with_party_noise(v, g, "service", "ro_id", F.col("open_date"))

    def mutate(df: DataFrame) -> DataFrame:
        return df.withColumn("parts_amount", F.col("parts_amount") + 35.5).withColumn(
            "total_amount", F.round(F.col("labour_amount") + F.col("parts_amount"), 2)
        )

    v = with_changes(
        v,
        g,
        h,
        "service",
        "ro_id",
        "close_date",
        change_rate=0.005,
        delete_rate=0.002,
        mutate=mutate,
    )
    u = uniform(g.seed, "service:namefmt", "ro_id")
    # Counter staff type the name as they hear it: "GARCIA, ANA", "Ana Garcia", "garcia ana".
    name = F.when(F.col("entity_type") == "company", F.col("n_company")).otherwise(
        F.when(u < 0.4, F.concat_ws(", ", F.upper("n_family"), F.upper("n_given")))
        .when(u < 0.8, F.concat_ws(" ", F.initcap("n_given"), F.initcap("n_family")))
        .otherwise(F.lower(F.concat_ws(" ", "n_family", "n_given")))
    )
    out = v.select(
        F.col("ro_id").alias("RO Number"),
        F.col("vin").alias("VIN"),
        F.col("service_dealer").alias("Dealer"),
        F.date_format("open_date", "yyyy-MM-dd").alias("Open Date"),
        F.date_format("close_date", "yyyy-MM-dd").alias("Close Date"),
        F.col("odometer_km").cast("string").alias("Odometer"),
        F.initcap("service_type").alias("Service Type"),
        F.format_string("%.2f", "labour_amount").alias("Labour"),
        F.format_string("%.2f", "parts_amount").alias("Parts"),
        F.format_string("%.2f", "total_amount").alias("Total"),
        name.alias("Customer Name"),
        phone_fmt(
            F.col("n_phone"), uniform(g.seed, "service:pf", "ro_id"), ["spaced", "plain", "dotted"]
        ).alias("Phone"),
        F.col("n_email").alias("Email"),
        F.col("n_street").alias("Address"),
        F.col("n_postal").alias("Postal Code"),
        F.col("n_city").alias("City"),
        F.when(F.col("_op") == "D", "Y").otherwise("N").alias("Deleted"),
        F.date_format(F.col("_changed"), "yyyy-MM-dd'T'18:30:00").alias("Updated At"),
        "_batch",
    )
    return Export("service", out, _truth(v.filter(F.col("_op") == "I"), "service", "ro_id"))


def export_ecommerce(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = with_duplicates(w.leads, g, "ecommerce", "lead_id", "WEB-9")
    v = with_party_noise(v, g, "ecommerce", "lead_id", F.col("lead_date"))

    def mutate(df: DataFrame) -> DataFrame:
        return df.withColumn(
            "lead_status",
            F.when(F.col("lead_status") == "open", "lost").otherwise(F.col("lead_status")),
        )

    v = with_changes(
        v,
        g,
        h,
        "ecommerce",
        "lead_id",
        "lead_date",
        change_rate=0.01,
        delete_rate=0.0,
        mutate=mutate,
    )
    ts = F.col("lead_date").cast("timestamp") + F.make_interval(secs=F.col("lead_ts_sec"))
    out = v.select(
        F.col("lead_id").alias("id"),
        F.date_format(F.from_utc_timestamp(ts, "Europe/Madrid"), "yyyy-MM-dd'T'HH:mm:ss").alias(
            "_local"
        ),
        (
            (F.unix_timestamp(F.from_utc_timestamp(ts, "Europe/Madrid")) - F.unix_timestamp(ts))
            / 3600
        )
        .cast("int")
        .alias("_off"),
        F.col("lead_type").alias("type"),
        F.col("model").alias("model_of_interest"),
        F.col("lead_status").alias("status"),
        F.col("lead_dealer").alias("preferred_dealer"),
        F.col("n_given").alias("first_name"),
        F.col("n_family").alias("last_name"),
        F.lower("n_email").alias("email"),
        phone_fmt(
            F.col("n_phone"),
            uniform(g.seed, "ecom:pf", "lead_id"),
            ["e164", "plain", "spaced", "paren"],
        ).alias("phone"),
        F.col("n_postal").alias("postal_code"),
        F.when(
            uniform(g.seed, "ecom:cf", "lead_id") < 0.5, F.col("marketing_opt_in").cast("string")
        )
        .otherwise(F.when(F.col("marketing_opt_in"), "1").otherwise("0"))
        .alias("marketing_opt_in"),
        F.date_format("delivery_date", "yyyy-MM-dd").alias("expected_delivery"),
        F.lower(F.col("_op")).alias("op"),
        F.date_format(F.col("_changed"), "yyyy-MM-dd'T'12:00:00'Z'").alias("updated_at"),
        "_batch",
    )
    # ISO 8601 with the Madrid offset, as the web platform logs it.
    out = out.withColumn(
        "created_at", F.concat(F.col("_local"), F.format_string("+%02d:00", "_off"))
    ).drop("_local", "_off")
    out = out.select("id", "created_at", *[c for c in out.columns if c not in {"id", "created_at"}])
    return Export("ecommerce", out, _truth(v.filter(F.col("_op") == "I"), "ecommerce", "lead_id"))


def export_finance(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = with_duplicates(w.finance, g, "finance", "contract_id", "NM9")
    v = with_party_noise(v, g, "finance", "contract_id", F.col("sale_date"))

    def mutate(df: DataFrame) -> DataFrame:
        active = F.col("contract_status") == "active"
        return df.withColumn(
            "payoff_date", F.when(active, F.lit(h.end)).otherwise(F.col("payoff_date"))
        ).withColumn(
            "contract_status", F.when(active, "paid_off").otherwise(F.col("contract_status"))
        )

    v = with_changes(
        v,
        g,
        h,
        "finance",
        "contract_id",
        "sale_date",
        change_rate=0.01,
        delete_rate=0.0,
        mutate=mutate,
    )
    is_co = F.col("entity_type") == "company"
    out = v.select(
        F.col("contract_id"),
        F.col("vin"),
        F.when(is_co, "business").otherwise("individual").alias("customer_type"),
        F.when(is_co, F.lit(None)).otherwise(F.initcap("n_given")).alias("first_name"),
        F.when(is_co, F.lit(None)).otherwise(F.initcap("n_family")).alias("last_name"),
        F.col("n_company").alias("company_name"),
        F.col("tax_id"),
        F.date_format("n_birth", "MM/dd/yyyy").alias("birth_date"),
        F.col("n_street").alias("street"),
        F.col("n_postal").alias("zip"),
        F.col("n_city").alias("city"),
        phone_fmt(
            F.col("n_phone"), uniform(g.seed, "fin:pf", "contract_id"), ["intl00", "e164"]
        ).alias("phone"),
        F.col("n_email").alias("email"),
        F.col("contract_type"),
        F.date_format("sale_date", "MM/dd/yyyy").alias("start_date"),
        F.col("term_months").cast("string").alias("term_months"),
        F.date_format("maturity_date", "MM/dd/yyyy").alias("maturity_date"),
        F.format_string("%.2f", "monthly_payment").alias("monthly_payment"),
        F.upper("contract_status").alias("status"),
        F.date_format("payoff_date", "MM/dd/yyyy").alias("payoff_date"),
        F.date_format(F.col("_changed"), "yyyy-MM-dd 23:00:00").alias("updated"),
        "_batch",
    )
    return Export("finance", out, _truth(v.filter(F.col("_op") == "I"), "finance", "contract_id"))


def export_insurance(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = with_duplicates(w.insurance, g, "insurance", "policy_id", "LM-9")
    v = with_party_noise(v, g, "insurance", "policy_id", F.col("sale_date"))
    v = with_batch(v, F.col("sale_date"), h)
    holder = F.when(F.col("entity_type") == "company", F.col("n_company")).otherwise(
        F.concat_ws(" ", "n_given", "n_family")
    )
    out = v.select(
        F.col("policy_id").alias("Policy ID"),
        F.col("vin").alias("VIN"),
        holder.alias("Policy Holder"),
        F.col("n_email").alias("Holder Email"),
        phone_fmt(
            F.col("n_phone"), uniform(g.seed, "ins:pf", "policy_id"), ["paren", "e164", "plain"]
        ).alias("Holder Phone"),
        F.col("n_postal").alias("Postal Code"),
        F.date_format("sale_date", "yyyyMMdd").alias("Start"),
        F.date_format("policy_end", "yyyyMMdd").alias("End"),
        F.translate(F.format_string("%.2f", "premium"), ".", ",").alias("Premium"),
        F.initcap("policy_status").alias("Status"),
        "_batch",
    )
    return Export("insurance", out, _truth(v, "insurance", "policy_id"))


def export_subscriptions(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = with_party_noise(w.subscriptions, g, "subscriptions", "subscription_id", F.col("sub_start"))
    v = with_batch(v, F.col("sub_start"), h)
    epoch_ms = lambda c: (F.unix_timestamp(F.col(c).cast("timestamp")) * 1000).cast("string")  # noqa: E731
    out = v.select(
        "subscription_id",
        "vin",
        F.lower("n_email").alias("account_email"),
        F.when(F.col("entity_type") == "company", F.col("n_company"))
        .otherwise(F.concat_ws(" ", "n_given", "n_family"))
        .alias("account_name"),
        "product",
        F.col("plan").alias("plan_type"),
        epoch_ms("sub_start").alias("start_ms"),
        epoch_ms("sub_end").alias("end_ms"),
        "_batch",
    )
    return Export("subscriptions", out, _truth(v, "subscriptions", "subscription_id"))


def export_telematics(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = with_batch(w.telematics, F.col("reading_date"), h)
    out = v.select(
        "vin",
        F.date_format(F.timestamp_seconds("reading_epoch"), "yyyy-MM-dd'T'HH:mm:ss'Z'").alias(
            "reading_ts"
        ),
        F.col("odometer_km").cast("string").alias("odometer_km"),
        "_batch",
    )
    return Export("telematics", out, None)


def export_loyalty(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    s = g.seed
    m = w.loyalty.withColumn(
        "points", (F.col("lat") * 18000 + F.col("n_purchases") * 1500).cast("int")
    )
    m = m.withColumn(
        "tier",
        F.when(F.col("points") > 14000, "Platinum")
        .when(F.col("points") > 9000, "Gold")
        .when(F.col("points") > 4000, "Silver")
        .otherwise("Bronze"),
    )
    m = with_duplicates(m, g, "loyalty", "member_id", "L9")
    m = with_party_noise(m, g, "loyalty", "member_id", F.col("enrolled_on"))

    def mutate(df: DataFrame) -> DataFrame:
        return df.withColumn(
            "points", F.col("points") + (uniform(s, "loy:pts", "member_id") * 900).cast("int") + 100
        )

    m = with_changes(
        m,
        g,
        h,
        "loyalty",
        "member_id",
        "enrolled_on",
        change_rate=0.03,
        delete_rate=0.003,
        mutate=mutate,
    )
    out = m.select(
        F.col("member_id").alias("MemberID"),
        F.col("n_given").alias("FirstName"),
        F.col("n_family").alias("LastName"),
        F.col("n_email").alias("Email"),
        phone_fmt(F.col("n_phone"), uniform(s, "loy:pf", "member_id"), ["e164", "spaced"]).alias(
            "Mobile"
        ),
        F.col("n_street").alias("Street"),
        F.col("n_postal").alias("PostCode"),
        F.col("n_city").alias("Town"),
        F.col("tier").alias("Tier"),
        F.col("points").cast("string").alias("Points"),
        F.date_format("enrolled_on", "dd.MM.yyyy").alias("EnrolledOn"),
        F.when(F.col("_op") == "D", "CLOSED").otherwise("ACTIVE").alias("Status"),
        F.date_format(F.col("_changed"), "dd.MM.yyyy").alias("LastModified"),
        "_batch",
    )
    return Export("loyalty", out, _truth(m.filter(F.col("_op") == "I"), "loyalty", "member_id"))


def export_surveys(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = with_batch(w.surveys, F.col("response_date"), h)
    out = v.select(
        "response_id",
        "survey_type",
        F.when(uniform(g.seed, "svy:novin", "response_id") < 0.2, F.lit(None))
        .otherwise(F.col("vin"))
        .alias("vin"),
        F.when(uniform(g.seed, "svy:email", "response_id") < 0.5, F.col("email_now")).alias(
            "email"
        ),
        F.col("survey_dealer").alias("dealer_code"),
        F.date_format("response_date", "yyyy-MM-dd HH:mm:ss").alias("response_date"),
        F.col("nps").cast("string").alias("nps"),
        F.col("csat").cast("string").alias("csat"),
        "comment",
        F.col("lang").alias("language"),
        "_batch",
    )
    return Export("surveys", out, None)


def export_campaigns(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = with_batch(w.campaigns, F.col("start_date"), h)
    out = v.select(
        "campaign_id",
        "name",
        "contact_plan",
        "offer",
        "channel",
        F.date_format("start_date", "yyyy-MM-dd").alias("start_date"),
        F.date_format("end_date", "yyyy-MM-dd").alias("end_date"),
        F.format_string("%.2f", "cost_per_contact").alias("cost_per_contact"),
        "_batch",
    )
    return Export("campaigns", out, None)


def export_campaign_events(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = with_batch(w.campaign_events, F.to_date("event_ts"), h)
    out = v.select(
        "event_id",
        "campaign_id",
        F.col("wave").cast("string").alias("wave"),
        "recipient_key",
        "channel",
        "event",
        F.date_format("event_ts", "yyyy-MM-dd'T'HH:mm:ss'Z'").alias("event_ts"),
        "_batch",
    )
    return Export("campaign_events", out, None)


def export_market_research(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    out = w.market_research.select(
        "postal_code",
        "segment",
        F.col("affluence_index").cast("string").alias("affluence_index"),
        F.col("study_year").cast("string").alias("study_year"),
        F.lit(batch_id(h.start, True)).alias("_batch"),
    )
    return Export("market_research", out, None)


def export_dealers(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    out = w.dealers.select(
        "dealer_code",
        "dealer_name",
        "region",
        "street",
        "postal_code",
        "city",
        F.col("latitude").cast("string").alias("latitude"),
        F.col("longitude").cast("string").alias("longitude"),
        F.lit("Y").alias("active"),
        F.lit(batch_id(h.start, True)).alias("_batch"),
    )
    return Export("dealers", out, None)


def export_consents(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    v = with_batch(w.consents, F.col("consent_date"), h)
    point = F.when(
        F.col("contact_type") == "phone", F.concat(F.lit("+34"), F.col("contact_point"))
    ).otherwise(F.col("contact_point"))
    ts = F.col("consent_date").cast("timestamp") + F.make_interval(secs=F.col("consent_sec"))
    out = v.select(
        "consent_id",
        point.alias("contact_point"),
        "contact_type",
        "channel",
        "status",
        F.col("consent_source").alias("source"),
        "legal_basis",
        F.date_format(ts, "dd/MM/yyyy HH:mm").alias("consent_ts"),
        "_batch",
    )
    return Export("consents", out, None)


def export_fleet_contacts(w: World, g: GeneratorConfig, h: Horizon) -> Export:
    """The captive's fleet desk: who it deals with at each business customer. The company
    is named by its CIF (sometimes missing) and its name; the contact is a person."""
    v = with_party_noise(w.fleet_contacts, g, "fleet_contacts", "contact_id", F.col("since"))
    v = with_batch(v, F.col("since"), h)
    no_cif = uniform(g.seed, "fleet_contacts:nocif", "contact_id") < 0.1
    out = v.select(
        F.col("contact_id").alias("Contact ID"),
        F.when(no_cif, F.lit(None)).otherwise(F.col("co_tax_id")).alias("Company CIF"),
        F.upper("co_name").alias("Company"),
        F.concat_ws(" ", "n_given", "n_family").alias("Contact Name"),
        F.initcap("role").alias("Role"),
        phone_fmt(
            F.col("n_phone"), uniform(g.seed, "fleet_contacts:pf", "contact_id"), ["spaced", "e164"]
        ).alias("Mobile"),
        F.lower("n_email").alias("Email"),
        F.date_format("since", "dd/MM/yyyy").alias("Since"),
        F.when(F.col("left_company"), "Inactive").otherwise("Active").alias("Status"),
        "_batch",
    )
    return Export("fleet_contacts", out, _truth(v, "fleet_contacts", "contact_id"))


EXPORTERS: dict[str, Callable[[World, GeneratorConfig, Horizon], Export]] = {
    "sales": export_sales,
    "service": export_service,
    "ecommerce": export_ecommerce,
    "finance": export_finance,
    "insurance": export_insurance,
    "subscriptions": export_subscriptions,
    "telematics": export_telematics,
    "loyalty": export_loyalty,
    "surveys": export_surveys,
    "campaigns": export_campaigns,
    "campaign_events": export_campaign_events,
    "market_research": export_market_research,
    "dealers": export_dealers,
    "consents": export_consents,
    "fleet_contacts": export_fleet_contacts,
}
