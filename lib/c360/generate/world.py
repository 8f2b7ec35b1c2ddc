"""The synthetic world: people, households, companies and what happens to them.

It is simulated in Spark, keyed by hashes (see ``rand``), so it is deterministic for a
seed and scales from thousands to tens of millions of records. Each function returns
*true* facts; ``sources`` turns them into the noisy exports of each system.

Planted drivers (the models and the measurements must find them):
- a latent loyalty ``lat`` per customer drives service visits, survey scores and repeat
  purchases (service churn);
- financed customers renew near contract maturity; cash buyers at higher vehicle age;
- campaigns contact a random treated group and hold out a random control group; the
  treated get extra service visits or purchases at the configured effect sizes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from c360.columns import lookup
from c360.config import GeneratorConfig
from c360.generate import reference as ref
from c360.generate.noise import ascii_slug
from c360.generate.rand import digits, pick, uniform, zipf_pick
from c360.silver.standardize import vin_check_digit


@dataclass(frozen=True)
class Horizon:
    start: dt.date  # date of the full dump
    end: dt.date  # date of the last daily batch

    @classmethod
    def of(cls, g: GeneratorConfig) -> Horizon:
        start = dt.date.fromisoformat(g.start_date)
        return cls(start, start + dt.timedelta(days=g.daily_batches))


@dataclass
class World:
    parties: DataFrame
    dealers: DataFrame
    vehicles: DataFrame
    service: DataFrame
    finance: DataFrame
    insurance: DataFrame
    subscriptions: DataFrame
    telematics: DataFrame
    loyalty: DataFrame
    surveys: DataFrame
    leads: DataFrame
    campaigns: DataFrame
    campaign_contacts: DataFrame
    campaign_events: DataFrame
    consents: DataFrame
    market_research: DataFrame
    fleet_contacts: DataFrame


# --------------------------------------------------------------------------- helpers


def _address(seed: int, salt: str, key: Column) -> dict[str, Column]:
    """A plausible Spanish address drawn from ``key``."""
    n_cities = len(ref.CITIES)
    city_idx = F.least(
        (uniform(seed, f"{salt}:city", key) * n_cities).cast("int"), F.lit(n_cities - 1)
    )
    city = F.element_at(F.array(*[F.lit(c[0]) for c in ref.CITIES]), city_idx + 1)
    prefix = F.element_at(F.array(*[F.lit(c[1]) for c in ref.CITIES]), city_idx + 1)
    region = F.element_at(F.array(*[F.lit(c[2]) for c in ref.CITIES]), city_idx + 1)
    street = F.concat_ws(
        " ",
        pick(ref.STREET_TYPES, uniform(seed, f"{salt}:stype", key)),
        pick(ref.STREET_NAMES, uniform(seed, f"{salt}:sname", key)),
    )
    number = (uniform(seed, f"{salt}:num", key) * 180).cast("int") + 1
    return {
        "street": F.concat(street, F.lit(", "), number.cast("string")),
        "postal_code": F.concat(
            prefix,
            F.lpad(
                ((uniform(seed, f"{salt}:pc", key) * 60).cast("int") * 5).cast("string"), 3, "0"
            ),
        ),
        "city": city,
        "region": region,
        "city_idx": city_idx,
    }


def _mobile(seed: int, salt: str, key: Column) -> Column:
    return F.concat(
        pick(["6", "7"], uniform(seed, f"{salt}:m0", key)), digits(seed, f"{salt}:m", 8, key)
    )


def _email(seed: int, salt: str, given: Column, family: Column, key: Column) -> Column:
    style = uniform(seed, f"{salt}:style", key)
    g, f = ascii_slug(given), ascii_slug(family)
    local = (
        F.when(style < 0.35, F.concat_ws(".", g, f))
        .when(style < 0.55, F.concat(g, f, digits(seed, f"{salt}:d", 2, key)))
        .when(style < 0.75, F.concat(g.substr(1, 1), f))
        .when(style < 0.9, F.concat_ws("_", g, f))
        .otherwise(F.concat(f, g.substr(1, 1), digits(seed, f"{salt}:y", 2, key)))
    )
    return F.concat(local, F.lit("@"), pick(ref.EMAIL_DOMAINS, uniform(seed, f"{salt}:dom", key)))


# --------------------------------------------------------------------------- parties


def persons(spark: SparkSession, g: GeneratorConfig, h: Horizon) -> DataFrame:
    """People and households. Household members share surname, address and landline."""
    s = g.seed
    df = spark.range(g.persons).select(F.col("id").cast("int").alias("n"))
    member = F.col("n") % 4
    in_hh = (member > 0) & (uniform(s, "hh", "n") < g.household_share)
    df = df.withColumn("head", F.when(in_hh, F.col("n") - member).otherwise(F.col("n")))
    df = df.withColumn("is_head", F.col("head") == F.col("n"))
    gender = F.when(uniform(s, "gender", "n") < 0.5, "F").otherwise("M")
    df = df.withColumn("gender", gender)
    given = F.when(
        F.col("gender") == "F", zipf_pick(ref.FEMALE_NAMES, uniform(s, "given", "n"), 1.6)
    ).otherwise(zipf_pick(ref.MALE_NAMES, uniform(s, "given", "n"), 1.6))
    # Spouses sometimes keep their own surname (Spain); children take the head's.
    own_surname = ~F.col("is_head") & (uniform(s, "ownsur", "n") < 0.25)
    family = F.when(own_surname, zipf_pick(ref.SURNAMES, uniform(s, "family", "n"))).otherwise(
        zipf_pick(ref.SURNAMES, uniform(s, "family", "head"))
    )
    age_years = F.when(F.col("is_head"), 25 + uniform(s, "age", "n") * 55).otherwise(
        18 + uniform(s, "age", "n") * 62
    )
    addr = _address(s, "home", F.col("head"))
    addr2 = _address(s, "moved", F.col("head"))
    moved = uniform(s, "moves", "head") < 0.2
    email_changes = uniform(s, "emailchg", "n") < 0.15
    df = df.select(
        F.concat(F.lit("P"), F.lpad(F.col("n").cast("string"), 9, "0")).alias("entity_id"),
        F.lit("person").alias("entity_type"),
        F.concat(F.lit("H"), F.lpad(F.col("head").cast("string"), 9, "0")).alias("household_id"),
        "is_head",
        "gender",
        given.alias("given_name"),
        family.alias("family_name"),
        F.lit(None).cast("string").alias("company_name"),
        F.lit(None).cast("string").alias("tax_id"),
        F.date_sub(F.lit(h.end), (age_years * 365.25).cast("int")).alias("birth_date"),
        _mobile(s, "mob", F.col("n")).alias("mobile"),
        F.concat(F.lit("9"), digits(s, "land", 8, F.col("head"))).alias("landline"),
        # Some members only have the household's shared phone.
        (uniform(s, "nomobile", "n") < 0.12).alias("no_mobile"),
        addr["street"].alias("street"),
        addr["postal_code"].alias("postal_code"),
        addr["city"].alias("city"),
        addr["region"].alias("region"),
        addr["city_idx"].alias("city_idx"),
        F.when(moved, addr2["street"]).alias("street2"),
        F.when(moved, addr2["postal_code"]).alias("postal_code2"),
        F.when(moved, addr2["city"]).alias("city2"),
        F.when(
            moved, F.date_sub(F.lit(h.end), (uniform(s, "movedate", "head") * 1800).cast("int"))
        ).alias("move_date"),
        F.when(
            email_changes,
            F.date_sub(F.lit(h.end), (uniform(s, "emaildate", "n") * 1500).cast("int")),
        ).alias("email_change_date"),
        uniform(s, "lat", "n").alias("lat"),
        F.col("n").alias("_n"),
    )
    df = df.withColumn(
        "email", _email(s, "email1", F.col("given_name"), F.col("family_name"), F.col("_n"))
    )
    df = df.withColumn(
        "email2",
        F.when(
            F.col("email_change_date").isNotNull(),
            _email(s, "email2", F.col("given_name"), F.col("family_name"), F.col("_n")),
        ),
    )
    # A share of people have no personal email at all.
    df = df.withColumn(
        "email", F.when(uniform(s, "noemail", "_n") < 0.1, F.lit(None)).otherwise(F.col("email"))
    )
    return df


def companies(spark: SparkSession, g: GeneratorConfig, h: Horizon) -> DataFrame:
    """Fleet customers. Their records carry a contact person who is not a customer."""
    s = g.seed
    df = spark.range(g.companies).select(F.col("id").cast("int").alias("n"))
    name_core = F.when(
        uniform(s, "cname", "n") < 0.6, zipf_pick(ref.SURNAMES, uniform(s, "csur", "n"))
    ).otherwise(pick([c[0] for c in ref.CITIES], uniform(s, "cplace", "n")))
    company = F.concat_ws(" ", pick(ref.COMPANY_PREFIXES, uniform(s, "cpre", "n")), name_core)
    addr = _address(s, "company", F.col("n") + 10_000_000)
    slug = ascii_slug(company)
    return df.select(
        F.concat(F.lit("C"), F.lpad(F.col("n").cast("string"), 9, "0")).alias("entity_id"),
        F.lit("company").alias("entity_type"),
        F.lit(None).cast("string").alias("household_id"),
        F.lit(True).alias("is_head"),
        F.lit(None).cast("string").alias("gender"),
        pick(ref.MALE_NAMES + ref.FEMALE_NAMES, uniform(s, "ccontact", "n")).alias("given_name"),
        zipf_pick(ref.SURNAMES, uniform(s, "ccontactf", "n")).alias("family_name"),
        F.concat_ws(" ", company, pick(ref.COMPANY_SUFFIXES[:2], uniform(s, "csuf", "n"))).alias(
            "company_name"
        ),
        F.concat(pick(["A", "B"], uniform(s, "cif0", "n")), digits(s, "cif", 8, F.col("n"))).alias(
            "tax_id"
        ),
        F.lit(None).cast("date").alias("birth_date"),
        F.concat(F.lit("9"), digits(s, "cphone", 8, F.col("n"))).alias("mobile"),
        F.concat(F.lit("9"), digits(s, "cphone", 8, F.col("n"))).alias("landline"),
        F.lit(False).alias("no_mobile"),
        addr["street"].alias("street"),
        addr["postal_code"].alias("postal_code"),
        addr["city"].alias("city"),
        addr["region"].alias("region"),
        addr["city_idx"].alias("city_idx"),
        F.lit(None).cast("string").alias("street2"),
        F.lit(None).cast("string").alias("postal_code2"),
        F.lit(None).cast("string").alias("city2"),
        F.lit(None).cast("date").alias("move_date"),
        F.lit(None).cast("date").alias("email_change_date"),
        uniform(s, "clat", "n").alias("lat"),
        (F.col("n") + 10_000_000).alias("_n"),
        F.concat(
            pick(["flota", "compras", "admin", "info"], uniform(s, "cmail", "n")),
            F.lit("@"),
            slug,
            F.lit(".es"),
        ).alias("email"),
        F.lit(None).cast("string").alias("email2"),
    )


FLEET_ROLES = ["fleet manager", "purchasing", "managing director"]


def fleet_contacts(
    spark: SparkSession, parties: DataFrame, g: GeneratorConfig, h: Horizon
) -> DataFrame:
    """The people the captive's fleet desk deals with at each company: 70% of companies
    name a first contact, 20% a second. Each is one of the world's persons, so the same
    human is often a private customer as well (the truth the link is judged by)."""
    s = g.seed
    slots = (
        spark.range(g.companies)
        .select(F.col("id").cast("int").alias("n"))
        .crossJoin(spark.range(2).select(F.col("id").cast("int").alias("k")))
    )
    key = F.concat_ws(":", F.lit("fc"), "n", "k")
    share = F.when(F.col("k") == 0, 0.7).otherwise(0.2)
    person = F.least((uniform(s, "fcperson", key) * g.persons).cast("int"), F.lit(g.persons - 1))
    # Most were named before the full dump; a few arrive in the daily deltas.
    late = uniform(s, "fclate", key) < 0.05
    since = F.when(
        late,
        F.date_add(F.lit(h.start), 1 + (uniform(s, "fcday", key) * g.daily_batches).cast("int")),
    ).otherwise(F.date_sub(F.lit(h.start), (uniform(s, "fcsince", key) * 2500).cast("int")))
    picked = slots.filter(uniform(s, "fcany", key) < share).select(
        F.concat(F.lit("C"), F.lpad(F.col("n").cast("string"), 9, "0")).alias("company_entity_id"),
        F.concat(F.lit("P"), F.lpad(person.cast("string"), 9, "0")).alias("entity_id"),
        F.concat(F.lit("FC"), digits(s, "fcid", 8, key)).alias("contact_id"),
        F.when(F.col("k") == 0, pick(FLEET_ROLES, uniform(s, "fcrole", key)))
        .otherwise(F.lit("purchasing"))
        .alias("role"),
        since.alias("since"),
        (uniform(s, "fcleft", key) < 0.1).alias("left_company"),
    )
    company = parties.filter(F.col("entity_type") == "company").select(
        F.col("entity_id").alias("company_entity_id"),
        F.col("company_name").alias("co_name"),
        F.col("tax_id").alias("co_tax_id"),
    )
    return picked.join(company, "company_entity_id").join(parties, "entity_id")


def dealers(spark: SparkSession, g: GeneratorConfig) -> DataFrame:
    s = g.seed
    n_cities = len(ref.CITIES)
    df = spark.range(g.dealers).select(F.col("id").cast("int").alias("n"))
    city_idx = F.col("n") % n_cities
    arr = lambda i: F.array(*[F.lit(c[i]) for c in ref.CITIES])  # noqa: E731
    return df.select(
        F.concat(F.lit("D"), F.lpad((F.col("n") + 1).cast("string"), 3, "0")).alias("dealer_code"),
        F.concat(
            F.lit("Nissan "),
            F.element_at(arr(0), city_idx + 1),
            F.when(F.col("n") >= n_cities, F.lit(" Norte")).otherwise(F.lit("")),
        ).alias("dealer_name"),
        F.element_at(arr(2), city_idx + 1).alias("region"),
        F.concat(
            F.lit("Polígono Industrial "),
            pick(ref.STREET_NAMES, uniform(s, "dstreet", "n")),
            F.lit(", "),
            ((uniform(s, "dnum", "n") * 90).cast("int") + 1).cast("string"),
        ).alias("street"),
        F.concat(
            F.element_at(arr(1), city_idx + 1),
            F.lpad(((uniform(s, "dpc", "n") * 60).cast("int") * 5).cast("string"), 3, "0"),
        ).alias("postal_code"),
        F.element_at(arr(0), city_idx + 1).alias("city"),
        F.round(36.0 + uniform(s, "dlat", "n") * 7.5, 5).alias("latitude"),
        F.round(-8.5 + uniform(s, "dlon", "n") * 11.0, 5).alias("longitude"),
        city_idx.alias("city_idx"),
    )


def _home_dealer(g: GeneratorConfig, city_idx: Column, u: Column) -> Column:
    """Customers buy and service near home, sometimes elsewhere."""
    n = g.dealers
    home = (city_idx % n) + 1
    other = (u * 1000).cast("int") % n + 1
    chosen = F.when(u < 0.85, home).otherwise(other)
    return F.concat(F.lit("D"), F.lpad(chosen.cast("string"), 3, "0"))


def address_at(date_col: Column) -> dict[str, Column]:
    """The true address on a date: the new one after a move."""
    after = F.col("move_date").isNotNull() & (date_col >= F.col("move_date"))
    return {
        "street": F.when(after, F.col("street2")).otherwise(F.col("street")),
        "postal_code": F.when(after, F.col("postal_code2")).otherwise(F.col("postal_code")),
        "city": F.when(after, F.col("city2")).otherwise(F.col("city")),
        "stale_street": F.col("street"),
        "stale_postal_code": F.col("postal_code"),
        "stale_city": F.col("city"),
        "moved": after,
    }


def email_at(date_col: Column) -> Column:
    after = F.col("email_change_date").isNotNull() & (date_col >= F.col("email_change_date"))
    return F.when(after, F.col("email2")).otherwise(F.col("email"))


# --------------------------------------------------------------------------- vehicles


def make_vin(seed: int, key: Column, model_year: Column) -> Column:
    alphabet = list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")
    vds = F.concat(*[pick(alphabet, uniform(seed, f"vds{i}", key)) for i in range(5)])
    year_codes = list("ABCDEFGHJKLMNPRSTVWXY123456789")  # 2010..2039
    year_code = F.element_at(
        F.array(*[F.lit(c) for c in year_codes]), F.pmod(model_year - 2010, F.lit(30)) + 1
    )
    serial = digits(seed, "serial", 6, key)
    base = F.concat(
        F.lit("VSK"),
        vds,
        F.lit("0"),
        year_code,
        pick(list("ABCW"), uniform(seed, "plant", key)),
        serial,
    )
    # the check digit's own fold (one copy of ``base`` in the plan) over the placeholder
    return F.overlay(base, vin_check_digit(base), F.lit(9), F.lit(1))


def vehicles(parties: DataFrame, g: GeneratorConfig, h: Horizon) -> DataFrame:
    """Purchases over up to ``history_years``: one row per vehicle bought."""
    s = g.seed
    buyer = F.when(F.col("entity_type") == "company", True).otherwise(
        F.col("is_head") & (uniform(s, "buyer", "_n") < 0.85)
        | (~F.col("is_head") & (uniform(s, "buyer", "_n") < 0.3))
    )
    b = parties.filter(buyer)
    u_pref = uniform(s, "saletype", "_n")
    is_co = F.col("entity_type") == "company"
    sale_type = F.when(
        is_co, F.when(u_pref < 0.6, "lease").when(u_pref < 0.85, "finance").otherwise("cash")
    ).otherwise(F.when(u_pref < 0.35, "cash").when(u_pref < 0.8, "finance").otherwise("lease"))
    term = pick([36, 48, 60], uniform(s, "term", "_n"))
    b = b.withColumn("pref_sale_type", sale_type).withColumn("term_months", term)
    fleet = F.when(is_co, (uniform(s, "fleet", "_n") * 6).cast("int") + 2).otherwise(F.lit(1))
    b = b.withColumn("slot", F.explode(F.sequence(F.lit(1), fleet)))
    b = b.withColumn("k", F.explode(F.sequence(F.lit(0), F.lit(6))))
    first_back = uniform(s, "first", "_n", "slot") * g.history_years * 365
    financed = F.col("pref_sale_type") != "cash"
    cycle = F.when(
        financed, F.col("term_months") * 30.4 + (uniform(s, "cyc", "_n", "slot", "k") - 0.4) * 120
    ).otherwise(1500 + uniform(s, "cyc", "_n", "slot", "k") * 1600) * (1.25 - 0.5 * F.col("lat"))
    b = b.withColumn("cycle_days", cycle.cast("int"))
    w = Window.partitionBy("entity_id", "slot").orderBy("k")
    b = b.withColumn("offset_days", (F.sum("cycle_days").over(w) - F.col("cycle_days")).cast("int"))
    sale_date = F.date_add(F.date_sub(F.lit(h.end), first_back.cast("int")), F.col("offset_days"))
    b = b.withColumn("sale_date", sale_date)
    # Keep history and the orders due in the next weeks (not delivered yet).
    b = b.filter(F.col("sale_date") <= F.date_add(F.lit(h.end), 45))
    # Disloyal customers drift away from the brand after a purchase.
    stays = (F.col("k") == 0) | (uniform(s, "stay", "_n", "slot", "k") < 0.45 + 0.5 * F.col("lat"))
    b = b.withColumn("stays", stays)
    b = b.withColumn(
        "lost",
        F.sum(F.when(~F.col("stays"), 1).otherwise(0)).over(
            w.rowsBetween(Window.unboundedPreceding, 0)
        ),
    )
    b = b.filter(F.col("lost") == 0)
    key = F.concat_ws(":", "entity_id", "slot", "k")
    b = b.withColumn("vkey", key)
    m_idx = (uniform(s, "model", "vkey") * len(ref.MODELS)).cast("int")
    models = F.array(*[F.lit(m[0]) for m in ref.MODELS])
    prices = F.array(*[F.lit(m[1]) for m in ref.MODELS])
    conn_from = F.array(*[F.lit(m[2]) for m in ref.MODELS])
    used = uniform(s, "used", "vkey") < 0.1
    year = F.year("sale_date") - F.when(
        used, (uniform(s, "usedage", "vkey") * 5).cast("int") + 1
    ).otherwise(F.when(F.month("sale_date") >= 9, -1).otherwise(0))
    b = (
        b.withColumn("model", F.element_at(models, m_idx + 1))
        .withColumn("model_year", year.cast("int"))
        .withColumn("trim", pick(ref.TRIMS, uniform(s, "trim", "vkey")))
        .withColumn("new_used", F.when(used, "used").otherwise("new"))
        .withColumn("connected", F.col("model_year") >= F.element_at(conn_from, m_idx + 1))
        .withColumn(
            "price",
            F.round(
                F.element_at(prices, m_idx + 1)
                * (0.9 + uniform(s, "price", "vkey") * 0.4)
                * F.when(used, 0.6).otherwise(1.0),
                0,
            ),
        )
        .withColumn(
            "sale_type",
            F.when(F.col("pref_sale_type") == "cash", "cash").otherwise(
                F.when(uniform(s, "cashnow", "vkey") < 0.15, "cash").otherwise(
                    F.col("pref_sale_type")
                )
            ),
        )
        .withColumn(
            "dealer_code", _home_dealer(g, F.col("city_idx"), uniform(s, "sdealer", "vkey"))
        )
        .withColumn(
            "annual_km", 7000 + uniform(s, "km", "vkey") * 25000 * F.when(is_co, 1.8).otherwise(1.0)
        )
        .withColumn("sale_id", F.concat(F.lit("VPP"), digits(s, "saleid", 10, F.col("vkey"))))
        .withColumn("vin", make_vin(s, F.col("vkey"), F.col("model_year")))
        .withColumn("caused_by_campaign", F.lit(None).cast("string"))
    )
    nxt = F.lead("sale_date").over(w)
    trade_in = uniform(s, "tradein", "vkey") < 0.7
    b = b.withColumn("owned_until", F.when(trade_in, nxt))
    return b.drop("cycle_days", "offset_days", "stays", "lost")


# --------------------------------------------------------------------------- activity


def service_visits(veh: DataFrame, g: GeneratorConfig, h: Horizon) -> DataFrame:
    """Repair orders: frequent in warranty, fading out of it, more for loyal customers."""
    s = g.seed
    v = veh.filter(F.col("sale_date") <= F.lit(h.end))
    v = v.withColumn("y", F.explode(F.sequence(F.lit(0), F.lit(15))))
    v = v.withColumn("visit", F.explode(F.array(F.lit(1), F.lit(2))))
    vk = F.concat_ws(":", "vin", "y", "visit")
    p = F.when(F.col("y") < 3, 0.93).otherwise(
        F.greatest(F.lit(0.15), 0.75 - 0.04 * F.col("y"))
    ) * (0.3 + 0.7 * F.col("lat"))
    p = F.when(F.col("visit") == 2, p * 0.3).otherwise(p)
    v = v.filter(uniform(s, "visit", vk) < p)
    open_date = F.date_add(
        F.col("sale_date"), (F.col("y") * 365 + uniform(s, "vday", vk) * 364).cast("int")
    )
    v = v.withColumn("open_date", open_date)
    owned_end = F.coalesce(F.col("owned_until"), F.date_add(F.lit(h.end), 1))
    v = v.filter((F.col("open_date") < owned_end) & (F.col("open_date") <= F.lit(h.end)))
    return _repair_orders(v, g, vk)


def _repair_orders(v: DataFrame, g: GeneratorConfig, vk: Column) -> DataFrame:
    s = g.seed
    in_warranty = F.months_between(F.col("open_date"), F.col("sale_date")) < 36
    u_type = uniform(s, "stype", vk)
    stype = F.when(
        in_warranty,
        F.when(u_type < 0.6, "maintenance")
        .when(u_type < 0.85, "warranty")
        .when(u_type < 0.95, "repair")
        .otherwise("recall"),
    ).otherwise(
        F.when(u_type < 0.6, "maintenance").when(u_type < 0.95, "repair").otherwise("recall")
    )
    age_days = F.datediff(F.col("open_date"), F.col("sale_date"))
    labour = F.round(40 + uniform(s, "labour", vk) * 260, 2)
    parts = F.round(uniform(s, "parts", vk) * 450, 2)
    free = F.col("service_type").isin("warranty", "recall")
    return (
        v.withColumn("vk", vk)
        .withColumn("service_type", stype)
        .withColumn("ro_id", F.concat(F.lit("RO"), digits(s, "roid", 10, F.col("vk"))))
        .withColumn(
            "close_date", F.date_add(F.col("open_date"), (uniform(s, "close", vk) * 3).cast("int"))
        )
        .withColumn(
            "odometer_km",
            (F.col("annual_km") * age_days / 365.0 * (0.95 + uniform(s, "odo", vk) * 0.1)).cast(
                "int"
            )
            + 5,
        )
        .withColumn("labour_amount", F.when(free, 0.0).otherwise(labour))
        .withColumn("parts_amount", F.when(free, 0.0).otherwise(parts))
        .withColumn("total_amount", F.round(F.col("labour_amount") + F.col("parts_amount"), 2))
        .withColumn(
            "service_dealer",
            F.when(uniform(s, "svcdealer", vk) < 0.9, F.col("dealer_code")).otherwise(
                _home_dealer(g, F.col("city_idx"), uniform(s, "svcdealer2", vk))
            ),
        )
        .withColumn("caused_by_campaign", F.lit(None).cast("string"))
    )


def finance_contracts(veh: DataFrame, g: GeneratorConfig, h: Horizon) -> DataFrame:
    s = g.seed
    f = veh.filter((F.col("sale_type") != "cash") & (F.col("sale_date") <= F.lit(h.end)))
    ctype = (
        F.when(F.col("sale_type") == "lease", "lease")
        .when(uniform(s, "balloon", "vin") < 0.3, "balloon")
        .otherwise("retail")
    )
    maturity = F.add_months(F.col("sale_date"), F.col("term_months"))
    early = uniform(s, "early", "vin") < 0.1
    payoff = F.date_add(
        F.col("sale_date"), (uniform(s, "payoff", "vin") * F.col("term_months") * 30).cast("int")
    )
    payoff = F.when(early & (payoff <= F.lit(h.end)), payoff)
    status = (
        F.when(payoff.isNotNull(), "paid_off")
        .when(maturity <= F.lit(h.end), "closed")
        .otherwise("active")
    )
    return f.select(
        "*",
        F.concat(F.lit("NM"), digits(s, "contract", 9, F.col("vin"))).alias("contract_id"),
        ctype.alias("contract_type"),
        maturity.alias("maturity_date"),
        F.round(
            F.col("price")
            * F.when(ctype == "lease", 0.55).otherwise(0.85)
            / F.col("term_months")
            * 1.06,
            2,
        ).alias("monthly_payment"),
        status.alias("contract_status"),
        payoff.alias("payoff_date"),
    )


def insurance_policies(veh: DataFrame, g: GeneratorConfig, h: Horizon) -> DataFrame:
    s = g.seed
    p = veh.filter((F.col("sale_date") <= F.lit(h.end)) & (uniform(s, "insured", "vin") < 0.45))
    years = (uniform(s, "insyears", "vin") * 6).cast("int") + 1
    end = F.add_months(F.col("sale_date"), years * 12)
    end = F.when(
        F.col("owned_until").isNotNull() & (end > F.col("owned_until")), F.col("owned_until")
    ).otherwise(end)
    return p.select(
        "*",
        F.concat(F.lit("LM-"), digits(s, "policy", 8, F.col("vin"))).alias("policy_id"),
        end.alias("policy_end"),
        F.round(300 + uniform(s, "premium", "vin") * 900, 2).alias("premium"),
        F.when(end > F.lit(h.end), "active")
        .when(uniform(s, "cancel", "vin") < 0.2, "cancelled")
        .otherwise("lapsed")
        .alias("policy_status"),
    )


def subscriptions(veh: DataFrame, g: GeneratorConfig, h: Horizon) -> DataFrame:
    """A 6-month trial with every connected car; some convert to paid terms."""
    s = g.seed
    c = veh.filter(F.col("connected") & (F.col("sale_date") <= F.lit(h.end)))
    c = c.withColumn("product", pick(ref.CONNECTED_PRODUCTS, uniform(s, "product", "vin")))
    trial = c.select(
        "*",
        F.lit("trial").alias("plan"),
        F.col("sale_date").alias("sub_start"),
        F.add_months(F.col("sale_date"), 6).alias("sub_end"),
    )
    paid = (
        c.filter(uniform(s, "paid", "vin") < 0.25 + 0.4 * F.col("lat"))
        .select(
            "*",
            F.lit("paid").alias("plan"),
            F.add_months(F.col("sale_date"), 6).alias("sub_start"),
            F.add_months(
                F.col("sale_date"), 6 + 12 * ((uniform(s, "paidyears", "vin") * 3).cast("int") + 1)
            ).alias("sub_end"),
        )
        .filter(F.col("sub_start") <= F.lit(h.end))
    )
    out = trial.unionByName(paid)
    return out.withColumn(
        "subscription_id",
        F.concat(F.lit("SUB"), digits(s, "subid", 10, F.concat_ws(":", "vin", "plan"))),
    )


def telematics(veh: DataFrame, g: GeneratorConfig, h: Horizon) -> DataFrame:
    """Monthly odometer readings over the last six months for connected cars in use."""
    s = g.seed
    c = veh.filter(
        F.col("connected")
        & (F.col("sale_date") <= F.lit(h.end))
        & F.col("owned_until").isNull()
        & (uniform(s, "telem", "vin") < 0.7)
    )
    c = c.withColumn("m", F.explode(F.sequence(F.lit(0), F.lit(5))))
    ts = F.date_sub(F.lit(h.end), F.col("m") * 30)
    c = c.withColumn("reading_date", ts).filter(F.col("reading_date") >= F.col("sale_date"))
    km = F.col("annual_km") * F.datediff(F.col("reading_date"), F.col("sale_date")) / 365.0
    return c.select(
        "vin",
        "entity_id",
        "reading_date",
        (
            F.unix_timestamp(F.col("reading_date").cast("timestamp"))
            + (uniform(s, "tsec", "vin", "m") * 80000).cast("int")
        ).alias("reading_epoch"),
        (km + 3).cast("int").alias("odometer_km"),
    )


def loyalty_members(veh: DataFrame, g: GeneratorConfig, h: Horizon) -> DataFrame:
    s = g.seed
    first = (
        veh.filter((F.col("entity_type") == "person") & (F.col("sale_date") <= F.lit(h.end)))
        .groupBy("entity_id")
        .agg(F.min("sale_date").alias("first_purchase"), F.count("*").alias("n_purchases"))
    )
    m = first.filter(uniform(s, "member", "entity_id") < 0.4)
    enrolled = F.date_add(
        F.col("first_purchase"), (uniform(s, "enrol", "entity_id") * 400).cast("int")
    )
    m = m.withColumn("enrolled_on", F.least(enrolled, F.lit(h.end)))
    return m.select(
        "entity_id",
        F.concat(F.lit("L"), digits(s, "member", 8, F.col("entity_id"))).alias("member_id"),
        "enrolled_on",
        "n_purchases",
    )


def surveys(veh: DataFrame, service: DataFrame, g: GeneratorConfig, h: Horizon) -> DataFrame:
    """NPS follows the customer's latent loyalty, so sentiment predicts churn."""
    s = g.seed
    cols = ["entity_id", "vin", "email", "email2", "email_change_date", "lat"]
    sales = veh.filter(
        (F.col("sale_date") <= F.lit(h.end)) & (uniform(s, "ssurvey", "vin") < 0.3)
    ).select(
        *cols,
        F.lit("sales").alias("survey_type"),
        F.col("dealer_code").alias("survey_dealer"),
        F.date_add(F.col("sale_date"), 10).alias("event_date"),
        F.col("sale_id").alias("event_id"),
    )
    svc = service.filter(uniform(s, "vsurvey", "ro_id") < 0.1).select(
        *cols,
        F.lit("service").alias("survey_type"),
        F.col("service_dealer").alias("survey_dealer"),
        F.date_add(F.col("close_date"), 5).alias("event_date"),
        F.col("ro_id").alias("event_id"),
    )
    sv = sales.unionByName(svc)
    sv = sv.withColumn(
        "response_date",
        F.date_add("event_date", (uniform(s, "rdelay", "event_id") * 20).cast("int")),
    )
    sv = sv.filter(F.col("response_date") <= F.lit(h.end))
    nps = F.least(
        F.lit(10),
        F.greatest(
            F.lit(0),
            F.round(F.col("lat") * 10 + (uniform(s, "npsn", "event_id") - 0.5) * 5).cast("int"),
        ),
    )
    sv = sv.withColumn("nps", nps)
    sentiment = F.when(F.col("nps") >= 9, "pos").when(F.col("nps") >= 7, "neu").otherwise("neg")
    lang = F.when(uniform(s, "lang", "event_id") < 0.75, "es").otherwise(
        pick(["en", "fr", "de"], uniform(s, "lang2", "event_id"))
    )
    key = F.concat_ws("|", sentiment, lang)
    by_key = {f"{snt}|{lg}": texts for (snt, lg), texts in ref.COMMENTS.items()}
    comment_arr = F.create_map(
        *[x for k, v in by_key.items() for x in (F.lit(k), F.array(*[F.lit(t) for t in v]))]
    )
    comments = F.try_element_at(comment_arr, key)
    idx = (uniform(s, "ctext", "event_id") * F.size(comments)).cast("int") + 1
    return sv.select(
        "*",
        F.concat(F.lit("IM"), digits(s, "resp", 10, F.col("event_id"))).alias("response_id"),
        sentiment.alias("true_sentiment"),
        lang.alias("lang"),
        F.when(uniform(s, "nocomment", "event_id") < 0.15, F.lit(None))
        .otherwise(F.element_at(comments, idx))
        .alias("comment"),
        F.least(
            F.lit(5), F.greatest(F.lit(1), F.round(F.col("nps") / 2.0 + 0.3).cast("int"))
        ).alias("csat"),
        email_at(F.col("response_date")).alias("email_now"),
    )


