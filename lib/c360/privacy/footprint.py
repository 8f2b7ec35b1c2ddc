"""Where a person is in the lake: the customer ids a request names, every record, email
and phone of theirs (a contact point another customer shares stays), and, per table,
the condition that selects their rows: bronze rows found through each source's silver
typer, so every raw spelling and older version matches. Read-only; ``erase.py`` deletes
what this finds, and ``c360 erase --dry-run`` counts it."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from c360.errors import ErasureError
from c360.io import read_or_none
from c360.lake import Lake
from c360.schemas.registry import (
    BRONZE_QUARANTINE,
    SILVER_CUSTOMERS,
    SILVER_IDENTITY_CHANGELOG,
    SILVER_IDENTITY_CROSSWALK,
    SILVER_PARTY_RECORDS,
)
from c360.silver import standardize as st
from c360.silver.phones import phone_e164
from c360.silver.sources import MODELS, SourceModel

CROSSWALK = SILVER_IDENTITY_CROSSWALK
CHANGELOG = SILVER_IDENTITY_CHANGELOG
PARTY_RECORDS = SILVER_PARTY_RECORDS
CUSTOMERS = SILVER_CUSTOMERS

# company_id: a company's contact rows (gold.account_contacts) go with it;
# contact_person_id: a company's plan rows address the person by name and contact point
ID_COLUMNS = ("customer_id", "other_id", "company_id", "contact_person_id")
ID_ARRAY_COLUMNS = ("member_ids",)  # gold.households: a person's household row goes too
# The pseudonymized twins name a person by the keyed hash of their id (Footprint.keys).
KEY_COLUMNS = ("customer_key", "company_key", "contact_person_key")
KEY_ARRAY_COLUMNS = ("member_keys",)
RECORD_KEY_COLUMNS = ("record_key", "record_key_l", "record_key_r", "record_key_a", "record_key_b")
EMAIL_COLUMNS = ("email", "recipient_email", "contact_point")
PHONE_COLUMNS = ("phone", "recipient_phone", "contact_point")
SEARCH_THREADS = 4  # bronze tables searched at once


def lineage() -> Column:
    """A row of a bronze file as "<file>#<row>"."""
    return F.concat_ws("#", F.col("_source_file"), F.col("_row_number").cast("string"))


@dataclass(frozen=True)
class Request:
    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass
class Footprint:
    """Everything that identifies the person in the lake (kept in memory, never logged)."""

    ids: list[str]
    records: dict[str, list[str]]  # source -> source_record_ids
    record_keys: list[str]
    emails: list[str]
    phones: list[str]
    shared: int = 0  # contact points kept because another customer carries them too
    lineage: list[str] = field(default_factory=list)  # bronze "<file>#<row>" of the person
    keys: list[str] = field(default_factory=list)  # the ids' keyed hashes (pseudo.* tables)


def _norm(spark: SparkSession, value: str, fn) -> str | None:
    return spark.range(1).select(fn(F.lit(value)).alias("v")).first()["v"]


def find_customers(spark: SparkSession, lake: Lake, req: Request) -> list[str]:
    """The customer ids a request names; an email or phone must name exactly one."""
    crosswalk = read_or_none(spark, lake, CROSSWALK)
    if req.customer_id:
        if crosswalk is None or crosswalk.filter(F.col("customer_id") == req.customer_id).isEmpty():
            raise ErasureError(f"customer_id {req.customer_id} is not in {CROSSWALK}")
        return [req.customer_id]
    records = read_or_none(spark, lake, PARTY_RECORDS)
    if records is None or crosswalk is None:
        raise ErasureError(f"no {PARTY_RECORDS} / {CROSSWALK} yet: nothing to erase")
    if req.email:
        column, value = "email", _norm(spark, req.email, st.email_clean)
    else:
        column, value = "phone", _norm(spark, req.phone or "", phone_e164)
    if value is None:
        raise ErasureError(f"the given {column} is not a valid {column} once normalized")
    ids = sorted(
        r["customer_id"]
        for r in records.filter(F.col(column) == value)
        .join(crosswalk, ["source", "source_record_id"])
        .select("customer_id")
        .distinct()
        .collect()
    )
    if not ids:
        raise ErasureError(f"no record in {PARTY_RECORDS} carries the given {column}")
    if len(ids) > 1:
        raise ErasureError(
            f"the given {column} is on the records of {len(ids)} customers ({', '.join(ids)}); "
            "erase them one at a time with --customer-id"
        )
    return ids


def with_merged_ids(spark: SparkSession, lake: Lake, ids: list[str]) -> list[str]:
    """The ids, plus the ids once retired into them by a merge (the same person)."""
    changelog = read_or_none(spark, lake, CHANGELOG)
    if changelog is None:
        return sorted(ids)
    merged = (
        changelog.filter((F.col("event") == "merge") & F.col("customer_id").isin(ids))
        .select("other_id")
        .dropna()
        .collect()
    )
    return sorted({*ids, *(r["other_id"] for r in merged)})


def footprint(
    spark: SparkSession, lake: Lake, ids: list[str], req: Request | None = None
) -> Footprint:
    crosswalk = read_or_none(spark, lake, CROSSWALK)
    mine = (
        []
        if crosswalk is None
        else crosswalk.filter(F.col("customer_id").isin(ids))
        .select("record_key", "source", "source_record_id")
        .collect()
    )
    records: dict[str, list[str]] = {}
    for r in mine:
        records.setdefault(r["source"], []).append(r["source_record_id"])
    emails: set[str] = set()
    phones: set[str] = set()
    party = read_or_none(spark, lake, PARTY_RECORDS)
    shared = 0
    if party is not None and mine:
        keyed = party.withColumn("_mine", _record_match(records))
        for r in keyed.filter("_mine").select("email", "phone").distinct().collect():
            emails.update([r["email"]] if r["email"] else [])
            phones.update([r["phone"]] if r["phone"] else [])
        golden = read_or_none(spark, lake, CUSTOMERS)
        if golden is not None:
            for r in (
                golden.filter(F.col("customer_id").isin(ids)).select("email", "phone").collect()
            ):
                emails.update([r["email"]] if r["email"] else [])
                phones.update([r["phone"]] if r["phone"] else [])
        if req is not None and req.email:
            emails.update(v for v in [_norm(spark, req.email, st.email_clean)] if v)
        if req is not None and req.phone:
            phones.update(v for v in [_norm(spark, req.phone, phone_e164)] if v)
        others = keyed.filter(~F.col("_mine"))
        shared_e = {
            r["email"]
            for r in others.filter(F.col("email").isin(list(emails))).select("email").collect()
        }
        shared_p = {
            r["phone"]
            for r in others.filter(F.col("phone").isin(list(phones))).select("phone").collect()
        }
        shared = len(shared_e) + len(shared_p)
        emails -= shared_e
        phones -= shared_p
    return Footprint(
        ids=ids,
        records=records,
        record_keys=sorted(r["record_key"] for r in mine),
        emails=sorted(emails),
        phones=sorted(phones),
        shared=shared,
    )


def _record_match(records: dict[str, list[str]]) -> Column:
    cond = F.lit(False)
    for source, rids in records.items():
        cond = cond | ((F.col("source") == source) & F.col("source_record_id").isin(rids))
    return cond


def person_filter(table: str, columns: list[str], fp: Footprint) -> Column | None:
    """The rows of ``table`` that are the person's, from the columns it has; None when the
    table has no column that can name a person."""
    conds: list[Column] = []
    cols = set(columns)
    conds += [F.col(c).isin(fp.ids) for c in ID_COLUMNS if c in cols]
    ids = F.array(*[F.lit(i) for i in fp.ids])
    conds += [F.arrays_overlap(F.col(c), ids) for c in ID_ARRAY_COLUMNS if c in cols and fp.ids]
    if fp.keys:
        keys = F.array(*[F.lit(k) for k in fp.keys])
        conds += [F.col(c).isin(fp.keys) for c in KEY_COLUMNS if c in cols]
        conds += [F.arrays_overlap(F.col(c), keys) for c in KEY_ARRAY_COLUMNS if c in cols]
    if fp.record_keys:
        conds += [F.col(c).isin(fp.record_keys) for c in RECORD_KEY_COLUMNS if c in cols]
    if {"source", "source_record_id"} <= cols and fp.records:
        conds.append(_record_match(fp.records))
    for model in MODELS:
        if model.party and table in (model.table, f"bronze.{model.source}"):
            (key,) = model.key
            if fp.records.get(model.source):
                conds.append(F.col(key).isin(fp.records[model.source]))
    if fp.emails:
        conds += [F.col(c).isin(fp.emails) for c in EMAIL_COLUMNS if c in cols]
    if fp.phones:
        conds += [F.col(c).isin(fp.phones) for c in PHONE_COLUMNS if c in cols]
    if fp.lineage and {"_source_file", "_row_number"} <= cols and table.endswith(".quarantine"):
        conds.append(lineage().isin(fp.lineage))
    return any_of(conds)


def any_of(conds: list[Column]) -> Column | None:
    """True where any condition holds (NULL counts as false); None for no conditions."""
    if not conds:
        return None
    return F.coalesce(functools.reduce(lambda a, b: a | b, conds), F.lit(False))


def bronze_lineage(spark: SparkSession, lake: Lake, fp: Footprint) -> dict[str, list[str]]:
    """Per bronze table, the person's rows as "<file>#<row>": each source's own silver
    typer reads the raw strings, so every spelling and every older version matches."""

    def rows_of(model: SourceModel) -> tuple[str, list[str]]:
        name = f"bronze.{model.source}"
        if not lake.exists(spark, name):
            return name, []
        typed = lake.read(spark, name).transform(model.typer)
        cond = person_filter(name, typed.columns, fp)
        if cond is None:
            return name, []
        rows = typed.filter(cond).select(lineage().alias("l")).distinct().collect()
        return name, sorted(r["l"] for r in rows)

    # Most of a source's cost is building and planning its typer on the driver: overlap
    # the sources, as silver does.
    with ThreadPoolExecutor(max_workers=SEARCH_THREADS) as pool:
        return {name: rows for name, rows in pool.map(rows_of, MODELS) if rows}


def with_bronze_lineage(spark: SparkSession, lake: Lake, fp: Footprint) -> dict[str, list[str]]:
    """``bronze_lineage``, also kept on the footprint (``fp.lineage``) for the quarantine
    filters; returns the rows per bronze table."""
    found = bronze_lineage(spark, lake, fp)
    fp.lineage = sorted({x for rows in found.values() for x in rows})
    return found


def _regex_escape(text: str) -> str:
    return "".join("\\" + ch if not ch.isalnum() else ch for ch in text)


def _bronze_quarantine_filter(fp: Footprint) -> Column | None:
    """Malformed raw lines: the person's email, or one of their record ids as a token."""
    conds = [F.lower(F.col("raw_line")).contains(e) for e in fp.emails]
    for source, rids in fp.records.items():
        for rid in rids:
            token = rf"(^|[^0-9A-Za-z]){_regex_escape(rid)}([^0-9A-Za-z]|$)"
            conds.append((F.col("source") == source) & F.col("raw_line").rlike(token))
    if fp.lineage:
        conds.append(lineage().isin(fp.lineage))
    return any_of(conds)


def table_condition(
    spark: SparkSession, lake: Lake, name: str, fp: Footprint, found: dict[str, list[str]]
) -> Column | None:
    """The person's rows in ``name``: in a bronze table the rows its lineage names
    (``found``, from ``bronze_lineage``), in ``bronze.quarantine`` the raw lines that name
    them, elsewhere ``person_filter`` on the table's columns. None: nothing of theirs."""
    if name in found:
        return lineage().isin(found[name])
    if name == BRONZE_QUARANTINE:
        return _bronze_quarantine_filter(fp)
    if name.startswith("bronze."):
        return None
    return person_filter(name, lake.read(spark, name).columns, fp)
