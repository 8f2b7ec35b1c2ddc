"""Deterministic randomness as Spark columns.

Every draw is a hash of (seed, salt, keys), so the same seed gives the same world
whatever the partitioning, the number of cores or the order of rows: no ``rand()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

_SCALE = 1 << 30


def uniform(seed: int, salt: str, *keys: Column | str) -> Column:
    """A uniform draw in [0, 1) keyed by the salt and the key columns."""
    cols = [F.col(k) if isinstance(k, str) else k for k in keys]
    return F.pmod(F.xxhash64(F.lit(seed), F.lit(salt), *cols), F.lit(_SCALE)) / F.lit(float(_SCALE))


def pick(values: Sequence[Any], u: Column) -> Column:
    """One of ``values``, uniformly by ``u``."""
    idx = F.least((u * len(values)).cast("int"), F.lit(len(values) - 1)) + 1
    return F.element_at(F.array(*[F.lit(v) for v in values]), idx)


def zipf_pick(values: Sequence[Any], u: Column, power: float = 2.2) -> Column:
    """One of ``values``, skewed towards the head of the list (common names repeat)."""
    return pick(values, F.pow(u, F.lit(power)))


def digits(seed: int, salt: str, n: int, *keys: Column | str) -> Column:
    """A string of ``n`` pseudo-random digits."""
    cols = [F.col(k) if isinstance(k, str) else k for k in keys]
    value = F.pmod(F.xxhash64(F.lit(seed), F.lit(salt), *cols), F.lit(10**n))
    return F.lpad(value.cast("string"), n, "0")
