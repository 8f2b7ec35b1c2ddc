"""Clustering with steward overrides and the split of suspicious components."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession

from c360.config import IdentityConfig
from c360.identity.resolve import cluster

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
