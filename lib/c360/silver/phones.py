"""Phone numbers to E.164: a Spark-native path for Spanish numbers, phonenumbers for the rest.

The native path (``standardize.phone_e164_es``) handles the national formats Spanish
systems export and agrees with phonenumbers on them (``tests/test_silver_standardize.py``
checks it on a corpus). Only values it cannot read go through the pandas UDF, which asks
Google's libphonenumber port with Spain as the default region.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType

from c360.silver.standardize import blank_to_null, phone_e164_es

DEFAULT_REGION = "ES"


def e164_reference(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """phonenumbers' answer: the E.164 form of a valid number, else None."""
    import phonenumbers

    if raw is None or not str(raw).strip():
        return None
    try:
        num = phonenumbers.parse(str(raw), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


@pandas_udf(StringType())  # type: ignore[call-overload]
def _e164_udf(raw: pd.Series) -> pd.Series:
    return raw.map(lambda v: None if v is None or pd.isna(v) else e164_reference(v))


def phone_e164(c: Column) -> Column:
    """E.164 or NULL. Rows the native path reads never reach Python (the UDF gets NULL)."""
    raw = blank_to_null(c)
    native = phone_e164_es(raw)
    fallback = _e164_udf(F.when(native.isNull(), raw))
    return F.coalesce(native, fallback)
