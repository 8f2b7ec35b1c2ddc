"""Clustering with steward overrides and the split of suspicious components."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.config import IdentityConfig
from c360.identity.fs import person_settings
from c360.identity.resolve import MATCH_COLUMNS, cluster, find_links

LINKS = (
    "record_key_l string, record_key_r string, party_type string, method string, "
    "rules array<string>, match_probability double, match_weight double, "
    "weights map<string,double>, status string, veto_reasons array<string>"
)


def link(a: str, b: str, weight: float | None = None, status: str = "accepted") -> tuple:
    method = "rule" if weight is None else "probabilistic"
    rules = ["email_initials"] if weight is None else None
    return (
        a,
        b,
        "person",
        method,
        rules,
        1.0 if weight is None else 0.999,
        weight,
        None,
        status,
        None,
    )


def comps(df: DataFrame) -> dict[str, tuple[str, bool]]:
    return {r.uid: (r.component, r.flagged) for r in df.collect()}


def test_split_overrides_and_birth_date_conflicts(spark: SparkSession) -> None:
    d = dt.date
    vertices = spark.createDataFrame(
        [
            ("a", None),
            ("b", None),
            ("c", None),
            ("d", None),
            ("e", None),
            ("f", None),
            ("x", None),
            ("y", None),
            ("z", None),
            ("p", d(1980, 1, 1)),
            ("q", None),
            ("r", d(1990, 5, 5)),
            ("m", None),
            ("n", None),
            ("v", None),
            ("w", None),
        ],
        "uid string, birth_date date",
    )
    links = spark.createDataFrame(
        [
            # two strong triangles bridged by one weak link: too big at 6 > 4
            link("a", "b"),
            link("b", "c"),
            link("c", "d", 5.0),
            link("d", "e", 25.0),
            link("e", "f", 25.0),
            link("d", "f", 25.0),
            # a steward says x and z are different, but rule links chain them
            link("x", "y"),
            link("y", "z"),
            # two birth dates ten years apart, joined through a weak link
            link("p", "q", 8.0),
            link("q", "r", 30.0),
            # a vetoed link does not join
            link("v", "w", 40.0, status="vetoed"),
        ],
        LINKS,
    )
    must = spark.createDataFrame([("n", "m")], "uid_a string, uid_b string")
    must_not = spark.createDataFrame([("z", "x")], "uid_a string, uid_b string")
    conf = IdentityConfig(max_cluster_size=4, min_split_weight=10.0)
    got = comps(cluster(vertices, links, conf, must, must_not))
    assert got == {
        "a": ("a", False),
        "b": ("a", False),
        "c": ("a", False),
        "d": ("d", False),
        "e": ("d", False),
        "f": ("d", False),
        # strong links still hold x and z together: kept, flagged for a steward
        "x": ("x", True),
        "y": ("x", True),
        "z": ("x", True),
        "p": ("p", False),
        "q": ("q", False),
        "r": ("q", False),
        "m": ("m", False),
        "n": ("m", False),
        "v": ("v", False),
        "w": ("w", False),
    }


def test_names_shared_past_max_name_block_are_no_block_of_their_own(spark: SparkSession) -> None:
    """Three records agree only on the (sorted) name; one has it swapped, one shouts it."""
    types = {"birth_date": "date"}
    schema = ", ".join(f"{c} {types.get(c, 'string')}" for c in ("uid", *MATCH_COLUMNS))
    blank = dict.fromkeys(MATCH_COLUMNS)

    def person(uid: str, given: str | None, family: str | None, email: str, postal: str):
        row = {**blank, "party_type": "person", "given_name": given, "family_name": family}
        return (uid, *{**row, "email": email, "postal_code": postal}.values())

    df = spark.createDataFrame(
        [
            person("sales:1", "Ana", "Pérez", "a@x.es", "28001"),
            person("service:2", "Perez", "ana", "b@y.es", "08001"),  # swapped
            person("leads:3", " ANA ", "PÉREZ", "c@z.es", "41001"),
            person("leads:4", None, None, "d@w.es", "28001"),  # no name at all
        ],
        schema,
    )
    model = person_settings().create_settings_dict("duckdb")  # DuckDB: no Spark job per step

    def scored_pairs(max_name_block: int | None) -> set[tuple[str, str]]:
        conf = IdentityConfig(threshold=0.0, max_name_block=max_name_block, engine="duckdb")
        links = find_links(spark, df, conf, model=model).links
        probabilistic = links.filter(F.col("method") == "probabilistic").collect()
        return {(r.record_key_l, r.record_key_r) for r in probabilistic}

    trio = {("sales:1", "service:2"), ("leads:3", "sales:1"), ("leads:3", "service:2")}
    assert {tuple(sorted(p)) for p in scored_pairs(None)} == {tuple(sorted(p)) for p in trio}
    assert scored_pairs(2) == set()  # three share the name: no block, nothing else agrees
