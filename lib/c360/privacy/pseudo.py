"""Pseudonymized gold for analysts: names, emails, phones, addresses and VINs replaced by
keyed hashes (HMAC-SHA256), so analysts can count, join and deduplicate without seeing
who anyone is, and nobody without the key can rebuild a hash from a known email.

The key comes from the environment (``privacy.key_env``, default ``C360_PSEUDONYM_KEY``)
or a secret file (``privacy.key_file``); never from config values or logs. HMAC is built
from Spark's own ``sha2`` (no Python UDF), and the key reaches the executors as a
one-row broadcast frame, so it is data in the job, not a literal in the query plan.
"""

from __future__ import annotations

import hashlib
import logging
import os

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.config import Config
from c360.errors import PrivacyError
from c360.io import merge_changed, read_as_of
from c360.logs import step
from c360.runner import StageContext, StageResult
from c360.schemas.gold import CUSTOMER_360_PSEUDO
from c360.schemas.registry import GOLD_CUSTOMER_360, GOLD_CUSTOMER_360_PSEUDO

log = logging.getLogger(__name__)

# Replaced by their keyed hash (hex); NULL stays NULL.
HASHED = ("given_name", "family_name", "full_name", "company_name", "street", "email", "phone")
BLOCK = 64  # SHA-256 block size in bytes


def load_key(conf: Config) -> bytes:
    """The secret, from the environment variable or the key file; an error names where
    it looked, never a value."""
    env = conf.privacy.key_env
    value = os.environ.get(env, "") if env else ""
    if value:
        return value.encode("utf-8")
    path = conf.privacy.key_file
    if path:
        try:
            with open(path, "rb") as fh:
                data = fh.read().strip()
        except OSError as exc:
            raise PrivacyError(f"privacy.key_file {path} cannot be read: {exc.strerror}") from None
        if data:
            return data
        raise PrivacyError(f"privacy.key_file {path} is empty")
    raise PrivacyError(
        f"no pseudonymization key: set the environment variable {env or '(privacy.key_env)'} "
        "or privacy.key_file (a file holding the key)"
    )


def key_frame(spark: SparkSession, key: bytes) -> DataFrame:
    """One row with the HMAC inner and outer pads of ``key``."""
    k = hashlib.sha256(key).digest() if len(key) > BLOCK else key
    k = k.ljust(BLOCK, b"\0")
    ipad = bytearray(b ^ 0x36 for b in k)
    opad = bytearray(b ^ 0x5C for b in k)
    return spark.createDataFrame([(ipad, opad)], "_kipad binary, _kopad binary")


def hmac_sha256(c: Column, ipad: Column, opad: Column) -> Column:
    """HMAC-SHA256 of the UTF-8 text of ``c`` as 64 hex characters (RFC 2104)."""
    inner = F.unhex(F.sha2(F.concat(ipad, F.encode(c.cast("string"), "UTF-8")), 256))
    return F.when(c.isNotNull(), F.sha2(F.concat(opad, inner), 256))


def with_pseudonyms(df: DataFrame, keys: DataFrame) -> DataFrame:
    """customer_360 as analysts see it: identifiers hashed, the birth date cut to a year,
    each vehicle's VIN hashed (the same VIN gives the same hash in every row)."""
    ipad, opad = F.col("_kipad"), F.col("_kopad")
    out = df.crossJoin(F.broadcast(keys))
    out = out.withColumns(
        {
            **{c: hmac_sha256(F.col(c), ipad, opad) for c in HASHED},
            "birth_date": F.year("birth_date"),
            "vehicles": F.transform(
                "vehicles", lambda v: v.withField("vin", hmac_sha256(v["vin"], ipad, opad))
            ),
        }
    ).withColumnRenamed("birth_date", "birth_year")
    return out.select(*CUSTOMER_360_PSEUDO.fieldNames())


def run(ctx: StageContext) -> StageResult:
    spark, lake = ctx.spark, ctx.lake
    key = load_key(ctx.conf)
    with step(log, "pseudonymize.customer_360") as p:
        src = read_as_of(spark, lake, GOLD_CUSTOMER_360, ctx.as_of)
        pseudo = src.transform(with_pseudonyms, key_frame(spark, key))
        p.rows_in = lake.row_counts(spark, [GOLD_CUSTOMER_360])[GOLD_CUSTOMER_360]  # no scan
        p.rows_out = merge_changed(
            spark,
            lake,
            GOLD_CUSTOMER_360_PSEUDO,
            pseudo,
            CUSTOMER_360_PSEUDO,
            ["customer_id"],
            delete=True,
            run_date=ctx.as_of,
        )
    return StageResult(
        rows_read={GOLD_CUSTOMER_360: p.rows_in},
        rows_written={GOLD_CUSTOMER_360_PSEUDO: p.rows_out},
    )
