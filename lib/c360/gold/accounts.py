"""``gold.account_contacts``: the persons a company customer deals through.

A fleet desk record names a company (by CIF, sometimes only by name) and a contact
person. Identity resolves the person like any other record, so the contact is the same
``customer_id`` as the person's private purchases. The company is found among the
company customers by tax id first; by its cleaned name only when no tax id is given and
exactly one company customer carries that name, so an ambiguous name links nothing.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from c360.columns import to_schema, with_run
from c360.schemas import gold as G

SOURCE = "fleet_contacts"
# who a plan addresses first when a company names several active contacts
ROLE_ORDER = ("fleet manager", "managing director", "purchasing")


def _unique_company_keys(companies: DataFrame, column: str) -> DataFrame:
    """``column`` value -> the one company customer holding it (values held by two
    company customers are dropped: they would link a contact to the wrong company)."""
    return (
        companies.filter(F.col(column).isNotNull())
        .groupBy(column)
        .agg(F.collect_set("customer_id").alias("_ids"))
        .filter(F.size("_ids") == 1)
        .select(column, F.col("_ids")[0].alias("company_id"))
    )


def company_keys(party: DataFrame, records: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(tax_id -> company_id, name -> company_id) from the live company records."""
    companies = (
        party.filter(~F.col("is_deleted") & (F.col("party_type") == "company"))
        .join(records, ["source", "source_record_id"])
        .select("customer_id", "tax_id", F.col("company_name").alias("name"))
    )
    return _unique_company_keys(companies, "tax_id"), _unique_company_keys(companies, "name")


def with_company(contacts: DataFrame, by_tax: DataFrame, by_name: DataFrame) -> DataFrame:
    """``company_id`` and ``linked_by`` (tax_id | company_name); NULL when neither finds
    one company."""
    tax = by_tax.select(
        F.col("tax_id").alias("account_tax_id"), F.col("company_id").alias("_by_tax")
    )
    name = by_name.select(
        F.col("name").alias("account_name"), F.col("company_id").alias("_by_name")
    )
    named = F.col("account_tax_id").isNull()
    return (
        contacts.join(tax, "account_tax_id", "left")
        .join(name, "account_name", "left")
        .withColumns(
            {
                "company_id": F.coalesce("_by_tax", F.when(named, F.col("_by_name"))),
                "linked_by": F.when(F.col("_by_tax").isNotNull(), "tax_id").when(
                    named & F.col("_by_name").isNotNull(), "company_name"
                ),
            }
        )
        .drop("_by_tax", "_by_name")
    )


def is_active(status: Column) -> Column:
    """Only an explicit 'inactive' ends a contact: a missing status keeps it."""
    return F.coalesce(status != "inactive", F.lit(True))


def live_contacts(contacts: DataFrame, records: DataFrame, as_of: dt.date) -> DataFrame:
    """The fleet desk's current records named by the run date, with the person's
    ``customer_id`` (unresolved records have none and link nothing)."""
    persons = records.filter(F.col("source") == SOURCE).select(
        F.col("source_record_id").alias("contact_id"), "customer_id"
    )
    return contacts.filter(
        ~F.col("_is_deleted") & F.coalesce(F.col("since") <= F.lit(as_of), F.lit(True))
    ).join(persons, "contact_id")


def account_contacts(
    contacts: DataFrame,
    party: DataFrame,
    records: DataFrame,
    as_of: dt.date,
    run_id: str,
) -> DataFrame:
    """One row per (company, person, role): every fleet desk record behind it, the
    earliest ``since``, and whether any of them is still active."""
    by_tax, by_name = company_keys(party, records)
    linked = (
        live_contacts(contacts, records, as_of)
        .transform(with_company, by_tax, by_name)
        .filter(F.col("company_id").isNotNull())
        .withColumn("role", F.coalesce("role", F.lit("contact")))
    )
    rows = linked.groupBy("company_id", "customer_id", "role").agg(
        F.array_sort(F.collect_set("contact_id")).alias("source_record_ids"),
        F.min("since").alias("since"),
        F.max(is_active(F.col("contact_status"))).alias("active"),
        # a tax id beats a name: 'company_name' only if no record of the link had one
        F.max("linked_by").alias("linked_by"),
    )
    rows = rows.withColumn("source", F.lit(SOURCE))
    return rows.transform(with_run, as_of, run_id).transform(to_schema, G.ACCOUNT_CONTACTS)


def addressees(account_contacts: DataFrame) -> DataFrame:
    """``customer_id`` (a company) -> ``contact_person_id``: the active contact a plan
    addresses, by role (``ROLE_ORDER``), then the longest-standing, then the id."""
    rank = F.array_position(F.array(*[F.lit(r) for r in ROLE_ORDER]), F.col("role"))
    order = Window.partitionBy("company_id").orderBy(
        F.when(rank > 0, rank).otherwise(F.lit(len(ROLE_ORDER) + 1)),
        F.col("since").asc_nulls_last(),
        "customer_id",
    )
    return (
        account_contacts.filter(F.col("active"))
        .withColumn("_n", F.row_number().over(order))
        .filter(F.col("_n") == 1)
        .select(
            F.col("company_id").alias("customer_id"),
            F.col("customer_id").alias("contact_person_id"),
        )
    )
