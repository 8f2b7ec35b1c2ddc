"""Deterministic identity rules on tiny inline party records (a household, a typo, a company)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession

from c360.identity.cluster import connected_components
from c360.identity.keys import company_key, name_key, with_match_keys
from c360.identity.rules import COMPANY_RULES, PERSON_RULES, deterministic_links

SCHEMA = (
    "uid string, given_name string, family_name string, company_name string, email string, "
    "phone string, vin string, birth_date date, tax_id string, postal_code string"
)
D = dt.date(1980, 2, 1)


def people(spark: SparkSession) -> DataFrame:
    rows = [
        # Ana García in three systems, spelled three ways
        ("sales:1", "Ana", "García", None, "ana@x.es", "+34612345678", "VIN1", D, None, "28001"),
        ("service:7", "ANA", "Garcia", None, None, "+34612345678", "VIN1", None, None, "28001"),
        ("loyalty:3", "Ana", "García López", None, "ana@x.es", None, None, None, None, None),
        # her husband: same landline, same surname, same address, different first name
        ("sales:2", "Luis", "García", None, None, "+34612345678", "VIN2", None, None, "28001"),
        # a messy row: nothing to match on
        ("leads:9", None, None, None, None, None, None, None, None, None),
    ]
    return with_match_keys(spark.createDataFrame(rows, SCHEMA))


def test_keys(spark: SparkSession) -> None:
    df = spark.createDataFrame([("García-López", "ACME, S.L."), (None, "  ")], "n string, c string")
    got = [
        (r.n, r.c)
        for r in df.select(name_key("n").alias("n"), company_key("c").alias("c")).collect()
    ]
    assert got == [("garcialopez", "acme"), (None, None)]
    damaged = spark.createDataFrame(
        [("Reparto Garcías.l.",), ("Frutas Lozano S..l",), ("Talleres Ruiz, SLU",)], "c string"
    )
    assert [r.k for r in damaged.select(company_key("c").alias("k")).collect()] == [
        "repartogarci",  # one deletion from 'repartogarcia': the fuzzy rule still finds it
        "frutaslozano",
        "talleresruiz",
    ]


def test_company_names_equal_up_to_a_typo_link(spark: SparkSession) -> None:
    from c360.identity.rules import company_name_links

    rows = [
        ("c1", None, None, "Talleres Málaga S.L.", None, None, None, None, None, "29001"),
        ("c2", None, None, "TALLERES MALGAA SL", None, None, None, None, None, None),
        ("c3", None, None, "Talleres Malaga", None, None, "VIN9", None, None, "29001"),
        # same name, two cities and two tax ids: only same-city records link
        ("d1", None, None, "Frutas Oviedo SA", None, None, None, None, "A1", "33001"),
        ("d2", None, None, "Frutas Oviedo", None, None, None, None, "A2", "08001"),
        ("d3", None, None, "Frutas Ovideo", None, None, None, None, None, "33001"),
        ("d4", None, None, "Frutas Oviedo", None, None, None, None, None, None),
        ("e1", None, None, "ACME", None, None, None, None, None, None),  # too short to fuzz
        ("e2", None, None, "ACMA", None, None, None, None, None, None),
        ("n1", None, None, None, None, None, None, None, None, None),
    ]
    df = with_match_keys(spark.createDataFrame(rows, SCHEMA))
    links = {(r.uid_l, r.uid_r) for r in company_name_links(df).collect()}
    assert links == {("c1", "c2"), ("c1", "c3"), ("d1", "d3")}


def test_match_keys_fold_nicknames_and_swapped_names(spark: SparkSession) -> None:
    rows = [
        ("a", "Charo", "Peña", None),
        ("b", "PEÑA", "Rosario", None),  # swapped, upper case
        ("c", "Mike", None, "Transportes Gómez, S.L."),
        ("d", None, None, None),
    ]
    df = with_match_keys(
        spark.createDataFrame(
            rows, "uid string, given_name string, family_name string, company_name string"
        )
    )
    got = {
        r.uid: (r.given_key, r.name_lo, r.name_hi, r.initials, r.company_key) for r in df.collect()
    }
    assert got == {
        "a": ("rosario", "pena", "rosario", "pr", None),
        "b": ("pena", "pena", "rosario", "pr", None),
        "c": ("miguel", None, None, None, "transportesgomez"),
        "d": (None, None, None, None, None),
    }


def test_person_rules_link_records_but_not_household(spark: SparkSession) -> None:
    df = people(spark)
    out = deterministic_links(df, PERSON_RULES)
    links = {(r.uid_l, r.uid_r, r.rule) for r in out.links.collect()}
    assert ("loyalty:3", "sales:1", "email_initials") in links
    assert ("sales:1", "service:7", "phone_family_initial") in links
    assert ("sales:1", "service:7", "phone_initials") in links
    assert ("sales:1", "service:7", "vin_full_name") in links
    assert not any("sales:2" in (a, b) for a, b, _ in links)  # the husband stays apart
    comps = connected_components(
        df.select("uid").withColumnRenamed("uid", "id"),
        out.links.select("uid_l", "uid_r").toDF("src", "dst"),
    )
    by_id = {r.id: r.component for r in comps.collect()}
    assert by_id["sales:1"] == by_id["service:7"] == by_id["loyalty:3"] == "loyalty:3"
    assert by_id["sales:2"] == "sales:2" and by_id["leads:9"] == "leads:9"


def test_shared_value_groups_link_nothing(spark: SparkSession) -> None:
    rows = [
        (f"service:{i}", "Ana", "Ruiz", None, "taller@dealer.es", None, None, None, None, None)
        for i in range(5)
    ]
    df = with_match_keys(spark.createDataFrame(rows, SCHEMA))
    out = deterministic_links(df, PERSON_RULES, max_group_size=3)
    assert out.links.count() == 0
    assert [(r.rule, r.group_size) for r in out.oversized.collect()] == [("email_initials", 5)]


def test_company_rules(spark: SparkSession) -> None:
    rows = [
        ("sales:5", None, None, "TRANSPORTES GÓMEZ S.L.", None, None, None, None, "B123", "39035"),
        ("finance:8", None, None, "Transportes Gomez, SL", None, None, None, None, None, "39035"),
        ("insurance:4", None, None, "Transportes Gómez SA", None, None, None, None, "B123", None),
    ]
    df = with_match_keys(spark.createDataFrame(rows, SCHEMA))
    links = {
        (r.uid_l, r.uid_r, r.rule) for r in deterministic_links(df, COMPANY_RULES).links.collect()
    }
    assert links == {
        ("insurance:4", "sales:5", "tax_id"),
        ("finance:8", "sales:5", "company_name_postal_code"),
    }
    assert deterministic_links(df, COMPANY_RULES, max_group_size=None).oversized.count() == 0
