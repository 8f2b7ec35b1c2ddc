"""Column -> Column standardizers for silver, built from Spark built-ins (one pandas UDF: NFC).

Every helper takes and returns a ``Column``, never looks at the clock, and maps
unparseable input to ``NULL`` (the caller keeps the raw text in ``_unparsed``), so a
value is never replaced by a guess.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType

from c360.columns import string_array, string_map
from c360.silver.reference import FEMALE, MALE, SALUTATIONS

# --------------------------------------------------------------------------- text


def let(c: Column, body: Callable[[Column], Column]) -> Column:
    """``body(c)`` with ``c`` evaluated once, however often ``body`` uses its argument.

    Spark inlines a projected column into the expressions that use it. A helper that
    reads its input five times then copies the input's whole expression tree five
    times, and nesting helpers multiplies the copies until planning runs out of memory.
    Passing the input through ``transform`` of a one-element array binds it to a lambda
    variable instead, so expression size adds up rather than multiplies.
    """
    return F.transform(F.array(c), body)[0]


def bound(fn: Callable[..., Column]) -> Callable[..., Column]:
    """Decorator: the helper's first argument goes through :func:`let`."""

    @functools.wraps(fn)
    def wrapper(c: Column, *args: Any, **kwargs: Any) -> Column:
        return let(c, lambda x: fn(x, *args, **kwargs))

    return wrapper


def blank_to_null(c: Column) -> Column:
    """Trim; empty or whitespace-only text is NULL (sources export missing as '').

    ``nullif`` evaluates its argument once (Spark rewrites it with a common expression).
    """
    return F.nullif(F.trim(F.regexp_replace(c, r"[\s\u00a0]+", " ")), F.lit(""))


def _latin_compositions() -> list[tuple[str, str]]:
    """(decomposed, composed) pairs for the accented Latin letters European names use."""
    pairs = []
    for code in range(0x00C0, 0x0180):
        ch = chr(code)
        nfd = unicodedata.normalize("NFD", ch)
        if len(nfd) == 2 and nfd != ch:
            pairs.append((nfd, ch))
    return pairs


_COMPOSE = _latin_compositions()


COMBINING_MARK = "[\u0300-\u036f]"


@pandas_udf(StringType())  # type: ignore[call-overload]
def _nfc_udf(s: pd.Series) -> pd.Series:
    return s.map(lambda v: v if v is None or pd.isna(v) else unicodedata.normalize("NFC", v))


def unicode_nfc(c: Column) -> Column:
    """Unicode NFC: 'a' + U+0301 becomes 'á'.

    Spark has no normalize() built-in, so this is the one text helper that calls Python.
    Decomposed text is rare (macOS exports, some web forms): only rows holding a
    combining mark are sent to the UDF; every other row passes through untouched.
    """
    return F.coalesce(_nfc_udf(F.when(c.rlike(COMBINING_MARK), c)), c)


def clean_text(c: Column) -> Column:
    """Trimmed, single-spaced, NFC text; blank is NULL.

    Silver applies it once to every raw column (``sources.with_clean_strings``); the
    helpers below only trim, so their expressions stay small when they are nested.
    """
    return blank_to_null(unicode_nfc(c))


_ACCENTED = "".join(ch for _, ch in _COMPOSE)
_UNACCENTED = "".join(unicodedata.normalize("NFD", ch)[0] for _, ch in _COMPOSE)


def strip_accents(c: Column) -> Column:
    """ASCII folding for match keys (never for display values)."""
    return F.translate(c, _ACCENTED, _UNACCENTED)


@bound
def name_case(c: Column) -> Column:
    """'GARCÍA  lópez' -> 'García López', keeping particles lower-case ('de', 'del', 'la').

    initcap() upper-cases after spaces only, so hyphenated and apostrophe names are fixed
    separately ('Ruiz-mateos' -> 'Ruiz-Mateos', "o'neill" -> "O'Neill").
    """
    t = F.initcap(F.lower(blank_to_null(c)))
    t = _upper_after(t, "-")
    t = _upper_after(t, "'")
    return _lower_particles(t)


@bound
def _upper_after(c: Column, sep: str) -> Column:
    """Upper-case the letter after ``sep`` (initcap only does this after spaces)."""
    parts = F.split(c, sep)
    cap = F.transform(
        parts, lambda p: F.concat(F.upper(F.substring(p, 1, 1)), F.substring(p, 2, 10_000))
    )
    return F.when(c.contains(sep), F.array_join(cap, sep)).otherwise(c)


_PARTICLES = ["De", "Del", "La", "Las", "Los", "Y", "Van", "Von", "Der", "Da", "Do", "Dos", "Di"]


@bound
def _lower_particles(c: Column) -> Column:
    words = F.split(c, " ")
    low = F.transform(
        words,
        lambda w, i: F.when(
            (i > 0) & w.isin(_PARTICLES) & (i < F.size(words) - 1), F.lower(w)
        ).otherwise(w),
    )
    return F.when(c.isNull(), F.lit(None)).otherwise(F.array_join(low, " "))


