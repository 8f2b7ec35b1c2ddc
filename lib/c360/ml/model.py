"""Fit, score and measure one propensity model, and the rules baseline it must beat."""

from __future__ import annotations

import calendar
import datetime as dt

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from c360.columns import exact_mean
from c360.config import GbtConfig, LifecycleConfig
from c360.errors import ModelError
from c360.ml import CHURN, MODELS, RENEWAL
from c360.ml.features import KEYS


def add_months(d: dt.date, months: int) -> dt.date:
    """Calendar months, the day clamped to the month's end (as Spark's add_months)."""
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return dt.date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def snapshot_dates(
    as_of: dt.date, horizon: int, step: int, n: int
) -> tuple[list[dt.date], dt.date]:
    """(training snapshots, test snapshot). The test snapshot is the newest whose label
    window has closed by ``as_of``; training snapshots end one horizon before it, so no
    training label looks past the test snapshot (out of time, as if trained then)."""
    test = add_months(as_of, -horizon)
    last_train = add_months(test, -horizon)
    return [add_months(last_train, -step * k) for k in range(n)][::-1], test


def baseline_score(name: str, lc: LifecycleConfig) -> Column:
    """The rule the product used before the models, as a score to rank by.

    Renewal: the lifecycle's renewal rules (contract maturing in the window, then vehicle
    age, then km), ties by vehicle age. Churn: months since the last service visit, or
    since the purchase for a vehicle never serviced."""
    if name == RENEWAL:
        maturing = (F.col("finance_active") == 1.0) & (
            F.col("months_to_maturity") <= lc.renewal_window_months
        )
        old = (F.col("vehicle_age_months") >= lc.renewal_age_years * 12) | (
            F.col("odometer_km") >= lc.renewal_km
        )
        tier = F.when(maturing, 2.0).when(old, 1.0).otherwise(0.0)
        return tier + F.col("vehicle_age_months") / 10000.0
    if name == CHURN:
        return F.least("months_since_service", "owned_months")
    raise ModelError(f"unknown model '{name}': known {MODELS}")


def fit(train: DataFrame, features: list[str], gbt: GbtConfig, seed: int) -> PipelineModel:
    """Gradient-boosted trees on a fixed row layout, so a seed gives the same model."""
    stable = train.repartition(4, *KEYS).sortWithinPartitions(*KEYS).persist()
    try:
        pipe = Pipeline(
            stages=[
                VectorAssembler(inputCols=features, outputCol="features"),
                GBTClassifier(
                    labelCol="label",
                    featuresCol="features",
                    maxIter=gbt.max_iter,
                    maxDepth=gbt.max_depth,
                    stepSize=gbt.step_size,
                    subsamplingRate=gbt.subsampling_rate,
                    minInstancesPerNode=gbt.min_instances_per_node,
                    featureSubsetStrategy="all",
                    seed=seed,
                ),
            ]
        )
        return pipe.fit(stable)
    finally:
        stable.unpersist()


# Scores are rounded here: the trees' sums of doubles may differ in the last bit between
# two trainings on other executors, and six places are far finer than any use of them.
SCORE_DECIMALS = 6


def with_score(model: PipelineModel, df: DataFrame) -> DataFrame:
    """``score``: the predicted probability of the label, to SCORE_DECIMALS places."""
    out = model.transform(df)
    score = F.round(vector_to_array("probability")[1], SCORE_DECIMALS)
    return out.withColumn("score", score).drop(
        "features", "rawPrediction", "probability", "prediction"
    )


def importances(model: PipelineModel, features: list[str]) -> list[tuple[str, float]]:
    """(feature, importance), most important first."""
    imp = model.stages[-1].featureImportances.toArray()
    pairs = [(f, round(float(v), 6)) for f, v in zip(features, imp, strict=True)]
    return sorted(pairs, key=lambda x: (-x[1], x[0]))


def with_decile(df: DataFrame, score: str = "score", by: list[str] | None = None) -> DataFrame:
    """Decile 1 holds the highest scores; ties broken by the keys, so it is stable."""
    w = Window.partitionBy(*(by or [])).orderBy(
        F.col(score).desc(), *[F.col(k) for k in KEYS if k in df.columns]
    )
    return df.withColumn("decile", F.ntile(10).over(w))


def evaluate(df: DataFrame, score: str, probability: bool) -> dict:
    """AUC, lift in the top decile, and (for a probability) calibration by decile."""
    if df.filter(F.col("label") == 1.0).isEmpty() or df.filter(F.col("label") == 0.0).isEmpty():
        raise ModelError("the evaluation snapshot has one label only: AUC is undefined")
    auc = BinaryClassificationEvaluator(
        rawPredictionCol=score, labelCol="label", metricName="areaUnderROC", numBins=0
    ).evaluate(df.withColumn(score, F.col(score).cast("double")))
    d = with_decile(df, score)
    rows = (
        d.groupBy("decile")
        .agg(
            F.count("*").alias("n"),
            exact_mean(F.col(score)).alias("mean_score"),
            exact_mean(F.col("label")).alias("observed"),
        )
        .orderBy("decile")
        .collect()
    )
    n = sum(r["n"] for r in rows)
    base = sum(r["observed"] * r["n"] for r in rows) / n
    out: dict = {
        "rows": n,
        "base_rate": round(base, 6),
        "auc": round(auc, 6),
        "top_decile_rate": round(rows[0]["observed"], 6),
        "top_decile_lift": round(rows[0]["observed"] / base, 4) if base else None,
    }
    if probability:
        out["calibration"] = [
            {
                "decile": r["decile"],
                "n": r["n"],
                "mean_predicted": round(r["mean_score"], 6),
                "observed": round(r["observed"], 6),
            }
            for r in rows
        ]
        out["ece"] = round(sum(abs(r["mean_score"] - r["observed"]) * r["n"] for r in rows) / n, 6)
        brier = df.select(exact_mean((F.col(score) - F.col("label")) ** 2)).first()[0]
        out["brier"] = round(brier, 6)
    return out
