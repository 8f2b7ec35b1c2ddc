"""Point-in-time features and labels per (snapshot date, customer, vehicle).

Training and scoring share this code: a snapshot is a date, and every fact is taken
from records dated on or before it, joined through a tiny broadcast frame of snapshot
dates rather than one plan per date. The customer id is today's (identity resolution is
not re-run per date); everything that describes the customer or vehicle is as of the
snapshot. Labels look at what happened after it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StructField, StructType

from c360.columns import exact_mean, exact_sum
from c360.gold import facts
from c360.io import read_or_empty
from c360.lake import Lake

KEYS: tuple[str, ...] = ("snapshot_date", "customer_id", "vin")

# Numeric features, in the order the model's vector holds them.
FEATURES: tuple[str, ...] = (
    "vehicle_age_months",
    "owned_months",
    "odometer_km",
    "km_per_year",
    "is_used",
    "price",
    "is_cash",
    "finance_active",
    "is_lease",
    "is_balloon",
    "months_to_maturity",
    "months_since_service",
    "visits_12m",
    "visits_36m",
    "spend_36m",
    "purchases",
    "is_company",
    "has_survey",
    "nps_latest",
    "sentiment_avg",
)

# A month count standing in for "never" (no contract, no visit): far from real values.
NEVER = 240

SNAPSHOTS = StructType([StructField("snapshot_date", DateType(), False)])


@dataclass(frozen=True)
class Inputs:
    """The silver facts the models read, customer-linked where a party is on the record."""

    sales: DataFrame  # customer_id, sale_id, vin, sale_date, model_year, price, ...
    service: DataFrame  # ro_number, vin, open_date, odometer_km, total_amount, customer_id
    telematics: DataFrame  # vin, reading_date, odometer_km
    finance: DataFrame  # contract_id, vin, contract_type, start_date, maturity_date, ...
    surveys: DataFrame  # customer_id (by email, may be null), vin, response_date, nps, ...
    customers: DataFrame  # customer_id, party_type


def read_inputs(spark: SparkSession, lake: Lake) -> Inputs:
    def r(name: str) -> DataFrame:
        return read_or_empty(spark, lake, f"silver.{name}")

    records = facts.filter_current_records(r("identity_crosswalk"))
    live = ~F.col("_is_deleted")
    sales = facts.with_customer(r("sales").filter(live), records, "sales", "sale_id").filter(
        F.col("vin").isNotNull() & F.col("sale_date").isNotNull()
    )
    svc_customer = records.filter(F.col("source") == "service").select(
        F.col("source_record_id").alias("ro_number"), "customer_id"
    )
    service = (
        r("service_visits")
        .filter(live & F.col("open_date").isNotNull())
        .join(svc_customer, "ro_number", "left")
    )
    points = facts.unique_contact_points(facts.contact_points(r("party_records"), records))
    surveys = facts.attributed(points, r("surveys").filter(live), [("email", "email")])
    return Inputs(
        sales=sales.select(
            "customer_id",
            "sale_id",
            "vin",
            "sale_date",
            "model_year",
            F.col("price").cast("double").alias("price"),
            "sale_type",
            "new_used",
        ),
        service=service.select(
            "ro_number",
            "vin",
            "open_date",
            "odometer_km",
            F.col("total_amount").cast("double").alias("total_amount"),
            "customer_id",
        ),
        telematics=r("telematics")
        .filter(live)
        .select("vin", F.to_date("reading_ts").alias("reading_date"), "odometer_km"),
        finance=r("finance_contracts")
        .filter(live & F.col("start_date").isNotNull())
        .select(
            "contract_id", "vin", "contract_type", "start_date", "maturity_date", "payoff_date"
        ),
        surveys=surveys.filter(F.col("response_ts").isNotNull()).select(
            "customer_id",
            "vin",
            F.to_date("response_ts").alias("response_date"),
            "nps",
            "sentiment_score",
        ),
        customers=r("customers").select("customer_id", "party_type"),
    )


def snapshot_frame(spark: SparkSession, dates: list[dt.date]) -> DataFrame:
    return spark.createDataFrame([(d,) for d in sorted(set(dates))], SNAPSHOTS)


def _as_of(df: DataFrame, snaps: DataFrame, date_col: str) -> DataFrame:
    """Each row once per snapshot it is known at (dated on or before the snapshot)."""
    s = F.broadcast(snaps)
    return df.join(s, df[date_col] <= s["snapshot_date"])


def months_between(later: Column, earlier: Column) -> Column:
    return F.floor(F.months_between(later, earlier)).cast("int")


def population(inp: Inputs, snaps: DataFrame, max_age_years: int) -> DataFrame:
    """The vehicles a customer owns at each snapshot: the VIN's latest sale on or before
    it. A person counts with the newest such vehicle only (the one a renewal replaces,
    the one they service); a company with its whole fleet. Vehicles past the lifecycle's
    last year are left out."""
    sales = _as_of(inp.sales, snaps, "sale_date")
    by_vin = Window.partitionBy("snapshot_date", "vin").orderBy(
        F.col("sale_date").desc(), F.col("sale_id").desc()
    )
    first_sale = Window.partitionBy("snapshot_date", "vin")
    owned = (
        sales.withColumn("_first", F.min("sale_date").over(first_sale))
        .withColumn("_n", F.row_number().over(by_vin))
        .filter(F.col("_n") == 1)
        .join(inp.customers, "customer_id", "left")
    )
    newest = Window.partitionBy("snapshot_date", "customer_id").orderBy(
        F.col("sale_date").desc(), F.col("vin")
    )
    owned = owned.withColumn("_rank", F.row_number().over(newest)).filter(
        (F.col("party_type") == "company") | (F.col("_rank") == 1)
    )
    year = F.col("model_year")
    made = F.when(year.between(1950, 2100), F.make_date(year, F.lit(1), F.lit(1)))
    first_reg = F.coalesce(made, F.col("_first"))
    t = F.col("snapshot_date")
    return (
        owned.withColumn("vehicle_age_months", F.greatest(F.lit(0), months_between(t, first_reg)))
        .withColumn("owned_months", months_between(t, F.col("sale_date")))
        .filter(F.col("vehicle_age_months") < max_age_years * 12)
        .select(
            *KEYS,
            F.col("sale_date").alias("acquired_date"),
            "vehicle_age_months",
            "owned_months",
            F.when(F.col("new_used") == "used", 1.0).otherwise(0.0).alias("is_used"),
            F.coalesce("price", F.lit(0.0)).alias("price"),
            F.when(F.col("sale_type") == "cash", 1.0).otherwise(0.0).alias("is_cash"),
            F.when(F.col("party_type") == "company", 1.0).otherwise(0.0).alias("is_company"),
        )
    )


def _odometer(inp: Inputs, snaps: DataFrame) -> DataFrame:
    readings = inp.service.select("vin", F.col("open_date").alias("d"), "odometer_km").unionByName(
        inp.telematics.select("vin", F.col("reading_date").alias("d"), "odometer_km")
    )
    readings = readings.filter(F.col("vin").isNotNull() & F.col("odometer_km").isNotNull())
    return (
        _as_of(readings, snaps, "d")
        .groupBy("snapshot_date", "vin")
        .agg(F.max_by("odometer_km", F.struct("d", "odometer_km")).alias("odometer_km"))
    )


def _finance(inp: Inputs, snaps: DataFrame) -> DataFrame:
    """The newest contract on the VIN started by the snapshot, and whether it runs then."""
    f = _as_of(inp.finance.filter(F.col("vin").isNotNull()), snaps, "start_date")
    newest = F.max_by(
        F.struct("contract_type", "maturity_date", "payoff_date"),
        F.struct("start_date", "contract_id"),
    )
    c = f.groupBy("snapshot_date", "vin").agg(newest.alias("_c"))
    ends = F.coalesce("_c.payoff_date", "_c.maturity_date")
    active = ends.isNull() | (ends > F.col("snapshot_date"))
    to_maturity = months_between(F.col("_c.maturity_date"), F.col("snapshot_date"))
    return c.select(
        "snapshot_date",
        "vin",
        F.when(active, 1.0).otherwise(0.0).alias("finance_active"),
        F.when(F.col("_c.contract_type") == "lease", 1.0).otherwise(0.0).alias("is_lease"),
        F.when(F.col("_c.contract_type") == "balloon", 1.0).otherwise(0.0).alias("is_balloon"),
        F.when(active, F.coalesce(to_maturity, F.lit(NEVER))).alias("months_to_maturity"),
    )


def _service(inp: Inputs, snaps: DataFrame) -> DataFrame:
    s = _as_of(inp.service.filter(F.col("vin").isNotNull()), snaps, "open_date")
    age_days = F.datediff(F.col("snapshot_date"), F.col("open_date"))
    return s.groupBy("snapshot_date", "vin").agg(
        F.max("open_date").alias("_last_service"),
        F.count(F.when(age_days < 365, 1)).cast("double").alias("visits_12m"),
        F.count(F.when(age_days < 3 * 365, 1)).cast("double").alias("visits_36m"),
        F.coalesce(exact_sum(F.when(age_days < 3 * 365, F.col("total_amount"))), F.lit(0.0)).alias(
            "spend_36m"
        ),
    )


def _purchases(inp: Inputs, snaps: DataFrame) -> DataFrame:
    s = _as_of(inp.sales, snaps, "sale_date")
    return s.groupBy("snapshot_date", "customer_id").agg(
        F.countDistinct("vin").cast("double").alias("purchases")
    )


def _surveys(inp: Inputs, snaps: DataFrame, pop: DataFrame) -> DataFrame:
    """By the respondent's email, else by who owned the surveyed VIN at the snapshot."""
    s = _as_of(inp.surveys, snaps, "response_date")
    owner = pop.select("snapshot_date", "vin", F.col("customer_id").alias("_owner"))
    s = s.join(owner, ["snapshot_date", "vin"], "left").withColumn(
        "customer_id", F.coalesce("customer_id", "_owner")
    )
    recent = F.datediff(F.col("snapshot_date"), F.col("response_date")) < 3 * 365
    return (
        s.filter(F.col("customer_id").isNotNull())
        .groupBy("snapshot_date", "customer_id")
        .agg(
            F.max_by("nps", F.struct("response_date", "nps")).cast("double").alias("nps_latest"),
            exact_mean(F.when(recent, F.col("sentiment_score"))).alias("sentiment_avg"),
        )
    )


