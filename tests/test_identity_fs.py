"""Fellegi-Sunter scoring through Splink with a fixed model: explainable pair weights."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
import splink.comparison_library as cl
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from splink import SettingsCreator, block_on

from c360.errors import ModelError
from c360.identity.fs import (
    Engine,
    dialect_of,
    for_dialect,
    in_dialect,
    person_settings,
    predict,
    rounded,
    stable_model,
    with_name_block_capped,
)

SCHEMA = (
    "uid string, given_key string, family_key string, birth_date date, email string, phone string"
)


def fixed_model() -> SettingsCreator:
    def exact(col: str, m: float, u: float):
        return cl.ExactMatch(col).configure(m_probabilities=[m, 1 - m], u_probabilities=[u, 1 - u])

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        probability_two_random_records_match=0.01,
        comparisons=[
            exact("given_key", 0.9, 0.01),
            exact("family_key", 0.9, 0.01),
            exact("birth_date", 0.95, 0.001),
            exact("email", 0.8, 0.0001),
            exact("phone", 0.8, 0.001),
        ],
        blocking_rules_to_generate_predictions=[block_on("phone"), block_on("email")],
        retain_intermediate_calculation_columns=True,
    )


def test_pairs_are_scored_and_explained(spark: SparkSession) -> None:
    d = dt.date(1980, 2, 1)
    df = spark.createDataFrame(
        [
            ("sales:1", "ana", "garcia", d, "ana@x.es", "+34612345678"),
            ("service:7", "ana", "garcia", None, None, "+34612345678"),
            ("sales:2", "luis", "garcia", None, None, "+34612345678"),  # her husband
            ("leads:9", None, None, None, None, None),  # nothing to block on
        ],
        SCHEMA,
    )
    pairs = {
        (r.uid_l, r.uid_r): r for r in predict(spark, df, fixed_model(), threshold=0.0).collect()
    }
    assert set(pairs) == {
        ("sales:1", "service:7"),
        ("sales:1", "sales:2"),
        ("sales:2", "service:7"),
    }
    same = pairs[("sales:1", "service:7")]
    husband = pairs[("sales:1", "sales:2")]
    assert same.match_probability > 0.99 > husband.match_probability
    # the explanation: one weight per field, and with the prior they add up to the total
    assert set(same.weights) == {"given_key", "family_key", "birth_date", "email", "phone"}
    assert same.weights["given_key"] == math.log2(0.9 / 0.01)
    assert same.weights["birth_date"] == 0.0  # NULL on one side: no evidence either way
    assert husband.weights["given_key"] == math.log2(0.1 / 0.99)
    prior = math.log2(0.01 / 0.99)
    assert abs(prior + sum(same.weights.values()) - same.match_weight) < 1e-9


def test_trained_parameters_are_rounded_so_task_order_noise_vanishes() -> None:
    # two EM results that differ only in the last bits (sums in another task order)
    a = {"p": 0.0123456789012345, "levels": [{"m": 0.9000000000000001, "label": "exact"}]}
    b = {"p": 0.0123456789012346, "levels": [{"m": 0.9, "label": "exact"}]}
    assert a != b
    assert (
        rounded(a) == rounded(b) == {"p": 0.01234567890, "levels": [{"m": 0.9, "label": "exact"}]}
    )
    assert rounded({"n": None, "k": 3, "s": "x", "tiny": 1.23456789012e-300}) == {
        "n": None,
        "k": 3,
        "s": "x",
        "tiny": 1.234567890e-300,
    }
    # what is stored: no random linker name either (two trainings, two names)
    assert stable_model({**a, "linker_uid": "s8rgzd3d"}) == stable_model(
        {**b, "linker_uid": "et0xqtcp"}
    )
    assert "linker_uid" not in stable_model({**a, "linker_uid": "s8rgzd3d"})


def trained(settings: dict) -> dict:
    """``settings`` with parameters as EM might leave them: each level down the list is
    weaker evidence (lower m, higher u); the last, "all other", level is against."""
    out = json.loads(json.dumps(settings))
    out["probability_two_random_records_match"] = 0.001
    for comparison in out["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for k, level in enumerate(levels[:-1]):
            level["m_probability"] = 0.8 / 2**k
            level["u_probability"] = 0.0005 * 4**k
        levels[-1]["m_probability"] = 0.05
        levels[-1]["u_probability"] = 0.95
    return out


PERSONS = (
    "uid string, given_key string, family_key string, full_name_key string, name_lo string, "
    "name_hi string, birth_date date, email string, phone string, postal_code string, "
    "street string, vin string"
)


def person(uid, given, family, born, email, phone, postal, street, vin=None) -> tuple:
    names = sorted(n for n in (given, family) if n)
    both = given is not None and family is not None
    return (
        uid,
        given,
        family,
        f"{given} {family}" if both else None,
        names[0] if both else None,
        names[-1] if both else None,
        born,
        email,
        phone,
        postal,
        street,
        vin,
    )


def test_duckdb_scores_the_same_pairs_and_weights_as_spark(spark: SparkSession) -> None:
    d = dt.date(1980, 2, 1)
    df = spark.createDataFrame(
        [
            person("sales:1", "ana", "garcia", d, "ana@x.es", "+34612345678", "28001", "mayor 5"),
            person("service:7", "anna", "garcia", d, "ana@x.es", None, "28001", "c mayor 5"),
            person("sales:2", "luis", "garcia", None, None, "+34612345678", "28001", "mayor 5"),
            person("leads:4", "ana", "garcia", dt.date(1980, 1, 2), None, None, "08002", None),
            person("leads:9", None, None, None, None, None, None, None),  # nothing to block on
        ],
        PERSONS,
    )
    on_spark = trained(person_settings().create_settings_dict("spark"))
    on_duckdb = for_dialect(on_spark, "duckdb")
    assert (dialect_of(on_spark), dialect_of(on_duckdb)) == ("spark", "duckdb")
    assert in_dialect(on_spark, "spark") is on_spark
    # the parameters travel, the SQL is rewritten, and the way back is the same model
    back = for_dialect(on_duckdb, "spark")
    assert back["comparisons"] == on_spark["comparisons"]

    def scored(model: dict, engine: Engine) -> dict:
        out = predict(spark, df, model, threshold=0.0, engine=engine)
        return {(r.uid_l, r.uid_r): r for r in out.collect()}

    a = scored(on_spark, Engine("spark"))
    b = scored(on_duckdb, Engine("duckdb", "512MB"))
    assert (
        set(a)
        == set(b)
        == {
            ("sales:1", "service:7"),
            ("sales:1", "sales:2"),
            ("sales:2", "service:7"),
            ("leads:4", "sales:1"),  # the same full name, nothing else: blocked on it
        }
    )
    for pair in a:
        assert abs(a[pair].match_weight - b[pair].match_weight) < 1e-9, pair
        assert set(a[pair].weights) == set(b[pair].weights), pair
        for field, w in a[pair].weights.items():
            assert abs(w - b[pair].weights[field]) < 1e-9, (pair, field)
        assert (a[pair].email_l, a[pair].street_r) == (b[pair].email_l, b[pair].street_r)
    assert a[("sales:1", "service:7")].match_probability > 0.99


def test_a_stored_model_that_no_longer_fits_the_comparisons_is_refused() -> None:
    model = trained(person_settings().create_settings_dict("spark"))
    model["comparisons"][0]["comparison_levels"].pop(1)
    with pytest.raises(ModelError, match=r"ops\.identity_models.*model_json"):
        for_dialect(model, "duckdb")


def test_the_name_block_skips_names_shared_by_more_records_than_the_cap(
    spark: SparkSession,
) -> None:
    rows = [
        ("a1", "garcia", "maria"),
        ("a2", "garcia", "maria"),
        ("a3", "garcia", "maria"),  # a third 'maría garcía': over a cap of 2
        ("b1", "lopez", "pilar"),
        ("b2", "lopez", "pilar"),  # two: kept
        ("c1", "ruiz", "zoe"),  # alone: kept (blocks nothing)
        ("d1", None, None),  # no name
        ("d2", None, None),
    ]
    schema = "uid string, name_lo string, name_hi string"
    df = spark.createDataFrame(rows, schema)
    got = with_name_block_capped(df, 2)
    expected = spark.createDataFrame(
        [(u, None, None) if u.startswith("a") else (u, lo, hi) for u, lo, hi in rows], schema
    )
    assert_df_equality(got, expected, ignore_row_order=True)
    assert_df_equality(with_name_block_capped(df, None), df)
    assert_df_equality(with_name_block_capped(df, 3), df, ignore_row_order=True)
