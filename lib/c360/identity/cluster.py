"""Connected components in Spark: records linked directly or through others share one entity.

Min-label propagation with pointer jumping: every vertex starts with its own id as label;
each round a vertex takes the smallest label among itself and its neighbours, then jumps to
its label's label. The diameter halves per jump, so rounds grow with log(diameter), not
with the number of records. Each round is checkpointed locally so the plan stays small.
Never a cartesian product: every step is an equi-join on vertex ids.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from c360.errors import IdentityError

log = logging.getLogger(__name__)


def connected_components(
    vertices: DataFrame, edges: DataFrame, *, max_rounds: int = 60
) -> DataFrame:
    """``vertices(id)`` and ``edges(src, dst)`` -> ``(id, component)``.

    ``component`` is the smallest ``id`` in the component, so the answer does not depend
    on the order of the input rows or on partitioning.
    """
    both = edges.select("src", "dst").unionByName(
        edges.select(F.col("dst").alias("src"), F.col("src").alias("dst"))
    )
    both = both.filter(F.col("src") != F.col("dst")).distinct().localCheckpoint()
    labels = vertices.select("id", F.col("id").alias("label")).distinct().localCheckpoint()
    for round_no in range(1, max_rounds + 1):
        offered = both.join(labels, both["src"] == labels["id"]).select(
            F.col("dst").alias("id"), "label"
        )
        best = labels.unionByName(offered).groupBy("id").agg(F.min("label").alias("label"))
        parent = best.select(F.col("id").alias("_p"), F.col("label").alias("_pl"))
        jumped = best.join(parent, best["label"] == parent["_p"], "left").select(
            "id", F.least("label", F.coalesce("_pl", "label")).alias("label")
        )
        jumped = jumped.localCheckpoint()
        changed = (
            jumped.join(labels.withColumnRenamed("label", "_old"), "id")
            .filter(F.col("label") != F.col("_old"))
            .count()
        )
        labels = jumped
        log.info("step=identity.cluster round=%d changed=%d", round_no, changed)
        if changed == 0:
            return labels.select("id", F.col("label").alias("component"))
    raise IdentityError(
        f"connected components did not converge in {max_rounds} rounds (edges: src, dst)"
    )


def recluster(components: DataFrame, edges: DataFrame, which: DataFrame) -> DataFrame:
    """Re-cluster the components listed in ``which(component)`` with ``edges(src, dst)``.

    Long chains of medium-strength links are how different people end up in one entity;
    the caller passes only the strong edges, so a suspect component breaks along its weak
    links. Other components are returned unchanged: ``(id, component)``.
    """
    members = components.join(which.distinct(), "component").select("id").localCheckpoint()
    if members.isEmpty():
        return components.select("id", "component")
    src = members.select(F.col("id").alias("src"))
    dst = members.select(F.col("id").alias("dst"))
    inside = edges.select("src", "dst").join(src, "src").join(dst, "dst")
    sub = connected_components(members, inside).withColumnRenamed("component", "_sub")
    return components.join(sub, "id", "left").select(
        "id", F.coalesce("_sub", "component").alias("component")
    )
