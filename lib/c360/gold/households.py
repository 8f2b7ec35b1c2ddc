"""Households: persons at one address who share a contact point or a vehicle.

A household is not a merge: its members stay separate customers. Two persons at the same
golden address belong to one household when any of their records share an email or a
phone, or they have owned the same VIN; a person sharing nothing with anyone at the
address is a household of one. Companies and persons without a full address have none.

``household_id`` follows the ``customer_id`` rules (c360.identity.ids): an old id stays
with the group holding most of its members, a merge retires the smaller group's id, a
new group gets a hash of its members (salted if that id was ever issued), and every
change is an event in ``gold.household_changelog``.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from c360.columns import to_schema, with_run
from c360.identity.cluster import connected_components
from c360.identity.ids import IdAssignment, assign_ids
from c360.io import checkpointed
from c360.schemas import gold as G

ID_PREFIX = "H"
DRIVER_MAX_EDGES = 5_000_000  # household graphs are small: union-find on the driver


def address_key(street: Column, postal_code: Column) -> Column:
    """The golden address as one comparable string; NULL when either part is missing."""
    return F.when(
        street.isNotNull() & postal_code.isNotNull(),
        F.concat_ws("|", F.upper(F.trim(street)), postal_code),
    )


def filter_addressed_persons(customers: DataFrame) -> DataFrame:
    """``customer_id, _addr`` of every person with a full golden address."""
    return (
        customers.filter(F.col("party_type") == "person")
        .select("customer_id", address_key(F.col("street"), F.col("postal_code")).alias("_addr"))
        .filter(F.col("_addr").isNotNull())
    )


def shared_keys(points: DataFrame, links: DataFrame) -> DataFrame:
    """``customer_id, kind, key``: the emails, phones and VINs that can tie two persons."""
    contact = points.filter(F.col("contact_type").isin("email", "phone")).select(
        "customer_id", F.col("contact_type").alias("kind"), F.col("contact_point").alias("key")
    )
    vehicles = links.select(
        "customer_id", F.lit("vehicle").alias("kind"), F.col("vin").alias("key")
    )
    return contact.unionByName(vehicles).filter(F.col("key").isNotNull()).distinct()


def shared_within_address(persons: DataFrame, keys: DataFrame) -> DataFrame:
    """``customer_id, kind, _anchor``: a person whose key another person at the same address
    also has, with the smallest such person as the anchor (a star per shared key links the
    group with one edge per member)."""
    k = keys.join(persons, "customer_id")
    groups = (
        k.groupBy("_addr", "kind", "key")
        .agg(F.min("customer_id").alias("_anchor"), F.count_distinct("customer_id").alias("_n"))
        .filter(F.col("_n") > 1)
    )
    return k.join(groups, ["_addr", "kind", "key"]).select("customer_id", "kind", "_anchor")


def household_groups(persons: DataFrame, shared: DataFrame) -> DataFrame:
    """``customer_id, component, shared_by``: the connected group of each person and the
    kinds of key that tie them to another member (empty for a household of one)."""
    edges = shared.select(F.col("_anchor").alias("src"), F.col("customer_id").alias("dst"))
    comps = connected_components(
        persons.select(F.col("customer_id").alias("id")),
        edges,
        driver_max_edges=DRIVER_MAX_EDGES,
    ).withColumnRenamed("id", "customer_id")
    kinds = shared.groupBy("customer_id").agg(
        F.array_sort(F.collect_set("kind")).alias("shared_by")
    )
    return comps.join(kinds, "customer_id", "left").withColumn(
        "shared_by", F.coalesce("shared_by", F.array().cast("array<string>"))
    )


def assign_household_ids(
    groups: DataFrame, previous: DataFrame | None, used: DataFrame | None
) -> IdAssignment:
    """Persistent ids for this run's groups. ``previous(customer_id, household_id)`` is the
    last run's membership; ``used(household_id)`` every household id ever issued."""
    members = groups.select(F.col("customer_id").alias("record_key"), "component")
    prev = (
        None
        if previous is None
        else previous.select(
            F.col("customer_id").alias("record_key"), F.col("household_id").alias("customer_id")
        )
    )
    used_ids = None if used is None else used.select(F.col("household_id").alias("customer_id"))
    return assign_ids(
        members, prev, used_ids, prefix=ID_PREFIX, where="gold.household_changelog.household_id"
    )