def leads(parties: DataFrame, veh: DataFrame, g: GeneratorConfig, h: Horizon) -> DataFrame:
    """Web leads, configurator quotes and buy@home orders."""
    s = g.seed
    persons_ = parties.filter(F.col("entity_type") == "person")
    buyers = veh.select("entity_id").distinct()
    # Converted leads before a purchase.
    conv = veh.filter(
        (F.col("entity_type") == "person") & (uniform(s, "convlead", "vin") < 0.3)
    ).select(
        "entity_id",
        "model",
        F.col("dealer_code").alias("lead_dealer"),
        F.date_sub("sale_date", (10 + uniform(s, "leadgap", "vin") * 50).cast("int")).alias(
            "lead_date"
        ),
        F.when(F.col("sale_date") <= F.lit(h.end), "converted")
        .otherwise("open")
        .alias("lead_status"),
        F.when(uniform(s, "quote", "vin") < 0.4, "quote").otherwise("lead").alias("lead_type"),
        F.col("vin").alias("lkey"),
    )
    # Buy@home orders: delivered, or ordered and still waiting for delivery.
    orders = (
        veh.filter(
            (F.col("entity_type") == "person")
            & ((F.col("sale_date") > F.lit(h.end)) | (uniform(s, "order", "vin") < 0.05))
        )
        .select(
            "entity_id",
            "model",
            F.col("dealer_code").alias("lead_dealer"),
            F.date_sub("sale_date", 30).alias("lead_date"),
            F.when(F.col("sale_date") <= F.lit(h.end), "delivered")
            .otherwise("ordered")
            .alias("lead_status"),
            F.lit("order").alias("lead_type"),
            F.concat(F.lit("O:"), F.col("vin")).alias("lkey"),
        )
        .withColumn("delivery_date", F.date_sub("lead_date", -30))
    )
    # Prospects with no purchase: open leads in the last months.
    prospects = persons_.join(buyers, "entity_id", "left_anti").filter(
        uniform(s, "prospect", "entity_id") < 0.6
    )
    prospects = prospects.select(
        "entity_id",
        pick([m[0] for m in ref.MODELS], uniform(s, "pmodel", "entity_id")).alias("model"),
        _home_dealer(g, F.col("city_idx"), uniform(s, "pdealer", "entity_id")).alias("lead_dealer"),
        F.date_sub(F.lit(h.end), (uniform(s, "pdate", "entity_id") * 240).cast("int")).alias(
            "lead_date"
        ),
        F.lit("open").alias("lead_status"),
        F.when(uniform(s, "pquote", "entity_id") < 0.3, "quote")
        .otherwise("lead")
        .alias("lead_type"),
        F.concat(F.lit("L:"), F.col("entity_id")).alias("lkey"),
    )
    prospects = prospects.withColumn(
        "lead_status",
        F.when(F.col("lead_date") < F.date_sub(F.lit(h.end), 120), "lost").otherwise(
            F.col("lead_status")
        ),
    )
    allleads = (
        conv.withColumn("delivery_date", F.lit(None).cast("date"))
        .unionByName(orders)
        .unionByName(prospects.withColumn("delivery_date", F.lit(None).cast("date")))
    )
    allleads = allleads.filter(F.col("lead_date") <= F.lit(h.end))
    allleads = allleads.join(persons_, "entity_id")
    return (
        allleads.withColumn(
            "lead_id", F.concat(F.lit("WEB-"), digits(s, "leadid", 10, F.col("lkey")))
        )
        .withColumn("marketing_opt_in", uniform(s, "webconsent", "lkey") < 0.55)
        .withColumn("lead_ts_sec", (uniform(s, "leadsec", "lkey") * 86399).cast("int"))
    )


