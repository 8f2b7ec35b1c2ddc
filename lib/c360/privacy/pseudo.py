"""Pseudonymized twins of the gold tables that hold personal data, for analysts: the
profile, the contact plan, households and the vehicles' owner history (``pseudo.*``,
under ``lake.pseudo_root`` so that access can be granted to them alone).

Each column gets the treatment ``c360.schemas.pseudo`` lists: ids (customer, household,
VIN, contact) become keyed hashes (HMAC-SHA256), the same in every twin, so analysts can
count and join the twins without seeing who anyone is, and nobody without the key can
rebuild a hash from a known id; names, contact points and free text are dropped; birth
dates, postal codes, amounts, km and dates are generalized (``privacy.*`` bands).

The key comes from the environment (``privacy.key_env``, default ``C360_PSEUDONYM_KEY``)
or a secret file (``privacy.key_file``); never from config values or logs. HMAC is built
from Spark's own ``sha2`` (no Python UDF), and the key reaches the executors as a
one-row broadcast frame, so it is data in the job, not a literal in the query plan.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField

from c360.columns import lookup, to_schema
from c360.config import Config, PrivacyConfig
from c360.errors import PrivacyError
from c360.io import last_commit_rows, merge_changed, read_or_none
from c360.lake import Lake, with_table_comments
from c360.logs import step
from c360.runner import StageContext, StageResult
from c360.schemas import pseudo as P
from c360.silver.reference import PROVINCE_REGION

log = logging.getLogger(__name__)

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


def keyed_hash(key: bytes, value: str) -> str:
    """The HMAC-SHA256 ``hmac_sha256`` gives in Spark, in Python: what the erasure looks
    a person's rows up by in the twins."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


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


def postal_area(postal_code: Column, area: str) -> Column:
    """A Spanish postal code's province (its first two digits) or that province's region;
    NULL for anything else."""
    province = F.when(postal_code.rlike("^[0-9]{5}$"), F.substring(postal_code, 1, 2))
    return province if area == "province" else lookup(PROVINCE_REGION, province)


def year_band(date: Column, years: int) -> Column:
    """``1980-1984`` for a date in 1980..1984 (bands of ``years``)."""
    start = F.floor(F.year(date) / years) * years
    return F.when(date.isNotNull(), F.format_string("%d-%d", start, start + years - 1))


def floor_to(c: Column, width: int) -> Column:
    return (F.floor(c / width) * width).cast("int")


def _band(name: str, c: Column, conf: PrivacyConfig) -> Column:
    if name == "birth_date":
        return year_band(c, conf.birth_year_band)
    if name == "postal_code":
        return postal_area(c, conf.postal_area)
    if name in ("latest_km", "vehicle_km"):
        return floor_to(c, conf.km_band)
    if name == "loyalty_points":
        return floor_to(c, conf.points_band)
    return floor_to(c, conf.money_band)  # EUR amounts


def treat(
    name: str, c: Column, action: str, conf: PrivacyConfig, ipad: Column, opad: Column
) -> Column:
    """One column's pseudonymized value (``c360.schemas.pseudo`` lists the actions)."""
    if action == P.KEY:
        if name in P.KEY_ARRAYS:
            return F.transform(c, lambda x: hmac_sha256(x, ipad, opad))
        return hmac_sha256(c, ipad, opad)
    if action == P.BAND:
        return _band(name, c, conf)
    if action == P.MONTH:
        return F.trunc(c, "month")
    if action == P.CAP:
        return F.least(c, F.lit(conf.count_cap))
    return c


def _vehicle_treatment(f: StructField, conf: PrivacyConfig, ipad: Column, opad: Column):
    """Each vehicle of the profile's ``vehicles`` array, treated field by field."""

    def vehicle(x: Column) -> Column:
        fields = []
        for v in f.dataType.elementType.fields:
            act = P.VEHICLE_POLICY.get(v.name, P.KEEP)
            if act != P.DROP:
                value = treat(v.name, x[v.name], act, conf, ipad, opad)
                fields.append(value.alias(P.out_name(v.name, act)))
        return F.struct(*fields)

    return vehicle


def pseudonymized(
    df: DataFrame, policy: dict[str, str], conf: PrivacyConfig, keys: DataFrame
) -> DataFrame:
    """``df`` with every column treated as ``policy`` says (a column it does not name is
    kept); ``keys`` is ``key_frame``'s one row."""
    ipad, opad = F.col("_kipad"), F.col("_kopad")
    out = []
    for f in df.schema.fields:
        action = policy.get(f.name, P.KEEP)
        if action == P.DROP:
            continue
        if action == P.NESTED:
            out.append(F.transform(f.name, _vehicle_treatment(f, conf, ipad, opad)).alias(f.name))
            continue
        out.append(
            treat(f.name, F.col(f.name), action, conf, ipad, opad).alias(P.out_name(f.name, action))
        )
    return df.crossJoin(F.broadcast(keys)).select(*out)


def _stale(spark: SparkSession, lake: Lake, name: str) -> bool:
    """The twin holds columns the policy no longer writes (a column newly dropped): it is
    rewritten whole, so the dropped values do not stay behind."""
    if not lake.exists(spark, name):
        return False
    return bool(set(lake.read(spark, name).columns) - set(P.SCHEMAS[name].fieldNames()))


def write_twin(ctx: StageContext, name: str, src: DataFrame, key: DataFrame) -> int:
    spark, lake = ctx.spark, ctx.lake
    _, policy = P.TWINS[name]
    schema = P.SCHEMAS[name]

    def twin(df: DataFrame) -> DataFrame:
        return pseudonymized(df, policy, ctx.conf.privacy, key).transform(to_schema, schema)

    if _stale(spark, lake, name):
        log.info("table=%s has columns the twin no longer writes: rewritten whole", name)
        rewritten = twin(src).transform(with_table_comments, name)
        rewritten.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
            lake.path(name)
        )
        return last_commit_rows(spark, lake, name)
    scope = None
    if name in P.TWIN_DATED:  # a history: this run date's rows
        scope = F.col(P.TWIN_DATED[name]) == F.lit(ctx.as_of)
        src = src.filter(scope)
    return merge_changed(
        spark,
        lake,
        name,
        twin(src),
        schema,
        P.TWIN_KEYS[name],
        delete=True,
        scope=scope,
        run_date=None if scope is not None else ctx.as_of,
    )


def run(ctx: StageContext) -> StageResult:
    spark, lake = ctx.spark, ctx.lake
    key = key_frame(spark, load_key(ctx.conf))
    result = StageResult()
    sources = {t: read_or_none(spark, lake, t) for t, _ in P.TWINS.values()}
    present = {t: df for t, df in sources.items() if df is not None}
    # every source's rows in one call: from the commit checksums, else one job for all
    counts = lake.row_counts(spark, list(present))
    for name, (source, _) in P.TWINS.items():
        if source not in present:
            continue
        src = present[source]
        with step(log, f"pseudonymize.{name.partition('.')[2]}") as p:
            result.rows_read[source] = p.rows_in = counts[source]
            p.rows_out = result.rows_written[name] = write_twin(ctx, name, src, key)
    return result
