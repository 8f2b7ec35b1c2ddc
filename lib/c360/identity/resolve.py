"""Identity resolution on a frame of party records, with no lake: links, then entities.

``find_links`` scores candidate pairs (rules first, then Fellegi-Sunter on blocked pairs)
and runs the over-merge guards; ``cluster`` turns the accepted links, plus the steward's
overrides, into components. Persons and companies are matched separately, so a company
and a person never share an entity. Both the ``resolve`` stage (incremental, persistent
ids) and the ``c360 resolve`` command (any table, with a mapping) call these.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.config import IdentityConfig
from c360.identity.cluster import connected_components, recluster
from c360.identity.guards import GuardConfig, apply_guards, birth_dates_conflict, with_sides
from c360.identity.keys import with_match_keys
from c360.identity.rules import (
    COMPANY_RULES,
    PERSON_RULES,
    company_name_links,
    deterministic_links,
)
from c360.io import checkpointed
from c360.logs import step

log = logging.getLogger(__name__)

# What a record brings to matching: uid plus these (NULL where a source lacks them).
MATCH_COLUMNS = (
    "party_type",
    "given_name",
    "family_name",
    "company_name",
    "tax_id",
    "birth_date",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "vin",
)
# Edge weights for clustering: rule links and steward links outrank any match weight.
RULE_WEIGHT = 100.0
MANUAL_WEIGHT = 1000.0
GUARD_COLUMNS = ["given_key", "family_key", "birth_date"]

LINK_COLUMNS = (
    "record_key_l",
    "record_key_r",
    "party_type",
    "method",
    "rules",
    "match_probability",
    "match_weight",
    "weights",
    "status",
    "veto_reasons",
)


@dataclass
class Matched:
    links: DataFrame  # LINK_COLUMNS, accepted and vetoed
    model: dict[str, Any] | None  # the Fellegi-Sunter model used (None: rules only)


def match_hash(df: DataFrame) -> Column:
    """Changes when any field matching reads changes, so only those records are rescored."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in MATCH_COLUMNS])), 256)


def _touching(links: DataFrame, new: DataFrame | None) -> DataFrame:
    """Links with at least one record in ``new`` (all links when ``new`` is None)."""
    if new is None:
        return links
    flags = new.select(F.col("uid").alias("_n")).distinct().withColumn("_x", F.lit(True))
    out = (
        links.join(flags.withColumnRenamed("_x", "_xl"), F.col("uid_l") == F.col("_n"), "left")
        .drop("_n")
        .join(flags.withColumnRenamed("_x", "_xr"), F.col("uid_r") == F.col("_n"), "left")
        .drop("_n")
    )
    return out.filter(F.col("_xl").isNotNull() | F.col("_xr").isNotNull()).drop("_xl", "_xr")


def _link_rows(df: DataFrame, party_type: str, method: str, status: str) -> DataFrame:
    cols = set(df.columns)

    def opt(name: str, typ: str) -> Column:
        return (F.col(name) if name in cols else F.lit(None)).cast(typ)

    return df.select(
        F.col("uid_l").alias("record_key_l"),
        F.col("uid_r").alias("record_key_r"),
        F.lit(party_type).alias("party_type"),
        F.lit(method).alias("method"),
        opt("rules", "array<string>").alias("rules"),
        opt("match_probability", "double").alias("match_probability"),
        opt("match_weight", "double").alias("match_weight"),
        opt("weights", "map<string,double>").alias("weights"),
        F.lit(status).alias("status"),
        opt("veto_reasons", "array<string>").alias("veto_reasons"),
    )


def _rule_links(
    df: DataFrame,
    party_type: str,
    rules: tuple,
    max_group_size: int | None,
    new: DataFrame | None,
    guards: GuardConfig | None,
    driver_max_edges: int = 0,
) -> DataFrame:
    found = deterministic_links(df, rules, max_group_size=max_group_size).links
    if party_type == "company":
        found = found.unionByName(company_name_links(df, driver_max_edges=driver_max_edges))
    pairs = (
        _touching(found, new)
        .groupBy("uid_l", "uid_r")
        .agg(F.array_sort(F.collect_set("rule")).alias("rules"))
        .withColumn("match_probability", F.lit(1.0))
    )
    if guards is None:
        return _link_rows(pairs, party_type, "rule", "accepted")
    g = apply_guards(with_sides(pairs, df, GUARD_COLUMNS), guards)
    return _link_rows(g.accepted, party_type, "rule", "accepted").unionByName(
        _link_rows(g.vetoed, party_type, "rule", "vetoed")
    )