# --------------------------------------------------------------------------- campaigns


def campaigns(spark: SparkSession, g: GeneratorConfig, h: Horizon) -> DataFrame:
    df = spark.range(g.campaigns).select(F.col("id").cast("int").alias("n"))
    plan = F.element_at(F.array(*[F.lit(p) for p in ref.PLANS]), (F.col("n") % len(ref.PLANS)) + 1)
    channel = F.element_at(
        F.array(
            *[F.lit(c) for c in ["email", "mail", "sms", "email", "telemarketing", "email", "mail"]]
        ),
        (F.col("n") % 7) + 1,
    )
    span = 700
    start = F.date_sub(
        F.lit(h.end), (F.lit(span) - F.col("n") * (span - 60) / max(g.campaigns, 1)).cast("int")
    )
    return df.select(
        F.concat(F.lit("CMP"), F.lpad((F.col("n") + 1).cast("string"), 4, "0")).alias(
            "campaign_id"
        ),
        plan.alias("contact_plan"),
        channel.alias("channel"),
        lookup(ref.OFFERS, plan).alias("offer"),
        start.alias("start_date"),
        F.date_add(start, 14).alias("end_date"),
        lookup(ref.CHANNEL_COST, channel).alias("cost_per_contact"),
        F.col("n"),
    ).withColumn(
        "name",
        F.concat_ws(
            " ",
            F.initcap(F.regexp_replace("contact_plan", "_", " ")),
            F.col("channel"),
            F.date_format("start_date", "yyyy-MM"),
        ),
    )


