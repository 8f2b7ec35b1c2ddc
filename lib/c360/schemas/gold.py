"""Schemas of the ``gold`` layer: what analysts, dashboards and the campaign platform read.

Consent columns hold the latest status as of the run date: ``opt_in``, ``opt_out``, or
NULL when the contact point has no consent event at all.
"""

from __future__ import annotations

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
)

MONEY = DecimalType(14, 2)


def _f(name: str, dtype: DataType, nullable: bool = True) -> StructField:
    return StructField(name, dtype, nullable)


RUN = [_f("as_of", DateType(), False), _f("run_id", StringType(), False)]

# A vehicle's warranty, finance, insurance and connected services as of the run: in
# gold.customer_360's vehicles and in gold.vehicles.
VEHICLE_WARRANTY = [_f("warranty_end", DateType()), _f("in_warranty", BooleanType())]
VEHICLE_CONTRACTS = [
    _f("finance_type", StringType()),
    _f("finance_active", BooleanType()),
    _f("maturity_date", DateType()),
    _f("insurance_status", StringType()),
    _f("connected_services", ArrayType(StringType())),
]

VEHICLE = StructType(
    [
        _f("vin", StringType()),
        _f("model", StringType()),
        _f("model_year", IntegerType()),
        _f("ownership", StringType()),
        _f("acquired_date", DateType()),
        _f("acquired_basis", StringType()),
        _f("age_years", DoubleType()),
        _f("latest_km", IntegerType()),
        _f("latest_km_date", DateType()),
        *VEHICLE_WARRANTY,
        *VEHICLE_CONTRACTS,
        _f("lifecycle_stage", StringType()),
    ]
)

# One row per VIN (gold.vehicles): a vehicle's life without joining silver.
VEHICLES = StructType(
    [
        _f("vin", StringType(), False),
        _f("model", StringType()),
        _f("model_year", IntegerType()),
        _f("trim", StringType()),
        _f("first_sale_date", DateType()),
        _f("selling_dealer_code", StringType()),
        _f("servicing_dealer_code", StringType()),
        _f("service_visits", IntegerType()),
        _f("latest_km", IntegerType()),
        _f("latest_km_date", DateType()),
        _f("latest_km_source", StringType()),
        *VEHICLE_WARRANTY,
        *VEHICLE_CONTRACTS,
        _f("lifecycle_stage", StringType()),
        _f("stage_reason", StringType()),
        _f("owners", IntegerType(), False),
        _f("has_current_owner", BooleanType(), False),
        *RUN,
    ]
)

# One row per (VIN, customer) that held it (gold.vehicle_owners): the owner history.
VEHICLE_OWNERS = StructType(
    [
        _f("vin", StringType(), False),
        _f("customer_id", StringType(), False),
        _f("ownership", StringType(), False),
        _f("start_date", DateType()),
        _f("end_date", DateType()),
        _f("source", StringType()),
        _f("last_evidence", DateType()),
        *RUN,
    ]
)

# The 360's per-customer counts (0, never NULL, when the customer has none).
PROFILE_COUNTS = (
    "vehicles_current",
    "vehicles_previous",
    "service_visits_12m",
    "service_visits_36m",
    "warranty_visits_36m",
    "paid_visits_36m",
    "campaign_contacts",
    "campaign_opens",
    "campaign_clicks",
)

