"""The generator: deterministic, realistic noise within its configured bounds, truth."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from chispa import assert_column_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.config import Config, GeneratorConfig, NoiseConfig, SourceSpec
from c360.generate.export import damage_line, generate
from c360.generate.noise import typo
from c360.generate.sources import with_duplicates, with_party_noise
from c360.generate.world import Horizon, make_vin, persons, vin_check_digit


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_sample_lands_every_source(sample: dict[str, int], sample_conf: Config) -> None:
    assert set(sample) == set(sample_conf.sources)
    landing = Path(sample_conf.landing.root)
    for source in sample_conf.sources:
        batches = sorted(p.name for p in (landing / source).iterdir())
        assert batches[0] == "20261101-full", source
        assert all(b.endswith("-full") or b.endswith("-delta") for b in batches)
    # Daily deltas exist for the transactional sources.
    assert (landing / "sales" / "20261102-delta").is_dir()
    assert sum(sample.values()) > 3000
    # The VPP export is Latin-1 and the insurance export starts with a BOM.
    sales = next((landing / "sales" / "20261101-full").iterdir()).read_bytes()
    sales.decode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        sales.decode("utf-8")
    assert (
        next((landing / "insurance" / "20261101-full").iterdir()).read_bytes()[:3]
        == b"\xef\xbb\xbf"
    )


# slow tier (the default tier's 15-minute budget): test_determinism's default tests cover the pipeline's determinism
@pytest.mark.slow
def test_generator_is_deterministic(
    spark: SparkSession, sample: dict[str, int], sample_conf: Config, tmp_path: Path
) -> None:
    """The small world's exports (``c360 generate`` in another process, conftest
    ``world``) made again in this one: the same bytes. Three sources, three formats and
    encodings: the world behind them is built whole either way."""
    again = sample_conf.with_overrides(
        [f"landing.root={tmp_path / 'landing'}", f"generator.truth_root={tmp_path / 'truth'}"]
    )
    sources = ["sales", "ecommerce", "insurance"]  # Latin-1 CSV, JSON lines, BOM + UTF-8
    generate(spark, again, sources=sources)
    for source in sources:
        first = file_hashes(Path(sample_conf.landing.root) / source)
        second = file_hashes(tmp_path / "landing" / source)
        assert first and first == second, source


def test_seed_changes_the_world(spark: SparkSession) -> None:
    g = GeneratorConfig(persons=50)
    h = Horizon.of(g)
    a = persons(spark, g, h).select("given_name", "family_name").collect()
    b = (
        persons(spark, dataclasses.replace(g, seed=7), h)
        .select("given_name", "family_name")
        .collect()
    )
    assert a == persons(spark, g, h).select("given_name", "family_name").collect()
    assert a != b


def test_vin_check_digit_iso3779(spark: SparkSession) -> None:
    # 1M8GDM9AXKP042788 is the textbook valid VIN (check digit X in position 9).
    df = spark.createDataFrame(
        [("1M8GDM9A0KP042788", "X"), ("11111111111111111", "1")], "vin STRING, expected STRING"
    )
    df = df.withColumn("got", vin_check_digit(F.col("vin")))
    assert_column_equality(df, "got", "expected")
    vins = spark.range(200).select(
        make_vin(1, F.col("id").cast("string"), F.lit(2024)).alias("vin")
    )
    bad = vins.filter(F.col("vin").substr(9, 1) != vin_check_digit(F.col("vin"))).count()
    assert bad == 0
    assert vins.filter(F.length("vin") != 17).count() == 0


def test_typo_handles_none_and_short_values(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("García", 0.5, 0.1), (None, 0.5, 0.1), ("Al", 0.1, 0.9), ("  o'Brien ", 0.9, 0.6)],
        "s STRING, up DOUBLE, uk DOUBLE",
    )
    got = df.select(typo(F.col("s"), F.col("up"), F.col("uk")).alias("t"), "s").collect()
    assert got[0].t != "García" and len(got[0].t) == len("García") - 1  # one deleted char
    assert got[1].t is None
    assert got[2].t == "Al"  # too short to damage
    assert got[3].t != got[3].s


def _people(spark: SparkSession, n: int):
    g = GeneratorConfig(persons=n)
    return persons(spark, g, Horizon.of(g)).withColumn(
        "rec_id", F.concat(F.lit("R"), F.col("_n").cast("string"))
    )


def test_noise_rates_within_configured_bounds(spark: SparkSession) -> None:
    n = 4000
    noise = NoiseConfig(
        typo=0.1,
        nickname=0.0,
        swap_names=0.05,
        missing_email=0.3,
        missing_phone=0.2,
        missing_birth_date=0.5,
        stale_address=0.5,
        strip_accents=0.0,
        duplicate=0.05,
    )
    g = GeneratorConfig(persons=n, noise=noise)
    df = with_party_noise(_people(spark, n), g, "t", "rec_id", F.lit(Horizon.of(g).end)).cache()
    with_email = df.filter(F.col("email").isNotNull()).count()
    rate = lambda cond, base: df.filter(cond).count() / base  # noqa: E731
    assert (
        abs(rate(F.col("email").isNotNull() & F.col("n_email").isNull(), with_email) - 0.3) < 0.04
    )
    assert abs(rate(F.col("n_phone").isNull(), n) - 0.2) < 0.04
    assert abs(rate(F.col("n_birth").isNull(), n) - 0.5) < 0.04
    family_changed = rate(F.col("n_family") != F.col("family_name"), n)
    assert 0.1 <= family_changed <= 0.2  # typos plus swaps
    dup = with_duplicates(_people(spark, n), g, "t", "rec_id", "D").count() - n
    assert 0.035 * n <= dup <= 0.065 * n
    df.unpersist()


def test_default_noise_defeats_exact_matching(
    spark: SparkSession, sample: dict[str, int], sample_conf: Config
) -> None:
    """Records of one person rarely agree on an exact (name, email) key: matching is hard."""
    landing = sample_conf.landing.root
    truth = spark.read.parquet(f"{sample_conf.generator.truth_root}/party_records")
    fin = (
        spark.read.option("header", True)
        .option("sep", "|")
        .csv(f"{landing}/finance/*/*.csv")
        .select(F.col("contract_id").alias("record_id"), "first_name", "last_name", "email")
    )
    ecom = spark.read.json(f"{landing}/ecommerce/*/*.jsonl").select(
        F.col("id").alias("record_id"), "first_name", "last_name", "email"
    )
    recs = fin.unionByName(ecom).join(truth.filter("entity_type = 'person'"), "record_id")
    key = F.concat_ws("|", F.lower("first_name"), F.lower("last_name"), F.lower("email"))
    recs = recs.withColumn("k", key)

    def pairs(cols):
        return (
            recs.groupBy(*cols)
            .count()
            .select(F.sum(F.col("count") * (F.col("count") - 1) / 2))
            .first()[0]
            or 0
        )

    true_pairs = pairs(["entity_id"])
    exact_true = pairs(["entity_id", "k"])
    assert true_pairs > 50
    assert exact_true / true_pairs < 0.6, "exact matching should miss most true pairs"


def test_truth_matches_the_records(
    spark: SparkSession, sample: dict[str, int], sample_conf: Config
) -> None:
    landing = sample_conf.landing.root
    truth = spark.read.parquet(f"{sample_conf.generator.truth_root}/party_records")
    entities = spark.read.parquet(f"{sample_conf.generator.truth_root}/entities")
    sales = (
        spark.read.option("header", True)
        .option("sep", ";")
        .option("encoding", "ISO-8859-1")
        .csv(f"{landing}/sales/*/*.csv")
    )
    inserted = (
        sales.filter("RECORD_STATUS = 'A'").select(F.col("SALE_ID").alias("record_id")).distinct()
    )
    sales_truth = truth.filter("source = 'sales'").select("record_id")
    assert inserted.subtract(sales_truth).count() == 0
    assert sales_truth.subtract(inserted).count() == 0
    # Every record belongs to a known entity, and company records to companies.
    assert truth.join(entities, "entity_id", "left_anti").count() == 0
    companies = sales.filter("BUYER_TYPE = 'C'").select(F.col("SALE_ID").alias("record_id"))
    kinds = companies.join(truth, "record_id").select("entity_type").distinct().collect()
    assert [r.entity_type for r in kinds] == ["company"]
    # Campaign truth: treated and control groups, and outcomes only among the treated.
    contacts = spark.read.parquet(f"{sample_conf.generator.truth_root}/campaign_contacts")
    groups = {r.group for r in contacts.select("group").distinct().collect()}
    assert groups == {"treated", "control"}
    assert contacts.filter("group = 'control' AND outcome IS NOT NULL").count() == 0


def test_damaged_lines_break_one_record_only() -> None:
    spec = SourceSpec(format="csv", delimiter=",")
    line = b'RO1,VIN1,D001,"Calle Mayor, 5",28001\n'
    cut = damage_line(line, spec)
    assert cut == b"RO1,VIN1\n"  # fewer fields, quotes balanced, still one line
    semi = SourceSpec(format="csv", delimiter=";", encoding="ISO-8859-1")
    assert damage_line('1;José;"a;b";x\n'.encode("latin-1"), semi) == "1;José\n".encode("latin-1")
    js = damage_line(b'{"id":"1","name":"Ana"}\n', SourceSpec(format="jsonl"))
    assert js.endswith(b"\n") and js.count(b"\n") == 1
    with pytest.raises(ValueError):
        import json

        json.loads(js)
