"""Household and steward guards on scored pairs."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from c360.identity.guards import GuardConfig, apply_guards

SCHEMA = (
    "uid_l string, uid_r string, given_key_l string, given_key_r string, "
    "family_key_l string, family_key_r string, birth_date_l date, birth_date_r date"
)
G = "garcia"
D = dt.date


def test_vetoes_with_reasons(spark: SparkSession) -> None:
    pairs = spark.createDataFrame(
        [
            ("a", "b", "ana", "anita", G, G, None, None),  # diminutive: similar enough
            ("a", "i", "ana", G, G, "ana", None, None),  # given and family swapped
            ("a", "c", "ana", "luis", G, G, None, None),  # household: different person
            ("a", "j", "ana", "luis", G, None, None, None),  # no family name to swap with
            # typo + day/month swap
            ("a", "d", "antonio", "anonio", G, G, D(1980, 2, 1), D(1980, 1, 2)),
            ("a", "e", "ana", "ana", G, G, D(1980, 2, 1), D(1992, 6, 18)),  # mother, daughter
            ("a", "f", None, "ana", G, G, D(1980, 2, 1), D(1980, 2, 11)),  # one-character typo
            ("g", "a", "ana", "ana", G, G, None, None),  # a steward said no (either order)
            ("a", "h", None, None, None, None, None, None),  # nothing to hold it apart
        ],
        SCHEMA,
    )
    must_not = spark.createDataFrame([("a", "g")], "uid_a string, uid_b string")
    g = apply_guards(pairs, GuardConfig(), must_not)
    assert sorted(r.uid_r for r in g.accepted.collect()) == ["b", "d", "f", "h", "i"]
    vetoed = {(r.uid_l, r.uid_r): r.veto_reasons for r in g.vetoed.collect()}
    assert vetoed == {
        ("a", "c"): ["different_given_names"],
        ("a", "j"): ["different_given_names"],
        ("a", "e"): ["conflicting_birth_dates"],
        ("g", "a"): ["must_not_link"],
    }


def test_rule_links_get_both_sides_for_the_guards(spark: SparkSession) -> None:
    from c360.identity.guards import with_sides

    records = spark.createDataFrame(
        [("a", "ana", G, D(1980, 2, 1)), ("c", "luis", G, None), ("b", "ana", None, None)],
        "uid string, given_key string, family_key string, birth_date date",
    )
    links = spark.createDataFrame(
        [("a", "c", "phone_family_initial"), ("a", "b", "email_and_initial")],
        "uid_l string, uid_r string, rule string",
    )
    sided = with_sides(links, records, ["given_key", "family_key", "birth_date"])
    g = apply_guards(sided, GuardConfig())
    assert [(r.uid_l, r.uid_r, r.rule) for r in g.accepted.collect()] == [
        ("a", "b", "email_and_initial")
    ]
    assert [r.veto_reasons for r in g.vetoed.collect()] == [["different_given_names"]]
