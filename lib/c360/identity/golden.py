"""Golden records: one row per customer_id, each attribute chosen by its survivorship rule.

Rules (per attribute, from config):

- ``source_priority``: the value from the most trusted source that has one (then most recent);
- ``most_recent``: the value from the newest record (``record_date``, then ``_change_ts``);
- ``most_frequent``: the value most records agree on (then most recent);
- ``most_complete``: the value from the record that fills most of the attribute's
  ``group`` (street, postal code and city travel together), then most recent.

Every attribute keeps its provenance: the source and record id it came from, and the rule.
NULL never wins over a value. Ties end on the record key, so the answer is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from c360.errors import ConfigError

RULES = ("source_priority", "most_recent", "most_frequent", "most_complete")


@dataclass(frozen=True)
class Survivorship:
    attribute: str
    rule: str = "most_recent"
    sources: list[str] = field(default_factory=list)  # source_priority: best first
    group: list[str] = field(default_factory=list)  # most_complete: columns counted

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ConfigError(
                f"survivorship for '{self.attribute}': unknown rule '{self.rule}' "
                f"(known: {', '.join(RULES)})"
            )
        if self.rule == "source_priority" and not self.sources:
            raise ConfigError(f"survivorship for '{self.attribute}': source_priority needs sources")


def _recency() -> Column:
    return F.struct(
        F.coalesce(F.col("record_date"), F.to_date("_change_ts"), F.lit("1900-01-01").cast("date")),
        F.coalesce(F.col("_change_ts"), F.lit("1900-01-01 00:00:00").cast("timestamp")),
        F.col("source"),
        F.col("source_record_id"),
    )


def _order(rule: Survivorship) -> Column:
    """Higher is better."""
    if rule.rule == "source_priority":
        rank = F.array_position(F.array(*[F.lit(s) for s in rule.sources]), F.col("source"))
        trust = F.when(rank > 0, -rank).otherwise(F.lit(-10_000))
        return F.struct(trust.alias("k"), _recency().alias("r"))
    if rule.rule == "most_frequent":
        return F.struct(F.col(f"_freq_{rule.attribute}").alias("k"), _recency().alias("r"))
    if rule.rule == "most_complete":
        cols = rule.group or [rule.attribute]
        filled = sum((F.col(c).isNotNull().cast("int") for c in cols), F.lit(0))
        return F.struct(filled.alias("k"), _recency().alias("r"))
    return F.struct(F.lit(0).alias("k"), _recency().alias("r"))


def golden_records(records: DataFrame, rules: list[Survivorship]) -> DataFrame:
    """``records`` (customer_id, source, source_record_id, record_date, _change_ts, attrs)
    -> one row per customer_id with each attribute and a ``provenance`` map."""
    df = records
    for r in rules:
        if r.rule == "most_frequent":
            w = Window.partitionBy("customer_id", r.attribute)
            df = df.withColumn(
                f"_freq_{r.attribute}",
                F.when(F.col(r.attribute).isNotNull(), F.count(F.lit(1)).over(w)),
            )
    aggs = []
    for r in rules:
        pick = F.struct(
            F.col(r.attribute).alias("value"),
            F.col("source").alias("source"),
            F.col("source_record_id").alias("source_record_id"),
        )
        order = F.when(F.col(r.attribute).isNotNull(), _order(r))
        aggs.append(F.max_by(pick, order).alias(f"_w_{r.attribute}"))
    won = df.groupBy("customer_id").agg(F.count(F.lit(1)).alias("records"), *aggs)
    provenance = F.map_from_entries(
        F.filter(
            F.array(
                *[
                    F.struct(
                        F.lit(r.attribute).alias("key"),
                        F.when(
                            F.col(f"_w_{r.attribute}.value").isNotNull(),
                            F.struct(
                                F.col(f"_w_{r.attribute}.source").alias("source"),
                                F.col(f"_w_{r.attribute}.source_record_id").alias(
                                    "source_record_id"
                                ),
                                F.lit(r.rule).alias("rule"),
                            ),
                        ).alias("value"),
                    )
                    for r in rules
                ]
            ),
            lambda e: e["value"].isNotNull(),
        )
    )
    return won.select(
        "customer_id",
        *[F.col(f"_w_{r.attribute}.value").alias(r.attribute) for r in rules],
        "records",
        provenance.alias("provenance"),
    )
