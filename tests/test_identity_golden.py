"""Survivorship with provenance on a tiny customer seen in four systems."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import DataFrame, SparkSession

from c360.errors import ConfigError
from c360.identity.golden import Survivorship, golden_records

SCHEMA = (
    "customer_id string, source string, source_record_id string, record_date date, "
    "_change_ts timestamp, given_name string, email string, phone string, street string, "
    "postal_code string, city string"
)
D = dt.date


def records(spark: SparkSession) -> DataFrame:
    rows = [
        (
            "C1",
            "sales",
            "1",
            D(2020, 1, 1),
            None,
            "Ana",
            "old@x.es",
            "+34611111111",
            "CALLE MAYOR 5",
            "28001",
            "Madrid",
        ),
        (
            "C1",
            "service",
            "7",
            D(2024, 5, 1),
            None,
            "ANA",
            None,
            "+34622222222",
            "CALLE SOL 1",
            None,
            None,
        ),
        (
            "C1",
            "loyalty",
            "3",
            D(2023, 1, 1),
            None,
            "Anita",
            "new@x.es",
            "+34622222222",
            None,
            None,
            None,
        ),
        ("C1", "leads", "9", None, None, None, None, None, None, None, None),  # a None row
        ("C2", "leads", "4", D(2022, 1, 1), None, None, None, None, None, None, None),
    ]
    return spark.createDataFrame(rows, SCHEMA)


RULES = [
    Survivorship("given_name", "source_priority", sources=["sales", "loyalty"]),
    Survivorship("email", "most_recent"),
    Survivorship("phone", "most_frequent"),
    Survivorship("street", "most_complete", group=["street", "postal_code", "city"]),
]


def test_each_rule_and_provenance(spark: SparkSession) -> None:
    got = {r.customer_id: r for r in golden_records(records(spark), RULES).collect()}
    c1 = got["C1"]
    assert (c1.given_name, c1.email, c1.phone, c1.street, c1.records) == (
        "Ana",  # sales outranks loyalty and service
        "new@x.es",  # loyalty 2023 is newer than sales 2020; service has none
        "+34622222222",  # two records agree
        "CALLE MAYOR 5",  # sales fills street, postal code and city
        4,
    )
    prov = {k: (v.source, v.source_record_id, v.rule) for k, v in c1.provenance.items()}
    assert prov == {
        "given_name": ("sales", "1", "source_priority"),
        "email": ("loyalty", "3", "most_recent"),
        "phone": ("service", "7", "most_frequent"),  # tie on count: the newer record (2024)
        "street": ("sales", "1", "most_complete"),
    }
    c2 = got["C2"]
    assert (c2.given_name, c2.email, c2.provenance) == (None, None, {})


def test_deterministic_for_any_row_order(spark: SparkSession) -> None:
    df = records(spark)
    a = sorted(map(str, golden_records(df, RULES).collect()))
    b = sorted(
        map(str, golden_records(df.orderBy("source_record_id", ascending=False), RULES).collect())
    )
    assert a == b


def test_bad_rule_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown rule 'loudest'"):
        Survivorship("email", "loudest")
    with pytest.raises(ConfigError, match="needs sources"):
        Survivorship("email", "source_priority")
