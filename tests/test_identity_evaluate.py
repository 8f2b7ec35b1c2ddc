"""Pairwise and B-cubed scores against hand-computed values."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from c360.identity.evaluate import evaluate


def test_scores_match_hand_computed_values(spark: SparkSession) -> None:
    # truth A = r1 r2 r3, B = r4 r5; predicted X = r1 r2, Y = r3 r4 r5
    rows = [
        ("r1", "X", "A"),
        ("r2", "X", "A"),
        ("r3", "Y", "A"),
        ("r4", "Y", "B"),
        ("r5", "Y", "B"),
        ("r6", "Z", None),  # unlabelled: not scored
        ("r7", None, "B"),  # not resolved: not scored
    ]
    df = spark.createDataFrame(rows, "uid string, customer_id string, truth string")
    acc = evaluate(df)
    assert acc.records == 5
    # predicted pairs 1 + 3, true pairs 3 + 1, shared (r1,r2) and (r4,r5)
    assert acc.pairwise_precision == pytest.approx(0.5)
    assert acc.pairwise_recall == pytest.approx(0.5)
    assert acc.pairwise_f1 == pytest.approx(0.5)
    # per record precision 1, 1, 1/3, 2/3, 2/3; recall 2/3, 2/3, 1/3, 1, 1
    assert acc.bcubed_precision == pytest.approx(11 / 15)
    assert acc.bcubed_recall == pytest.approx(11 / 15)
    assert (acc.predicted_clusters, acc.true_entities) == (2, 2)


def test_perfect_and_singleton_clusterings(spark: SparkSession) -> None:
    rows = [("a", "1", "t"), ("b", "1", "t"), ("c", "2", "u")]
    perfect = evaluate(spark.createDataFrame(rows, "uid string, customer_id string, truth string"))
    assert perfect.pairwise_f1 == 1.0 and perfect.bcubed_recall == 1.0
    singles = [("a", "1", "t"), ("b", "2", "t"), ("c", "3", "u")]
    s = evaluate(spark.createDataFrame(singles, "uid string, customer_id string, truth string"))
    assert s.pairwise_precision == 1.0  # no predicted pairs: nothing wrong
    assert s.pairwise_recall == 0.0
    assert s.bcubed_precision == 1.0 and s.bcubed_recall == pytest.approx((0.5 + 0.5 + 1) / 3)
