"""Schema checks at layer boundaries: fail with the table and columns at fault."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from c360.errors import SchemaError


def validate_schema(df: DataFrame, expected: StructType, table: str) -> DataFrame:
    """Check names and types (nullability is not enforced by Spark, so it is not compared)."""
    actual = {f.name: f.dataType for f in df.schema.fields}
    missing = [f.name for f in expected.fields if f.name not in actual]
    if missing:
        raise SchemaError(table, "missing required column(s)", missing)
    wrong = [
        f"{f.name} is {actual[f.name].simpleString()}, expected {f.dataType.simpleString()}"
        for f in expected.fields
        if actual[f.name] != f.dataType
    ]
    if wrong:
        raise SchemaError(table, "wrong column type(s): " + "; ".join(wrong))
    extra = [name for name in actual if name not in {f.name for f in expected.fields}]
    if extra:
        raise SchemaError(table, "unexpected column(s)", extra)
    return df.select(*[f.name for f in expected.fields])
