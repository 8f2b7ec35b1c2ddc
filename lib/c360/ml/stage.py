"""Stages ``train`` and ``score``.

train: per model, features at the training and test snapshots (one pass over silver for
all dates), labels from what happened next, gradient-boosted trees, out-of-time metrics
beside the rules baseline, a saved version and ``gold.model_metrics``. It skips while the
newest model is younger than ``ml.retrain_days``; a rerun of a trained date finds its
version and writes nothing.

score: features as of the run date, the newest model trained on or before it, and
``gold.customer_scores`` (one row per customer, vehicle and model, with a decile);
then the customer-level scores are merged into ``gold.customer_360`` for the run date."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.columns import to_schema, with_run
from c360.config import LifecycleConfig, MlConfig
from c360.errors import ModelError
from c360.gold.scores import with_customer_scores
from c360.io import checkpointed, holds_date, last_commit_rows, merge_changed, read_as_of
from c360.lake import Lake
from c360.logs import step
from c360.ml import features as feat
from c360.ml import model as M
from c360.ml import registry
from c360.runner import StageContext, StageResult
from c360.schemas import gold as G
from c360.schemas import registry as R

log = logging.getLogger(__name__)

# Bump when features or labels change meaning: it is part of every version's fingerprint.
FORMAT = 1


def _labelled(df: DataFrame, inp: feat.Inputs, name: str, horizon: int) -> DataFrame:
    if name == M.RENEWAL:
        return feat.with_renewal_label(df, inp, horizon)
    if name == M.CHURN:
        return feat.with_churn_label(df, inp, horizon)
    raise ModelError(f"ml.models.{name}: unknown model; known {M.MODELS}")


def plan_training(conf: MlConfig, as_of: dt.date) -> dict[str, dict]:
    """Per model: its snapshot dates and the version they and the parameters make."""
    out = {}
    for name, mc in sorted(conf.models.items()):
        if name not in M.MODELS:
            raise ModelError(f"ml.models.{name}: unknown model; known {M.MODELS}")
        train, test = M.snapshot_dates(
            as_of, mc.horizon_months, conf.snapshot_step_months, conf.train_snapshots
        )
        spec = {
            "format": FORMAT,
            "model": name,
            "horizon_months": mc.horizon_months,
            "features": list(feat.FEATURES),
            "gbt": vars(conf.gbt),
            "seed": conf.seed,
            "max_vehicle_age_years": conf.max_vehicle_age_years,
            "train_snapshots": [d.isoformat() for d in train],
            "test_snapshot": test.isoformat(),
        }
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
        out[name] = {
            "spec": spec,
            "train": train,
            "test": test,
            "version": f"{as_of:%Y%m%d}-{digest}",
        }
    return out


def _due(spark: SparkSession, conf: MlConfig, name: str, version: str, as_of: dt.date) -> bool:
    if registry.exists(spark, conf.model_root, name, version):
        log.info("model=%s version=%s exists; nothing to train", name, version)
        return False
    newest = registry.latest(spark, conf.model_root, name, as_of)
    if newest is not None:
        age = (as_of - dt.date.fromisoformat(newest["trained_as_of"])).days
        if age < conf.retrain_days:
            log.info(
                "model=%s newest version=%s is %d days old (< ml.retrain_days=%d); skipped",
                name,
                newest["version"],
                age,
                conf.retrain_days,
            )
            return False
    return True


def label_counts(data: DataFrame, test: dt.date) -> dict[str, tuple[int, int]]:
    """{"train"|"test": (rows, positives)}."""
    part = F.when(F.col("snapshot_date") == F.lit(test), "test").otherwise("train")
    rows = data.groupBy(part.alias("part")).agg(
        F.count("*").alias("n"), F.sum("label").cast("long").alias("pos")
    )
    return {r["part"]: (r["n"], r["pos"]) for r in rows.collect()}


def enough_history(name: str, counts: dict, minimum: int) -> bool:
    """Both labels at least ``minimum`` times in training and in test, else skip (a young
    lake, or a sample too small): the score stage then keeps using older versions."""
    short = {
        part: (n, pos)
        for part in ("train", "test")
        for n, pos in [counts.get(part, (0, 0))]
        if min(pos, n - pos) < minimum
    }
    if short:
        log.warning(
            "model=%s not trained: too few of one label (rows, positives) %s; ml.min_label_rows=%d",
            name,
            short,
            minimum,
        )
    return not short


def train_model(
    data: DataFrame, name: str, job: dict, conf: MlConfig, lc: LifecycleConfig, as_of: dt.date
) -> tuple[PipelineModel, dict]:
    """Fit on the training snapshots, measure on the test snapshot: (model, metadata)."""
    train = data.filter(F.col("snapshot_date").isin(*job["train"]))
    test = data.filter(F.col("snapshot_date") == F.lit(job["test"]))
    n_train, pos_train = label_counts(data, job["test"]).get("train", (0, 0))
    features = list(feat.FEATURES)
    fitted = M.fit(train, features, conf.gbt, conf.seed)
    scored = M.with_score(fitted, test).withColumn("baseline", M.baseline_score(name, lc))
    scored = scored.transform(checkpointed)
    metrics = {
        "model": M.evaluate(scored, "score", probability=True),
        "baseline": M.evaluate(scored, "baseline", probability=False),
    }
    meta = {
        **job["spec"],
        "version": job["version"],
        "trained_as_of": as_of.isoformat(),
        "train_rows": int(n_train),
        "train_positives": int(pos_train),
        "importances": M.importances(fitted, features),
        "metrics": metrics,
    }
    return fitted, meta


def metric_rows(spark: SparkSession, meta: dict, run_id: str) -> DataFrame:
    rows = []
    for scorer, m in sorted(meta["metrics"].items()):
        for metric in ("auc", "top_decile_lift", "top_decile_rate", "base_rate", "ece", "brier"):
            if metric in m:
                value = None if m[metric] is None else float(m[metric])
                rows.append(
                    (
                        meta["model"],
                        meta["version"],
                        dt.date.fromisoformat(meta["trained_as_of"]),
                        dt.date.fromisoformat(meta["test_snapshot"]),
                        scorer,
                        metric,
                        value,
                        dt.date.fromisoformat(meta["trained_as_of"]),
                        run_id,
                    )
                )
    return spark.createDataFrame(rows, G.MODEL_METRICS)


def run_train(ctx: StageContext) -> StageResult:
    spark, lake, conf, as_of = ctx.spark, ctx.lake, ctx.conf.ml, ctx.as_of
    result = StageResult()
    jobs = {
        n: j
        for n, j in plan_training(conf, as_of).items()
        if _due(spark, conf, n, j["version"], as_of)
    }
    if not jobs:
        return result
    with step(log, "train.features") as p:
        inp = feat.read_inputs(spark, lake)
        dates = sorted({d for j in jobs.values() for d in [*j["train"], j["test"]]})
        data = feat.vehicle_features(
            inp, feat.snapshot_frame(spark, dates), conf.max_vehicle_age_years
        ).transform(checkpointed)
        p.rows_out = data.count()
    result.rows_read["features"] = p.rows_out
    written = 0
    for name, job in jobs.items():
        with step(log, f"train.{name}") as p:
            labelled = _labelled(data, inp, name, job["spec"]["horizon_months"]).transform(
                checkpointed
            )
            if not enough_history(name, label_counts(labelled, job["test"]), conf.min_label_rows):
                continue
            fitted, meta = train_model(labelled, name, job, conf, ctx.conf.gold.lifecycle, as_of)
            registry.save(spark, fitted, meta, conf.model_root)
            m, b = meta["metrics"]["model"], meta["metrics"]["baseline"]
            log.info(
                "model=%s version=%s auc=%.3f (baseline %.3f) top_decile_lift=%.2f "
                "(baseline %.2f) ece=%.3f",
                name,
                meta["version"],
                m["auc"],
                b["auc"],
                m["top_decile_lift"],
                b["top_decile_lift"],
                m["ece"],
            )
            rows = metric_rows(spark, meta, ctx.run_id)
            written += merge_changed(
                spark,
                lake,
                R.GOLD_MODEL_METRICS,
                rows,
                G.MODEL_METRICS,
                ["model", "version", "scorer", "metric"],
                delete=False,
            )
            p.rows_in = meta["train_rows"]
            p.rows_out = len(meta["metrics"])
    result.rows_written[R.GOLD_MODEL_METRICS] = written
    return result


# ----------------------------------------------------------------------------- scoring


def score_rows(
    spark: SparkSession, lake: Lake, conf: MlConfig, as_of: dt.date, run_id: str
) -> DataFrame | None:
    """Every current (customer, vehicle) scored by each model's newest usable version."""
    chosen = {n: registry.latest(spark, conf.model_root, n, as_of) for n in sorted(conf.models)}
    missing = sorted(n for n, m in chosen.items() if m is None)
    if missing:
        log.warning("no saved model for %s trained by %s: run stage train", missing, as_of)
    chosen = {n: m for n, m in chosen.items() if m is not None}
    if not chosen:
        return None
    inp = feat.read_inputs(spark, lake)
    snaps = feat.snapshot_frame(spark, [as_of])
    data = feat.vehicle_features(inp, snaps, conf.max_vehicle_age_years).transform(checkpointed)
    out = None
    for name, meta in chosen.items():
        fitted, meta = registry.load(spark, conf.model_root, name, meta["version"])
        if meta["features"] != list(feat.FEATURES):
            raise ModelError(
                f"model {name} version {meta['version']} was trained on other features; "
                "run stage train"
            )
        s = (
            M.with_score(fitted, data)
            .transform(M.with_decile)
            .select(
                "customer_id",
                "vin",
                F.lit(name).alias("model"),
                F.lit(meta["version"]).alias("model_version"),
                "score",
                "decile",
            )
        )
        out = s if out is None else out.unionByName(s)
    return out.transform(with_run, as_of, run_id)


