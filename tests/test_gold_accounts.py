"""gold.account_contacts on tiny inline frames: a contact links to its company by tax id,
else by a name only one company holds; ambiguous, unresolved, deleted and future records
link nothing; several records of one link roll up; addressees rank by role."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from c360.gold import accounts
from c360.schemas import gold as G

AS_OF = dt.date(2026, 11, 2)
D = dt.date

PARTY = "source string, source_record_id string, party_type string, tax_id string, company_name string, is_deleted boolean"
RECORDS = "source string, source_record_id string, customer_id string"
CONTACTS = (
    "contact_id string, account_tax_id string, account_name string, role string, since date, "
    "contact_status string, _is_deleted boolean"
)

PARTY_ROWS = [
    ("sales", "S1", "company", "B1", "ALFA SL", False),
    ("finance", "F1", "company", "B1", "ALFA S.L.", False),  # same company, other spelling
    ("sales", "S2", "company", None, "BETA SA", False),  # known by its name only
    ("sales", "S3", "company", "B3", "GAMMA SL", False),
    ("sales", "S4", "company", "B4", "GAMMA SL", False),  # a second GAMMA SL: ambiguous name
    ("sales", "S5", "person", None, None, False),
    ("sales", "S6", "company", "B6", "OLD SL", True),  # deleted: links nothing
]
RECORD_ROWS = [
    ("sales", "S1", "K1"),
    ("finance", "F1", "K1"),
    ("sales", "S2", "K2"),
    ("sales", "S3", "K3"),
    ("sales", "S4", "K4"),
    ("sales", "S6", "K6"),
    ("fleet_contacts", "FC1", "P1"),
    ("fleet_contacts", "FC2", "P1"),
    ("fleet_contacts", "FC3", "P2"),
    ("fleet_contacts", "FC4", "P3"),
    ("fleet_contacts", "FC5", "P4"),
    ("fleet_contacts", "FC6", "P5"),
    ("fleet_contacts", "FC8", "P6"),
    ("fleet_contacts", "FC9", "P7"),
]
CONTACT_ROWS = [
    ("FC1", "B1", "ALFA SL", "fleet manager", D(2020, 1, 1), "active", False),
    ("FC2", "B1", None, "fleet manager", D(2018, 5, 1), "inactive", False),  # same link, older
    ("FC3", None, "BETA SA", "purchasing", D(2021, 1, 1), None, False),  # by name; no status
    ("FC4", None, "GAMMA SL", "fleet manager", D(2021, 1, 1), "active", False),  # ambiguous
    ("FC5", "B3", "GAMMA SL", None, None, "active", False),  # tax id decides; no role
    ("FC6", "B9", "BETA SA", "purchasing", D(2021, 1, 1), "active", False),  # unknown CIF
    ("FC7", "B1", "ALFA SL", "purchasing", D(2021, 1, 1), "active", False),  # unresolved
    ("FC8", "B1", "ALFA SL", "purchasing", D(2026, 12, 1), "active", False),  # future
    ("FC9", "B6", "OLD SL", "purchasing", D(2021, 1, 1), "active", True),  # deleted
]


def links(spark: SparkSession):
    return accounts.account_contacts(
        spark.createDataFrame(CONTACT_ROWS, CONTACTS),
        spark.createDataFrame(PARTY_ROWS, PARTY),
        spark.createDataFrame(RECORD_ROWS, RECORDS),
        AS_OF,
        "run-1",
    )


def test_contacts_link_by_tax_id_then_by_a_unique_name(spark: SparkSession) -> None:
    got = links(spark)
    run = (AS_OF, "run-1")
    expected = spark.createDataFrame(
        [
            (
                "K1",
                "P1",
                "fleet manager",
                "fleet_contacts",
                ["FC1", "FC2"],
                D(2018, 5, 1),
                True,
                "tax_id",
                *run,
            ),
            (
                "K2",
                "P2",
                "purchasing",
                "fleet_contacts",
                ["FC3"],
                D(2021, 1, 1),
                True,
                "company_name",
                *run,
            ),
            ("K3", "P4", "contact", "fleet_contacts", ["FC5"], None, True, "tax_id", *run),
        ],
        G.ACCOUNT_CONTACTS,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_addressee_is_the_first_role_then_the_longest_standing(spark: SparkSession) -> None:
    rows = [
        ("K1", "P1", "purchasing", D(2010, 1, 1), True),
        ("K1", "P2", "fleet manager", D(2022, 1, 1), True),
        ("K1", "P3", "fleet manager", D(2015, 1, 1), True),  # the longest-standing manager
        ("K1", "P4", "fleet manager", D(2001, 1, 1), False),  # left
        ("K2", "P5", "contact", None, True),  # an unknown role still addresses
        ("K3", "P6", "fleet manager", D(2015, 1, 1), False),  # nobody active: no addressee
    ]
    df = spark.createDataFrame(
        rows, "company_id string, customer_id string, role string, since date, active boolean"
    )
    got = {r["customer_id"]: r["contact_person_id"] for r in accounts.addressees(df).collect()}
    assert got == {"K1": "P3", "K2": "P5"}
