"""Match keys: the normalized, comparable forms of names that rules, blocking and guards use.

- ``given_key``: accent-folded letters, short forms mapped to one canonical name
  ('Charo' -> 'rosario', 'Mike' -> 'miguel'), so nicknames compare equal;
- ``family_key``: accent-folded letters;
- ``name_lo`` / ``name_hi``: the two name keys in sorted order, so a record with given and
  family name swapped ('Martín Francisco' for 'Francisco Martín') has the same pair;
- ``initials``: the two initials, sorted, for the same reason;
- ``full_name_key``: given + family, the term-frequency column for the name comparison;
- ``company_key``: company name without punctuation or legal form, and its initial.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from c360.columns import string_map
from c360.identity.nicknames import NICKNAMES
from c360.silver.standardize import strip_accents


def name_key(c: Column) -> Column:
    """Lower-case, accents folded, letters only: 'García-López' -> 'garcialopez'."""
    return F.nullif(F.regexp_replace(F.lower(strip_accents(c)), r"[^a-z]", ""), F.lit(""))


def canonical_given(c: Column) -> Column:
    """The canonical form of a given-name key ('charo' -> 'rosario'); others unchanged."""
    return F.coalesce(F.element_at(string_map(NICKNAMES), c), c)


_LEGAL_FORM = (
    r"\b(s\.?\s?l\.?\s?u?\.?|s\.?\s?a\.?\s?u?\.?|s\.?\s?c\.?|s\.?\s?coop\.?|sociedad limitada"
    r"|sociedad anonima|gmbh|ltd\.?|limited|inc\.?|llc|plc|sarl|sas|s\.?p\.?a\.?|srl|b\.?v\.?"
    r"|n\.?v\.?|ag)\s*$"
)


# A legal form damaged by a typo: dotted letters of s/l/a/u at the end ('s..l', 'ls.l.').
_DAMAGED_LEGAL_FORM = r"[\s,]*[slau]{0,2}\s?[slau]?\.[slau.\s]*$"


def company_key(c: Column) -> Column:
    """Company name without its legal form or punctuation: 'ACME, S.L.' -> 'acme'."""
    t = F.trim(F.regexp_replace(F.lower(strip_accents(c)), r"[,;]", " "))
    t = F.regexp_replace(t, _DAMAGED_LEGAL_FORM, "")
    t = F.regexp_replace(t, _LEGAL_FORM, "")
    return F.nullif(F.regexp_replace(t, r"[^a-z0-9]", ""), F.lit(""))


def with_match_keys(df: DataFrame) -> DataFrame:
    """Adds the keys above from ``given_name``, ``family_name`` and ``company_name``."""
    df = df.withColumns(
        {
            "given_key": canonical_given(name_key(F.col("given_name"))),
            "family_key": name_key(F.col("family_name")),
            "company_key": company_key(F.col("company_name")),
        }
    )
    g, f = F.col("given_key"), F.col("family_key")
    both = g.isNotNull() & f.isNotNull()
    gi, fi = F.substring(g, 1, 1), F.substring(f, 1, 1)
    return df.withColumns(
        {
            "given_initial": gi,
            "company_initial": F.substring(F.col("company_key"), 1, 1),
            "name_lo": F.when(both, F.least(g, f)),
            "name_hi": F.when(both, F.greatest(g, f)),
            "initials": F.when(both, F.concat(F.least(gi, fi), F.greatest(gi, fi))),
            "full_name_key": F.when(both, F.concat_ws(" ", g, f)),
        }
    )
