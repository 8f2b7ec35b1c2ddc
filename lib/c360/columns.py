"""Column helpers shared by every layer (``Column -> Column``, no DataFrame)."""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F


def lookup(mapping: dict[str, Any], key: Column) -> Column:
    """``mapping[key]`` as a column, NULL where the key is absent: a literal map, so a
    small Python dict joins no table."""
    flat: list[Column] = []
    for k, v in mapping.items():
        flat.extend([F.lit(k), F.lit(v)])
    return F.try_element_at(F.create_map(*flat), key)
