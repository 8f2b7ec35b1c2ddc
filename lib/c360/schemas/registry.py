"""Every table the pipeline writes, by name, with its schema: one place to look a table
up, instead of table-name constants repeated per module and ``getattr`` on a schema
module. The per-source bronze tables (``bronze.<source>``) are not here: their columns
are whatever each source's files carry, plus the lineage (``schemas/bronze.py``)."""

from __future__ import annotations

import functools
import json
from importlib import resources

from pyspark.sql.types import StructType

from c360.errors import SchemaError
from c360.schemas import bronze as B
from c360.schemas import gold as G
from c360.schemas import ops as O
from c360.schemas import pseudo as P
from c360.schemas import silver as S

BRONZE_QUARANTINE = "bronze.quarantine"

SILVER_PARTY_RECORDS = "silver.party_records"
SILVER_OWNERSHIPS = "silver.ownerships"
SILVER_VEHICLES = "silver.vehicles"
SILVER_CONSENTS = "silver.consents"
SILVER_QUARANTINE = "silver.quarantine"
SILVER_IDENTITY_LINKS = "silver.identity_links"
SILVER_IDENTITY_CROSSWALK = "silver.identity_crosswalk"
SILVER_IDENTITY_CHANGELOG = "silver.identity_changelog"
SILVER_IDENTITY_OVERRIDES = "silver.identity_overrides"
SILVER_CUSTOMERS = "silver.customers"

GOLD_CUSTOMER_360 = "gold.customer_360"
GOLD_VEHICLES = "gold.vehicles"
GOLD_VEHICLE_OWNERS = "gold.vehicle_owners"
GOLD_HOUSEHOLDS = "gold.households"
GOLD_HOUSEHOLD_MEMBERS = "gold.household_members"
GOLD_HOUSEHOLD_CHANGELOG = "gold.household_changelog"
GOLD_ACCOUNT_CONTACTS = "gold.account_contacts"
GOLD_CUSTOMER_SCORES = "gold.customer_scores"
GOLD_MODEL_METRICS = "gold.model_metrics"
GOLD_LIFECYCLE_SEGMENTS = "gold.lifecycle_segments"
GOLD_LIFECYCLE_HISTORY = "gold.lifecycle_history"
GOLD_DEALER_RADIOGRAPHY = "gold.dealer_radiography"
GOLD_KPI_COUNTS = "gold.kpi_counts"
GOLD_CONTACT_PLAN = "gold.contact_plan"
GOLD_CAMPAIGN_RESULTS = "gold.campaign_results"

PSEUDO_CUSTOMER_360 = "pseudo.customer_360"

OPS_JOB_RUNS = "ops.job_runs"
OPS_BRONZE_FILES = "ops.bronze_files"
OPS_SCHEMA_CHANGES = "ops.schema_changes"
OPS_DQ_RESULTS = "ops.dq_results"
OPS_SILVER_FILES = "ops.silver_files"
OPS_IDENTITY_MODELS = "ops.identity_models"
OPS_ERASURE_LOG = "ops.erasure_log"
OPS_RECONCILIATION = "ops.reconciliation"
OPS_ACCESS_LOG = "ops.access_log"

# The silver tables typed from one source each (silver/sources.py's MODELS says which).
SILVER_SOURCE_TABLES: dict[str, StructType] = {
    "silver.dealers": S.DEALERS,
    "silver.market_research": S.MARKET_RESEARCH,
    "silver.sales": S.SALES,
    "silver.service_visits": S.SERVICE_VISITS,
    "silver.leads": S.LEADS,
    "silver.finance_contracts": S.FINANCE_CONTRACTS,
    "silver.insurance_policies": S.INSURANCE_POLICIES,
    "silver.subscriptions": S.SUBSCRIPTIONS,
    "silver.loyalty_members": S.LOYALTY_MEMBERS,
    "silver.fleet_contacts": S.FLEET_CONTACTS,
    "silver.telematics": S.TELEMATICS,
    "silver.surveys": S.SURVEYS,
    "silver.campaigns": S.CAMPAIGNS,
    "silver.campaign_events": S.CAMPAIGN_EVENTS,
    "silver.consent_events": S.CONSENT_EVENTS,
}

