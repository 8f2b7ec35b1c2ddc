"""``c360 resolve``: identity resolution alone, on any table of person or company records.

A YAML mapping names the input's columns for ours (see ``conf/identity/mapping.example.yaml``);
values are standardized the way silver does it (case, accents, e-mail, phone to E.164,
dates). The crosswalk and the links are written as Delta under the output folder; a
crosswalk already there is the previous run, so ids persist across runs on the same
output. With a truth column, the clustering is scored (pairwise and B-cubed).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.config import IdentityConfig
from c360.errors import ConfigError, SchemaError
from c360.identity.evaluate import Accuracy, evaluate
from c360.identity.ids import assign_ids
from c360.identity.resolve import MATCH_COLUMNS, cluster, find_links
from c360.io import checkpointed
from c360.silver import standardize as std
from c360.silver.phones import phone_e164

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet", "delta")
MAPPABLE = tuple(c for c in MATCH_COLUMNS if c != "party_type")


@dataclass(frozen=True)
class Mapping:
    record_id: str
    columns: dict[str, str]  # our name -> input column
    party_type: str | None = None  # input column holding 'person' / 'company'
    date_formats: tuple[str, ...] = ("yyyy-MM-dd", "dd/MM/yyyy", "yyyyMMdd")
    options: dict[str, str] = field(default_factory=dict)  # reader options (CSV)


def load_mapping(path: str) -> Mapping:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"mapping file not found: {path}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not data.get("record_id"):
        raise ConfigError(f"{path}: 'record_id' (the input's record id column) is required")
    columns = data.get("columns") or {}
    if not isinstance(columns, dict):
        raise ConfigError(f"{path}: 'columns' must map our names to input columns")
    unknown = sorted(set(columns) - set(MAPPABLE))
    if unknown:
        raise ConfigError(
            f"{path}: unknown target column(s) {', '.join(unknown)}; known: {', '.join(MAPPABLE)}"
        )
    return Mapping(
        record_id=str(data["record_id"]),
        columns={str(k): str(v) for k, v in columns.items()},
        party_type=data.get("party_type"),
        date_formats=tuple(data.get("date_formats") or Mapping.date_formats),
        options={str(k): str(v) for k, v in (data.get("options") or {}).items()},
    )


def read_input(spark: SparkSession, path: str, fmt: str, mapping: Mapping) -> DataFrame:
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    if fmt == "csv":
        opts = {"header": "true", **mapping.options}
        return spark.read.options(**opts).csv(path)
    return spark.read.format(fmt).load(path)


def mapped_records(df: DataFrame, mapping: Mapping, table: str) -> DataFrame:
    """The input as ``uid`` + MATCH_COLUMNS, standardized; other columns kept aside."""
    wanted = [mapping.record_id, *mapping.columns.values()]
    if mapping.party_type:
        wanted.append(mapping.party_type)
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise SchemaError(table, "mapped column(s) not in the input", missing)

    def src(name: str) -> F.Column:
        c = mapping.columns.get(name)
        return F.col(c).cast("string") if c else F.lit(None).cast("string")

    kind = (
        F.lower(F.trim(F.col(mapping.party_type).cast("string")))
        if mapping.party_type
        else F.lit(None)
    )
    out = df.select(
        F.col(mapping.record_id).cast("string").alias("uid"),
        F.when(kind.isin("company", "organisation", "organization", "business"), "company")
        .otherwise("person")
        .alias("party_type"),
        std.clean_text(src("given_name")).alias("given_name"),
        std.clean_text(src("family_name")).alias("family_name"),
        std.clean_text(src("company_name")).alias("company_name"),
        F.upper(F.regexp_replace(src("tax_id"), r"[^0-9A-Za-z]", "")).alias("tax_id"),
        std.parse_date(src("birth_date"), *mapping.date_formats).alias("birth_date"),
        std.email_clean(src("email")).alias("email"),
        phone_e164(src("phone")).alias("phone"),
        std.street_clean(src("street")).alias("street"),
        std.blank_to_null(F.trim(src("postal_code"))).alias("postal_code"),
        std.city_clean(src("city")).alias("city"),
        std.vin_clean(src("vin")).alias("vin"),
    )
    dupes = out.groupBy("uid").count().filter((F.col("count") > 1) | F.col("uid").isNull())
    if not dupes.isEmpty():
        raise SchemaError(table, "record ids must be present and unique", [mapping.record_id])
    return out.withColumn("tax_id", std.blank_to_null(F.col("tax_id")))


@dataclass
class Resolved:
    crosswalk: DataFrame  # record_id, customer_id, flagged
    links: DataFrame
    accuracy: Accuracy | None


def resolve_table(
    spark: SparkSession,
    df: DataFrame,
    mapping: Mapping,
    conf: IdentityConfig,
    output: str,
    *,
    as_of: dt.date,
    truth: str | None = None,
    table: str = "input",
) -> Resolved:
    if truth and truth not in df.columns:
        raise SchemaError(table, "--truth column not in the input", [truth])
    records = mapped_records(df, mapping, table).transform(checkpointed)
    matched = find_links(spark, records, conf)
    comps = cluster(records.select("uid", "birth_date"), matched.links, conf).transform(
        checkpointed
    )
    cw_path, links_path = f"{output}/crosswalk", f"{output}/links"
    previous = None
    if _is_delta(spark, cw_path):
        previous = (
            spark.read.format("delta")
            .load(cw_path)
            .select(F.col("record_id").alias("record_key"), "customer_id")
        )
    ids = assign_ids(
        comps.select(F.col("uid").alias("record_key"), "component"), previous
    ).crosswalk
    crosswalk = (
        ids.join(comps.select(F.col("uid").alias("record_key"), "flagged"), "record_key")
        .select(F.col("record_key").alias("record_id"), "customer_id", "flagged")
        .withColumn("as_of", F.lit(as_of))
        .transform(checkpointed)
    )
    links = matched.links.withColumn("as_of", F.lit(as_of))
    crosswalk.write.format("delta").mode("overwrite").save(cw_path)
    links.write.format("delta").mode("overwrite").save(links_path)
    accuracy = None
    if truth:
        labelled = crosswalk.join(
            df.select(
                F.col(mapping.record_id).cast("string").alias("record_id"),
                F.col(truth).cast("string").alias("truth"),
            ),
            "record_id",
        )
        accuracy = evaluate(labelled)
    return Resolved(
        spark.read.format("delta").load(cw_path),
        spark.read.format("delta").load(links_path),
        accuracy,
    )


def _is_delta(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def summary(res: Resolved) -> dict[str, Any]:
    """Counts for the command's output: records, customers, links, flagged records."""
    cw = res.crosswalk
    return {
        "records": cw.count(),
        "customers": cw.select("customer_id").distinct().count(),
        "links_accepted": res.links.filter(F.col("status") == "accepted").count(),
        "links_vetoed": res.links.filter(F.col("status") == "vetoed").count(),
        "flagged_records": cw.filter(F.col("flagged")).count(),
    }