def campaign_targets(
    parties: DataFrame, veh: DataFrame, camps: DataFrame, g: GeneratorConfig
) -> DataFrame:
    """Who each campaign aimed at, the random control group, and the contact point used."""
    s = g.seed
    owners = veh.groupBy("entity_id").agg(F.min("sale_date").alias("first_sale"))
    p = parties.join(owners, "entity_id")
    # Few campaigns x many customers, filtered by a hash: a deliberate small broadcast.
    t = p.crossJoin(
        F.broadcast(
            camps.select("campaign_id", "channel", "contact_plan", "start_date", "end_date")
        )
    )
    t = t.filter(
        (F.col("first_sale") < F.col("start_date"))
        & (uniform(s, "target", "campaign_id", "entity_id") < 0.35)
    )
    addr = address_at(F.col("start_date"))
    point = (
        F.when(F.col("channel") == "email", email_at(F.col("start_date")))
        .when(
            F.col("channel").isin("sms", "telemarketing"),
            F.when(~F.col("no_mobile"), F.concat(F.lit("+34"), F.col("mobile"))),
        )
        .otherwise(F.concat_ws(", ", addr["street"], addr["postal_code"]))
    )
    t = t.withColumn("recipient_key", point).filter(F.col("recipient_key").isNotNull())
    t = t.withColumn(
        "group",
        F.when(
            uniform(s, "control", "campaign_id", "entity_id") < g.control_share, "control"
        ).otherwise("treated"),
    )
    return t


