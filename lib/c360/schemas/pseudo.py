"""Schemas of the pseudonymized twins (the ``pseudo`` layer, under ``lake.pseudo_root``).

Each twin is its gold table with every column given one treatment, listed here so that
a new gold column cannot reach analysts unreviewed (a test checks every column has one):

- ``key``: the id replaced by its keyed HMAC (``customer_id`` -> ``customer_key``);
- ``drop``: names, contact points, street and city, free text, and exact scores;
- ``band``: birth date -> ``birth_year_band`` (``1980-1984``), postal code ->
  ``postal_area`` (its province, or its region), money and km floored to a band;
- ``month``: a date cut to the first of its month;
- ``cap``: a count top-coded at ``privacy.count_cap`` (5 means five or more);
- ``keep``: codes, categories, flags and small counts.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DataType,
    DateType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)

from c360.schemas import gold as G

KEY, DROP, BAND, MONTH, CAP, KEEP = "key", "drop", "band", "month", "cap", "keep"
NESTED = "nested"  # an array of structs whose fields get VEHICLE_POLICY
# counts top-coded at privacy.count_cap: a fleet's 40 vehicles would single it out
_COUNTS = ("records", *G.PROFILE_COUNTS)

# id column -> the column holding its HMAC
KEY_NAMES = {
    "customer_id": "customer_key",
    "household_id": "household_key",
    "vin": "vin_key",
    "contact_id": "contact_key",
    "member_ids": "member_keys",
    "vins": "vin_keys",
    "company_id": "company_key",
    "contact_person_id": "contact_person_key",
}
KEY_ARRAYS = frozenset({"member_ids", "vins"})  # arrays of ids: each element hashed
# banded column -> the column holding its band
BAND_NAMES = {"birth_date": "birth_year_band", "postal_code": "postal_area"}

_PROFILE = {
    "customer_id": KEY,
    "household_id": KEY,
    "vehicles": NESTED,  # each vehicle's own fields, VEHICLE_POLICY
    **dict.fromkeys(
        (
            "salutation",
            "given_name",
            "family_name",
            "full_name",
            "company_name",
            "street",
            "city",
            "email",
            "phone",
            "preferred_dealer_name",
            # per postal code in the market study: it would give the postal code back
            "affluence_index",
            "avg_sentiment_score",
            "renewal_score",
            "churn_score",
            # which systems know the customer: a rare combination singles a row out
            "sources",
        ),
        DROP,
    ),
    **dict.fromkeys(_COUNTS, CAP),
    **dict.fromkeys(
        ("birth_date", "postal_code", "service_spend_12m", "service_spend_36m", "loyalty_points"),
        BAND,
    ),
    **dict.fromkeys(
        ("last_service_date", "latest_survey_date", "last_response_date", "first_seen"), MONTH
    ),
}
VEHICLE_POLICY = {
    "vin": KEY,
    "latest_km": BAND,
    **dict.fromkeys(("acquired_date", "latest_km_date", "warranty_end", "maturity_date"), MONTH),
}
_PLAN = {
    "customer_id": KEY,
    "household_id": KEY,
    "contact_person_id": KEY,
    "vin": KEY,
    "contact_id": KEY,
    "postal_code": BAND,
    "vehicle_km": BAND,
    **dict.fromkeys(
        (
            "suppression_detail",
            "expected_value",
            "propensity",
            "rank_in_plan",
            "channel_reasons",  # each channel's verdict: a rare combination singles a row out
            "salutation",
            "given_name",
            "family_name",
            "company_name",
            "dealer_name",
            "email",
            "phone",
            "street",
            "city",
            "why_customer",
            "why_plan",
            "why_offer",
            "why_channel",
        ),
        DROP,
    ),
}
_HOUSEHOLDS = {
    "household_id": KEY,
    "member_ids": KEY,
    "vins": KEY,
    "postal_code": BAND,
    "street": DROP,
    "city": DROP,
    **dict.fromkeys(("member_count", "vehicles_current", "members_contactable"), CAP),
}
_ACCOUNTS = {
    "company_id": KEY,
    "customer_id": KEY,
    "source_record_ids": DROP,  # the fleet desk's own record ids lead straight back
    "since": MONTH,
}
_OWNERS = {
    "vin": KEY,
    "customer_id": KEY,
    **dict.fromkeys(("start_date", "end_date", "last_evidence"), MONTH),
}

# pseudo table -> (gold table, policy; a column not named is kept)
TWINS: dict[str, tuple[str, dict[str, str]]] = {
    "pseudo.customer_360": ("gold.customer_360", _PROFILE),
    "pseudo.contact_plan": ("gold.contact_plan", _PLAN),
    "pseudo.households": ("gold.households", _HOUSEHOLDS),
    "pseudo.vehicle_owners": ("gold.vehicle_owners", _OWNERS),
    "pseudo.account_contacts": ("gold.account_contacts", _ACCOUNTS),
}
# the key of each twin: what its MERGE matches on
TWIN_KEYS: dict[str, list[str]] = {
    "pseudo.customer_360": ["customer_key"],
    "pseudo.contact_plan": ["plan_date", "contact_key"],
    "pseudo.households": ["household_key"],
    "pseudo.vehicle_owners": ["vin_key", "customer_key"],
    "pseudo.account_contacts": ["company_key", "customer_key", "role"],
}

# twins of history tables: each run writes its own date's rows
TWIN_DATED = {"pseudo.contact_plan": "plan_date"}


def out_name(name: str, action: str) -> str:
    if action == KEY:
        return KEY_NAMES[name]
    if action == BAND and name in BAND_NAMES:
        return BAND_NAMES[name]
    return name


def _out_type(name: str, action: str, dtype: DataType) -> DataType:
    if action == KEY:
        return ArrayType(StringType()) if isinstance(dtype, ArrayType) else StringType()
    if action == BAND and name in BAND_NAMES:
        return StringType()
    if action == BAND:
        return IntegerType()
    if action == MONTH:
        return DateType()
    return dtype


def twin_fields(fields: list[StructField], policy: dict[str, str]) -> list[StructField]:
    out = []
    for f in fields:
        action = policy.get(f.name, KEEP)
        if action == DROP:
            continue
        if action == NESTED:
            inner = twin_fields(f.dataType.elementType.fields, VEHICLE_POLICY)
            out.append(StructField(f.name, ArrayType(StructType(inner)), f.nullable))
            continue
        nullable = f.nullable or action == KEY  # a NULL id stays NULL
        out.append(
            StructField(out_name(f.name, action), _out_type(f.name, action, f.dataType), nullable)
        )
    return out


def twin_schema(source: StructType, policy: dict[str, str]) -> StructType:
    return StructType(twin_fields(source.fields, policy))


_GOLD = {
    "gold.customer_360": G.CUSTOMER_360,
    "gold.contact_plan": G.CONTACT_PLAN,
    "gold.households": G.HOUSEHOLDS,
    "gold.vehicle_owners": G.VEHICLE_OWNERS,
    "gold.account_contacts": G.ACCOUNT_CONTACTS,
}
SCHEMAS: dict[str, StructType] = {
    name: twin_schema(_GOLD[src], policy) for name, (src, policy) in TWINS.items()
}
CUSTOMER_360 = SCHEMAS["pseudo.customer_360"]
CONTACT_PLAN = SCHEMAS["pseudo.contact_plan"]
HOUSEHOLDS = SCHEMAS["pseudo.households"]
VEHICLE_OWNERS = SCHEMAS["pseudo.vehicle_owners"]
ACCOUNT_CONTACTS = SCHEMAS["pseudo.account_contacts"]