SCHEMAS: dict[str, StructType] = {
    BRONZE_QUARANTINE: B.QUARANTINE,
    **SILVER_SOURCE_TABLES,
    SILVER_PARTY_RECORDS: S.PARTY_RECORDS,
    SILVER_OWNERSHIPS: S.OWNERSHIPS,
    SILVER_VEHICLES: S.VEHICLES,
    SILVER_CONSENTS: S.CONSENTS,
    SILVER_QUARANTINE: S.QUARANTINE,
    SILVER_IDENTITY_LINKS: S.IDENTITY_LINKS,
    SILVER_IDENTITY_CROSSWALK: S.IDENTITY_CROSSWALK,
    SILVER_IDENTITY_CHANGELOG: S.IDENTITY_CHANGELOG,
    SILVER_IDENTITY_OVERRIDES: S.IDENTITY_OVERRIDES,
    SILVER_CUSTOMERS: S.CUSTOMERS,
    GOLD_CUSTOMER_360: G.CUSTOMER_360,
    GOLD_VEHICLES: G.VEHICLES,
    GOLD_VEHICLE_OWNERS: G.VEHICLE_OWNERS,
    GOLD_HOUSEHOLDS: G.HOUSEHOLDS,
    GOLD_HOUSEHOLD_MEMBERS: G.HOUSEHOLD_MEMBERS,
    GOLD_HOUSEHOLD_CHANGELOG: G.HOUSEHOLD_CHANGELOG,
    GOLD_ACCOUNT_CONTACTS: G.ACCOUNT_CONTACTS,
    **P.SCHEMAS,
    GOLD_CUSTOMER_SCORES: G.CUSTOMER_SCORES,
    GOLD_MODEL_METRICS: G.MODEL_METRICS,
    GOLD_LIFECYCLE_SEGMENTS: G.LIFECYCLE_SEGMENTS,
    GOLD_LIFECYCLE_HISTORY: G.LIFECYCLE_HISTORY,
    GOLD_DEALER_RADIOGRAPHY: G.DEALER_RADIOGRAPHY,
    GOLD_KPI_COUNTS: G.KPI_COUNTS,
    GOLD_CONTACT_PLAN: G.CONTACT_PLAN,
    GOLD_CAMPAIGN_RESULTS: G.CAMPAIGN_RESULTS,
    OPS_JOB_RUNS: O.JOB_RUNS,
    OPS_BRONZE_FILES: O.BRONZE_FILES,
    OPS_SCHEMA_CHANGES: O.SCHEMA_CHANGES,
    OPS_DQ_RESULTS: O.DQ_RESULTS,
    OPS_SILVER_FILES: O.SILVER_FILES,
    OPS_IDENTITY_MODELS: O.IDENTITY_MODELS,
    OPS_ERASURE_LOG: O.ERASURE_LOG,
    OPS_RECONCILIATION: O.RECONCILIATION,
    OPS_ACCESS_LOG: O.ACCESS_LOG,
}


def schema_of(name: str) -> StructType:
    """The schema of table ``name``; an unknown name is an error that names it."""
    try:
        return SCHEMAS[name]
    except KeyError:
        raise SchemaError(name, "not a table of the lake's registry") from None


@functools.cache
def _contract() -> dict[str, dict]:
    # package data (read through importlib so it works from spark-submit's zip too),
    # written from the contract by scripts/contract_json.py: {"tables": name -> its
    # description, "columns": name -> column -> comment}
    text = resources.files("c360.schemas").joinpath("descriptions.json").read_text("utf-8")
    return json.loads(text)


def _entry(kind: str, name: str):
    found = _contract()[kind]
    if name in found:
        return found[name]
    if name.startswith("bronze."):
        return found.get("bronze.<source>")
    return None


def description_of(name: str) -> str | None:
    """The table's description from the contract (grain and key); a per-source bronze
    table gets the description of ``bronze.<source>``."""
    return _entry("tables", name)


def comments_of(name: str) -> dict[str, str]:
    """The table's column comments from the contract (a per-source bronze table: its
    lineage columns'); empty for a table the contract does not document."""
    return dict(_entry("columns", name) or {})
