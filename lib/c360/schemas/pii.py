"""Which columns hold personal data, and keeping them out of the Delta log.

Delta writes per-file min/max values into ``_delta_log`` commits, which no DELETE or
VACUUM rewrites. A person's email as some file's minimum would outlive their erasure
there, so tables keep statistics only on columns that cannot name a person
(``delta.dataSkippingStatsColumns``): keys, dates, codes, amounts and lineage.
"""

from __future__ import annotations

from pyspark.sql.types import (
    DataType,
    DateType,
    NumericType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

# Columns of silver, gold and bronze quarantine that can hold a person's own data.
PERSONAL_COLUMNS = frozenset(
    {
        "salutation",
        "gender",
        "given_name",
        "family_name",
        "full_name",
        "company_name",
        "tax_id",
        "birth_date",
        "email",
        "phone",
        "street",
        "postal_code",
        "city",
        "contact_point",
        "recipient_email",
        "recipient_phone",
        "recipient_address",
        "comment",
        "record",
        "raw_line",
    }
)
STATS_PROPERTY = "delta.dataSkippingStatsColumns"


def _has_stats(t: DataType) -> bool:
    return isinstance(t, (StringType, NumericType, DateType, TimestampType, TimestampNTZType))


def stats_columns(schema: StructType, personal: frozenset[str] = PERSONAL_COLUMNS) -> list[str]:
    """The top-level columns Delta may keep min/max for: not personal, of a type with stats."""
    return [f.name for f in schema.fields if f.name not in personal and _has_stats(f.dataType)]


def stats_properties(schema: StructType, personal: frozenset[str] = PERSONAL_COLUMNS) -> dict:
    cols = stats_columns(schema, personal)
    if not cols:
        return {"delta.dataSkippingNumIndexedCols": "0"}
    return {STATS_PROPERTY: ",".join(cols)}