def run_score(ctx: StageContext) -> StageResult:
    spark, lake, conf, as_of = ctx.spark, ctx.lake, ctx.conf.ml, ctx.as_of
    result = StageResult()
    c360 = read_as_of(spark, lake, R.GOLD_CUSTOMER_360, as_of)
    with step(log, "score.customer_scores") as p:
        rows = score_rows(spark, lake, conf, as_of, ctx.run_id)
        if rows is None:
            return result
        # The date's first scoring: gold wrote customer_360 without scores, so the rows of
        # every scored customer change, and the frame below is the whole table (read_as_of).
        first = not holds_date(spark, lake, R.GOLD_CUSTOMER_SCORES, "as_of", as_of)
        rows = rows.transform(checkpointed)
        p.rows_out = p.count(rows)
        result.rows_written[R.GOLD_CUSTOMER_SCORES] = merge_changed(
            spark,
            lake,
            R.GOLD_CUSTOMER_SCORES,
            rows,
            G.CUSTOMER_SCORES,
            ["customer_id", "vin", "model"],
            delete=True,
            run_date=as_of,
        )
    with step(log, "score.customer_360") as p:
        merged = with_customer_scores(c360, rows).transform(to_schema, G.CUSTOMER_360)
        merged = merged.transform(checkpointed)
        p.rows_out = p.count(merged)
        if first:  # one overwrite rather than comparing every row to find them changed
            merged.write.format("delta").mode("overwrite").save(lake.path(R.GOLD_CUSTOMER_360))
            written = last_commit_rows(spark, lake, R.GOLD_CUSTOMER_360)
        else:
            written = merge_changed(
                spark,
                lake,
                R.GOLD_CUSTOMER_360,
                merged,
                G.CUSTOMER_360,
                ["customer_id"],
                delete=False,
            )
        result.rows_written[R.GOLD_CUSTOMER_360] = written
    return result
