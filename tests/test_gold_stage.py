"""The gold stage on a small hand-built lake with known answers; reruns; two dates;
a read by another Delta reader (delta-rs); the HTML report."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable as RsDeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from c360.config import Config
from c360.html_report import SECTIONS, build_report
from c360.lake import Lake
from c360.runner import run_stages
from c360.schemas import silver as S

D = dt.date
AS_OF = D(2026, 6, 15)
GOLD = [
    "customer_360",
    "vehicles",
    "vehicle_owners",
    "households",
    "household_members",
    "household_changelog",
    "lifecycle_segments",
    "lifecycle_history",
    "dealer_radiography",
    "kpi_counts",
]


def _ts(d: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(hour))


def put(spark: SparkSession, lake: Lake, name: str, schema: StructType, rows: list[dict]) -> None:
    """Write a silver table from partial rows: absent columns are NULL, rows not deleted."""
    defaults = {"_is_deleted": False, "is_deleted": False, "_unparsed": {}, "_dq_warnings": []}
    full = [tuple(r.get(f.name, defaults.get(f.name)) for f in schema.fields) for r in rows]
    loose = StructType([StructField(f.name, f.dataType, True) for f in schema.fields])
    spark.createDataFrame(full, loose).write.format("delta").save(lake.path(name))


def party(source: str, rid: str, cid: str, **kw) -> tuple[dict, dict]:
    """A party record and its crosswalk row."""
    rec = {"source": source, "source_record_id": rid, "party_type": "person", **kw}
    xw = {
        "record_key": f"{source}:{rid}",
        "source": source,
        "source_record_id": rid,
        "party_type": rec["party_type"],
        "customer_id": cid,
        "is_deleted": kw.get("is_deleted", False),
        "flagged": False,
    }
    return rec, xw


ANA = {
    "given_name": "Ana",
    "family_name": "García",
    "email": "ana@example.com",
    "email_valid": True,
    "phone": "+34600000001",
    "phone_valid": True,
    "phone_mobile": True,
    "street": "CALLE MAYOR, 1",
    "postal_code": "28001",
    "city": "Madrid",
}
FLOTA = {
    "party_type": "company",
    "company_name": "Flota SL",
    "postal_code": "08001",
    "street": "CALLE B, 2",
    "city": "Barcelona",
}
LUIS = {
    "given_name": "Luis",
    "family_name": "Pérez",
    "email": "luis@example.com",
    "email_valid": True,
    "postal_code": "08002",
    "street": "CALLE C, 3",
}
EMPTY = {"given_name": "X"}  # no contact point at all


@pytest.fixture(scope="module")
def gold_lake(
    spark: SparkSession, base_conf: Config, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Config, Lake]:
    """A hand-built silver lake with gold run on it once as of AS_OF: the tests here read
    it, rerun gold on it (which must change nothing) or move a copy to a later date."""
    root = tmp_path_factory.mktemp("gold")
    conf = base_conf.with_overrides([f"lake.root={root / 'lake'}"])
    lake = Lake.from_config(conf)
    recs = [
        party("sales", "S1", "C1", vin="V1", record_date=D(2025, 12, 1), **ANA),
        party("service", "R1", "C1", vin="V1", record_date=D(2026, 3, 1), **ANA),
        party("service", "R2", "C1", vin="V1", record_date=D(2026, 5, 1), **ANA),
        party("service", "R3", "C1", vin="V1", record_date=D(2026, 7, 1), **ANA),  # after as_of
        party("loyalty", "M1", "C1", record_date=D(2024, 1, 1), **ANA),
        party("sales", "S2", "C2", vin="V2", record_date=D(2018, 1, 10), **FLOTA),
        party("sales", "S3", "C2", vin="V3", record_date=D(2018, 1, 10), **FLOTA),
        party("finance", "F4", "C2", vin="V4", record_date=D(2024, 1, 1), **FLOTA),
        party("ecommerce", "L1", "C3", record_date=D(2026, 5, 1), **LUIS),
        party("sales", "S5", "C4", vin="V5", record_date=D(2010, 1, 1), **EMPTY),
        party("sales", "S6", "C4", vin="V6", record_date=D(2020, 1, 1), is_deleted=True, **EMPTY),
    ]
    put(spark, lake, "silver.party_records", S.PARTY_RECORDS, [r for r, _ in recs])
    put(spark, lake, "silver.identity_crosswalk", S.IDENTITY_CROSSWALK, [x for _, x in recs])
    put(
        spark,
        lake,
        "silver.customers",
        S.CUSTOMERS,
        [
            {
                "customer_id": "C1",
                "records": 5,
                "sources": ["loyalty", "sales", "service"],
                **ANA,
                "party_type": "person",
            },
            {"customer_id": "C2", "records": 3, "sources": ["finance", "sales"], **FLOTA},
            {
                "customer_id": "C3",
                "records": 1,
                "sources": ["ecommerce"],
                "party_type": "person",
                **LUIS,
            },
            {
                "customer_id": "C4",
                "records": 1,
                "sources": ["sales"],
                "party_type": "person",
                **EMPTY,
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.sales",
        S.SALES,
        [
            {
                "sale_id": "S1",
                "vin": "V1",
                "sale_date": D(2025, 12, 1),
                "dealer_code": "D1",
                "price": Decimal(20000),
                "model": "Qashqai",
                "model_year": 2026,
            },
            {
                "sale_id": "S2",
                "vin": "V2",
                "sale_date": D(2018, 1, 10),
                "dealer_code": "D3",
                "model": "Primastar",
                "model_year": 2018,
            },
            {
                "sale_id": "S3",
                "vin": "V3",
                "sale_date": D(2018, 1, 10),
                "dealer_code": "D3",
                "model": "Primastar",
                "model_year": 2018,
            },
            {
                "sale_id": "S5",
                "vin": "V5",
                "sale_date": D(2010, 1, 1),
                "dealer_code": "D1",
                "model": "Micra",
                "model_year": 2010,
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.ownerships",
        S.OWNERSHIPS,
        [
            {
                "source": "sales",
                "source_record_id": "S1",
                "vin": "V1",
                "role": "buyer",
                "start_date": D(2025, 12, 1),
            },
            {
                "source": "sales",
                "source_record_id": "S2",
                "vin": "V2",
                "role": "buyer",
                "start_date": D(2018, 1, 10),
            },
            {
                "source": "sales",
                "source_record_id": "S3",
                "vin": "V3",
                "role": "buyer",
                "start_date": D(2018, 1, 10),
            },
            {
                "source": "finance",
                "source_record_id": "F4",
                "vin": "V4",
                "role": "borrower",
                "start_date": D(2024, 1, 1),
                "end_date": D(2026, 9, 1),
            },
            {
                "source": "sales",
                "source_record_id": "S5",
                "vin": "V5",
                "role": "buyer",
                "start_date": D(2010, 1, 1),
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.vehicles",
        S.VEHICLES,
        [
            {
                "vin": "V1",
                "model": "Qashqai",
                "model_year": 2026,
                "first_sale_date": D(2025, 12, 1),
                "warranty_end": D(2028, 12, 1),
            },
            {
                "vin": "V2",
                "model": "Primastar",
                "model_year": 2018,
                "first_sale_date": D(2018, 1, 10),
                "warranty_end": D(2021, 1, 10),
            },
            {
                "vin": "V3",
                "model": "Primastar",
                "model_year": 2018,
                "first_sale_date": D(2018, 1, 10),
                "warranty_end": D(2021, 1, 10),
            },
            {
                "vin": "V5",
                "model": "Micra",
                "model_year": 2010,
                "first_sale_date": D(2010, 1, 1),
                "warranty_end": D(2013, 1, 1),
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.service_visits",
        S.SERVICE_VISITS,
        [
            {
                "ro_number": "R1",
                "vin": "V1",
                "dealer_code": "D1",
                "open_date": D(2026, 3, 1),
                "odometer_km": 5000,
                "service_type": "maintenance",
                "total_amount": Decimal(150),
            },
            {
                "ro_number": "R2",
                "vin": "V1",
                "dealer_code": "D2",
                "open_date": D(2026, 5, 1),
                "odometer_km": 9000,
                "service_type": "warranty",
                "total_amount": Decimal(0),
            },
            {
                "ro_number": "R3",
                "vin": "V1",
                "dealer_code": "D2",
                "open_date": D(2026, 7, 1),
                "odometer_km": 12000,
                "service_type": "maintenance",
                "total_amount": Decimal(99),
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.finance_contracts",
        S.FINANCE_CONTRACTS,
        [
            {
                "contract_id": "F4",
                "vin": "V4",
                "contract_type": "lease",
                "start_date": D(2024, 1, 1),
                "term_months": 32,
                "maturity_date": D(2026, 9, 1),
                "contract_status": "active",
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.leads",
        S.LEADS,
        [
            {
                "lead_id": "L1",
                "created_at": _ts(D(2026, 5, 1)),
                "lead_type": "lead",
                "lead_status": "open",
                "model_of_interest": "Juke",
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.loyalty_members",
        S.LOYALTY_MEMBERS,
        [
            {
                "member_id": "M1",
                "tier": "Gold",
                "points": 1200,
                "enrolled_on": D(2024, 1, 1),
                "member_status": "active",
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.consent_events",
        S.CONSENT_EVENTS,
        [
            {
                "consent_id": "K1",
                "contact_point": "ana@example.com",
                "channel": "email",
                "status": "opt_out",
                "consent_ts": _ts(D(2025, 1, 1)),
            },
            {
                "consent_id": "K2",
                "contact_point": "ana@example.com",
                "channel": "email",
                "status": "opt_in",
                "consent_ts": _ts(D(2026, 1, 1)),
            },
            {
                "consent_id": "K3",
                "contact_point": "+34600000001",
                "channel": "sms",
                "status": "opt_out",
                "consent_ts": _ts(D(2026, 1, 1)),
            },
            {
                "consent_id": "K4",
                "contact_point": "+34600000001",
                "channel": "phone",
                "status": "opt_in",
                "consent_ts": _ts(D(2026, 1, 1)),
            },
            # a withdrawal after the run date must not count yet
            {
                "consent_id": "K5",
                "contact_point": "+34600000001",
                "channel": "phone",
                "status": "opt_out",
                "consent_ts": _ts(D(2026, 6, 16)),
            },
            {
                "consent_id": "K6",
                "contact_point": "CALLE C, 3, 08002",
                "channel": "mail",
                "status": "opt_out",
                "consent_ts": _ts(D(2026, 1, 1)),
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.dealers",
        S.DEALERS,
        [
            {
                "dealer_code": "D1",
                "dealer_name": "Nissan Madrid",
                "region": "Madrid",
                "postal_code": "28010",
                "active": True,
            },
            {
                "dealer_code": "D2",
                "dealer_name": "Nissan Móstoles",
                "region": "Madrid",
                "postal_code": "28930",
                "active": True,
            },
            {
                "dealer_code": "D3",
                "dealer_name": "Nissan Barcelona",
                "region": "Cataluña",
                "postal_code": "08005",
                "active": True,
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.surveys",
        S.SURVEYS,
        [
            {
                "response_id": "Q1",
                "survey_type": "service",
                "email": "ana@example.com",
                "dealer_code": "D1",
                "response_ts": _ts(D(2026, 3, 5)),
                "nps": 10,
                "csat": 5,
                "sentiment_score": 0.8,
                "sentiment_label": "positive",
            },
            {
                "response_id": "Q2",
                "survey_type": "service",
                "vin": "V1",
                "dealer_code": "D2",
                "response_ts": _ts(D(2026, 5, 5)),
                "nps": 3,
                "csat": 2,
                "sentiment_score": -0.6,
                "sentiment_label": "negative",
            },
        ],
    )
    put(
        spark,
        lake,
        "silver.campaign_events",
        S.CAMPAIGN_EVENTS,
        [
            {
                "event_id": "E1",
                "campaign_id": "CMP1",
                "wave": 1,
                "recipient_type": "email",
                "recipient_email": "ana@example.com",
                "channel": "email",
                "event": "sent",
                "event_ts": _ts(D(2026, 4, 1)),
            },
            {
                "event_id": "E2",
                "campaign_id": "CMP1",
                "wave": 1,
                "recipient_type": "email",
                "recipient_email": "ana@example.com",
                "channel": "email",
                "event": "opened",
                "event_ts": _ts(D(2026, 4, 2)),
            },
            {
                "event_id": "E3",
                "campaign_id": "CMP1",
                "wave": 1,
                "recipient_type": "address",
                "recipient_address": "CALLE B, 2, 08001",
                "channel": "mail",
                "event": "sent",
                "event_ts": _ts(D(2026, 4, 1)),
            },
            {
                "event_id": "E4",
                "campaign_id": "CMP1",
                "wave": 1,
                "recipient_type": "email",
                "recipient_email": "nobody@example.com",
                "channel": "email",
                "event": "sent",
                "event_ts": _ts(D(2026, 4, 1)),
            },
        ],
    )
    run_stages(spark, conf, AS_OF, ["gold"])
    return conf, lake


def _versions(spark: SparkSession, lake: Lake) -> dict[str, int]:
    return {t: lake.delta(spark, f"gold.{t}").history(1).first().version for t in GOLD}


def test_customer_360_known_answers_and_rerun(spark: SparkSession, gold_lake) -> None:
    conf, lake = gold_lake
    c360 = lake.read(spark, "gold.customer_360")
    got = c360.select(
        "customer_id",
        "account_type",
        "lifecycle_stage",
        "vehicles_current",
        "vehicles_previous",
        "preferred_dealer_code",
        "preferred_dealer_basis",
        "region",
        "service_visits_12m",
        "service_spend_12m",
        "warranty_visits_36m",
        "paid_visits_36m",
        "contactable_channels",
        "email_consent",
        "telemarketing_consent",
        "loyalty_tier",
        "latest_nps",
        "campaign_contacts",
        "campaign_opens",
        "last_response_event",
    )
    expected = spark.createDataFrame(
        [
            (
                "C1",
                "individual",
                "first_year",
                1,
                0,
                "D2",
                "service",
                "Madrid",
                2,
                Decimal("150.00"),
                1,
                1,
                ["email", "telemarketing", "mail"],
                "opt_in",
                "opt_in",
                "Gold",
                3,
                1,
                1,
                "opened",
            ),
            (
                "C2",
                "fleet",
                "renewal",
                3,
                0,
                "D3",
                "sales",
                "Cataluña",
                0,
                Decimal("0.00"),
                0,
                0,
                ["mail"],
                None,
                None,
                None,
                None,
                1,
                0,
                None,
            ),
            (
                "C3",
                "individual",
                "lead_management",
                0,
                0,
                "D3",
                "area",
                "Cataluña",
                0,
                Decimal("0.00"),
                0,
                0,
                [],
                None,
                None,
                None,
                None,
                0,
                0,
                None,
            ),
            (
                "C4",
                "individual",
                "beyond_lifecycle",
                1,
                0,
                "D1",
                "sales",
                "Madrid",
                0,
                Decimal("0.00"),
                0,
                0,
                [],
                None,
                None,
                None,
                None,
                0,
                0,
                None,
            ),
        ],
        "customer_id string, account_type string, lifecycle_stage string, vehicles_current int, "
        "vehicles_previous int, preferred_dealer_code string, preferred_dealer_basis string, "
        "region string, service_visits_12m int, service_spend_12m decimal(14,2), "
        "warranty_visits_36m int, paid_visits_36m int, contactable_channels array<string>, "
        "email_consent string, telemarketing_consent string, loyalty_tier string, "
        "latest_nps int, campaign_contacts int, campaign_opens int, last_response_event string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)

    # vehicles: V4 came from a finance contract with no sale record; the lease matures
    # inside the renewal window; V1's km is the last reading on or before as_of
    vehicles = {
        v.vin: v for v in c360.select(F.explode("vehicles").alias("v")).select("v.*").collect()
    }
    assert set(vehicles) == {"V1", "V2", "V3", "V4", "V5"}
    assert vehicles["V4"].acquired_basis == "finance"
    assert vehicles["V4"].lifecycle_stage == "renewal"
    assert vehicles["V4"].finance_type == "lease" and vehicles["V4"].finance_active
    assert vehicles["V1"].latest_km == 9000 and vehicles["V1"].in_warranty
    assert vehicles["V2"].lifecycle_stage == "renewal" and vehicles["V2"].age_years == 8.4
    segments = lake.read(spark, "gold.lifecycle_segments")
    reason = segments.filter("vin = 'V4'").first().stage_reason
    assert reason == "lease contract matures 2026-09-01 (within 6 months)"
    assert segments.filter("customer_id = 'C3'").first().vin is None

    kpi = lake.read(spark, "gold.kpi_counts")
    assert kpi.agg(F.sum("customers")).first()[0] == 4
    companies = kpi.filter("party_type = 'company'").first()
    assert (companies.region, companies.lifecycle_stage, companies.fleet_accounts) == (
        "Cataluña",
        "renewal",
        1,
    )
    radio = lake.read(spark, "gold.dealer_radiography")
    may = radio.filter("dealer_code = 'D2' AND month = DATE'2026-05-01'").first()
    assert (may.service_visits, may.service_customers, may.survey_responses, may.nps) == (
        1,
        1,
        1,
        -100.0,
    )
    march = radio.filter("dealer_code = 'D1' AND month = DATE'2026-03-01'").first()
    assert (march.service_visits, march.nps, march.returning_customers) == (1, 100.0, 0)
    assert radio.agg(F.max("month")).first()[0] == D(2026, 6, 1)

    before = _versions(spark, lake)
    run_stages(spark, conf, AS_OF, ["gold"])
    assert _versions(spark, lake) == before


def test_vehicles_and_their_owners(spark: SparkSession, gold_lake) -> None:
    """gold.vehicles: one row per VIN with its facts and the holder's stage; V4 is known
    only from a finance record, V1's servicing dealer is a tie (one visit each up to
    as_of) that the latest visit breaks."""
    _, lake = gold_lake
    got = {v.vin: v for v in lake.read(spark, "gold.vehicles").collect()}
    assert set(got) == {"V1", "V2", "V3", "V4", "V5"}
    v1 = got["V1"]
    assert (v1.selling_dealer_code, v1.servicing_dealer_code, v1.service_visits) == ("D1", "D2", 2)
    assert (v1.latest_km, v1.latest_km_source, v1.in_warranty) == (9000, "service", True)
    assert (v1.owners, v1.has_current_owner, v1.lifecycle_stage) == (1, True, "first_year")
    v4 = got["V4"]
    assert (v4.model, v4.finance_type, v4.lifecycle_stage) == (None, "lease", "renewal")
    assert v4.stage_reason == "lease contract matures 2026-09-01 (within 6 months)"
    c360 = lake.read(spark, "gold.customer_360").select(F.explode("vehicles").alias("v"))
    stages = {r.v.vin: r.v.lifecycle_stage for r in c360.collect()}
    assert {vin: v.lifecycle_stage for vin, v in got.items()} == stages  # as the 360 has it
    owners = lake.read(spark, "gold.vehicle_owners")
    assert sorted((r.vin, r.customer_id, r.ownership, r.source) for r in owners.collect()) == [
        ("V1", "C1", "current", "sale"),
        ("V2", "C2", "current", "sale"),
        ("V3", "C2", "current", "sale"),
        ("V4", "C2", "current", "finance"),
        ("V5", "C4", "current", "sale"),
    ]


def test_households_of_the_run(spark: SparkSession, gold_lake) -> None:
    """Ana (C1) and Luis (C3) are persons at their own addresses: a household each, with
    C1's current VIN; the company C2 and the addressless C4 have none; the 360 carries
    the same ids, and the changelog has one ``new`` event per household."""
    _, lake = gold_lake
    members = {
        r.customer_id: r.household_id for r in lake.read(spark, "gold.household_members").collect()
    }
    assert set(members) == {"C1", "C3"} and len(set(members.values())) == 2
    c360 = {r.customer_id: r.household_id for r in lake.read(spark, "gold.customer_360").collect()}
    assert c360 == {**members, "C2": None, "C4": None}
    got = {r.household_id: r for r in lake.read(spark, "gold.households").collect()}
    c1 = got[members["C1"]]
    assert (c1.member_ids, c1.vins, c1.vehicles_current, c1.street) == (
        ["C1"],
        ["V1"],
        1,
        "CALLE MAYOR, 1",
    )
    assert (c1.mail_contactable, c1.members_contactable) == (True, 1)
    assert c1.contactable_channels == sorted(["email", "telemarketing", "mail"])
    assert got[members["C3"]].vins == []
    events = lake.read(spark, "gold.household_changelog").collect()
    assert sorted((e.event, e.household_id) for e in events) == sorted(
        ("new", h) for h in members.values()
    )


def test_an_owner_period_ends_when_the_next_begins(spark: SparkSession) -> None:
    """Two owners of one VIN, and a person's car replaced by a newer one (no later owner:
    the period ends at its last evidence)."""
    from c360.gold.vehicles import vehicle_owners

    owned = spark.createDataFrame(
        [
            ("V1", "A", "previous", D(2019, 1, 1), "sale", D(2021, 5, 1)),
            ("V1", "B", "current", D(2022, 3, 1), "sale", D(2026, 1, 1)),
            ("V2", "A", "previous", D(2015, 1, 1), "service", D(2018, 2, 1)),
            ("V3", None, "current", None, None, None),  # a messy row: kept, no dates
        ],
        "vin string, customer_id string, ownership string, acquired_date date, "
        "acquired_basis string, last_evidence date",
    )
    got = vehicle_owners(owned, AS_OF, "r").select("vin", "customer_id", "start_date", "end_date")
    expected = spark.createDataFrame(
        [
            ("V1", "A", D(2019, 1, 1), D(2022, 3, 1)),
            ("V1", "B", D(2022, 3, 1), None),
            ("V2", "A", D(2015, 1, 1), D(2018, 2, 1)),
            ("V3", None, None, None),
        ],
        "vin string, customer_id string, start_date date, end_date date",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


# slow tier (the default tier's 15-minute budget): test_gold_lifecycle covers the SCD2 history on frames
@pytest.mark.slow
def test_two_dates_move_customers_between_stages(
    spark: SparkSession, gold_lake, tmp_path: Path
) -> None:
    """The lake of AS_OF, copied, then run as of a later date."""
    conf, lake = gold_lake
    shutil.copytree(lake.root, tmp_path / "lake")
    conf = conf.with_overrides([f"lake.root={tmp_path / 'lake'}"])
    lake = Lake.from_config(conf)
    run_stages(spark, conf, D(2026, 12, 1), ["gold"])
    hist = lake.read(spark, "gold.lifecycle_history")
    moved = hist.filter(F.col("previous_stage").isNotNull()).select(
        "customer_id", "vin", "previous_stage", "stage", "valid_from"
    )
    expected = spark.createDataFrame(
        [
            ("C1", "V1", "first_year", "brand_commitment", D(2026, 12, 1)),
            ("C2", "V4", "renewal", "after_sales_in_warranty", D(2026, 12, 1)),
        ],
        "customer_id string, vin string, previous_stage string, stage string, valid_from date",
    )
    assert_df_equality(moved, expected, ignore_row_order=True, ignore_nullable=True)
    # the open lead aged past 120 days: its row is closed and not replaced
    lead = hist.filter("customer_id = 'C3'").first()
    assert (lead.stage, lead.valid_to, lead.is_current) == (
        "lead_management",
        D(2026, 12, 1),
        False,
    )
    # V4's lease matured on 2026-09-01; with no sale record its warranty runs 3 years
    # from the first evidence (the contract start, 2024-01-01)
    seg = lake.read(spark, "gold.lifecycle_segments")
    v4 = seg.filter("vin = 'V4'").first()
    assert (v4.stage, v4.warranty_end) == ("after_sales_in_warranty", D(2027, 1, 1))
    assert set(seg.select("as_of").distinct().toPandas()["as_of"]) == {D(2026, 12, 1)}
    # the report counts them; the households kept their ids (no changelog event)
    page = build_report(spark, lake, D(2026, 12, 1))
    assert "Stage transitions by run date: 2026-12-01 2" in page
    assert f"Household id events by run date: {AS_OF} new 2<" in page


def test_gold_tables_read_by_delta_rs_and_report(
    spark: SparkSession, gold_lake, tmp_path: Path
) -> None:
    _, lake = gold_lake
    for t in GOLD:
        rs = RsDeltaTable(lake.path(f"gold.{t}")).to_pyarrow_table()
        assert rs.num_rows == lake.read(spark, f"gold.{t}").count() > 0
    rs = RsDeltaTable(lake.path("gold.customer_360")).to_pyarrow_table().to_pylist()
    c1 = next(r for r in rs if r["customer_id"] == "C1")
    assert c1["vehicles"][0]["vin"] == "V1" and c1["contactable_channels"] == [
        "email",
        "telemarketing",
        "mail",
    ]

    page = build_report(spark, lake, AS_OF)
    for anchor, title in SECTIONS:
        assert f'<section id="{anchor}"><h2>{title}</h2>' in page
    assert "plotly" in page.lower() and page.count('class="plotly-graph-div"') >= 7
    assert "5 vehicles; 0 held by more than one customer; 0 with no current owner" in page
    assert "2 households; 0 with more than one member; 1 reachable by letter" in page
    assert f"Household id events by run date: {AS_OF} new 2" in page
    assert "gold.campaign_results does not exist yet" in page
    assert "ana@example.com" not in page and "García" not in page