def campaign_events(targets: DataFrame, g: GeneratorConfig) -> DataFrame:
    """Delivery log of the campaign platform: events of the treated group, and one
    ``held_out`` event per control-group member (the platform's exclusion log)."""
    s = g.seed
    control = targets.filter(F.col("group") == "control").withColumn(
        "e", F.struct(F.lit("held_out").alias("event"), F.lit(0).alias("hours"))
    )
    tr = targets.filter(F.col("group") == "treated")
    key = F.concat_ws(":", "campaign_id", "entity_id")
    u = lambda salt: uniform(s, salt, key)  # noqa: E731
    tracked = F.col("channel").isin("email", "sms")
    delivered = u("deliv") < F.when(F.col("channel") == "telemarketing", 0.6).otherwise(0.95)
    opened = delivered & (F.col("channel") == "email") & (u("open") < 0.35)
    clicked = (
        delivered
        & tracked
        & (u("click") < F.when(F.col("channel") == "email", 0.25).otherwise(0.06))
        & (opened | (F.col("channel") == "sms"))
    )
    unsub = delivered & tracked & (u("unsub") < 0.01)
    complaint = delivered & (u("complain") < 0.002)
    ev = F.array(
        F.struct(F.lit("sent").alias("event"), F.lit(0).alias("hours")),
        F.struct(
            F.when(delivered, "delivered").when(tracked, "bounced").alias("event"),
            F.lit(1).alias("hours"),
        ),
        F.struct(
            F.when(opened, "opened").alias("event"), (u("openh") * 72).cast("int").alias("hours")
        ),
        F.struct(
            F.when(clicked, "clicked").alias("event"),
            (u("clickh") * 96 + 1).cast("int").alias("hours"),
        ),
        F.struct(
            F.when(unsub, "unsubscribed").alias("event"),
            (u("unsubh") * 96 + 2).cast("int").alias("hours"),
        ),
        F.struct(
            F.when(complaint, "complained").alias("event"),
            (u("complh") * 96 + 2).cast("int").alias("hours"),
        ),
    )
    e = tr.withColumn("e", F.explode(ev)).filter(F.col("e.event").isNotNull())
    e = e.unionByName(control).withColumn("wave", F.lit(1))
    ts = F.col("start_date").cast("timestamp") + F.make_interval(hours=F.col("e.hours") + 9)
    return e.select(
        "campaign_id",
        "wave",
        "recipient_key",
        "channel",
        F.col("e.event").alias("event"),
        ts.alias("event_ts"),
        "entity_id",
        F.concat(F.lit("EV"), digits(s, "evid", 12, F.concat_ws(":", key, F.col("e.event")))).alias(
            "event_id"
        ),
    )