def vehicle_features(inp: Inputs, snaps: DataFrame, max_age_years: int = 15) -> DataFrame:
    """KEYS + acquired_date + FEATURES, never NULL: missing facts get a stated default."""
    pop = population(inp, snaps, max_age_years)
    v = ["snapshot_date", "vin"]
    c = ["snapshot_date", "customer_id"]
    df = (
        pop.join(_odometer(inp, snaps), v, "left")
        .join(_finance(inp, snaps), v, "left")
        .join(_service(inp, snaps), v, "left")
        .join(_purchases(inp, snaps), c, "left")
        .join(_surveys(inp, snaps, pop), c, "left")
    )
    years = F.greatest(F.col("vehicle_age_months") / 12.0, F.lit(0.25))
    since = months_between(F.col("snapshot_date"), F.col("_last_service"))
    df = df.withColumns(
        {
            "has_survey": F.when(F.col("nps_latest").isNotNull(), 1.0).otherwise(0.0),
            "months_since_service": F.coalesce(since, F.lit(NEVER)),
            "km_per_year": F.coalesce(F.col("odometer_km") / years, F.lit(-1.0)),
            "odometer_km": F.coalesce("odometer_km", F.lit(-1)),
            "months_to_maturity": F.coalesce("months_to_maturity", F.lit(NEVER)),
            "nps_latest": F.coalesce("nps_latest", F.lit(-1.0)),
            "sentiment_avg": F.coalesce("sentiment_avg", F.lit(0.0)),
        }
    ).fillna(
        0.0,
        subset=[
            "finance_active",
            "is_lease",
            "is_balloon",
            "visits_12m",
            "visits_36m",
            "spend_36m",
            "purchases",
        ],
    )
    return df.select(*KEYS, "acquired_date", *[F.col(f).cast("double").alias(f) for f in FEATURES])


