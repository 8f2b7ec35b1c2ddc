"""Same input, another layout, same answer: no value may depend on the order rows reach
an aggregate or a window (issue 35: a resumed run's ``avg`` of doubles differed in its last
digit from a clean run's).

Default tier: the order-sensitive transforms on tiny frames, each in several layouts (one
partition; reversed across three; shuffled across five), with the answer known.
Slow tier: the small world's landed files run again, every stage, in another layout, and
every bronze, silver and gold table must equal the world's bit for bit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.checksum import lake_checksums
from c360.columns import exact_mean, exact_sum
from c360.config import Config
from c360.gold.facts import with_ownership
from c360.gold.profile import survey_summary
from c360.lake import Lake
from c360.runner import run_stages
from c360.session import spark_conf
from c360.stages import STAGES
from conftest import DEFAULT_AS_OF, SMALL_WORLD, SMALL_WORLD_IDENTITY

AS_OF = dt.date(2026, 6, 15)


def layouts(df: DataFrame, key: str) -> Iterator[DataFrame]:
    """The same rows in one partition, reversed over three, and shuffled over five."""
    yield df.coalesce(1)
    yield df.orderBy(F.col(key).desc_nulls_first()).repartition(3)
    yield df.orderBy(F.rand(7)).repartition(5)


def same_in_every_layout(
    df: DataFrame, key: str, transform: Callable[[DataFrame], DataFrame], order: list[str]
) -> DataFrame:
    """The transform's answer, after checking every layout gives exactly that answer."""
    answers = [transform(d).orderBy(*order) for d in layouts(df, key)]
    for other in answers[1:]:
        assert_df_equality(answers[0], other)
    return answers[0]


def test_sums_and_means_of_doubles_do_not_depend_on_the_row_order(spark: SparkSession) -> None:
    # 0.1 + 0.2 + 0.3 is 0.6000000000000001 in this order and 0.6 in the reverse one
    df = spark.createDataFrame(
        [("a", 0.1), ("a", 0.2), ("a", 0.3), ("b", None), ("b", -1e-13), ("c", 2.5)],
        "k string, x double",
    ).withColumn("i", F.monotonically_increasing_id())

    def agg(d: DataFrame) -> DataFrame:
        return d.groupBy("k").agg(
            exact_sum(F.col("x")).alias("s"), exact_mean(F.col("x")).alias("m")
        )

    got = {r.k: (r.s, r.m) for r in same_in_every_layout(df, "i", agg, ["k"]).collect()}
    # twelve decimal places: a value below them (the messy -1e-13) counts as 0
    assert got == {"a": (0.6, 0.2), "b": (0.0, 0.0), "c": (2.5, 2.5)}


def test_a_customers_mean_sentiment_is_exact(spark: SparkSession) -> None:
    ts = dt.datetime(2026, 1, 5, 10, 0)
    rows = [
        ("C1", "R1", ts, 9, 5, "positive", 0.1),
        ("C1", "R2", ts, 7, 4, "neutral", 0.2),
        ("C1", "R3", ts, 3, 2, "positive", 0.3),
        ("C2", "R4", ts, None, None, None, None),  # no comment, no score
        ("C2", "R5", ts + dt.timedelta(days=400), 10, 5, "positive", 1.0),  # after as_of
    ]
    surveys = spark.createDataFrame(
        rows,
        "customer_id string, response_id string, response_ts timestamp, nps int, csat int, "
        "sentiment_label string, sentiment_score double",
    )
    got = same_in_every_layout(
        surveys, "response_id", lambda d: survey_summary(d, AS_OF), ["customer_id"]
    )
    by_id = {r.customer_id: r for r in got.collect()}
    assert by_id["C1"].avg_sentiment_score == 0.2  # F.avg gave 0.20000000000000004
    assert by_id["C1"].latest_nps == 3  # the same second: the larger response id
    assert by_id["C2"].avg_sentiment_score is None


def test_a_later_purchase_replaces_both_vehicles_bought_the_same_day(spark: SparkSession) -> None:
    day = dt.date(2024, 3, 1)
    links = spark.createDataFrame(
        [
            ("C1", "V1", day, day),
            ("C1", "V2", day, day),  # the same day as V1
            ("C1", "V6", day + dt.timedelta(days=30), day + dt.timedelta(days=30)),
            ("C2", "V3", day, day),
            ("C2", "V4", day + dt.timedelta(days=90), day + dt.timedelta(days=90)),
            ("C3", "V5", None, None),
        ],
        "customer_id string, vin string, acquired_date date, last_evidence date",
    )
    activity = spark.createDataFrame(
        [("V1", None), ("V2", None), ("V3", day), ("V4", None), ("V5", None), ("V6", None)],
        "vin string, last_activity date",
    )
    types = spark.createDataFrame(
        [("C1", "person"), ("C2", "person"), ("C3", None)], "customer_id string, party_type string"
    )
    got = same_in_every_layout(
        links,
        "vin",
        lambda d: with_ownership(d, activity, types, True).select("vin", "ownership"),
        ["vin"],
    )
    assert {r.vin: r.ownership for r in got.collect()} == {
        "V1": "previous",  # both replaced by V6: the tie with V2 hid V6 from whichever
        "V2": "previous",  # of the two the sort put first
        "V6": "current",
        "V3": "previous",  # replaced by V4, no activity since
        "V4": "current",
        "V5": "current",
    }


LAYOUT = {
    "spark.sql.shuffle.partitions": "5",
    "spark.sql.files.maxRecordsPerFile": "300",
    "spark.sql.files.maxPartitionBytes": "16384",
    "spark.sql.files.openCostInBytes": "1024",
}


@pytest.fixture
def other_layout(spark: SparkSession) -> Iterator[None]:
    with spark_conf(spark, LAYOUT):
        yield


@pytest.mark.slow
def test_every_table_is_the_same_whatever_the_input_layout(
    spark: SparkSession, world: Path, base_conf: Config, tmp_path: Path, other_layout: None
) -> None:
    """The world was built with one shuffle partition, four sources at a time and one file
    per table write. Here: five shuffle partitions, one source at a time, every table
    written in files of at most 300 rows (so later reads have several input partitions
    and aggregates merge partial results in another order), and CSV and Parquet inputs
    cut into small splits. 374 s on this machine: the slow tier."""
    conf = base_conf.with_overrides(
        [
            *SMALL_WORLD,
            *SMALL_WORLD_IDENTITY,
            f"landing.root={world / 'landing'}",
            f"generator.truth_root={world / 'truth'}",
            f"lake.root={tmp_path / 'lake'}",
            f"activation.export_root={tmp_path / 'exports'}",
            f"ml.model_root={tmp_path / 'models'}",
            "bronze.parallel_sources=1",
            "silver.parallel_sources=1",
        ]
    )
    stages = [s for s in STAGES if s != "reconcile"]
    run_stages(spark, conf, dt.date.fromisoformat(DEFAULT_AS_OF), stages)
    here = lake_checksums(spark, Lake.from_config(conf))
    there = lake_checksums(spark, Lake(str(world / "lake")))
    assert sorted(here) == sorted(there)
    assert [t for t in sorted(here) if here[t] != there[t]] == []