def campaign_outcomes(
    targets: DataFrame, veh: DataFrame, g: GeneratorConfig, h: Horizon
) -> tuple[DataFrame, DataFrame]:
    """Extra service visits and purchases caused by treatment (the planted lift)."""
    s = g.seed
    tr = targets.filter((F.col("group") == "treated") & (F.col("start_date") <= F.lit(h.end)))
    key = F.concat_ws(":", "campaign_id", "entity_id")
    after_sales = ~F.col("contact_plan").isin(*sorted(ref.SALES_PLANS))
    when_days = (uniform(s, "effday", key) * (g.attribution_days - 1)).cast("int") + 1
    # Service effect: a visit for the customer's current vehicle.
    svc = tr.filter(after_sales & (uniform(s, "effsvc", key) < g.effect_service)).select(
        "entity_id", "campaign_id", F.date_add("start_date", when_days).alias("open_date")
    )
    svc = svc.join(veh, "entity_id").filter(
        (F.col("sale_date") < F.col("open_date"))
        & (F.col("owned_until").isNull() | (F.col("owned_until") > F.col("open_date")))
        & (F.col("open_date") <= F.lit(h.end))
    )
    w = Window.partitionBy("campaign_id", "entity_id").orderBy(F.col("sale_date").desc(), "vin")
    svc = svc.withColumn("r", F.row_number().over(w)).filter("r = 1").drop("r")
    vk = F.concat_ws(":", F.lit("cmp"), "campaign_id", "vin")
    svc = _repair_orders(svc, g, vk).withColumn("caused_by_campaign", F.col("campaign_id"))
    # Purchase effect: a new vehicle bought soon after a sales-plan contact.
    pur = (
        tr.filter(~after_sales & (uniform(s, "effpur", key) < g.effect_purchase))
        .select(
            "entity_id", "campaign_id", F.date_add("start_date", when_days).alias("effect_date")
        )
        .filter(F.col("effect_date") <= F.lit(h.end))
    )
    return svc, pur