# ----------------------------------------------------------------------------- labels


def with_renewal_label(df: DataFrame, inp: Inputs, horizon_months: int) -> DataFrame:
    """1 when the customer buys another vehicle within ``horizon_months`` after the
    snapshot (a sale dated in (snapshot, snapshot + horizon])."""
    buys = inp.sales.select("customer_id", F.col("vin").alias("_new_vin"), "sale_date")
    window_end = F.add_months(F.col("snapshot_date"), horizon_months)
    hit = (
        df.select(*KEYS)
        .join(buys, "customer_id")
        .filter(
            (F.col("sale_date") > F.col("snapshot_date"))
            & (F.col("sale_date") <= window_end)
            & (F.col("_new_vin") != F.col("vin"))
        )
        .select(*KEYS)
        .distinct()
        .withColumn("label", F.lit(1.0))
    )
    return df.join(hit, list(KEYS), "left").fillna(0.0, subset=["label"])


def with_churn_label(df: DataFrame, inp: Inputs, horizon_months: int) -> DataFrame:
    """1 when neither the vehicle nor any repair order of the customer comes back to the
    dealer network within ``horizon_months`` after the snapshot."""
    window_end = F.add_months(F.col("snapshot_date"), horizon_months)

    def returned(on: str) -> DataFrame:
        visits = inp.service.filter(F.col(on).isNotNull()).select(on, "open_date")
        return (
            df.select(*KEYS)
            .join(visits, on)
            .filter(
                (F.col("open_date") > F.col("snapshot_date")) & (F.col("open_date") <= window_end)
            )
            .select(*KEYS)
        )

    back = (
        returned("vin")
        .unionByName(returned("customer_id"))
        .distinct()
        .withColumn("_back", F.lit(True))
    )
    return (
        df.join(back, list(KEYS), "left")
        .withColumn("label", F.when(F.col("_back"), 0.0).otherwise(1.0))
        .drop("_back")
    )