@bound
def salutation_token(c: Column) -> Column:
    """The leading title of a name field, normalized ('SRA.' -> 'sra'), or NULL."""
    first = F.lower(F.regexp_extract(blank_to_null(c), r"^([\p{L}]+)\.?(\s|$)", 1))
    return F.when(first.isin(list(SALUTATIONS)), first)


@bound
def without_salutation(c: Column) -> Column:
    """The name with a leading title removed ('Sra. Ana' -> 'Ana')."""
    t = blank_to_null(c)
    return F.when(
        salutation_token(t).isNotNull(),
        blank_to_null(F.regexp_replace(t, r"^[\p{L}]+\.?(\s+|$)", "")),
    ).otherwise(t)


def _lookup(mapping: Mapping[str, str], key: Column) -> Column:
    return F.element_at(string_map(mapping), key)


def salutation_display(token: Column) -> Column:
    """'sra' -> 'Sra.' (the form the contact plan prints)."""
    return _lookup({k: v[0] for k, v in SALUTATIONS.items()}, token)


def gender_from_salutation(token: Column) -> Column:
    return _lookup({k: v[1] for k, v in SALUTATIONS.items()}, token)


@bound
def gender_from_given_name(given: Column) -> Column:
    """'F' or 'M' from the first given name's reference gender, or NULL if unknown."""
    first = F.lower(strip_accents(F.split(blank_to_null(given), r"[\s-]")[0]))
    names = {**{n: "F" for n in FEMALE}, **{n: "M" for n in MALE}}
    return _lookup(names, first)


def is_known_given_name(token: Column) -> Column:
    t = F.lower(strip_accents(token))
    return F.array_contains(string_array(FEMALE | MALE), t)


# --------------------------------------------------------------------------- email

EMAIL_PATTERN = r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$"


@bound
def email_clean(c: Column) -> Column:
    """Lower-case, trimmed, 'mailto:' and surrounding <> removed; NULL when blank."""
    t = F.lower(blank_to_null(c))
    t = F.regexp_replace(t, r"^mailto:", "")
    t = F.regexp_replace(t, r"^<(.*)>$", "$1")
    return blank_to_null(F.regexp_replace(t, r"\s+", ""))


@bound
def email_valid(clean: Column) -> Column:
    """RFC 5322 'dot-atom' syntax check; NULL stays NULL (unknown, not invalid)."""
    return F.when(clean.isNull(), F.lit(None)).otherwise(clean.rlike(EMAIL_PATTERN))


# --------------------------------------------------------------------------- phone

_ES_NATIONAL = r"^[6789][0-9]{8}$"


def phone_digits(c: Column) -> Column:
    return F.regexp_replace(c, r"[^0-9+]", "")


@bound
def phone_e164_es(c: Column) -> Column:
    """Spanish numbers to E.164 ('+34612345678'); anything else is NULL.

    Handles the styles Spanish systems export: spaced, dotted, '0034-', '(+34)', '+34'
    and plain 9 digits. Other countries are left to the phonenumbers fallback.
    """
    d = phone_digits(blank_to_null(c))
    national = (
        F.when(d.rlike(r"^\+34[0-9]{9}$"), F.substring(d, 4, 9))
        .when(d.rlike(r"^0034[0-9]{9}$"), F.substring(d, 5, 9))
        .when(d.rlike(r"^34[6789][0-9]{8}$"), F.substring(d, 3, 9))
        .when(d.rlike(r"^[0-9]{9}$"), d)
    )
    return F.when(national.rlike(_ES_NATIONAL), F.concat(F.lit("+34"), national))


@bound
def phone_is_mobile(e164: Column) -> Column:
    """Spanish mobiles start with 6 or 7; SMS needs one."""
    return F.when(e164.isNull(), F.lit(None)).otherwise(e164.rlike(r"^\+34[67]"))


# --------------------------------------------------------------------------- address

_STREET_ABBREVIATIONS = {
    r"^(C/|C\.|CL\.?|CALLE)\s*": "CALLE ",
    r"^(AV\.?|AVDA\.?|AVENIDA)\s+": "AVENIDA ",
    r"^(Pº|P[.º]?\s*º|PS\.?|PASEO)\s+": "PASEO ",
    r"^(PL\.?|PZA\.?|PLAZA)\s+": "PLAZA ",
    r"^(CM\.?|CAMINO)\s+": "CAMINO ",
    r"^(RDA\.?|RONDA)\s+": "RONDA ",
}


@bound
def street_clean(c: Column) -> Column:
    """Upper-case, single-spaced street with the street type spelled out ('C/' -> 'CALLE')."""
    t = F.upper(blank_to_null(c))
    for pattern, repl in _STREET_ABBREVIATIONS.items():
        t = F.regexp_replace(t, pattern, repl)
    t = F.regexp_replace(t, r"\s*,\s*", ", ")
    return blank_to_null(t)