def _consent_option(
    channel: str, contact_type: str, point: Column, p_in: float, basis: Column
) -> Column:
    return F.struct(
        F.lit(channel).alias("channel"),
        F.lit(contact_type).alias("contact_type"),
        point.alias("point"),
        F.lit(p_in).alias("p_in"),
        basis.alias("basis"),
    )


def consents(parties: DataFrame, veh: DataFrame, g: GeneratorConfig, h: Horizon) -> DataFrame:
    """Opt-in and opt-out events per contact point and channel."""
    s = g.seed
    first = veh.groupBy("entity_id").agg(F.min("sale_date").alias("first_sale"))
    p = parties.join(first, "entity_id", "left")
    since = F.coalesce(F.col("first_sale"), F.date_sub(F.lit(h.end), 200))
    since = F.least(since, F.lit(h.end))
    is_co = F.col("entity_type") == "company"
    mobile = F.when(~F.col("no_mobile"), F.col("mobile"))
    rows = F.array(
        _consent_option(
            "email",
            "email",
            F.col("email"),
            0.7,
            F.when(is_co, "legitimate_interest").otherwise("consent"),
        ),
        _consent_option("sms", "phone", mobile, 0.45, F.lit("consent")),
        _consent_option("phone", "phone", mobile, 0.35, F.lit("consent")),
        _consent_option(
            "mail",
            "address",
            F.concat_ws(", ", "street", "postal_code"),
            0.85,
            F.lit("legitimate_interest"),
        ),
    )
    c = p.withColumn("c", F.explode(rows)).filter(F.col("c.point").isNotNull())
    key = F.concat_ws(":", "entity_id", "c.channel")
    c = c.filter(uniform(s, "hasconsent", key) < 0.9)
    opt_in = uniform(s, "optin", key) < F.col("c.p_in")
    ts = F.date_add(since, (uniform(s, "cdate", key) * 30).cast("int"))
    first_ev = c.select(
        "entity_id",
        F.col("c.channel").alias("channel"),
        F.col("c.contact_type").alias("contact_type"),
        F.col("c.point").alias("contact_point"),
        F.when(opt_in, "opt_in").otherwise("opt_out").alias("status"),
        F.col("c.basis").alias("legal_basis"),
        F.least(ts, F.lit(h.end)).alias("consent_date"),
        pick(
            ["web", "dealer", "loyalty", "call_center", "ecommerce"], uniform(s, "csource", key)
        ).alias("consent_source"),
        F.lit(0).alias("seq"),
    )
    later = (
        first_ev.filter(
            (F.col("status") == "opt_in") & (uniform(s, "optout", "entity_id", "channel") < 0.12)
        )
        .select(
            "entity_id",
            "channel",
            "contact_type",
            "contact_point",
            F.lit("opt_out").alias("status"),
            "legal_basis",
            F.date_add(
                "consent_date", (uniform(s, "outdate", "entity_id", "channel") * 900).cast("int")
            ).alias("consent_date"),
            F.lit("preference_center").alias("consent_source"),
            F.lit(1).alias("seq"),
        )
        .filter(F.col("consent_date") <= F.lit(h.end))
    )
    out = first_ev.unionByName(later)
    return out.withColumn(
        "consent_id",
        F.concat(
            F.lit("CNS"), digits(s, "cid", 11, F.concat_ws(":", "entity_id", "channel", "seq"))
        ),
    ).withColumn("consent_sec", (uniform(s, "csec", "consent_id") * 86399).cast("int"))


