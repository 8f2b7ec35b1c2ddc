"""Over-merge guards applied to scored pairs before clustering.

Household members share a surname, an address and often a landline, so those fields can
outweigh a different first name in Fellegi-Sunter. A pair is vetoed, with a reason, when:

- ``different_given_names``: both given names are present and their edit-distance
  similarity is below ``min_name_similarity`` ('ana'/'anita' pass, 'ana'/'luis' do not),
  and the pair is not the same full name with given and family swapped. Given-name keys
  are canonical already (``keys.canonical_given``: 'charo'/'rosario' compare equal);
- ``conflicting_birth_dates``: both birth dates are present and differ by more than a
  typo (one character, or day and month swapped);
- ``must_not_link``: a data steward said so (``overrides`` table or YAML).

Vetoed pairs are kept with their reasons, so a steward can see what was held apart.
Only Spark built-ins: ``levenshtein`` instead of a similarity UDF.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class GuardConfig:
    min_name_similarity: float = 0.5


@dataclass
class Guarded:
    accepted: DataFrame
    vetoed: DataFrame  # the pairs plus veto_reasons array<string>


def name_similarity(a: Column, b: Column) -> Column:
    """1 - levenshtein / longer length, in [0, 1]; NULL if either side is NULL."""
    return F.lit(1.0) - F.levenshtein(a, b) / F.greatest(F.length(a), F.length(b))


def birth_dates_conflict(a: Column, b: Column) -> Column:
    sa, sb = F.date_format(a, "yyyyMMdd"), F.date_format(b, "yyyyMMdd")
    swapped = F.date_format(b, "yyyyddMM")
    typo = (F.levenshtein(sa, sb) <= 1) | (sa == swapped)
    return a.isNotNull() & b.isNotNull() & (a != b) & ~typo


def apply_guards(
    pairs: DataFrame, conf: GuardConfig, must_not_link: DataFrame | None = None
) -> Guarded:
    """``pairs`` has uid_l, uid_r and given_key, family_key, birth_date as ``_l``/``_r``."""
    t = conf.min_name_similarity
    gl, gr = F.col("given_key_l"), F.col("given_key_r")
    fl, fr = F.col("family_key_l"), F.col("family_key_r")
    swapped = (name_similarity(gl, fr) >= t) & (name_similarity(fl, gr) >= t)
    different = (
        gl.isNotNull()
        & gr.isNotNull()
        & (name_similarity(gl, gr) < t)
        & ~F.coalesce(swapped, F.lit(False))
    )
    conflict = birth_dates_conflict(F.col("birth_date_l"), F.col("birth_date_r"))
    df = pairs
    if must_not_link is not None:
        mnl = must_not_link.select(
            F.least("uid_a", "uid_b").alias("_a"), F.greatest("uid_a", "uid_b").alias("_b")
        ).withColumn("_mnl", F.lit(True))
        df = df.join(
            mnl,
            (F.least("uid_l", "uid_r") == F.col("_a"))
            & (F.greatest("uid_l", "uid_r") == F.col("_b")),
            "left",
        ).drop("_a", "_b")
    else:
        df = df.withColumn("_mnl", F.lit(None).cast("boolean"))
    reasons = F.filter(
        F.array(
            F.when(different, F.lit("different_given_names")),
            F.when(conflict, F.lit("conflicting_birth_dates")),
            F.when(F.col("_mnl"), F.lit("must_not_link")),
        ),
        lambda x: x.isNotNull(),
    )
    df = df.withColumn("veto_reasons", reasons).drop("_mnl")
    return Guarded(
        df.filter(F.size("veto_reasons") == 0).drop("veto_reasons"),
        df.filter(F.size("veto_reasons") > 0),
    )


def with_sides(
    links: DataFrame, records: DataFrame, columns: list[str], uid: str = "uid"
) -> DataFrame:
    """Add ``<col>_l`` / ``<col>_r`` from the records to links that lack them (rule links)."""
    left = records.select(F.col(uid).alias("uid_l"), *[F.col(c).alias(f"{c}_l") for c in columns])
    right = records.select(F.col(uid).alias("uid_r"), *[F.col(c).alias(f"{c}_r") for c in columns])
    return links.join(left, "uid_l").join(right, "uid_r")