def restrict_to_new(model: dict[str, Any]) -> dict[str, Any]:
    """The model with every blocking rule limited to pairs that involve a new record."""
    out = json.loads(json.dumps(model))
    rules = []
    for br in out["blocking_rules_to_generate_predictions"]:
        sql = br["blocking_rule"] if isinstance(br, dict) else br
        sql = f"({sql}) AND (l._is_new OR r._is_new)"  # unquoted: Spark and DuckDB
        rules.append({**br, "blocking_rule": sql} if isinstance(br, dict) else sql)
    out["blocking_rules_to_generate_predictions"] = rules
    return out


def find_links(
    spark: SparkSession,
    records: DataFrame,
    conf: IdentityConfig,
    *,
    model: dict[str, Any] | None = None,
    train: bool = True,
    new: DataFrame | None = None,
) -> Matched:
    """``records``: ``uid`` + MATCH_COLUMNS. ``new(uid)``: score only pairs touching these.

    Without a ``model``, one is trained on the person records when there are at least
    ``conf.min_training_records`` of them and ``train`` is set; otherwise persons are
    linked by rules only.
    """
    from c360.identity import fs  # Splink is imported only when matching runs

    keyed = with_match_keys(records).persist()
    persons = keyed.filter(F.col("party_type") == "person")
    companies = keyed.filter(F.col("party_type") != "person")
    guards = GuardConfig(min_name_similarity=conf.min_name_similarity)
    parts = [
        _rule_links(persons, "person", PERSON_RULES, conf.max_group_size, new, guards),
        _rule_links(
            companies, "company", COMPANY_RULES, None, new, None, conf.cluster_driver_max_edges
        ),
    ]
    # read up to three times (the training count, training, scoring): the cap's window once
    fs_input = (
        persons.transform(fs.with_name_block_capped, conf.max_name_block)
        .select("uid", *fs.PERSON_FIELDS)
        .transform(checkpointed)
    )
    engine = fs.Engine(conf.engine, conf.duckdb_memory_limit)
    if model is None and train:
        n = fs_input.count()
        if n >= conf.min_training_records:
            with step(log, "identity.train") as p:
                p.rows_in = n
                model = fs.train(
                    spark,
                    fs_input,
                    seed=conf.seed,
                    max_pairs=conf.u_max_pairs,
                    em_term_frequencies=conf.em_term_frequencies,
                    engine=engine,
                )
        else:
            log.warning(
                "step=identity.train skipped: %d person records < min_training_records=%d; "
                "persons are linked by rules only",
                n,
                conf.min_training_records,
            )
    if model is not None:
        with step(log, "identity.score"):  # Splink writes its blocked pairs eagerly
            scoring = fs.in_dialect(model, engine.name)  # a stored model may be another's
            if new is None:
                scored = fs.predict(
                    spark, fs_input, scoring, threshold=conf.threshold, engine=engine
                )
            else:
                flags = new.select("uid").distinct().withColumn("_is_new", F.lit(True))
                marked = fs_input.join(flags, "uid", "left").withColumn(
                    "_is_new", F.coalesce("_is_new", F.lit(False))
                )
                scored = fs.predict(
                    spark,
                    marked,
                    restrict_to_new(scoring),
                    threshold=conf.threshold,
                    engine=engine,
                )
        g = apply_guards(scored, guards)
        parts.append(_link_rows(g.accepted, "person", "probabilistic", "accepted"))
        parts.append(_link_rows(g.vetoed, "person", "probabilistic", "vetoed"))
    with step(log, "identity.link_rows") as p:  # rules, guards and the scored pairs' rows
        links = reduce(DataFrame.unionByName, parts).transform(checkpointed)
        p.rows_out = p.count(links)
    return Matched(links, model)


def _holding_both(pairs: DataFrame, comps: DataFrame) -> DataFrame:
    """Components that contain both ends of a ``pairs(src, dst)`` row."""
    return (
        pairs.join(comps.select(F.col("id").alias("src"), F.col("component").alias("_c1")), "src")
        .join(comps.select(F.col("id").alias("dst"), F.col("component").alias("_c2")), "dst")
        .filter(F.col("_c1") == F.col("_c2"))
        .select(F.col("_c1").alias("component"))
    )


