"""What the identity stage's last full pass clustered with, kept as a table property of
``silver.identity_crosswalk``: a run whose overrides, survivorship or clustering settings
differ from it clusters every record (c360.identity.stage), and ``c360 erase`` removes it.
Its own module so that erasure does not import the matching engine."""

from __future__ import annotations

from pyspark.sql import SparkSession

from c360.lake import Lake
from c360.schemas.registry import SILVER_IDENTITY_CROSSWALK as CROSSWALK

FINGERPRINT = "c360.identity.fingerprint"


def stored_fingerprint(spark: SparkSession, lake: Lake) -> str | None:
    if not lake.exists(spark, CROSSWALK):
        return None
    return lake.properties(spark, CROSSWALK).get(FINGERPRINT)


def store_fingerprint(spark: SparkSession, lake: Lake, value: str) -> None:
    lake.set_properties(spark, CROSSWALK, {FINGERPRINT: value})


def forget_fingerprint(spark: SparkSession, lake: Lake) -> None:
    """Make the next run cluster everything. An erasure deletes records and their links
    from every identity table at once, so nothing is left dirty to point a scoped run at
    the components that lost them."""
    if stored_fingerprint(spark, lake) is not None:
        path = lake.path(CROSSWALK)
        spark.sql(f"ALTER TABLE delta.`{path}` UNSET TBLPROPERTIES IF EXISTS ('{FINGERPRINT}')")