CUSTOMER_360 = StructType(
    [
        _f("customer_id", StringType(), False),
        _f("party_type", StringType(), False),
        _f("account_type", StringType(), False),
        _f("salutation", StringType()),
        _f("gender", StringType()),
        _f("given_name", StringType()),
        _f("family_name", StringType()),
        _f("full_name", StringType()),
        _f("company_name", StringType()),
        _f("birth_date", DateType()),
        _f("street", StringType()),
        _f("postal_code", StringType()),
        _f("city", StringType()),
        _f("region", StringType()),
        _f("household_id", StringType()),
        _f("market_segment", StringType()),
        _f("affluence_index", DoubleType()),
        _f("email", StringType()),
        _f("email_valid", BooleanType()),
        _f("email_consent", StringType()),
        _f("phone", StringType()),
        _f("phone_valid", BooleanType()),
        _f("phone_mobile", BooleanType()),
        _f("sms_consent", StringType()),
        _f("telemarketing_consent", StringType()),
        _f("address_valid", BooleanType()),
        _f("mail_consent", StringType()),
        _f("contactable_channels", ArrayType(StringType()), False),
        _f("vehicles", ArrayType(VEHICLE), False),
        _f("vehicles_current", IntegerType(), False),
        _f("vehicles_previous", IntegerType(), False),
        _f("preferred_dealer_code", StringType()),
        _f("preferred_dealer_name", StringType()),
        _f("preferred_dealer_basis", StringType()),
        _f("last_service_date", DateType()),
        _f("service_visits_12m", IntegerType(), False),
        _f("service_visits_36m", IntegerType(), False),
        _f("service_spend_12m", MONEY, False),
        _f("service_spend_36m", MONEY, False),
        _f("warranty_visits_36m", IntegerType(), False),
        _f("paid_visits_36m", IntegerType(), False),
        _f("loyalty_tier", StringType()),
        _f("loyalty_points", IntegerType()),
        _f("loyalty_status", StringType()),
        _f("latest_nps", IntegerType()),
        _f("latest_csat", IntegerType()),
        _f("latest_survey_date", DateType()),
        _f("latest_sentiment", StringType()),
        _f("avg_sentiment_score", DoubleType()),
        _f("campaign_contacts", IntegerType(), False),
        _f("campaign_opens", IntegerType(), False),
        _f("campaign_clicks", IntegerType(), False),
        _f("last_response_date", DateType()),
        _f("last_response_event", StringType()),
        _f("lifecycle_stage", StringType()),
        _f("first_seen", DateType()),
        _f("records", LongType(), False),
        _f("sources", ArrayType(StringType()), False),
        # From gold.customer_scores (stage score): the customer's best vehicle for renewal
        # (highest score), and for churn the vehicle likeliest to come back (lowest).
        _f("renewal_score", DoubleType()),
        _f("renewal_decile", IntegerType()),
        _f("churn_score", DoubleType()),
        _f("churn_decile", IntegerType()),
        _f("score_versions", MapType(StringType(), StringType())),
        *RUN,
    ]
)

SCORE_COLUMNS: tuple[str, ...] = (
    "renewal_score",
    "renewal_decile",
    "churn_score",
    "churn_decile",
    "score_versions",
)

# One row per (customer_id, vin, model) scored on the run date by the latest saved model.
# gold.customer_360 as analysts see it: the birth date cut to a year, identifiers hashed
# (privacy/pseudo.py).
# Households (c360.gold.households): persons at one address sharing a contact point or a
# vehicle; members stay separate customers.
HOUSEHOLD_MEMBERS = StructType(
    [
        _f("customer_id", StringType(), False),
        _f("household_id", StringType(), False),
        # The kinds of key (email, phone, vehicle) tying the member to another member.
        _f("shared_by", ArrayType(StringType()), False),
        *RUN,
    ]
)

# One row per (company, contact person, role): who a company customer deals through.
ACCOUNT_CONTACTS = StructType(
    [
        _f("company_id", StringType(), False),
        _f("customer_id", StringType(), False),
        _f("role", StringType(), False),
        _f("source", StringType(), False),
        _f("source_record_ids", ArrayType(StringType()), False),
        _f("since", DateType()),
        _f("active", BooleanType(), False),
        _f("linked_by", StringType(), False),
        *RUN,
    ]
)

HOUSEHOLDS = StructType(
    [
        _f("household_id", StringType(), False),
        _f("street", StringType()),
        _f("postal_code", StringType()),
        _f("city", StringType()),
        _f("region", StringType()),
        _f("member_count", IntegerType(), False),
        _f("member_ids", ArrayType(StringType()), False),
        _f("vehicles_current", IntegerType(), False),
        _f("vins", ArrayType(StringType()), False),
        _f("members_contactable", IntegerType(), False),
        _f("contactable_channels", ArrayType(StringType()), False),
        _f("mail_contactable", BooleanType(), False),
        *RUN,
    ]
)

