"""Persistent customer ids: map this run's components onto the previous crosswalk.

Rules (deterministic, so a rerun on the same input gives the same ids):

- an old id goes to the component holding most of its records (tie: the component whose
  smallest record key is smallest) — on a split, the larger part keeps the id;
- a component keeps, of the old ids that went to it, the one with most records (tie: the
  smallest id); the other old ids that went to it are retired into it — a merge;
- a component with no old id gets a new id: a hash of its sorted record keys, salted if
  that id was ever used before (so a retired id is never handed out again).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from c360.errors import IdentityError
from c360.io import checkpointed

ID_PREFIX = "C"


@dataclass
class IdAssignment:
    crosswalk: DataFrame  # record_key, customer_id
    events: DataFrame  # event, customer_id, other_id, records


def new_id(seed: Column, prefix: str = ID_PREFIX) -> Column:
    return F.concat(F.lit(prefix), F.substring(F.sha2(seed, 256), 1, 16))


def assign_ids(
    members: DataFrame,
    previous: DataFrame | None,
    used_ids: DataFrame | None = None,
    *,
    prefix: str = ID_PREFIX,
    where: str = "silver.identity_crosswalk.customer_id",
) -> IdAssignment:
    """``members(record_key, component)`` + ``previous(record_key, customer_id)`` -> ids.

    ``used_ids(customer_id)`` lists every id ever issued (kept or retired); new ids avoid it.
    Households reuse the same rules with their own ``prefix``; ``where`` names the column
    a collision error points at.
    """
    spark = members.sparkSession
    if previous is None:
        previous = spark.createDataFrame([], "record_key string, customer_id string")
    if used_ids is None:
        used_ids = previous.select("customer_id").distinct()
    # Checkpoints: each frame below is read by several of the jobs that follow (the
    # collision count, the crosswalk, the events); without them each job redid the joins.
    m = members.join(previous, "record_key", "left").transform(checkpointed)
    comp_key = (
        m.groupBy("component")
        .agg(F.min("record_key").alias("_min_key"), F.count(F.lit(1)).alias("_size"))
        .transform(checkpointed)
    )
    overlap = (
        m.filter(F.col("customer_id").isNotNull())
        .groupBy("component", "customer_id")
        .agg(F.count(F.lit(1)).alias("n"))
        .join(comp_key.select("component", "_min_key"), "component")
    )
    # each old id goes to its largest part
    home_rank = Window.partitionBy("customer_id").orderBy(F.desc("n"), F.asc("_min_key"))
    homes = (
        overlap.withColumn("_r", F.row_number().over(home_rank))
        .filter("_r = 1")
        .drop("_r")
        .transform(checkpointed)
    )
    # each component keeps its biggest old id; others that went to it are retired into it
    keep_rank = Window.partitionBy("component").orderBy(F.desc("n"), F.asc("customer_id"))
    ranked = homes.withColumn("_r", F.row_number().over(keep_rank))
    kept = ranked.filter("_r = 1").select("component", "customer_id")
    retired = ranked.filter("_r > 1").select(
        F.col("customer_id").alias("other_id"), "component", F.col("n").alias("records")
    )
    fresh = comp_key.join(kept, "component", "left_anti")
    # the sorted record keys a new id hashes, built for components with no old id only
    # (on a day 2, a few thousand of hundreds of thousands)
    keys = (
        m.join(fresh.select("component"), "component", "left_semi")
        .groupBy("component")
        .agg(F.array_join(F.array_sort(F.collect_list("record_key")), "\u0001").alias("_keys"))
    )
    used = used_ids.select(F.col("customer_id").alias("_id0")).distinct()
    fresh = fresh.join(keys, "component").withColumn("_id0", new_id(F.col("_keys"), prefix))
    taken = (
        fresh.join(used, "_id0", "left_semi").select("component").withColumn("_taken", F.lit(True))
    )
    fresh = (
        fresh.join(taken, "component", "left")
        .withColumn(
            "customer_id",
            F.when(F.col("_taken").isNull(), F.col("_id0")).otherwise(
                new_id(F.concat(F.col("_keys"), F.lit("\u0002salt")), prefix)
            ),
        )
        .transform(checkpointed)
    )
    again = used.withColumnRenamed("_id0", "customer_id")
    collisions = fresh.join(again, "customer_id", "left_semi").count()
    if collisions:
        raise IdentityError(f"{collisions} new id(s) collide with ids already issued ({where})")
    ids = kept.unionByName(fresh.select("component", "customer_id"))
    crosswalk = members.join(ids, "component").select("record_key", "customer_id")
    # split events: an old id's records outside its home component now carry other ids
    split_parts = (
        overlap.join(homes.select("customer_id", F.col("component").alias("_home")), "customer_id")
        .filter(F.col("component") != F.col("_home"))
        .join(ids.withColumnRenamed("customer_id", "new_id"), "component")
        .select(
            F.lit("split").alias("event"),
            "customer_id",
            F.col("new_id").alias("other_id"),
            F.col("n").alias("records"),
        )
    )
    merges = retired.join(ids, "component").select(
        F.lit("merge").alias("event"), "customer_id", "other_id", "records"
    )
    news = fresh.join(
        split_parts.select(F.col("other_id").alias("customer_id")), "customer_id", "left_anti"
    ).select(
        F.lit("new").alias("event"),
        "customer_id",
        F.lit(None).cast("string").alias("other_id"),
        F.col("_size").alias("records"),
    )
    events = merges.unionByName(split_parts).unionByName(news)
    return IdAssignment(crosswalk, events)
