"""Connected components and persistent customer ids on tiny inline graphs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from c360.identity.cluster import COMPONENTS_SCHEMA, connected_components, min_roots
from c360.identity.ids import assign_ids


def frame(spark: SparkSession, rows: list[tuple], schema: str) -> DataFrame:
    return spark.createDataFrame(rows, schema)


# 0: the Spark rounds; 1000: the driver engine (the graphs here are far smaller)
ENGINES = pytest.mark.parametrize("driver_max_edges", [0, 1000], ids=["spark", "driver"])


@ENGINES
def test_components_chain_star_isolated_and_order_free(
    spark: SparkSession, driver_max_edges: int
) -> None:
    vertices = frame(spark, [(v,) for v in "abcdefgh"], "id string")
    edges = [("d", "c"), ("c", "b"), ("b", "a"), ("e", "f"), ("g", "f"), ("h", "h")]
    want = frame(
        spark,
        [
            ("a", "a"),
            ("b", "a"),
            ("c", "a"),
            ("d", "a"),
            ("e", "e"),
            ("f", "e"),
            ("g", "e"),
            ("h", "h"),
        ],
        "id string, component string",
    )
    for order in (edges, list(reversed(edges))):
        got = connected_components(
            vertices,
            frame(spark, order, "src string, dst string"),
            driver_max_edges=driver_max_edges,
        )
        assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)


@ENGINES
def test_long_chain_converges(spark: SparkSession, driver_max_edges: int) -> None:
    n = 200
    vertices = frame(spark, [(f"v{i:04d}",) for i in range(n)], "id string")
    edges = frame(
        spark, [(f"v{i:04d}", f"v{i + 1:04d}") for i in range(n - 1)], "src string, dst string"
    )
    got = connected_components(vertices, edges, driver_max_edges=driver_max_edges)
    assert {r.component for r in got.collect()} == {"v0000"}
    assert got.count() == n


MESSY_EDGES = [
    ("b", "B"),  # byte order: "B" < "a" < "b", so B names this component
    ("a", "b"),
    ("é", "e"),  # "e" < "é" in UTF-8 bytes
    ("ghost", "e"),  # names no vertex: ignored, and "ghost" gets no row
    (None, "z"),  # a NULL end: ignored
    ("z", "z"),  # a self loop
    ("p9", "p2"),  # a zig-zag chain p1..p9 given out of order
    ("p2", "p8"),
    ("p8", "p3"),
    ("p3", "p7"),
    ("p7", "p4"),
    ("p4", "p6"),
    ("p6", "p5"),
    ("p5", "p1"),
]
MESSY_WANT = [
    ("B", "B"),
    ("a", "B"),
    ("b", "B"),
    ("e", "e"),
    ("é", "e"),
    ("z", "z"),
    ("lone", "lone"),
    *[(f"p{i}", "p1") for i in range(1, 10)],
]


def test_engines_agree_on_a_messy_graph(spark: SparkSession) -> None:
    ids = ["B", "a", "b", "e", "é", "z", "lone", None, *[f"p{i}" for i in range(1, 10)]]
    vertices = frame(spark, [(v,) for v in ids], "id string")
    edges = frame(spark, MESSY_EDGES, "src string, dst string")
    want = frame(spark, MESSY_WANT, "id string, component string")
    in_spark = connected_components(vertices, edges, driver_max_edges=0)
    on_driver = connected_components(vertices, edges, driver_max_edges=1000)
    assert_df_equality(in_spark, want, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(on_driver, in_spark, ignore_row_order=True, ignore_nullable=True)


def test_graph_over_the_threshold_runs_in_spark(
    spark: SparkSession, caplog: pytest.LogCaptureFixture
) -> None:
    vertices = frame(spark, [(v,) for v in "abcd"], "id string")
    edges = frame(spark, [("a", "b"), ("b", "c"), ("d", None)], "src string, dst string")
    want = frame(spark, [("a", "a"), ("b", "a"), ("c", "a"), ("d", "d")], COMPONENTS_SCHEMA)
    with caplog.at_level(logging.INFO, logger="c360.identity.cluster"):
        over = connected_components(vertices, edges, driver_max_edges=1)
        under = connected_components(vertices, edges, driver_max_edges=2)
    engines = [m.split("engine=")[1].split()[0] for m in caplog.messages if "engine=" in m]
    assert engines == ["spark", "driver"]
    assert_df_equality(over, want, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(under, want, ignore_row_order=True, ignore_nullable=True)


def test_min_roots_points_every_vertex_at_its_smallest_member() -> None:
    # 0-5-3 and 4-1 and a lone 2; edges given largest first
    u = np.array([5, 3, 4], dtype=np.int64)
    v = np.array([0, 5, 1], dtype=np.int64)
    assert min_roots(6, u, v).tolist() == [0, 1, 2, 0, 1, 0]
    assert min_roots(3, np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == [
        0,
        1,
        2,
    ]


def ids_of(a, key_to_id: dict[str, str] | None = None) -> dict[str, str]:
    return {r.record_key: r.customer_id for r in a.crosswalk.collect()}


def events_of(a) -> set[tuple]:
    return {(r.event, r.customer_id, r.other_id, r.records) for r in a.events.collect()}


def members(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return frame(spark, rows, "record_key string, component string")


def previous(spark: SparkSession, mapping: dict[str, str]) -> DataFrame:
    return frame(spark, list(mapping.items()), "record_key string, customer_id string")


def test_first_run_ids_are_deterministic(spark: SparkSession) -> None:
    m = [("r1", "k1"), ("r2", "k1"), ("r3", "k3")]
    first = ids_of(assign_ids(members(spark, m), None))
    again = ids_of(assign_ids(members(spark, list(reversed(m))), None))
    assert first == again
    assert first["r1"] == first["r2"] != first["r3"]
    assert all(v.startswith("C") and len(v) == 17 for v in first.values())


def test_unchanged_new_record_merge_and_split(spark: SparkSession) -> None:
    prev = {"r1": "A", "r2": "A", "r3": "A", "r4": "B", "r5": "C", "r6": "C", "r7": "D"}
    now = members(
        spark,
        [
            ("r1", "x"),
            ("r2", "x"),  # A's larger part: keeps A
            ("r3", "y"),  # A's smaller part: split off under a new id
            ("r4", "z"),
            ("r5", "z"),
            ("r6", "z"),  # B (1 record) merges into C (2 records): C survives
            ("r7", "w"),
            ("r8", "w"),  # unchanged D gains a new record
            ("r9", "v"),  # brand new customer
        ],
    )
    a = assign_ids(now, previous(spark, prev))
    ids = ids_of(a)
    assert ids["r1"] == ids["r2"] == "A"
    assert ids["r4"] == ids["r5"] == ids["r6"] == "C"
    assert ids["r7"] == ids["r8"] == "D"
    new_split, new_customer = ids["r3"], ids["r9"]
    assert new_split not in prev.values() and new_customer not in prev.values()
    assert events_of(a) == {
        ("merge", "C", "B", 1),
        ("split", "A", new_split, 1),
        ("new", new_customer, None, 1),
    }
    # rerun on the same input: identical ids and events
    b = assign_ids(now, previous(spark, prev))
    assert ids_of(b) == ids and events_of(b) == events_of(a)


def test_tie_on_merge_keeps_smallest_id(spark: SparkSession) -> None:
    a = assign_ids(
        members(spark, [("r1", "x"), ("r2", "x")]), previous(spark, {"r1": "Q", "r2": "P"})
    )
    assert set(ids_of(a).values()) == {"P"}
    assert events_of(a) == {("merge", "P", "Q", 1)}


def test_new_id_never_reuses_an_issued_id(spark: SparkSession) -> None:
    first = assign_ids(members(spark, [("r1", "x")]), None)
    issued = ids_of(first)["r1"]
    # r1's id was retired into another customer; r1 later splits off alone again
    used = frame(spark, [(issued,), ("K",)], "customer_id string")
    again = assign_ids(
        members(spark, [("r1", "x"), ("r2", "y")]), previous(spark, {"r2": "K"}), used
    )
    assert ids_of(again)["r1"] != issued


@pytest.mark.parametrize("n", [0])
def test_empty_input(spark: SparkSession, n: int) -> None:
    a = assign_ids(members(spark, []), None)
    assert a.crosswalk.count() == n and a.events.count() == n


@ENGINES
def test_recluster_breaks_listed_components_on_the_given_edges(
    spark: SparkSession, driver_max_edges: int
) -> None:
    from c360.identity.cluster import recluster

    # two strong triangles joined by one weak link, plus a weak pair that is not listed
    edges = frame(
        spark,
        [
            ("a", "b", 20.0),
            ("b", "c", 20.0),
            ("c", "d", 5.0),  # the weak bridge
            ("d", "e", 20.0),
            ("e", "f", 20.0),
            ("x", "y", 5.0),
        ],
        "src string, dst string, weight double",
    )
    vertices = frame(spark, [(v,) for v in "abcdefxy"], "id string")
    engine = {"driver_max_edges": driver_max_edges}
    comps = connected_components(vertices, edges.select("src", "dst"), **engine)
    strong = edges.filter("weight >= 10")
    got = recluster(comps, strong, frame(spark, [("a",)], "component string"), **engine)
    rows = {r.id: r.component for r in got.collect()}
    assert rows == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "d", "f": "d", "x": "x", "y": "x"}
    # nothing listed: unchanged
    same = recluster(comps, strong, frame(spark, [], "component string"))
    assert {r.id: r.component for r in same.collect()} == {
        **{v: "a" for v in "abcdef"},
        "x": "x",
        "y": "x",
    }
