"""Declarative data-quality rules: YAML in, kept / quarantined / failed out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from c360.errors import ConfigError, DataQualityError
from c360.lake import Lake
from c360.silver.dq import DqContext, apply_checks_and_split, load_rules, raise_on_fail

AS_OF = dt.date(2026, 11, 3)

RULES = """
toy:
  - {name: city_present, check: not_null, columns: [city], severity: drop}
  - {name: km_range, check: range, columns: [km], min: 0, max: 1500000, severity: warn}
  - {name: seen_not_future, check: range, columns: [seen], max: as_of, severity: drop}
  - {name: code_pattern, check: pattern, columns: [code], pattern: "^[A-Z]{2}[0-9]$", severity: warn}
  - {name: kind_allowed, check: allowed, columns: [kind], values: [a, b], severity: drop}
  - {name: email_ok, check: is_true, columns: [email_valid], severity: warn}
  - {name: email_unique, check: unique, columns: [email], severity: warn}
  - {name: dealer_known, check: references, columns: [dealer], ref_table: silver.dealers, ref_column: dealer_code, severity: warn}
  - {name: vip_has_code, check: not_null, columns: [code], where: "kind = 'b'", severity: warn}
"""

SCHEMA = (
    "id string, city string, km int, seen timestamp, code string, kind string, "
    "email_valid boolean, email string, dealer string"
)


def rules_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "dq.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def toy(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("1", "Madrid", 100, dt.datetime(2026, 11, 3, 22, 0), "AB1", "a", True, "a@x.es", "D1"),
            ("2", None, -5, None, "zz", "a", False, "a@x.es", "D9"),  # messy
            ("3", "Vigo", None, dt.datetime(2026, 11, 4, 1, 0), None, "b", None, None, None),
            ("4", "Lugo", 7, None, None, "c", None, "b@x.es", "D1"),
            (None, None, None, None, None, None, None, None, None),
        ],
        SCHEMA,
    )


def context(spark: SparkSession, tmp_path: Path) -> DqContext:
    lake = Lake(root=str(tmp_path / "lake"))
    dealers = spark.createDataFrame([("D1", False)], "dealer_code string, _is_deleted boolean")
    lake.ensure_table(spark, "silver.dealers", dealers.schema)
    dealers.write.format("delta").mode("append").save(lake.path("silver.dealers"))
    return DqContext(spark, lake, "silver.toy", ("id",), AS_OF)


def test_each_severity_and_check(spark: SparkSession, tmp_path: Path) -> None:
    rules = load_rules(rules_file(tmp_path, RULES)).for_table("silver.toy")
    split = apply_checks_and_split(toy(spark), rules, context(spark, tmp_path))
    try:
        counts = {r.rule: r.rows_failed for r in split.results}
        assert {r.rows_checked for r in split.results} == {5}
        assert counts == {
            "city_present": 2,  # row 2 and the all-NULL row
            "km_range": 1,  # -5; NULL passes
            "seen_not_future": 1,  # 01:00 the next day; 22:00 on the run date is fine
            "code_pattern": 1,
            "kind_allowed": 1,
            "email_ok": 1,
            "email_unique": 2,  # ids 1 and 2 share a@x.es
            "dealer_known": 1,  # D9
            "vip_has_code": 1,  # row 3 only: the rule is limited by where
        }
        kept = {r.id: r._dq_warnings for r in split.kept.collect()}
        assert kept == {"1": ["email_unique"]}
        quarantined = {r.id: (r._dq_rules, r._dq_columns) for r in split.quarantined.collect()}
        assert quarantined == {
            "2": (["city_present"], ["city"]),
            "3": (["seen_not_future"], ["seen"]),
            "4": (["kind_allowed"], ["kind"]),
            None: (["city_present"], ["city"]),
        }
        reason = split.quarantined.filter("id = '2'").first()._dq_reason
        assert reason == "city_present: city is missing or could not be parsed"
        raise_on_fail(split)  # no fail rule: nothing raised
    finally:
        split.checked.unpersist()


def test_row_counts_add_up_nothing_dropped_silently(spark: SparkSession, tmp_path: Path) -> None:
    rules = load_rules(rules_file(tmp_path, RULES)).for_table("silver.toy")
    split = apply_checks_and_split(toy(spark), rules, context(spark, tmp_path))
    try:
        assert split.kept.count() + split.quarantined.count() == 5
        assert split.kept.count() == 1 and split.quarantined.count() == 4
    finally:
        split.checked.unpersist()


def test_fail_severity_stops_with_table_rule_and_count(spark: SparkSession, tmp_path: Path) -> None:
    text = "toy:\n  - {name: city_required, check: not_null, columns: [city], severity: fail}\n"
    rules = load_rules(rules_file(tmp_path, text)).for_table("silver.toy")
    split = apply_checks_and_split(toy(spark), rules, context(spark, tmp_path))
    try:
        with pytest.raises(DataQualityError) as err:
            raise_on_fail(split)
    finally:
        split.checked.unpersist()
    msg = str(err.value)
    assert "silver.toy" in msg and "city_required" in msg and "2" in msg and "city" in msg


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("toy:\n  - {name: a, check: sometimes, columns: [x]}\n", "unknown check 'sometimes'"),
        ("toy:\n  - {name: a, check: not_null, columns: [x], severity: panic}\n", "severity"),
        ("toy:\n  - {name: a, check: range, columns: [x]}\n", "needs 'min' or 'max'"),
        ("toy:\n  - {name: a, check: references, columns: [x]}\n", "ref_table"),
        (
            "toy:\n  - {name: a, check: not_null, columns: [x]}\n"
            "  - {name: a, check: not_null, columns: [y]}\n",
            "duplicate rule",
        ),
        ("toy:\n  - {name: a, check: not_null, columns: [x], colour: red}\n", "colour"),
    ],
)
def test_bad_rules_file_names_table_and_rule(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_rules(rules_file(tmp_path, text))
    assert message in str(err.value)
    assert "dq.yaml" in str(err.value)


def test_shipped_rules_load(repo: Path) -> None:
    rules = load_rules(str(repo / "conf" / "dq" / "silver.yaml"))
    assert {"sales", "service_visits", "consent_events"} <= set(rules.tables)
