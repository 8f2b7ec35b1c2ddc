"""Schemas of the silver layer (see ``bronze_silver_gold.md`` for grain, keys and rules).

Written as compact ``name type`` lines and turned into ``StructType`` constants here, so
the contract and the code read alike. A trailing ``!`` marks a column that is never NULL.
"""

from __future__ import annotations

import re

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

_SIMPLE: dict[str, DataType] = {
    "string": StringType(),
    "date": DateType(),
    "timestamp": TimestampType(),
    "int": IntegerType(),
    "long": LongType(),
    "double": DoubleType(),
    "boolean": BooleanType(),
    "array<string>": ArrayType(StringType()),
    "map<string,string>": MapType(StringType(), StringType()),
    "map<string,double>": MapType(StringType(), DoubleType()),
}


def _type(name: str) -> DataType:
    m = re.fullmatch(r"decimal\((\d+),(\d+)\)", name)
    if m:
        return DecimalType(int(m.group(1)), int(m.group(2)))
    return _SIMPLE[name]


def struct(spec: str) -> StructType:
    """One ``name type`` per line -> StructType (``!`` = not nullable)."""
    fields = []
    for item in spec.splitlines():
        item = item.strip()
        if not item:
            continue
        name, typ = item.split(None, 1)
        nullable = not typ.endswith("!")
        fields.append(StructField(name, _type(typ.rstrip("!").strip()), nullable))
    return StructType(fields)


def concat(*parts: StructType) -> StructType:
    return StructType([f for p in parts for f in p.fields])


# Version and lineage columns on every silver record table. The version order
# (_change_ts, _batch_id, _source_file, _row_number) decides which record wins.
RECORD_META = struct(
    """
    _is_deleted boolean!
    _change_ts timestamp
    _unparsed map<string,string>
    _dq_warnings array<string>
    _source_file string!
    _batch_id string!
    _row_number long!
    _run_id string!
    _as_of date!
    """
)

# The party fields every person- or company-bearing source is typed into.
PARTY = struct(
    """
    party_type string
    salutation string
    gender string
    given_name string
    family_name string
    full_name string
    company_name string
    tax_id string
    birth_date date
    email string
    email_valid boolean
    phone string
    phone_valid boolean
    phone_mobile boolean
    street string
    postal_code string
    city string
    """
)

SALES = concat(
    struct(
        """
        sale_id string!
        vin string
        vin_valid boolean
        model string
        model_year int
        trim string
        new_used string
        sale_type string
        sale_date date
        price decimal(14,2)
        dealer_code string
        """
    ),
    PARTY,
    RECORD_META,
)

SERVICE_VISITS = concat(
    struct(
        """
        ro_number string!
        vin string
        vin_valid boolean
        dealer_code string
        open_date date
        close_date date
        odometer_km int
        service_type string
        labour_amount decimal(14,2)
        parts_amount decimal(14,2)
        total_amount decimal(14,2)
        """
    ),
    PARTY,
    RECORD_META,
)

LEADS = concat(
    struct(
        """
        lead_id string!
        created_at timestamp
        lead_type string
        model_of_interest string
        lead_status string
        dealer_code string
        marketing_opt_in boolean
        expected_delivery date
        """
    ),
    PARTY,
    RECORD_META,
)

FINANCE_CONTRACTS = concat(
    struct(
        """
        contract_id string!
        vin string
        vin_valid boolean
        contract_type string
        start_date date
        term_months int
        maturity_date date
        monthly_payment decimal(14,2)
        contract_status string
        payoff_date date
        """
    ),
    PARTY,
    RECORD_META,
)

INSURANCE_POLICIES = concat(
    struct(
        """
        policy_id string!
        vin string
        vin_valid boolean
        start_date date
        end_date date
        premium decimal(14,2)
        policy_status string
        """
    ),
    PARTY,
    RECORD_META,
)

SUBSCRIPTIONS = concat(
    struct(
        """
        subscription_id string!
        vin string
        vin_valid boolean
        product string
        plan_type string
        start_at timestamp
        end_at timestamp
        """
    ),
    PARTY,
    RECORD_META,
)

# The fleet desk's contact persons: the party is the person; the account is the company.
FLEET_CONTACTS = concat(
    struct(
        """
        contact_id string!
        account_tax_id string
        account_name string
        role string
        since date
        contact_status string
        """
    ),
    PARTY,
    RECORD_META,
)

LOYALTY_MEMBERS = concat(
    struct(
        """
        member_id string!
        tier string
        points int
        enrolled_on date
        member_status string
        """
    ),
    PARTY,
    RECORD_META,
)

TELEMATICS = concat(
    struct(
        """
        vin string!
        reading_ts timestamp!
        vin_valid boolean
        odometer_km int
        """
    ),
    RECORD_META,
)

