"""Accuracy of a clustering against labelled truth: pairwise and B-cubed.

Pairwise counts record pairs: a true positive is a pair in the same predicted cluster
and the same true entity. B-cubed averages, per record, the share of its predicted
cluster that is truly its entity (precision) and the share of its entity that is in its
predicted cluster (recall); it weighs every record equally, so one huge wrong cluster
cannot hide behind many small right ones. Everything is group-by arithmetic: no pairs
are materialized, so it scales with the records, not with their square.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from c360.io import checkpointed


@dataclass(frozen=True)
class Accuracy:
    records: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    predicted_clusters: int
    true_entities: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def evaluate(df: DataFrame, predicted: str = "customer_id", truth: str = "truth") -> Accuracy:
    """``df`` has one row per record with its ``predicted`` cluster and ``truth`` label.

    Records with no truth label are left out (they cannot be scored).
    """
    d = df.select(F.col(predicted).alias("p"), F.col(truth).alias("t")).filter(
        F.col("t").isNotNull() & F.col("p").isNotNull()
    )
    both = d.groupBy("p", "t").agg(F.count(F.lit(1)).alias("n_pt")).transform(checkpointed)
    by_p = both.groupBy("p").agg(F.sum("n_pt").alias("n_p"))
    by_t = both.groupBy("t").agg(F.sum("n_pt").alias("n_t"))

    def pairs(c: str) -> F.Column:
        return F.sum(F.col(c) * (F.col(c) - 1) / 2)

    cells = both.join(by_p, "p").join(by_t, "t")
    row = cells.agg(
        F.sum("n_pt").alias("records"),
        pairs("n_pt").alias("tp"),
        # B-cubed: each of the n_pt records scores n_pt / n_p and n_pt / n_t
        F.sum(F.col("n_pt") * F.col("n_pt") / F.col("n_p")).alias("bp"),
        F.sum(F.col("n_pt") * F.col("n_pt") / F.col("n_t")).alias("br"),
    ).first()
    pred_pairs = by_p.agg(pairs("n_p").alias("x"), F.count(F.lit(1)).alias("k")).first()
    true_pairs = by_t.agg(pairs("n_t").alias("x"), F.count(F.lit(1)).alias("k")).first()
    n = int(row.records or 0)
    tp = float(row.tp or 0)
    precision = tp / pred_pairs.x if pred_pairs.x else 1.0
    recall = tp / true_pairs.x if true_pairs.x else 1.0
    return Accuracy(
        records=n,
        pairwise_precision=precision,
        pairwise_recall=recall,
        pairwise_f1=_f1(precision, recall),
        bcubed_precision=float(row.bp) / n if n else 1.0,
        bcubed_recall=float(row.br) / n if n else 1.0,
        predicted_clusters=int(pred_pairs.k),
        true_entities=int(true_pairs.k),
    )
