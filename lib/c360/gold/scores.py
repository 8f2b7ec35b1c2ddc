"""gold.customer_scores rolled up to the customer, for gold.customer_360.

Both the gold stage (so a rerun of gold keeps the run date's scores) and the score stage
(which fills them) use this, so the columns mean the same whichever wrote them last."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.io import read_or_empty
from c360.lake import Lake
from c360.schemas import gold as G
from c360.schemas.gold import CHURN, RENEWAL
from c360.schemas.registry import GOLD_CUSTOMER_SCORES


def customer_level(scores: DataFrame) -> DataFrame:
    """customer_id + the score columns: renewal from the customer's best vehicle, churn
    from the vehicle likeliest to come back (the customer is lost only if all are)."""
    best = F.struct(F.col("score"), F.col("vin"))
    r = (
        scores.filter(F.col("model") == RENEWAL)
        .groupBy("customer_id")
        .agg(
            F.max_by("score", best).alias("renewal_score"),
            F.max_by("decile", best).alias("renewal_decile"),
        )
    )
    c = (
        scores.filter(F.col("model") == CHURN)
        .groupBy("customer_id")
        .agg(
            F.min_by("score", best).alias("churn_score"),
            F.min_by("decile", best).alias("churn_decile"),
        )
    )
    v = scores.groupBy("customer_id").agg(
        F.map_from_entries(F.array_sort(F.collect_set(F.struct("model", "model_version")))).alias(
            "score_versions"
        )
    )
    return v.join(r, "customer_id", "left").join(c, "customer_id", "left")


def read_scores_as_of(spark: SparkSession, lake: Lake, as_of: dt.date) -> DataFrame:
    """The run date's rows of gold.customer_scores (none if scoring has not run)."""
    scores = read_or_empty(spark, lake, GOLD_CUSTOMER_SCORES)
    return scores.filter(F.col("as_of") == F.lit(as_of))


def with_customer_scores(c360: DataFrame, scores: DataFrame) -> DataFrame:
    """Customer rows with the score columns taken from ``scores`` (NULL when unscored)."""
    return c360.drop(*G.SCORE_COLUMNS).join(customer_level(scores), "customer_id", "left")