def household_members(
    customers: DataFrame,
    points: DataFrame,
    links: DataFrame,
    previous: DataFrame | None,
    used: DataFrame | None,
) -> tuple[DataFrame, DataFrame]:
    """``(members, events)``: ``customer_id, household_id, shared_by`` per addressed person,
    and the id events (new, merge, split) of this run."""
    persons = filter_addressed_persons(customers).transform(checkpointed)
    shared = shared_within_address(persons, shared_keys(points, links))
    groups = household_groups(persons, shared).transform(checkpointed)
    ids = assign_household_ids(groups, previous, used)
    members = groups.join(
        ids.crosswalk.select(
            F.col("record_key").alias("customer_id"), F.col("customer_id").alias("household_id")
        ),
        "customer_id",
    ).select("customer_id", "household_id", "shared_by")
    events = ids.events.select(
        "event",
        F.col("customer_id").alias("household_id"),
        "other_id",
        F.col("records").cast("long").alias("members"),
    )
    return members, events


def members_table(members: DataFrame, as_of: dt.date, run_id: str) -> DataFrame:
    return members.transform(with_run, as_of, run_id).transform(to_schema, G.HOUSEHOLD_MEMBERS)


def households_table(members: DataFrame, c360: DataFrame, as_of: dt.date, run_id: str) -> DataFrame:
    """One row per household: its address, members, current vehicles and what reaches it.

    ``contactable_channels`` is the union of the members'; ``mail_contactable`` says a
    letter to the address is allowed for at least one member."""
    profile = c360.select(
        "customer_id",
        "street",
        "postal_code",
        "city",
        "region",
        "contactable_channels",
        F.transform(
            F.filter("vehicles", lambda v: v["ownership"] == "current"), lambda v: v["vin"]
        ).alias("_vins"),
    )
    df = members.join(profile, "customer_id")
    # The address every member shares, taken from the smallest member (their golden
    # addresses are equal up to case and spacing).
    first = F.min_by(F.struct("street", "postal_code", "city", "region"), F.col("customer_id"))
    agg = df.groupBy("household_id").agg(
        first.alias("_a"),
        F.array_sort(F.collect_list("customer_id")).alias("member_ids"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("_vins")))).alias("vins"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("contactable_channels")))).alias(
            "contactable_channels"
        ),
        F.count(F.when(F.size("contactable_channels") > 0, 1))
        .cast("int")
        .alias("members_contactable"),
    )
    out = agg.select(
        "household_id",
        "_a.street",
        "_a.postal_code",
        "_a.city",
        "_a.region",
        F.size("member_ids").cast("int").alias("member_count"),
        "member_ids",
        F.size("vins").cast("int").alias("vehicles_current"),
        "vins",
        "members_contactable",
        "contactable_channels",
        F.array_contains("contactable_channels", "mail").alias("mail_contactable"),
    )
    return out.transform(with_run, as_of, run_id).transform(to_schema, G.HOUSEHOLDS)


def changelog_rows(events: DataFrame, as_of: dt.date, run_id: str) -> DataFrame:
    """Events keyed by (as_of, event, household_id, other_id): a rerun inserts nothing."""
    eid = F.sha2(
        F.concat_ws(
            "|",
            F.lit(as_of.isoformat()),
            "event",
            "household_id",
            F.coalesce("other_id", F.lit("")),
        ),
        256,
    ).substr(1, 24)
    return (
        events.withColumn("event_id", eid)
        .transform(with_run, as_of, run_id)
        .transform(to_schema, G.HOUSEHOLD_CHANGELOG)
    )
