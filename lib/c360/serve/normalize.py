"""A search term normalized as silver normalizes the column it is compared with.

Silver standardizes in Spark (``c360.silver.standardize``, ``c360.silver.phones``); the
service must not start Spark per request, so these are the same rules in Python.
``tests/test_serve.py`` runs both on the same messy values and expects the same answers.
"""

from __future__ import annotations

import re
import unicodedata

_EMAIL_BLANK = re.compile(r"\s+")
_ES_NATIONAL = re.compile(r"^[6789][0-9]{8}$")


def _blank_to_none(value: str | None) -> str | None:
    """``standardize.blank_to_null``: runs of blanks one space, trimmed, '' is None."""
    if value is None:
        return None
    return re.sub(r"[\s\u00a0]+", " ", value).strip(" ") or None


def email_clean(value: str | None) -> str | None:
    """``standardize.email_clean``: lower-case, 'mailto:' and <> removed, no blanks."""
    t = _blank_to_none(value)
    if t is None:
        return None
    t = t.lower()
    t = re.sub(r"^mailto:", "", t)
    t = re.sub(r"^<(.*)>$", r"\1", t)
    return _blank_to_none(_EMAIL_BLANK.sub("", t))


def _phone_e164_es(raw: str) -> str | None:
    d = re.sub(r"[^0-9+]", "", raw)
    national = None
    if re.fullmatch(r"\+34[0-9]{9}", d):
        national = d[3:]
    elif re.fullmatch(r"0034[0-9]{9}", d):
        national = d[4:]
    elif re.fullmatch(r"34[6789][0-9]{8}", d):
        national = d[2:]
    elif re.fullmatch(r"[0-9]{9}", d):
        national = d
    if national is not None and _ES_NATIONAL.match(national):
        return "+34" + national
    return None


def phone_e164(value: str | None, region: str = "ES") -> str | None:
    """``phones.phone_e164``: the Spanish native rules, else libphonenumber with Spain as
    the default region; None when neither reads a valid number."""
    raw = _blank_to_none(value)
    if raw is None:
        return None
    native = _phone_e164_es(raw)
    if native is not None:
        return native
    import phonenumbers

    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def vin_clean(value: str | None) -> str | None:
    """``standardize.vin_clean``: upper-case with spaces, dashes and dots removed."""
    t = _blank_to_none(value)
    return None if t is None else _blank_to_none(re.sub(r"[\s.\-]", "", t.upper()))


def name_tokens(value: str | None) -> list[str]:
    """Lower-case words without accents: 'José  GARCÍA-López' -> ['jose', 'garcia', 'lopez']."""
    if not value:
        return []
    plain = unicodedata.normalize("NFKD", value)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch)).lower()
    return [t for t in re.split(r"[^a-z0-9]+", plain) if t]


def postal_code_es(value: str | None) -> str | None:
    """``standardize.postal_code_es``: five digits, a lost leading zero put back, province
    01-52; else None."""
    t = _blank_to_none(value)
    if t is None:
        return None
    d = re.sub(r"\s", "", t)
    if re.fullmatch(r"[0-9]{4}", d):
        d = "0" + d
    return d if re.fullmatch(r"[0-9]{5}", d) and 1 <= int(d[:2]) <= 52 else None
