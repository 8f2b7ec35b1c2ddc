"""Silver domain tables derived from the per-source record tables.

``party_records`` and ``ownerships`` are projections of party-bearing records and are
merged with the same latest-version rule. ``vehicles`` and ``consents`` are aggregates:
they are recomputed only for the VINs and contact points a run touched.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.config import SilverConfig
from c360.io import append_if_empty, read_or_none
from c360.lake import Lake
from c360.schemas import registry as R
from c360.schemas import silver as S
from c360.silver.sources import SourceModel, col

PARTY_TABLE = R.SILVER_PARTY_RECORDS
OWNERSHIPS_TABLE = R.SILVER_OWNERSHIPS
VEHICLES_TABLE = R.SILVER_VEHICLES
CONSENTS_TABLE = R.SILVER_CONSENTS


def _record_date(source: str) -> Column:
    """The date a source record is about (columns need a session, so not a module constant)."""
    return {
        "sales": lambda: F.col("sale_date"),
        "service": lambda: F.col("open_date"),
        "ecommerce": lambda: F.to_date("created_at"),
        "finance": lambda: F.col("start_date"),
        "insurance": lambda: F.col("start_date"),
        "subscriptions": lambda: F.to_date("start_at"),
        "loyalty": lambda: F.col("enrolled_on"),
        "fleet_contacts": lambda: F.col("since"),
    }[source]()


def _ownership_dates(source: str) -> tuple[Column, Column]:
    return {
        "sales": lambda: (F.col("sale_date"), F.lit(None).cast("date")),
        "finance": lambda: (
            F.col("start_date"),
            F.coalesce(F.col("payoff_date"), F.col("maturity_date")),
        ),
        "insurance": lambda: (F.col("start_date"), F.col("end_date")),
        "subscriptions": lambda: (F.to_date("start_at"), F.to_date("end_at")),
    }[source]()


_META = ["_change_ts", "_batch_id", "_source_file", "_row_number", "_run_id"]


def to_party_records(df: DataFrame, model: SourceModel) -> DataFrame:
    """One common-shape row per source record (``schemas.silver.PARTY_RECORDS``)."""
    (key,) = model.key
    return df.select(
        F.lit(model.source).alias("source"),
        F.col(key).alias("source_record_id"),
        *S.PARTY.names,
        col(df, "vin").alias("vin"),
        col(df, "dealer_code").alias("dealer_code"),
        _record_date(model.source).alias("record_date"),
        F.col("_is_deleted").alias("is_deleted"),
        *_META,
    )


def to_ownerships(df: DataFrame, model: SourceModel) -> DataFrame:
    (key,) = model.key
    start, end = _ownership_dates(model.source)
    return df.filter(F.col("vin").isNotNull()).select(
        F.lit(model.source).alias("source"),
        F.col(key).alias("source_record_id"),
        "vin",
        F.lit(model.ownership_role).alias("role"),
        start.alias("start_date"),
        end.alias("end_date"),
        F.col("_is_deleted").alias("is_deleted"),
        *_META,
    )


def _live(lake: Lake, spark: SparkSession, table: str) -> DataFrame | None:
    df = read_or_none(spark, lake, table)
    return None if df is None else df.filter(~F.col("_is_deleted"))


def vehicles_for(
    spark: SparkSession, lake: Lake, vins: DataFrame, conf: SilverConfig, run_id: str
) -> DataFrame:
    """Recompute ``silver.vehicles`` rows for the given VINs from every live source row."""
    vins = vins.select("vin").distinct()
    out = vins

    def only(df: DataFrame | None) -> DataFrame | None:
        return None if df is None else df.join(F.broadcast(vins), "vin", "left_semi")

    sales = only(_live(lake, spark, "silver.sales"))
    if sales is not None:
        by = F.struct("sale_date", "_batch_id", "_source_file", "_row_number")  # unique
        agg = sales.groupBy("vin").agg(
            F.max("vin_valid").alias("vin_valid"),
            F.max_by("model", by).alias("model"),
            F.max_by("model_year", by).alias("model_year"),
            F.max_by("trim", by).alias("trim"),
            F.coalesce(
                F.min(F.when(F.col("new_used") == "new", F.col("sale_date"))), F.min("sale_date")
            ).alias("first_sale_date"),
            F.max("sale_date").alias("last_sale_date"),
            F.count(F.lit(1)).cast("int").alias("sales"),
        )
        out = out.join(agg, "vin", "left")
    service = only(_live(lake, spark, "silver.service_visits"))
    if service is not None:
        by = F.struct("open_date", "_batch_id", "_source_file", "_row_number")
        agg = service.groupBy("vin").agg(
            F.max("open_date").alias("last_service_date"),
            F.count(F.lit(1)).cast("int").alias("service_visits"),
            F.max_by(
                F.struct("odometer_km", "open_date"), F.when(F.col("odometer_km").isNotNull(), by)
            ).alias("_svc_odo"),
        )
        out = out.join(agg, "vin", "left")
    tele = only(_live(lake, spark, "silver.telematics"))
    if tele is not None:
        agg = tele.groupBy("vin").agg(
            F.max_by(
                F.struct("odometer_km", F.to_date("reading_ts").alias("open_date")),
                F.when(
                    F.col("odometer_km").isNotNull(),
                    F.struct("reading_ts", "_source_file", "_row_number"),  # same-second readings
                ),
            ).alias("_tel_odo")
        )
        out = out.join(agg, "vin", "left")
    for name, typ in [
        ("vin_valid", "boolean"),
        ("model", "string"),
        ("model_year", "int"),
        ("trim", "string"),
        ("first_sale_date", "date"),
        ("last_sale_date", "date"),
        ("sales", "int"),
        ("last_service_date", "date"),
        ("service_visits", "int"),
        ("_svc_odo", "struct<odometer_km:int,open_date:date>"),
        ("_tel_odo", "struct<odometer_km:int,open_date:date>"),
    ]:
        if name not in out.columns:
            out = out.withColumn(name, F.lit(None).cast(typ))
    svc_date = F.col("_svc_odo.open_date")
    tel_date = F.col("_tel_odo.open_date")
    use_tel = tel_date.isNotNull() & (svc_date.isNull() | (tel_date > svc_date))
    return out.select(
        "vin",
        "vin_valid",
        "model",
        "model_year",
        "trim",
        "first_sale_date",
        "last_sale_date",
        F.coalesce(F.col("sales"), F.lit(0)).alias("sales"),
        F.add_months(F.col("first_sale_date"), 12 * conf.warranty_years).alias("warranty_end"),
        F.when(use_tel, F.col("_tel_odo.odometer_km"))
        .otherwise(F.col("_svc_odo.odometer_km"))
        .alias("latest_odometer_km"),
        F.when(use_tel, tel_date).otherwise(svc_date).alias("latest_odometer_date"),
        F.when(use_tel, "telematics")
        .when(svc_date.isNotNull(), "service")
        .alias("odometer_source"),
        "last_service_date",
        F.coalesce(F.col("service_visits"), F.lit(0)).alias("service_visits"),
        F.lit(run_id).alias("_run_id"),
    )


def consents_for(spark: SparkSession, lake: Lake, points: DataFrame, run_id: str) -> DataFrame:
    """Latest consent per (contact point, channel) for the given contact points."""
    events = lake.read(spark, "silver.consent_events").filter(
        ~F.col("_is_deleted")
        & F.col("contact_point").isNotNull()
        & F.col("channel").isNotNull()
        & F.col("status").isNotNull()
    )
    events = events.join(
        F.broadcast(points.select("contact_point").distinct()), "contact_point", "left_semi"
    )
    order = F.struct(
        F.coalesce("consent_ts", F.expr("TIMESTAMP'1900-01-01 00:00:00'")), "consent_id"
    )
    latest = F.max_by(
        F.struct(
            "contact_type", "status", "consent_ts", "consent_id", "consent_source", "legal_basis"
        ),
        order,
    )
    agg = events.groupBy("contact_point", "channel").agg(
        latest.alias("l"), F.count(F.lit(1)).cast("int").alias("history_events")
    )
    return agg.select(
        "contact_point",
        "channel",
        "l.contact_type",
        "l.status",
        "l.consent_ts",
        "l.consent_id",
        "l.consent_source",
        "l.legal_basis",
        "history_events",
        F.lit(run_id).alias("_run_id"),
    )


def merge_by_key(
    lake: Lake, spark: SparkSession, table: str, df: DataFrame, key: list[str]
) -> None:
    """Upsert recomputed aggregate rows; rows whose content did not change are left alone."""
    if append_if_empty(spark, lake, table, df):
        return
    cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)
    content = [c for c in df.columns if c not in key and c != "_run_id"]
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in content)
    (
        lake.delta(spark, table)
        .alias("t")
        .merge(df.alias("s"), cond)
        .whenMatchedUpdateAll(condition=changed)
        .whenNotMatchedInsertAll()
        .execute()
    )
