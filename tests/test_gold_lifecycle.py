"""Every lifecycle rule at its boundaries, and the SCD2 history against a real Delta table."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.config import LifecycleConfig
from c360.errors import ConfigError, HistoryOrderError
from c360.gold.lifecycle import (
    check_priority,
    customer_stage_rows,
    update_history,
    with_vehicle_stage,
)
from c360.lake import Lake

AS_OF = dt.date(2026, 6, 15)
D = dt.date
CONF = LifecycleConfig()  # 12 / 24 months, renewal 6 months / 7 years / 150,000 km, 15 years

VEHICLE_COLS = (
    "case string, acquired_date date, first_registration date, latest_km int, "
    "warranty_end date, finance_type string, finance_active boolean, maturity_date date"
)


def _stages(spark: SparkSession, rows: list[tuple]) -> dict[str, tuple[str, str]]:
    df = spark.createDataFrame(rows, VEHICLE_COLS)
    out = with_vehicle_stage(df, CONF, AS_OF, warranty_km=100_000).collect()
    return {r.case: (r.stage, r.stage_reason) for r in out}


def test_vehicle_stage_boundaries(spark: SparkSession) -> None:
    w_open = D(2027, 1, 1)  # warranty still running
    rows = [
        # exactly 12 months owned is no longer the first year; one day less still is
        ("12_months", D(2025, 6, 15), D(2025, 6, 15), 9_000, w_open, None, None, None),
        ("12_months_less_a_day", D(2025, 6, 16), D(2025, 6, 16), 9_000, w_open, None, None, None),
        ("24_months", D(2024, 6, 15), D(2024, 6, 15), 30_000, w_open, None, None, None),
        # a lease maturing exactly at the end of the 6-month window, and one day after it
        (
            "lease_in",
            D(2023, 1, 1),
            D(2023, 1, 1),
            40_000,
            D(2026, 1, 1),
            "lease",
            True,
            D(2026, 12, 15),
        ),
        (
            "lease_out",
            D(2023, 1, 1),
            D(2023, 1, 1),
            40_000,
            D(2026, 1, 1),
            "lease",
            True,
            D(2026, 12, 16),
        ),
        (
            "lease_paid_off",
            D(2023, 1, 1),
            D(2023, 1, 1),
            40_000,
            D(2026, 1, 1),
            "lease",
            False,
            D(2026, 9, 1),
        ),
        (
            "matured_today",
            D(2023, 1, 1),
            D(2023, 1, 1),
            40_000,
            D(2026, 1, 1),
            "retail",
            True,
            AS_OF,
        ),
        # seven years old exactly (renewal) and one day short of it (out of warranty)
        ("age_7y", D(2024, 1, 1), D(2019, 6, 15), 60_000, D(2022, 6, 15), None, None, None),
        (
            "age_7y_less_a_day",
            D(2024, 1, 1),
            D(2019, 6, 16),
            60_000,
            D(2022, 6, 16),
            None,
            None,
            None,
        ),
        ("km_renewal", D(2023, 1, 1), D(2023, 1, 1), 150_000, D(2026, 1, 1), None, None, None),
        # warranty: its last day is in; 100,000 km ends it early; no km reading keeps it
        ("warranty_last_day", D(2024, 1, 1), D(2024, 1, 1), 50_000, AS_OF, None, None, None),
        ("warranty_km", D(2024, 1, 1), D(2024, 1, 1), 100_000, w_open, None, None, None),
        ("warranty_no_km", D(2024, 1, 1), D(2024, 1, 1), None, w_open, None, None, None),
        # 15 years old is beyond the lifecycle even if bought last month (used)
        ("age_15y", D(2026, 5, 1), D(2011, 6, 15), 200_000, D(2014, 6, 15), None, None, None),
        # messy: no registration date, no km, no warranty end
        ("unknowns", D(2024, 1, 1), None, None, None, None, None, None),
    ]
    got = _stages(spark, rows)
    expected = {
        "12_months": "brand_commitment",
        "12_months_less_a_day": "first_year",
        "24_months": "after_sales_in_warranty",
        "lease_in": "renewal",
        "lease_out": "after_sales_out_of_warranty",
        "lease_paid_off": "after_sales_out_of_warranty",
        "matured_today": "renewal",
        "age_7y": "renewal",
        "age_7y_less_a_day": "after_sales_out_of_warranty",
        "km_renewal": "renewal",
        "warranty_last_day": "after_sales_in_warranty",
        "warranty_km": "after_sales_out_of_warranty",
        "warranty_no_km": "after_sales_in_warranty",
        "age_15y": "beyond_lifecycle",
        "unknowns": "after_sales_out_of_warranty",
    }
    assert {k: v[0] for k, v in got.items()} == expected
    assert got["lease_in"][1] == "lease contract matures 2026-12-15 (within 6 months)"
    assert got["12_months_less_a_day"][1] == "owned 11 months (< 12)"
    assert got["age_7y"][1] == "vehicle 84 months old (>= 7 years)"


def test_thresholds_come_from_config(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", D(2025, 1, 1), D(2025, 1, 1), 5_000, D(2028, 1, 1), None, None, None)],
        VEHICLE_COLS,
    )
    longer = LifecycleConfig(first_year_months=18)
    assert with_vehicle_stage(df, CONF, AS_OF, 100_000).first().stage == "brand_commitment"
    assert with_vehicle_stage(df, longer, AS_OF, 100_000).first().stage == "first_year"


def test_unknown_stage_in_priority_is_a_config_error() -> None:
    check_priority(list(CONF.stage_priority))
    with pytest.raises(ConfigError, match=r"stage_priority: unknown stage\(s\) renewals"):
        check_priority(["order", "renewals"])


LEAD_COLS = (
    "customer_id string, lead_id string, created_at timestamp, lead_type string, "
    "lead_status string, model_of_interest string, expected_delivery date, _is_deleted boolean"
)


def _ts(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(10))


def test_customer_level_order_and_lead_rules(spark: SparkSession) -> None:
    leads = spark.createDataFrame(
        [
            (
                "c_order",
                "L1",
                _ts(D(2026, 6, 1)),
                "order",
                "ordered",
                "Qashqai",
                D(2026, 7, 1),
                False,
            ),
            ("c_order", "L2", _ts(D(2026, 6, 2)), "lead", "open", "Juke", None, False),
            ("c_delivered", "L3", _ts(D(2026, 5, 1)), "order", "delivered", "Leaf", None, False),
            (
                "c_lead_edge",
                "L4",
                _ts(AS_OF - dt.timedelta(days=120)),
                "quote",
                "open",
                None,
                None,
                False,
            ),
            (
                "c_lead_old",
                "L5",
                _ts(AS_OF - dt.timedelta(days=121)),
                "lead",
                "open",
                "Juke",
                None,
                False,
            ),
            ("c_bought_since", "L6", _ts(D(2026, 5, 1)), "lead", "open", "Juke", None, False),
            ("c_bought_before", "L7", _ts(D(2026, 5, 1)), "lead", "open", "Ariya", None, False),
            ("c_future", "L8", _ts(D(2026, 6, 16)), "lead", "open", "Juke", None, False),
            ("c_deleted", "L9", _ts(D(2026, 6, 1)), "lead", "open", "Juke", None, True),
            ("c_none", "L10", None, None, None, None, None, False),
        ],
        LEAD_COLS,
    )
    bought = spark.createDataFrame(
        [("c_bought_since", D(2026, 5, 20)), ("c_bought_before", D(2020, 1, 1))],
        "customer_id string, acquired_date date",
    )
    got = customer_stage_rows(leads, bought, CONF, AS_OF)
    expected = spark.createDataFrame(
        [
            ("c_bought_before", "lead_management", "Ariya"),
            ("c_lead_edge", "lead_management", None),
            ("c_order", "order", "Qashqai"),
        ],
        "customer_id string, stage string, model string",
    )
    assert_df_equality(
        got.select("customer_id", "stage", "model"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )
    reason = got.filter("customer_id = 'c_order'").first().stage_reason
    assert reason == "ordered Qashqai on 2026-06-01, delivery expected 2026-07-01"


SEG_COLS = "customer_id string, vin string, stage string"


def test_history_is_scd2_and_reruns_change_nothing(spark: SparkSession, tmp_path) -> None:
    lake = Lake(root=str(tmp_path / "lake"))
    name = "gold.lifecycle_history"
    day1 = spark.createDataFrame(
        [("c1", "V1", "first_year"), ("c2", None, "lead_management"), ("c3", "V3", "renewal")],
        SEG_COLS,
    )
    assert update_history(spark, lake, name, day1, D(2026, 1, 1), "r1") == 3
    version = lake.delta(spark, name).history(1).first().version
    assert update_history(spark, lake, name, day1, D(2026, 1, 1), "r1b") == 0
    assert lake.delta(spark, name).history(1).first().version == version

    # c1 ages into brand commitment, c2 buys (lead row goes, vehicle row comes), c3 unchanged
    day2 = spark.createDataFrame(
        [("c1", "V1", "brand_commitment"), ("c2", "V2", "first_year"), ("c3", "V3", "renewal")],
        SEG_COLS,
    )
    assert update_history(spark, lake, name, day2, D(2026, 2, 1), "r2") == 4
    got = lake.read(spark, name).select(
        "customer_id", "vin", "stage", "valid_from", "valid_to", "is_current", "previous_stage"
    )
    expected = spark.createDataFrame(
        [
            ("c1", "V1", "first_year", D(2026, 1, 1), D(2026, 2, 1), False, None),
            ("c1", "V1", "brand_commitment", D(2026, 2, 1), None, True, "first_year"),
            ("c2", None, "lead_management", D(2026, 1, 1), D(2026, 2, 1), False, None),
            ("c2", "V2", "first_year", D(2026, 2, 1), None, True, None),
            ("c3", "V3", "renewal", D(2026, 1, 1), None, True, None),
        ],
        "customer_id string, vin string, stage string, valid_from date, valid_to date, "
        "is_current boolean, previous_stage string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)

    with pytest.raises(HistoryOrderError, match=r"gold.lifecycle_history: as_of 2026-01-15"):
        update_history(spark, lake, name, day2, D(2026, 1, 15), "r3")
    assert lake.read(spark, name).filter(F.col("is_current")).count() == 3