def _conflicting_births(births: DataFrame | None, comps: DataFrame) -> DataFrame:
    """Components whose earliest and latest birth dates conflict (not a typo apart)."""
    if births is None:
        return comps.select("component").limit(0)
    span = (
        births.filter(F.col("birth_date").isNotNull())
        .join(comps.withColumnRenamed("id", "uid"), "uid")
        .groupBy("component")
        .agg(F.min("birth_date").alias("_lo"), F.max("birth_date").alias("_hi"))
    )
    return span.filter(birth_dates_conflict(F.col("_lo"), F.col("_hi"))).select("component")


def cluster(
    vertices: DataFrame,
    links: DataFrame,
    conf: IdentityConfig,
    must_link: DataFrame | None = None,
    must_not_link: DataFrame | None = None,
) -> DataFrame:
    """``vertices(uid[, birth_date])``, ``links`` -> ``(uid, component, flagged,
    graph_component)``; ``graph_component`` is the component before any split.

    Steward overrides win: a must-not-link pair never links directly, a must-link pair
    always does. A suspicious component — larger than ``max_cluster_size``, holding a
    must-not-link pair, or holding birth dates that conflict (more than a typo apart) —
    is re-clustered with strong edges only; what is still suspicious comes back
    ``flagged`` for a steward. Every decision is taken per graph component, so clustering
    a union of whole graph components alone gives the same answer for them as clustering
    everything: the identity stage's day-2 scope relies on it.
    """
    spark = vertices.sparkSession
    empty = spark.createDataFrame([], "uid_a string, uid_b string")
    must_link = must_link if must_link is not None else empty
    must_not_link = must_not_link if must_not_link is not None else empty
    mnl = must_not_link.select(
        F.least("uid_a", "uid_b").alias("src"), F.greatest("uid_a", "uid_b").alias("dst")
    ).distinct()
    weight = F.when(F.col("method") == "rule", F.lit(RULE_WEIGHT)).otherwise(F.col("match_weight"))
    edges = (
        links.filter(F.col("status") == "accepted")
        .select(
            F.least("record_key_l", "record_key_r").alias("src"),
            F.greatest("record_key_l", "record_key_r").alias("dst"),
            weight.alias("weight"),
        )
        .join(mnl, ["src", "dst"], "left_anti")
        .unionByName(
            must_link.select(
                F.least("uid_a", "uid_b").alias("src"),
                F.greatest("uid_a", "uid_b").alias("dst"),
                F.lit(MANUAL_WEIGHT).alias("weight"),
            )
        )
        .groupBy("src", "dst")
        .agg(F.max("weight").alias("weight"))
        .transform(checkpointed)
    )
    ids = vertices.select(F.col("uid").alias("id"))
    engine = {"driver_max_edges": conf.cluster_driver_max_edges}
    comps = connected_components(ids, edges.select("src", "dst"), **engine).transform(checkpointed)
    sizes = comps.groupBy("component").agg(F.count(F.lit(1)).alias("_n"))
    big = sizes.filter(F.col("_n") > conf.max_cluster_size).select("component")
    births = vertices.select("uid", "birth_date") if "birth_date" in vertices.columns else None
    suspect = (
        big.unionByName(_holding_both(mnl, comps))
        .unionByName(_conflicting_births(births, comps))
        .distinct()
    )
    strong = edges.filter(F.col("weight") >= conf.min_split_weight).join(
        mnl, ["src", "dst"], "left_anti"
    )
    out = recluster(comps, strong, suspect, **engine)
    # still too big, or a must-not-link pair still connected through strong links
    sizes = out.groupBy("component").agg(F.count(F.lit(1)).alias("_n"))
    still_big = sizes.filter(F.col("_n") > conf.max_cluster_size).select("component")
    flagged = (
        still_big.unionByName(_holding_both(mnl, out))
        .unionByName(_conflicting_births(births, out))
        .distinct()
        .withColumn("flagged", F.lit(True))
    )
    graph = comps.select("id", F.col("component").alias("graph_component"))
    return (
        out.join(flagged, "component", "left")
        .join(graph, "id")
        .select(
            F.col("id").alias("uid"),
            "component",
            F.coalesce("flagged", F.lit(False)).alias("flagged"),
            "graph_component",
        )
    )