def market_research(parties: DataFrame, g: GeneratorConfig) -> DataFrame:
    s = g.seed
    pcs = parties.select(F.col("postal_code")).unionByName(
        parties.select(F.col("postal_code2").alias("postal_code"))
    )
    pcs = pcs.filter(F.col("postal_code").isNotNull()).distinct()
    return pcs.select(
        "postal_code",
        pick(ref.SEGMENTS, uniform(s, "segment", "postal_code")).alias("segment"),
        (60 + uniform(s, "affl", "postal_code") * 90).cast("int").alias("affluence_index"),
        F.lit(2026).alias("study_year"),
    )


# --------------------------------------------------------------------------- assemble


def build_world(spark: SparkSession, g: GeneratorConfig, scratch: str) -> World:
    """Simulate the world, materializing each table to Parquet under ``scratch``.

    Writing intermediate tables cuts the query plans short: without it every export
    would re-plan and re-run the whole simulation, which does not scale.
    """
    h = Horizon.of(g)

    def save(df: DataFrame, name: str) -> DataFrame:
        path = f"{scratch}/{name}"
        df.write.mode("overwrite").parquet(path)
        return spark.read.parquet(path)

    parties = save(persons(spark, g, h).unionByName(companies(spark, g, h)), "parties")
    dl = save(dealers(spark, g), "dealers")
    base_veh = save(vehicles(parties, g, h), "vehicles_base")
    camps = save(campaigns(spark, g, h), "campaigns")
    sold = base_veh.filter(F.col("sale_date") <= F.lit(h.end))
    targets = save(campaign_targets(parties, sold, camps, g), "campaign_targets")
    extra_svc, extra_pur = campaign_outcomes(targets, sold, g, h)
    extra_svc = save(extra_svc, "service_caused")
    # Campaign-caused purchases become real vehicles with their own sales.
    pur = (
        extra_pur.join(parties, "entity_id").withColumn("slot", F.lit(99)).withColumn("k", F.lit(0))
    )
    pur_veh = _caused_vehicles(pur, g)
    veh = save(base_veh.unionByName(pur_veh, allowMissingColumns=True), "vehicles")
    base_svc = service_visits(veh, g, h)
    svc_cols = [c for c in base_svc.columns if c in set(extra_svc.columns)]
    svc = save(base_svc.select(*svc_cols).unionByName(extra_svc.select(*svc_cols)), "service")
    outcomes = extra_svc.select(
        "campaign_id",
        "entity_id",
        F.col("ro_id").alias("outcome_id"),
        F.lit("service_visit").alias("outcome"),
    ).unionByName(
        veh.filter(F.col("caused_by_campaign").isNotNull()).select(
            F.col("caused_by_campaign").alias("campaign_id"),
            "entity_id",
            F.col("sale_id").alias("outcome_id"),
            F.lit("purchase").alias("outcome"),
        )
    )
    contacts = save(
        targets.join(outcomes, ["campaign_id", "entity_id"], "left"), "campaign_contacts"
    )
    sold = veh.filter(F.col("sale_date") <= F.lit(h.end))
    return World(
        parties=parties,
        dealers=dl,
        vehicles=veh,
        service=svc,
        finance=save(finance_contracts(veh, g, h), "finance"),
        insurance=save(insurance_policies(veh, g, h), "insurance"),
        subscriptions=save(subscriptions(veh, g, h), "subscriptions"),
        telematics=save(telematics(veh, g, h), "telematics"),
        loyalty=save(loyalty_members(veh, g, h).join(parties, "entity_id"), "loyalty"),
        surveys=save(surveys(veh, svc, g, h), "surveys"),
        leads=save(leads(parties, veh, g, h), "leads"),
        campaigns=camps,
        campaign_contacts=contacts,
        campaign_events=save(campaign_events(targets, g), "campaign_events"),
        consents=save(consents(parties, sold, g, h), "consents"),
        market_research=save(market_research(parties, g), "market_research"),
        fleet_contacts=save(fleet_contacts(spark, parties, g, h), "fleet_contacts"),
    )


def _caused_vehicles(pur: DataFrame, g: GeneratorConfig) -> DataFrame:
    s = g.seed
    key = F.concat_ws(":", F.lit("cmp"), "campaign_id", "entity_id")
    m_idx = (uniform(s, "model", key) * len(ref.MODELS)).cast("int")
    return pur.select(
        "*",
        F.col("effect_date").alias("sale_date"),
        key.alias("vkey"),
        F.element_at(F.array(*[F.lit(m[0]) for m in ref.MODELS]), m_idx + 1).alias("model"),
        F.year("effect_date").alias("model_year"),
        pick(ref.TRIMS, uniform(s, "trim", key)).alias("trim"),
        F.lit("new").alias("new_used"),
        (
            F.year("effect_date")
            >= F.element_at(F.array(*[F.lit(m[2]) for m in ref.MODELS]), m_idx + 1)
        ).alias("connected"),
        F.round(
            F.element_at(F.array(*[F.lit(m[1]) for m in ref.MODELS]), m_idx + 1) * 1.0, 0
        ).alias("price"),
        F.lit("cash").alias("sale_type"),
        F.lit("cash").alias("pref_sale_type"),
        F.lit(36).alias("term_months"),
        _home_dealer(g, F.col("city_idx"), uniform(s, "sdealer", key)).alias("dealer_code"),
        (7000 + uniform(s, "km", key) * 25000).alias("annual_km"),
        F.concat(F.lit("VPP"), digits(s, "saleid", 10, key)).alias("sale_id"),
        make_vin(s, key, F.year("effect_date")).alias("vin"),
        F.col("campaign_id").alias("caused_by_campaign"),
        F.lit(None).cast("date").alias("owned_until"),
    ).drop("effect_date", "campaign_id")
