"""Write the exports as landed files, one file per source and batch, plus ground truth.

Layout: ``<landing>/<source>/<batch_id>/<source>_<batch_id>.<csv|jsonl>``. Ground truth
goes to ``generator.truth_root`` as Parquet; the pipeline never reads it.
"""

from __future__ import annotations

import csv
import glob
import io
import logging
import os
import shutil
import time
import zlib

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.config import Config, SourceSpec
from c360.errors import ConfigError
from c360.generate.sources import EXPORTERS
from c360.generate.world import Horizon, build_world

log = logging.getLogger(__name__)

BOM = "\ufeff"
# Sources whose export starts with a UTF-8 byte-order mark (a Windows tool in the chain).
BOM_SOURCES = {"insurance"}


def damage_line(line: bytes, spec: SourceSpec) -> bytes:
    """A record cut short the way a broken export cuts it: fields lost, or JSON truncated.

    CSV records lose their second half of fields (cut at a field boundary, so quoting
    stays balanced and the damage stays in this one record).
    """
    if spec.format == "jsonl":
        return line[: max(1, len(line) // 2)].rstrip(b"\r\n") + b"\n"
    text = line.decode(spec.encoding).rstrip("\r\n")
    fields = next(csv.reader([text], delimiter=spec.delimiter, quotechar=spec.quote))
    buf = io.StringIO()
    csv.writer(buf, delimiter=spec.delimiter, quotechar=spec.quote, lineterminator="\n").writerow(
        fields[: max(1, len(fields) // 2)]
    )
    return buf.getvalue().encode(spec.encoding)


def _damaged(seed: int, name: str, batch: str, line_no: int, rate: float) -> bool:
    if rate <= 0:
        return False
    key = f"{seed}:{name}:{batch}:{line_no}".encode()
    return zlib.crc32(key) / 0xFFFFFFFF < rate


def _write_one(
    df: DataFrame,
    name: str,
    spec: SourceSpec,
    landing: str,
    tmp: str,
    seed: int = 0,
    malformed_rate: float = 0.0,
) -> int:
    """Write one file per batch; returns the number of records written."""
    df = df.persist()
    rows = df.count()
    out = df.repartition("_batch").sortWithinPartitions(
        *[c for c in df.columns if c != "_batch"][:2]
    )
    writer = out.write.mode("overwrite").partitionBy("_batch")
    if spec.format == "csv":
        (
            writer.option("header", True)
            .option("sep", spec.delimiter)
            .option("encoding", spec.encoding)
            .option("quote", spec.quote)
            .option("escape", spec.quote)
            .option("lineSep", "\n")
            .csv(tmp)
        )
        ext = "csv"
    elif spec.format == "jsonl":
        writer.option("encoding", spec.encoding).option("lineSep", "\n").json(tmp)
        ext = "jsonl"
    else:
        raise ConfigError(f"source {name}: unknown format '{spec.format}'")
    for part_dir in sorted(glob.glob(os.path.join(tmp, "_batch=*"))):
        batch = part_dir.split("_batch=", 1)[1]
        parts = sorted(glob.glob(os.path.join(part_dir, "part-*")))
        dest_dir = os.path.join(landing, name, batch)
        os.makedirs(dest_dir, exist_ok=True)
        dest = os.path.join(dest_dir, f"{name}_{batch}.{ext}")
        with open(dest, "wb") as fh:
            if name in BOM_SOURCES:
                fh.write(BOM.encode("utf-8"))
            line_no = 0
            for i, part in enumerate(parts):
                with open(part, "rb") as src:
                    if spec.format == "csv":
                        header = src.readline()  # one header per file
                        if i == 0:
                            fh.write(header)
                    for line in src:
                        line_no += 1
                        if _damaged(seed, name, batch, line_no, malformed_rate):
                            line = damage_line(line, spec)
                        fh.write(line)
    shutil.rmtree(tmp, ignore_errors=True)
    df.unpersist()
    return rows


def generate(
    spark: SparkSession, conf: Config, *, sources: list[str] | None = None
) -> dict[str, int]:
    """Generate the world and land every source. Returns rows written per source."""
    g = conf.generator
    landing = conf.landing.root
    if "://" in landing or landing.startswith("file:"):
        raise ConfigError(f"generate writes to a local folder; landing.root is {landing}")
    names = sources or list(EXPORTERS)
    unknown = [n for n in names if n not in EXPORTERS or n not in conf.sources]
    if unknown:
        raise ConfigError(f"generate: unknown or unconfigured source(s): {', '.join(unknown)}")
    h = Horizon.of(g)
    t0 = time.perf_counter()
    tmp_root = os.path.join(landing, "_tmp_generate")
    world = build_world(spark, g, os.path.join(tmp_root, "_world"))
    truths: list[DataFrame] = []
    rows: dict[str, int] = {}
    for name in names:
        t = time.perf_counter()
        if os.path.isdir(os.path.join(landing, name)):
            shutil.rmtree(os.path.join(landing, name))
        export = EXPORTERS[name](world, g, h)
        rows[name] = _write_one(
            export.df,
            name,
            conf.sources[name],
            landing,
            os.path.join(tmp_root, name),
            seed=g.seed,
            malformed_rate=g.malformed_rate,
        )
        if export.truth is not None:
            truths.append(export.truth)
        log.info(
            "step=generate.%s rows_out=%d seconds=%.1f", name, rows[name], time.perf_counter() - t
        )
    _write_truth(spark, conf, world, truths)
    shutil.rmtree(tmp_root, ignore_errors=True)
    log.info("step=generate rows_out=%d seconds=%.1f", sum(rows.values()), time.perf_counter() - t0)
    return rows


def _write_truth(spark: SparkSession, conf: Config, world, truths: list[DataFrame]) -> None:
    root = conf.generator.truth_root
    records = truths[0]
    for t in truths[1:]:
        records = records.unionByName(t)
    records.distinct().write.mode("overwrite").parquet(os.path.join(root, "party_records"))
    world.parties.drop("_n", "lat", "city_idx").write.mode("overwrite").parquet(
        os.path.join(root, "entities")
    )
    world.vehicles.select(
        "vin",
        "entity_id",
        "sale_id",
        "sale_date",
        "owned_until",
        "model",
        "model_year",
        "sale_type",
        "term_months",
        "caused_by_campaign",
    ).write.mode("overwrite").parquet(os.path.join(root, "vehicles"))
    world.campaign_contacts.select(
        "campaign_id",
        "entity_id",
        "group",
        "channel",
        "contact_plan",
        "recipient_key",
        "outcome",
        "outcome_id",
    ).write.mode("overwrite").parquet(os.path.join(root, "campaign_contacts"))
    world.fleet_contacts.select(
        "contact_id",
        "company_entity_id",
        F.col("entity_id").alias("person_entity_id"),
        "role",
        "since",
        (~F.col("left_company")).alias("active"),
    ).write.mode("overwrite").parquet(os.path.join(root, "account_contacts"))
    spark.createDataFrame(
        [
            (
                conf.generator.effect_service,
                conf.generator.effect_purchase,
                conf.generator.attribution_days,
                conf.generator.control_share,
                conf.generator.seed,
            )
        ],
        "effect_service DOUBLE, effect_purchase DOUBLE, attribution_days INT, control_share DOUBLE, seed BIGINT",
    ).write.mode("overwrite").parquet(os.path.join(root, "planted_effects"))
    # Latent loyalty per customer, for validating the models against what drives them.
    world.parties.select("entity_id", F.col("lat").alias("latent_loyalty")).write.mode(
        "overwrite"
    ).parquet(os.path.join(root, "latent"))
