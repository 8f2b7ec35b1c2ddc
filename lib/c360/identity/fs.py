"""Probabilistic matching: Fellegi-Sunter through Splink, behind our own interface.

Splink's Spark backend needs its similarity UDF jar on the session
(``session.build_spark`` adds it when splink is installed) and a checkpoint directory.
Training (prior, u by random sampling with a fixed seed, m by EM over blocked pairs)
returns the model as a dict that runs can store and reuse; prediction scores only
blocked pairs and returns each pair's per-field match weights (log2 Bayes factors, term-frequency
adjusted) as its explanation.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import splink.comparison_library as cl
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from splink import Linker, SettingsCreator, block_on
from splink.backends.spark import SparkAPI

from c360.errors import ConfigError, ModelError
from c360.io import checkpointed

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

NAME_BLOCK = ("name_lo", "name_hi")

# Candidate pairs: records that agree on every column of at least one of these.
PERSON_BLOCKING: tuple[tuple[str, ...], ...] = (
    ("email",),
    ("phone",),
    ("vin",),
    ("family_key", "birth_date"),
    ("postal_code", "family_key"),
    ("postal_code", "given_key"),
    NAME_BLOCK,
)


def with_name_block_capped(df: DataFrame, max_records: int | None) -> DataFrame:
    """``name_lo``/``name_hi`` cleared where more than ``max_records`` records share the
    pair, so the name-only blocking rule skips common names.

    A block of n records is n(n-1)/2 pairs: at 1M source records the few hundred commonest
    names ('maría garcía', up to 1,843 records) made 77% of all scored pairs, almost none
    of them links. Records with a common name still meet through every other rule (e-mail,
    phone, VIN, birth date, postal code); only pairs that agree on the name and nothing
    else are given up (``scripts/bench/blocking.py --truth`` counts them). The keys stay
    untouched for the deterministic rules, which have their own cap (``max_group_size``).
    """
    if max_records is None:
        return df
    shared = F.count(F.lit(1)).over(Window.partitionBy(*NAME_BLOCK))
    keep = F.col("_name_n") <= max_records
    return (
        df.withColumn("_name_n", shared)
        .withColumns({c: F.when(keep, F.col(c)) for c in NAME_BLOCK})
        .drop("_name_n")
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
        blocking_rules_to_generate_predictions=[block_on(*cols) for cols in PERSON_BLOCKING],
        retain_intermediate_calculation_columns=True,
    )


@dataclass(frozen=True)
class Engine:
    """Where Splink runs: ``spark`` (the session) or ``duckdb`` (in-process on the driver,
    limited to ``memory_limit``)."""

    name: str = "spark"
    memory_limit: str = "4GB"


SPARK = Engine()


@contextmanager
def _linker(
    spark: SparkSession,
    df: DataFrame,
    settings: SettingsCreator | dict[str, Any],
    engine: Engine = SPARK,
) -> Iterator[Linker]:
    if engine.name == "spark":
        db_api = SparkAPI(spark_session=spark, break_lineage_method="parquet")
        yield Linker(db_api.register(df), settings, log_level=None)
        return
    if engine.name != "duckdb":
        raise ConfigError(f"identity.engine: unknown engine {engine.name!r}")
    import duckdb
    from splink import DuckDBAPI

    con = duckdb.connect(config={"memory_limit": engine.memory_limit})
    spill = tempfile.mkdtemp(prefix="c360-duckdb-")
    try:
        con.execute(f"SET temp_directory = '{spill}'")
        table = df.toArrow()  # the records once to the driver, as Arrow
        yield Linker(DuckDBAPI(connection=con).register(table), settings, log_level=None)
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def dialect_of(model: dict[str, Any]) -> str:
    """The SQL dialect a stored model's conditions are written in (Spark quotes names
    with backticks, DuckDB with double quotes)."""
    if model.get("sql_dialect"):
        return str(model["sql_dialect"])
    return "spark" if "`" in json.dumps(model["comparisons"]) else "duckdb"


def in_dialect(model: dict[str, Any], dialect: str) -> dict[str, Any]:
    """``model`` as it is when written in ``dialect``, else rewritten (``for_dialect``)."""
    return model if dialect_of(model) == dialect else for_dialect(model, dialect)


def for_dialect(model: dict[str, Any], dialect: str) -> dict[str, Any]:
    """``model``'s trained parameters (the prior, every level's m and u) in this code's
    settings written for ``dialect``: a stored model's SQL is in the dialect it was trained
    in, its parameters are not. Fails if the comparisons no longer line up."""
    out = person_settings().create_settings_dict(dialect)
    out["probability_two_random_records_match"] = model["probability_two_random_records_match"]
    theirs, ours = model["comparisons"], out["comparisons"]
    shape = [[lv.get("label_for_charts") for lv in c["comparison_levels"]] for c in theirs]
    if shape != [[lv.get("label_for_charts") for lv in c["comparison_levels"]] for c in ours]:
        raise ModelError(
            "table ops.identity_models: the stored person model's comparisons (column "
            "model_json) differ from identity.fs.person_settings; retrain (identity.retrain)"
        )
    for mine, stored in zip(ours, theirs, strict=True):
        for level, trained in zip(
            mine["comparison_levels"], stored["comparison_levels"], strict=True
        ):
            for key in ("m_probability", "u_probability"):
                if key in trained:
                    level[key] = trained[key]
    return out


def train(
    spark: SparkSession,
    df: DataFrame,
    *,
    seed: int = 42,
    max_pairs: float = 2e6,
    em_term_frequencies: bool = False,
    engine: Engine = SPARK,
) -> dict[str, Any]:
    """Estimate the model on ``df`` (uid + PERSON_FIELDS); returns Splink's settings dict.

    Without ``em_term_frequencies``, EM iterates on the counts of each agreement pattern
    (one pass over the blocked pairs) instead of on every pair: on Spark each of its up to
    25 iterations per session was a job over all pairs. Scoring still applies the
    term-frequency adjustments.
    """
    with _linker(spark, df, person_settings(), engine) as linker:
        linker.training.estimate_probability_two_random_records_match(
            [block_on("email"), block_on("phone")], recall=0.7
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
        for rule in (block_on("email"), block_on("postal_code", "family_key")):
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=not em_term_frequencies
            )
        return stable_model(linker.misc.save_model_to_json())


def stable_model(settings: dict[str, Any]) -> dict[str, Any]:
    """What the model learned, and only that: parameters rounded (``rounded``), and
    without Splink's ``linker_uid``, a random name each linker draws, which made two
    trainings on the same records differ in ``ops.identity_models``."""
    return rounded({k: v for k, v in settings.items() if k != "linker_uid"})


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
    engine: Engine = SPARK,
) -> DataFrame:
    """Scored blocked pairs: uid_l, uid_r, match_probability, match_weight, weights map.

    ``model`` in the engine's dialect (``in_dialect``). On DuckDB the scored pairs come
    back to Spark as one Arrow table."""
    with _linker(spark, df, model, engine) as linker:
        predicted = linker.inference.predict(threshold_match_probability=threshold)
        if engine.name == "spark":
            pairs = predicted.as_spark_dataframe()
        else:  # only the columns used below cross to Spark, once, and stay there
            rel = predicted.as_duckdbpyrelation()
            pairs = _into_spark(spark, rel.select(*[c for c in rel.columns if _explains(c)]))
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


def _into_spark(spark: SparkSession, rel: Any) -> DataFrame:
    """DuckDB's scored pairs as a Spark frame that outlives the DuckDB connection.

    On a local master DuckDB streams them to a Parquet file and Spark reads it back into
    a disk-only checkpoint, so neither the driver's Python nor the JVM heap holds all
    pairs at once: at 5M source records the pairs as one Arrow table, copied into the JVM,
    got the driver killed for memory on 24 GB. Elsewhere executors cannot read the
    driver's disk, so the pairs cross as one Arrow table."""
    if not spark.sparkContext.master.startswith("local"):
        return spark.createDataFrame(rel.to_arrow_table()).transform(checkpointed)
    folder = tempfile.mkdtemp(prefix="c360-pairs-")
    try:
        path = os.path.join(folder, "pairs.parquet")
        rel.write_parquet(path)
        return spark.read.parquet(path).transform(checkpointed, True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _explains(column: str) -> bool:
    """A column of Splink's scored pairs that ``predict`` returns or builds its map from."""
    return (
        column in ("match_probability", "match_weight")
        or column.startswith("mw_")
        or column.endswith(("_l", "_r"))
    )
