"""Column helpers shared by every layer (``Column -> Column``), and ``with_run``, the
one frame transform every layer uses to stamp the run on its rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType


def lookup(mapping: dict[str, Any], key: Column) -> Column:
    """``mapping[key]`` as a column, NULL where the key is absent: a literal map, so a
    small Python dict joins no table."""
    flat: list[Column] = []
    for k, v in mapping.items():
        flat.extend([F.lit(k), F.lit(v)])
    return F.try_element_at(F.create_map(*flat), key)


def _sql_literal(v: str | float | None) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError(f"not a string or number: {v!r}")
    return f"{float(v)!r}D" if isinstance(v, float) else f"{v}L"


def string_map(mapping: Mapping[str, str | float | None]) -> Column:
    """A literal map of reference data (names, nicknames, a lexicon) as one Spark SQL
    expression: one call into the JVM instead of two per entry. A list of 900 names cost
    half a second of Py4J round trips each time a source's typer was built."""
    items = ", ".join(f"{_sql_literal(k)}, {_sql_literal(v)}" for k, v in sorted(mapping.items()))
    return F.expr(f"map({items})")


def string_array(values: Iterable[str]) -> Column:
    """A literal array of reference strings, as one Spark SQL expression (see string_map)."""
    return F.expr(f"array({', '.join(_sql_literal(v) for v in sorted(values))})")


# Sums and means of doubles are taken in this decimal: its sum is exact, so the result
# does not depend on the order rows reach the aggregate (a resumed run, another file
# layout or shuffle partition count). Twelve decimal places: a score or a sentiment in
# [-1, 1] keeps far more precision than it has meaning.
EXACT = "decimal(30,12)"


def exact_sum(c: Column) -> Column:
    """``sum`` of a double that the row order cannot change (a double's ``+`` is not
    associative: 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1). A double again, NULL when empty."""
    return F.sum(c.cast(EXACT)).cast("double")


def exact_mean(c: Column) -> Column:
    """``avg`` of a double that the row order cannot change (see exact_sum)."""
    return F.avg(c.cast(EXACT)).cast("double")


def to_schema(df: DataFrame, schema: StructType) -> DataFrame:
    """The table's columns in its order and its types: an array or struct built in a
    transformation comes out non-null where the table's allows NULL, which its write
    would refuse."""
    return df.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])


def with_run(df: DataFrame, as_of: dt.date, run_id: str) -> DataFrame:
    """The run's ``as_of`` and ``run_id`` on every row: which run date and which run wrote
    it (one projection)."""
    return df.withColumns({"as_of": F.lit(as_of), "run_id": F.lit(run_id)})
