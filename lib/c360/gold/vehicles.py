"""Vehicles as gold entities: ``gold.vehicles`` (one row per VIN, its life as of the run)
and ``gold.vehicle_owners`` (who held it, when, on what evidence), so an analyst reads a
vehicle's 0-15-year life without joining silver.

Both come from the frames the customer 360 already builds (``owned_vehicles``: every
(customer, VIN) with its facts and the current owner's lifecycle stage), so a vehicle's
stage here is the stage the customer's 360 shows."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from c360.columns import to_schema, with_run
from c360.gold import lifecycle
from c360.schemas import gold as G


def vehicle_owners(owned: DataFrame, as_of: dt.date, run_id: str) -> DataFrame:
    """One row per (VIN, customer): the period starts at the customer's acquisition and
    ends at the next owner's; a previous owner with no later owner (the car replaced by a
    newer one) ends at its last evidence."""
    by_vin = Window.partitionBy("vin").orderBy("acquired_date", "customer_id")
    next_start = F.lead("acquired_date").over(by_vin)
    end = F.when(F.col("ownership") == "current", F.lit(None).cast("date")).otherwise(
        F.coalesce(next_start, F.col("last_evidence"))
    )
    return (
        owned.select(
            "vin",
            "customer_id",
            "ownership",
            F.col("acquired_date").alias("start_date"),
            end.alias("end_date"),
            F.col("acquired_basis").alias("source"),
            "last_evidence",
        )
        .transform(with_run, as_of, run_id)
        .transform(to_schema, G.VEHICLE_OWNERS)
    )


def _first_sale_dealer(sales: DataFrame) -> DataFrame:
    first = F.min_by("dealer_code", F.struct("sale_date", "sale_id"))
    return sales.groupBy("vin").agg(first.alias("selling_dealer_code"))


def _servicing_dealer(service: DataFrame, as_of: dt.date) -> DataFrame:
    """The dealer with the most visits up to ``as_of`` (ties: the latest visit, then code)."""
    visits = (
        service.filter(F.col("vin").isNotNull() & (F.col("open_date") <= F.lit(as_of)))
        .groupBy("vin", "dealer_code")
        .agg(F.count(F.lit(1)).alias("n"), F.max("open_date").alias("last"))
    )
    best = F.max_by("dealer_code", F.struct("n", "last", "dealer_code"))
    return visits.groupBy("vin").agg(
        best.alias("servicing_dealer_code"), F.sum("n").cast("int").alias("service_visits")
    )


def vehicles_table(
    owned: DataFrame,
    silver_vehicles: DataFrame,
    sales: DataFrame,
    service: DataFrame,
    km: DataFrame,
    finance: DataFrame,
    insurance: DataFrame,
    connected: DataFrame,
    warranty_km: int,
    as_of: dt.date,
    run_id: str,
) -> DataFrame:
    """One row per VIN that silver knows or a customer holds: the facts as of the run, and
    the current (else the latest) owner's warranty and lifecycle stage."""
    holder = F.max_by(
        F.struct("warranty_end", "in_warranty", "stage", "stage_reason"),
        F.struct(F.col("ownership") == "current", "acquired_date", "customer_id"),
    )
    owners = owned.groupBy("vin").agg(
        holder.alias("_h"),
        F.count(F.lit(1)).cast("int").alias("owners"),
        F.max(F.col("ownership") == "current").alias("has_current_owner"),
    )
    v = silver_vehicles.select(
        "vin", "model", "model_year", "trim", "first_sale_date", F.col("warranty_end").alias("_w")
    )
    df = (
        v.join(owners, "vin", "full_outer")  # a VIN known only from a party record too
        .join(_first_sale_dealer(sales), "vin", "left")
        .join(_servicing_dealer(service, as_of), "vin", "left")
        .join(km.drop("last_activity"), "vin", "left")
        .join(finance, "vin", "left")
        .join(insurance, "vin", "left")
        .join(connected, "vin", "left")
    )
    warranty_end = F.coalesce(F.col("_h.warranty_end"), F.col("_w"))
    unowned_warranty = lifecycle.in_warranty(as_of, warranty_end, F.col("latest_km"), warranty_km)
    return (
        df.select(
            "vin",
            "model",
            "model_year",
            "trim",
            "first_sale_date",
            "selling_dealer_code",
            "servicing_dealer_code",
            F.coalesce("service_visits", F.lit(0)).alias("service_visits"),
            "latest_km",
            "latest_km_date",
            "latest_km_source",
            warranty_end.alias("warranty_end"),
            F.coalesce(F.col("_h.in_warranty"), unowned_warranty).alias("in_warranty"),
            "finance_type",
            "finance_active",
            "maturity_date",
            "insurance_status",
            "connected_services",
            F.col("_h.stage").alias("lifecycle_stage"),
            F.col("_h.stage_reason").alias("stage_reason"),
            F.coalesce("owners", F.lit(0)).alias("owners"),
            F.coalesce("has_current_owner", F.lit(False)).alias("has_current_owner"),
        )
        .transform(with_run, as_of, run_id)
        .transform(to_schema, G.VEHICLES)
    )