SURVEYS = concat(
    struct(
        """
        response_id string!
        survey_type string
        vin string
        email string
        dealer_code string
        response_ts timestamp
        nps int
        csat int
        comment string
        language string
        sentiment_score double
        sentiment_label string
        """
    ),
    RECORD_META,
)

CAMPAIGNS = concat(
    struct(
        """
        campaign_id string!
        name string
        contact_plan string
        offer string
        channel string
        start_date date
        end_date date
        cost_per_contact decimal(14,4)
        """
    ),
    RECORD_META,
)

CAMPAIGN_EVENTS = concat(
    struct(
        """
        event_id string!
        campaign_id string
        wave int
        recipient_type string
        recipient_email string
        recipient_phone string
        recipient_address string
        channel string
        event string
        event_ts timestamp
        """
    ),
    RECORD_META,
)

MARKET_RESEARCH = concat(
    struct(
        """
        postal_code string!
        segment string
        affluence_index double
        study_year int
        """
    ),
    RECORD_META,
)

DEALERS = concat(
    struct(
        """
        dealer_code string!
        dealer_name string
        region string
        street string
        postal_code string
        city string
        latitude double
        longitude double
        active boolean
        """
    ),
    RECORD_META,
)

CONSENT_EVENTS = concat(
    struct(
        """
        consent_id string!
        contact_point string
        contact_type string
        channel string
        status string
        consent_source string
        legal_basis string
        consent_ts timestamp
        """
    ),
    RECORD_META,
)

# ---------------------------------------------------------------- derived tables

# Tombstone and version of the source record a derived row was projected from.
DERIVED_META = struct(
    """
    is_deleted boolean!
    _change_ts timestamp
    _batch_id string!
    _source_file string!
    _row_number long!
    _run_id string!
    """
)

PARTY_RECORDS = concat(
    struct(
        """
        source string!
        source_record_id string!
        """
    ),
    PARTY,
    struct(
        """
        vin string
        dealer_code string
        record_date date
        """
    ),
    DERIVED_META,
)

OWNERSHIPS = concat(
    struct(
        """
        source string!
        source_record_id string!
        vin string!
        role string!
        start_date date
        end_date date
        """
    ),
    DERIVED_META,
)

VEHICLES = struct(
    """
    vin string!
    vin_valid boolean
    model string
    model_year int
    trim string
    first_sale_date date
    last_sale_date date
    sales int!
    warranty_end date
    latest_odometer_km int
    latest_odometer_date date
    odometer_source string
    last_service_date date
    service_visits int!
    _run_id string!
    """
)

CONSENTS = struct(
    """
    contact_point string!
    channel string!
    contact_type string
    status string!
    consent_ts timestamp
    consent_id string!
    consent_source string
    legal_basis string
    history_events int!
    _run_id string!
    """
)

QUARANTINE = struct(
    """
    source string!
    table_name string!
    _source_file string!
    _batch_id string!
    _row_number long!
    rules array<string>!
    reason string!
    columns array<string>
    record string!
    _run_id string!
    _as_of date!
    """
)


# ------------------------------------------------------------------- identity resolution

IDENTITY_LINKS = struct(
    """
    record_key_l string!
    record_key_r string!
    party_type string!
    method string!
    rules array<string>
    match_probability double
    match_weight double
    weights map<string,double>
    status string!
    veto_reasons array<string>
    as_of date!
    run_id string!
    """
)

IDENTITY_CROSSWALK = struct(
    """
    record_key string!
    source string!
    source_record_id string!
    party_type string!
    customer_id string!
    match_hash string!
    record_version string
    is_deleted boolean!
    flagged boolean!
    first_seen date!
    last_seen date!
    run_id string!
    component string
    """
)

IDENTITY_CHANGELOG = struct(
    """
    event_id string!
    as_of date!
    run_id string!
    event string!
    customer_id string!
    other_id string
    records long!
    evidence string
    """
)

IDENTITY_OVERRIDES = struct(
    """
    record_key_a string!
    record_key_b string!
    kind string!
    reason string
    """
)

PROVENANCE = MapType(
    StringType(),
    struct(
        """
        source string
        source_record_id string
        rule string
        """
    ),
)

CUSTOMER_ATTRIBUTES = struct(
    """
    salutation string
    gender string
    given_name string
    family_name string
    full_name string
    company_name string
    tax_id string
    birth_date date
    email string
    phone string
    street string
    postal_code string
    city string
    """
)

CUSTOMERS = concat(
    struct(
        """
        customer_id string!
        party_type string!
        """
    ),
    CUSTOMER_ATTRIBUTES,
    struct(
        """
        records long!
        sources array<string>
        """
    ),
    StructType([StructField("provenance", PROVENANCE, True)]),
    struct(
        """
        as_of date!
        run_id string!
        """
    ),
)