@bound
def postal_code_es(c: Column) -> Column:
    """Five-digit Spanish postal code; a 4-digit code lost its leading zero in a spreadsheet.

    Valid codes start with a province number 01-52; anything else is NULL.
    """
    d = F.regexp_replace(blank_to_null(c), r"\s", "")
    d = F.when(d.rlike(r"^[0-9]{4}$"), F.concat(F.lit("0"), d)).otherwise(d)
    prov = F.substring(d, 1, 2).cast("int")
    return F.when(d.rlike(r"^[0-9]{5}$") & prov.between(1, 52), d)


def city_clean(c: Column) -> Column:
    return name_case(c)


# --------------------------------------------------------------------------- dates, money


@bound
def parse_date(c: Column, *formats: str) -> Column:
    """The first format that parses wins; NULL if none does (never a guess)."""
    t = blank_to_null(c)
    return F.coalesce(*[F.to_date(F.try_to_timestamp(t, F.lit(f))) for f in formats])


@bound
def parse_timestamp(c: Column, *formats: str) -> Column:
    """Timestamps in UTC: formats with an offset (XXX) are converted, others are read as UTC."""
    t = blank_to_null(c)
    return F.coalesce(*[F.try_to_timestamp(t, F.lit(f)) for f in formats])


@bound
def epoch_ms(c: Column) -> Column:
    t = blank_to_null(c)
    return F.when(t.rlike(r"^-?[0-9]{1,15}$"), F.timestamp_millis(t.cast("long")))


@bound
def money(c: Column, *, decimal_comma: bool = False, scale: int = 2) -> Column:
    """Text amounts to DECIMAL(14, scale).

    ``decimal_comma``: European '23.450,00' (dot thousands, comma decimals). Otherwise
    '23450.00' or '23,450.00'.
    """
    t = F.regexp_replace(blank_to_null(c), r"[\s€$]", "")
    if decimal_comma:
        t = F.regexp_replace(F.regexp_replace(t, r"\.", ""), ",", ".")
    else:
        t = F.regexp_replace(t, ",", "")
    return F.when(t.rlike(r"^-?[0-9]+(\.[0-9]+)?$"), t.cast(f"decimal(14,{scale})"))


@bound
def to_int(c: Column) -> Column:
    t = F.regexp_replace(blank_to_null(c), r"[\s.]", "")
    return F.when(t.rlike(r"^-?[0-9]{1,9}$"), t.cast("int"))


@bound
def to_double(c: Column) -> Column:
    t = blank_to_null(c)
    return F.when(t.rlike(r"^-?[0-9]+(\.[0-9]+)?$"), t.cast("double"))


@bound
def to_bool(c: Column) -> Column:
    """'1/0', 'true/false', 'Y/N', 'yes/no', 'si/no' -> boolean; anything else NULL."""
    t = F.lower(blank_to_null(c))
    return F.when(t.isin("1", "true", "y", "yes", "si", "sí", "s"), F.lit(True)).when(
        t.isin("0", "false", "n", "no"), F.lit(False)
    )


# --------------------------------------------------------------------------- VIN

_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]


@bound
def vin_clean(c: Column) -> Column:
    """Upper-case with spaces, dashes and dots removed."""
    return blank_to_null(F.regexp_replace(F.upper(c), r"[\s.\-]", ""))


@bound
def vin_check_digit(vin: Column) -> Column:
    """ISO 3779 / FMVSS 115 check digit ('0'-'9' or 'X') of a 17-character VIN.

    One fold over the positions, so ``vin`` appears once in the plan: a sum of 16 terms
    repeated ``vin``'s whole expression 16 times (the generator's VIN is a large one),
    and planning that tree cost more than the data."""
    values = F.create_map(*[F.lit(x) for kv in sorted(_VIN_VALUES.items()) for x in kv])
    weights = F.array(*[F.lit(w) for w in _VIN_WEIGHTS])

    def add(total: Column, i: Column) -> Column:
        w = F.element_at(weights, i)
        # position 9 (weight 0) is the check digit itself: whatever it holds adds nothing
        term = F.element_at(values, vin.substr(i, F.lit(1))) * w
        return total + F.when(w == 0, F.lit(0)).otherwise(term)

    rem = F.aggregate(F.sequence(F.lit(1), F.lit(len(_VIN_WEIGHTS))), F.lit(0), add) % 11
    return F.when(rem == 10, F.lit("X")).otherwise(rem.cast("string"))


@bound
def vin_valid(clean: Column) -> Column:
    """17 characters without I, O, Q and a matching check digit (position 9)."""
    shape = clean.rlike(r"^[A-HJ-NPR-Z0-9]{17}$")
    return F.when(clean.isNull(), F.lit(None)).otherwise(
        shape & F.coalesce(F.substring(clean, 9, 1) == vin_check_digit(clean), F.lit(False))
    )
