"""Probabilistic matching: Fellegi-Sunter through Splink, behind our own interface.

Splink's Spark backend needs its similarity UDF jar on the session
(``session.build_spark`` adds it when splink is installed) and a checkpoint directory.
Training (prior, u by random sampling with a fixed seed, m by EM over blocked pairs)
returns the model as a dict that runs can store and reuse; prediction scores only
blocked pairs and returns each pair's per-field match weights (log2 Bayes factors, term-frequency
adjusted) as its explanation.
"""

from __future__ import annotations

import logging
from typing import Any

import splink.comparison_library as cl
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from splink import Linker, SettingsCreator, block_on
from splink.backends.spark import SparkAPI

log = logging.getLogger(__name__)

MODEL_DIGITS = 10  # significant digits kept of each trained parameter

PERSON_FIELDS = (
    "given_key",
    "family_key",
    "full_name_key",
    "name_lo",
    "name_hi",
    "birth_date",
    "email",
    "phone",
    "postal_code",
    "street",
    "vin",
)


def person_settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        comparisons=[
            cl.ForenameSurnameComparison(
                "given_key", "family_key", forename_surname_concat_col_name="full_name_key"
            ),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postal_code").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("street", [2, 5]),
            cl.ExactMatch("vin"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("vin"),
            block_on("family_key", "birth_date"),
            block_on("postal_code", "family_key"),
            block_on("postal_code", "given_key"),
            block_on("name_lo", "name_hi"),
        ],
        retain_intermediate_calculation_columns=True,
    )


def _linker(
    spark: SparkSession, df: DataFrame, settings: SettingsCreator | dict[str, Any]
) -> Linker:
    db_api = SparkAPI(spark_session=spark, break_lineage_method="parquet")
    return Linker(db_api.register(df), settings, log_level=None)


def train(
    spark: SparkSession,
    df: DataFrame,
    *,
    seed: int = 42,
    max_pairs: float = 2e6,
    em_term_frequencies: bool = False,
) -> dict[str, Any]:
    """Estimate the model on ``df`` (uid + PERSON_FIELDS); returns Splink's settings dict.

    Without ``em_term_frequencies``, EM iterates on the counts of each agreement pattern
    (one pass over the blocked pairs) instead of on every pair: on Spark each of its up to
    25 iterations per session was a job over all pairs. Scoring still applies the
    term-frequency adjustments.
    """
    linker = _linker(spark, df, person_settings())
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("phone")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    for rule in (block_on("email"), block_on("postal_code", "family_key")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=not em_term_frequencies
        )
    return rounded(linker.misc.save_model_to_json())


def rounded(value: Any, digits: int = MODEL_DIGITS) -> Any:
    """Every float in a settings dict to ``digits`` significant digits. EM sums in task
    order, so the same records on another cluster layout give parameters that differ in
    the last bits; rounded, they are equal, and so are every pair's weights and the
    checksum of ``silver.identity_links``."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def predict(
    spark: SparkSession,
    df: DataFrame,
    model: dict[str, Any] | SettingsCreator,
    *,
    threshold: float = 0.5,
) -> DataFrame:
    """Scored blocked pairs: uid_l, uid_r, match_probability, match_weight, weights map."""
    linker = _linker(spark, df, model)
    pairs = linker.inference.predict(threshold_match_probability=threshold).as_spark_dataframe()
    fields = [
        c[3:] for c in pairs.columns if c.startswith("mw_") and not c.startswith("mw_tf_adj_")
    ]
    weight = {}
    for f in fields:
        w = F.col(f"mw_{f}")
        if f"mw_tf_adj_{f}" in pairs.columns:  # term frequency: rarer values weigh more
            w = w + F.coalesce(F.col(f"mw_tf_adj_{f}"), F.lit(0.0))
        weight[f] = w
    weights = F.create_map(*[x for f in fields for x in (F.lit(f), weight[f])])
    return pairs.select(
        "uid_l",
        "uid_r",
        "match_probability",
        "match_weight",
        weights.alias("weights"),
        *[
            c
            for c in pairs.columns
            if c.endswith("_l") or c.endswith("_r")
            if c not in ("uid_l", "uid_r")
        ],
    )
