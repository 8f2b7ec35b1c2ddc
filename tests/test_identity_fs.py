"""Fellegi-Sunter scoring through Splink with a fixed model: explainable pair weights."""

from __future__ import annotations

import datetime as dt
import math

import splink.comparison_library as cl
from pyspark.sql import SparkSession
from splink import SettingsCreator, block_on

from c360.identity.fs import predict, rounded

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