HOUSEHOLD_CHANGELOG = StructType(
    [
        _f("event_id", StringType(), False),
        _f("event", StringType(), False),
        _f("household_id", StringType(), False),
        _f("other_id", StringType()),
        _f("members", LongType(), False),
        *RUN,
    ]
)

# The propensity models, as gold.customer_scores' ``model`` column names them.
RENEWAL = "renewal"
CHURN = "service_churn"
SCORE_MODELS: tuple[str, ...] = (RENEWAL, CHURN)

CUSTOMER_SCORES = StructType(
    [
        _f("customer_id", StringType(), False),
        _f("vin", StringType(), False),
        _f("model", StringType(), False),
        _f("model_version", StringType(), False),
        _f("score", DoubleType(), False),
        _f("decile", IntegerType(), False),
        *RUN,
    ]
)

# One row per (model, version, scorer, metric): the out-of-time test of each saved model
# and of the rules baseline beside it.
MODEL_METRICS = StructType(
    [
        _f("model", StringType(), False),
        _f("version", StringType(), False),
        _f("trained_as_of", DateType(), False),
        _f("test_snapshot", DateType(), False),
        _f("scorer", StringType(), False),
        _f("metric", StringType(), False),
        _f("value", DoubleType()),
        *RUN,
    ]
)

LIFECYCLE_SEGMENTS = StructType(
    [
        _f("customer_id", StringType(), False),
        _f("vin", StringType()),
        _f("party_type", StringType(), False),
        _f("account_type", StringType(), False),
        _f("stage", StringType(), False),
        _f("stage_reason", StringType(), False),
        _f("model", StringType()),
        _f("acquired_date", DateType()),
        _f("owned_months", IntegerType()),
        _f("vehicle_age_months", IntegerType()),
        _f("latest_km", IntegerType()),
        _f("warranty_end", DateType()),
        _f("in_warranty", BooleanType()),
        _f("finance_type", StringType()),
        _f("maturity_date", DateType()),
        *RUN,
    ]
)

LIFECYCLE_HISTORY = StructType(
    [
        _f("customer_id", StringType(), False),
        _f("vin", StringType()),
        _f("stage", StringType(), False),
        _f("valid_from", DateType(), False),
        _f("valid_to", DateType()),
        _f("is_current", BooleanType(), False),
        _f("previous_stage", StringType()),
        _f("run_id", StringType(), False),
    ]
)

DEALER_RADIOGRAPHY = StructType(
    [
        _f("dealer_code", StringType(), False),
        _f("month", DateType(), False),
        _f("dealer_name", StringType()),
        _f("region", StringType()),
        _f("customers_in_area", LongType(), False),
        _f("sales", LongType(), False),
        _f("sales_revenue", MONEY, False),
        _f("service_visits", LongType(), False),
        _f("service_revenue", MONEY, False),
        _f("service_customers", LongType(), False),
        _f("returning_customers", LongType(), False),
        _f("service_retention", DoubleType()),
        _f("survey_responses", LongType(), False),
        _f("nps", DoubleType()),
        _f("campaign_contacts", LongType(), False),
        _f("campaign_responses", LongType(), False),
        _f("response_rate", DoubleType()),
        *RUN,
    ]
)

KPI_COUNTS = StructType(
    [
        _f("party_type", StringType(), False),
        _f("region", StringType(), False),
        _f("lifecycle_stage", StringType(), False),
        _f("contactability", StringType(), False),
        _f("customers", LongType(), False),
        _f("email_contactable", LongType(), False),
        _f("sms_contactable", LongType(), False),
        _f("mail_contactable", LongType(), False),
        _f("telemarketing_contactable", LongType(), False),
        _f("with_vehicle", LongType(), False),
        _f("fleet_accounts", LongType(), False),
        *RUN,
    ]
)

