"""Declarative data-quality rules, applied and split into kept and quarantined rows.

Rules live in YAML (``conf/dq/silver.yaml``), per silver table::

    sales:
      - {name: sale_date_present, check: not_null, columns: [sale_date], severity: drop}

Checks: ``not_null``, ``pattern``, ``range`` (``min``/``max``; the word ``as_of`` means
the run date), ``allowed`` (``values``), ``is_true`` (a boolean flag column), ``max_length`` (``max``
characters: a 1 MB "name" is a broken export, not a customer),
``unique`` (no other key holds the same value, in the batch or already in the table) and
``references`` (the value exists in ``ref_table.ref_column``). ``where`` (SQL) limits a
rule to some rows. Only ``not_null`` fails on NULL; the others let NULL pass.

Severity: ``warn`` keeps the row and lists the rule in ``_dq_warnings``; ``drop`` sends the
row to quarantine with the rule's name; ``fail`` stops the stage with the table, rule and
count. Every rule's counts go to ``ops.dq_results``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import yaml
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.config import from_dict
from c360.errors import ConfigError, DataQualityError
from c360.io import checkpointed
from c360.lake import Lake

SEVERITIES = ("warn", "drop", "fail")


@dataclass(frozen=True)
class DqRule:
    name: str
    check: str
    columns: list[str]
    severity: str = "warn"
    pattern: str | None = None
    min: Any = None
    max: Any = None
    values: list[Any] = field(default_factory=list)
    ref_table: str | None = None
    ref_column: str | None = None
    where: str | None = None


@dataclass(frozen=True)
class DqRuleSet:
    tables: dict[str, list[DqRule]] = field(default_factory=dict)

    def for_table(self, table: str) -> list[DqRule]:
        return list(self.tables.get(table.split(".", 1)[-1], []))


def load_rules(path: str) -> DqRuleSet:
    if not os.path.isfile(path):
        raise ConfigError(f"data-quality rules not found: {path}")
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    # Top-level keys starting with "x-" hold YAML anchors that rules share, not tables.
    data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    try:
        rules = from_dict(DqRuleSet, {"tables": data}, path="dq")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for table, items in rules.tables.items():
        names = [r.name for r in items]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"{path}: table {table} has duplicate rule name(s): {', '.join(dup)}")
        for r in items:
            _validate(r, table, path)
    return rules


def _validate(r: DqRule, table: str, path: str) -> None:
    where = f"{path}: table {table}, rule '{r.name}'"
    if r.check not in CHECKS:
        raise ConfigError(f"{where}: unknown check '{r.check}' (known: {', '.join(CHECKS)})")
    if r.severity not in SEVERITIES:
        raise ConfigError(f"{where}: unknown severity '{r.severity}' (known: warn, drop, fail)")
    if not r.columns:
        raise ConfigError(f"{where}: 'columns' is empty")
    missing = CHECKS[r.check].requires(r)
    if missing:
        raise ConfigError(f"{where}: check '{r.check}' needs {missing}")


def referenced_tables(rules: list[DqRule]) -> set[str]:
    return {r.ref_table for r in rules if r.check == "references" and r.ref_table}


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class DqContext:
    spark: SparkSession
    lake: Lake
    table: str
    key: tuple[str, ...]
    as_of: dt.date


def _bound(value: Any, as_of: dt.date) -> Any:
    return as_of if value == "as_of" else value


def _outside(c: Column, bound: Any, below: bool) -> Column:
    """Dates bound at day grain: a reading at 22:00 on the run date is not in the future."""
    if isinstance(bound, dt.date):
        c = c.cast("date")
    return c.isNotNull() & ((c < F.lit(bound)) if below else (c > F.lit(bound)))


def _flag(rule: DqRule) -> str:
    return f"_dq_set_{rule.name}"


def _failed(rule: DqRule, as_of: dt.date) -> Column:
    """TRUE where the row breaks the rule."""
    bad = CHECKS[rule.check].condition(rule, [F.col(c) for c in rule.columns], as_of)
    if rule.where:
        bad = F.expr(rule.where) & bad
    return F.coalesce(bad, F.lit(False))


def with_set_flags(df: DataFrame, rules: list[DqRule], ctx: DqContext) -> DataFrame:
    """Join-based checks (unique, references) become boolean columns before evaluation."""
    for rule in rules:
        flag = CHECKS[rule.check].flag
        if flag is not None:
            df = flag(df, rule, ctx)
    return df


def _with_unique_flag(df: DataFrame, rule: DqRule, ctx: DqContext) -> DataFrame:
    key, cols = list(ctx.key), list(rule.columns)
    mine = df.select(*key, *cols)
    if ctx.lake.exists(ctx.spark, ctx.table):
        target = ctx.lake.read(ctx.spark, ctx.table).filter(~F.col("_is_deleted"))
        others = target.select(*key, *cols).join(mine.select(*key), key, "left_anti")
        mine = mine.unionByName(others)
    nonnull = reduce(lambda a, b: a & b, [F.col(c).isNotNull() for c in cols])
    dupes = (
        mine.filter(nonnull)
        .groupBy(*cols)
        .agg(F.countDistinct(*key).alias("_n"))
        .filter(F.col("_n") > 1)
        .select(*cols, F.lit(True).alias(_flag(rule)))
    )
    out = df.join(dupes, cols, "left")
    return out.withColumn(_flag(rule), F.coalesce(F.col(_flag(rule)), F.lit(False)))


def _with_reference_flag(df: DataFrame, rule: DqRule, ctx: DqContext) -> DataFrame:
    (column,) = rule.columns
    ref_table = rule.ref_table or ""
    if ctx.lake.exists(ctx.spark, ref_table):
        ref = ctx.lake.read(ctx.spark, ref_table)
        if "_is_deleted" in ref.columns:
            ref = ref.filter(~F.col("_is_deleted"))
        known = ref.select(F.col(rule.ref_column).alias("_ref_value")).distinct()
    else:
        known = ctx.spark.createDataFrame([], "_ref_value string")
    known = known.withColumn("_ref_hit", F.lit(True))
    out = df.join(F.broadcast(known), df[column] == known["_ref_value"], "left").drop("_ref_value")
    flag = F.col(column).isNotNull() & F.col("_ref_hit").isNull()
    return out.withColumn(_flag(rule), flag).drop("_ref_hit")


@dataclass(frozen=True)
class RuleResult:
    table: str
    rule: str
    check: str
    severity: str
    columns: list[str]
    rows_checked: int
    rows_failed: int


@dataclass
class DqSplit:
    kept: DataFrame  # with _dq_warnings
    quarantined: DataFrame  # with _dq_rules, _dq_reason, _dq_columns
    results: list[RuleResult]
    checked: DataFrame  # a local checkpoint; the caller unpersists it when done


def apply_checks_and_split(df: DataFrame, rules: list[DqRule], ctx: DqContext) -> DqSplit:
    """Evaluate every rule once, count failures, and split the rows by severity.

    Raises ``DataQualityError`` for the first ``fail`` rule with failures, after the
    counts are computed (the caller records them before re-raising).
    """
    df = with_set_flags(df, rules, ctx)
    failures = F.array(
        *[
            F.when(
                _failed(r, ctx.as_of),
                F.struct(
                    F.lit(r.name).alias("rule"),
                    F.lit(r.severity).alias("severity"),
                    F.lit(",".join(r.columns)).alias("columns"),
                    F.lit(_reason(r)).alias("reason"),
                ),
            )
            for r in rules
        ]
        or [F.lit(None)]
    )
    df = df.withColumn("_dq", F.filter(failures, lambda x: x.isNotNull())).drop(
        *[_flag(r) for r in rules if CHECKS[r.check].flag is not None]
    )
    df = df.transform(checkpointed)
    aggs = [F.count(F.lit(1)).alias("_checked")] + [
        F.sum(F.exists("_dq", _is_rule(r.name)).cast("long")).alias(f"r{i}")
        for i, r in enumerate(rules)
    ]
    row = df.agg(*aggs).collect()[0]
    checked = int(row["_checked"])
    results = [
        RuleResult(
            ctx.table, r.name, r.check, r.severity, list(r.columns), checked, int(row[f"r{i}"] or 0)
        )
        for i, r in enumerate(rules)
    ]
    severe = F.exists("_dq", lambda x: x["severity"].isin("drop", "fail"))
    kept = df.filter(~severe).withColumn(
        "_dq_warnings", F.array_sort(F.transform("_dq", lambda x: x["rule"]))
    )
    bad = F.filter("_dq", lambda x: x["severity"].isin("drop", "fail"))
    quarantined = df.filter(severe).select(
        "*",
        F.array_sort(F.transform(bad, lambda x: x["rule"])).alias("_dq_rules"),
        F.array_join(
            F.transform(bad, lambda x: F.concat(x["rule"], F.lit(": "), x["reason"])), "; "
        ).alias("_dq_reason"),
        F.array_sort(
            F.array_distinct(F.flatten(F.transform(bad, lambda x: F.split(x["columns"], ","))))
        ).alias("_dq_columns"),
    )
    return DqSplit(kept.drop("_dq"), quarantined.drop("_dq"), results, df)


def _is_rule(name: str):
    return lambda x: x["rule"] == name


def raise_on_fail(split: DqSplit) -> None:
    for r in split.results:
        if r.severity == "fail" and r.rows_failed:
            raise DataQualityError(r.table, r.rule, r.rows_failed, r.columns)


def _reason(r: DqRule) -> str:
    return CHECKS[r.check].reason(r, ", ".join(r.columns))


# ---------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class Check:
    """One kind of rule: the row condition that breaks it, the reason a quarantined row
    carries, what a rule of this kind must give (None when it gives it all), and, for
    checks over the whole set (unique, references), the transform that first computes a
    flag column the condition reads."""

    condition: Callable[[DqRule, list[Column], dt.date], Column]
    reason: Callable[[DqRule, str], str]
    requires: Callable[[DqRule], str | None]
    flag: Callable[[DataFrame, DqRule, DqContext], DataFrame] | None = None


def _any(cols: list[Column], bad: Callable[[Column], Column]) -> Column:
    return reduce(lambda a, b: a | b, [bad(c) for c in cols])


def _range_failed(rule: DqRule, cols: list[Column], as_of: dt.date) -> Column:
    parts = []
    for c in cols:
        if rule.min is not None:
            parts.append(_outside(c, _bound(rule.min, as_of), below=True))
        if rule.max is not None:
            parts.append(_outside(c, _bound(rule.max, as_of), below=False))
    return reduce(lambda a, b: a | b, parts)


def _flagged(rule: DqRule, cols: list[Column], as_of: dt.date) -> Column:
    return F.col(_flag(rule))


def _bounds(r: DqRule) -> str:
    return f"[{'' if r.min is None else r.min}, {'' if r.max is None else r.max}]"


def _nothing(r: DqRule) -> str | None:
    return None


CHECKS: dict[str, Check] = {
    "not_null": Check(
        condition=lambda r, cols, as_of: _any(cols, lambda c: c.isNull()),
        reason=lambda r, cols: f"{cols} is missing or could not be parsed",
        requires=_nothing,
    ),
    "pattern": Check(
        condition=lambda r, cols, as_of: _any(
            cols, lambda c: c.isNotNull() & ~c.cast("string").rlike(r.pattern)
        ),
        reason=lambda r, cols: f"{cols} does not match {r.pattern}",
        requires=lambda r: None if r.pattern else "'pattern'",
    ),
    "range": Check(
        condition=_range_failed,
        reason=lambda r, cols: f"{cols} outside {_bounds(r)}",
        requires=lambda r: None if r.min is not None or r.max is not None else "'min' or 'max'",
    ),
    "allowed": Check(
        condition=lambda r, cols, as_of: _any(
            cols, lambda c: c.isNotNull() & ~c.isin(list(r.values))
        ),
        reason=lambda r, cols: f"{cols} not in {', '.join(map(str, r.values))}",
        requires=lambda r: None if r.values else "'values'",
    ),
    "is_true": Check(
        condition=lambda r, cols, as_of: _any(cols, lambda c: c.isNotNull() & ~c),
        reason=lambda r, cols: f"{cols} is false",
        requires=_nothing,
    ),
    "max_length": Check(
        condition=lambda r, cols, as_of: _any(cols, lambda c: F.length(c.cast("string")) > r.max),
        reason=lambda r, cols: f"{cols} longer than {r.max} characters",
        requires=lambda r: None if isinstance(r.max, int) else "'max' (a whole number)",
    ),
    "unique": Check(
        condition=_flagged,
        reason=lambda r, cols: f"{cols} also held by another record",
        requires=_nothing,
        flag=_with_unique_flag,
    ),
    "references": Check(
        condition=_flagged,
        reason=lambda r, cols: f"{cols} not found in {r.ref_table}.{r.ref_column}",
        requires=lambda r: None if r.ref_table and r.ref_column else "'ref_table' and 'ref_column'",
        flag=_with_reference_flag,
    ),
}
