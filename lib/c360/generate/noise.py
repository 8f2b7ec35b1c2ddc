"""Column -> Column helpers that damage values the way people and systems do."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from c360.generate.rand import pick
from c360.generate.reference import ACCENTS_FROM, ACCENTS_TO


def typo(s: Column, u_pos: Column, u_kind: Column) -> Column:
    """One keyboard slip: a deleted, doubled, swapped or replaced character."""
    n = F.length(s)
    p = (u_pos * (n - 1)).cast("int") + 1  # 1..n-1, so a swap always has a right neighbour
    one = F.lit(1)
    head = s.substr(one, p - 1)
    tail_after = s.substr(p + 1, n)
    deleted = F.concat(head, tail_after)
    doubled = F.concat(s.substr(one, p), s.substr(p, n))
    swapped = F.concat(head, s.substr(p + 1, one), s.substr(p, one), s.substr(p + 2, n))
    replaced = F.concat(head, pick(list("aeiornsl"), u_pos), tail_after)
    return (
        F.when(s.isNull() | (n < 3), s)
        .when(u_kind < 0.3, deleted)
        .when(u_kind < 0.5, doubled)
        .when(u_kind < 0.8, swapped)
        .otherwise(replaced)
    )


def strip_accents(s: Column) -> Column:
    return F.translate(s, ACCENTS_FROM, ACCENTS_TO)


def ascii_slug(s: Column) -> Column:
    """Lower-case ASCII letters and digits only, for email local parts."""
    return F.regexp_replace(F.lower(strip_accents(s)), r"[^a-z0-9]", "")


def maybe(u: Column, rate: float, damaged: Column, original: Column) -> Column:
    return F.when(u < rate, damaged).otherwise(original)