# One row per (plan_date, customer_id, contact_plan): every eligible customer of a run,
# selected, held out or suppressed. Contact points are kept only for the chosen channel of
# a selected row; the export files take their fields from here.
CONTACT_PLAN = StructType(
    [
        _f("plan_date", DateType(), False),
        _f("customer_id", StringType(), False),
        _f("contact_plan", StringType(), False),
        _f("campaign_id", StringType(), False),
        _f("period", StringType(), False),
        _f("contact_id", StringType(), False),
        _f("status", StringType(), False),
        _f("suppression_reason", StringType()),
        _f("suppression_detail", StringType()),
        _f("priority", IntegerType(), False),
        _f("objective", StringType(), False),
        _f("send_date", DateType(), False),
        _f("channel", StringType()),
        _f("channel_reasons", MapType(StringType(), StringType()), False),
        _f("expected_value", DoubleType()),
        # The plan's model score (activation.plans.<plan>.score) and its decile.
        _f("propensity", DoubleType()),
        _f("propensity_decile", IntegerType()),
        _f("rank_in_plan", IntegerType()),
        _f("party_type", StringType(), False),
        _f("account_type", StringType()),
        _f("lifecycle_stage", StringType(), False),
        _f("segment", StringType()),
        _f("vin", StringType()),
        _f("vehicle_model", StringType()),
        _f("vehicle_km", IntegerType()),
        _f("offer", StringType()),
        _f("service", StringType()),
        _f("price", MONEY),
        _f("offer_rule", StringType()),
        _f("image", StringType(), False),
        _f("salutation", StringType()),
        _f("given_name", StringType()),
        _f("family_name", StringType()),
        _f("company_name", StringType()),
        _f("household_id", StringType()),
        # a company's row addresses its fleet contact: that person's customer_id
        _f("contact_person_id", StringType()),
        _f("dealer_code", StringType()),
        _f("dealer_name", StringType()),
        _f("dealer_role", StringType(), False),
        _f("dealer_basis", StringType()),
        _f("email", StringType()),
        _f("phone", StringType()),
        _f("street", StringType()),
        _f("postal_code", StringType()),
        _f("city", StringType()),
        _f("why_customer", StringType(), False),
        _f("why_plan", StringType(), False),
        _f("why_offer", StringType(), False),
        _f("why_channel", StringType(), False),
        *RUN,
    ]
)

# One row per (campaign_id, wave, channel, contact_plan, segment) and two roll-ups:
# level 'campaign' (segment ALL) and level 'objective' (every campaign of one objective).
CAMPAIGN_RESULTS = StructType(
    [
        _f("campaign_id", StringType(), False),
        _f("wave", IntegerType(), False),
        _f("channel", StringType(), False),
        _f("contact_plan", StringType(), False),
        _f("segment", StringType(), False),
        _f("level", StringType(), False),
        _f("objective", StringType(), False),
        _f("source", StringType(), False),
        _f("first_contact_date", DateType()),
        _f("window_complete", BooleanType(), False),
        _f("targeted", LongType(), False),
        _f("held_out", LongType(), False),
        _f("sent", LongType(), False),
        _f("delivered", LongType(), False),
        _f("bounced", LongType(), False),
        _f("opened", LongType(), False),
        _f("clicked", LongType(), False),
        _f("unsubscribed", LongType(), False),
        _f("service_conversions", LongType(), False),
        _f("purchase_conversions", LongType(), False),
        _f("converted_customers", LongType(), False),
        _f("control_converted_customers", LongType(), False),
        _f("treated_rate", DoubleType()),
        _f("control_rate", DoubleType()),
        _f("lift", DoubleType()),
        _f("lift_ci_low", DoubleType()),
        _f("lift_ci_high", DoubleType()),
        _f("relative_lift", DoubleType()),
        _f("incremental_conversions", DoubleType()),
        _f("revenue", MONEY, False),
        _f("incremental_revenue", DoubleType()),
        _f("cost", MONEY, False),
        _f("roi", DoubleType()),
        *RUN,
    ]
)
