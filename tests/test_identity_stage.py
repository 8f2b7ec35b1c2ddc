"""The identity stage on a hand-built silver lake: persistent ids across runs, merges,
splits, overrides, deletions, reruns that change nothing, and a run killed before its
crosswalk commit that the next run completes."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.config import Config
from c360.lake import Lake
from c360.runner import run_stages
from c360.schemas.silver import IDENTITY_OVERRIDES, PARTY_RECORDS

TABLES = ("identity_crosswalk", "identity_links", "identity_changelog", "customers")
DAY1, DAY2, DAY3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)


def party(source: str, rid: str, batch: str = "b1", deleted: bool = False, **kw: object) -> dict:
    row = {f.name: None for f in PARTY_RECORDS.fields}
    row.update(
        source=source,
        source_record_id=rid,
        party_type="person",
        is_deleted=deleted,
        _batch_id=batch,
        _source_file=f"{source}.csv",
        _row_number=1,
        _run_id="r",
        record_date=DAY1,
    )
    row.update(kw)
    return row


ANA = {"given_name": "Ana", "family_name": "García", "postal_code": "28001"}
BASE = [
    party("sales", "1", email="ana@x.es", phone="+34612345678", vin="VIN1", **ANA),
    party("service", "7", given_name="ANA", family_name="Garcia", phone="+34612345678", vin="VIN1"),
    party("loyalty", "3", email="ana@x.es", given_name="Ana", family_name="García López"),
    # her husband: same landline, surname and address, another first name
    party(
        "sales",
        "2",
        given_name="Luis",
        family_name="García",
        phone="+34612345678",
        vin="VIN2",
        postal_code="28001",
    ),
    # Pedro in two systems with nothing in common yet
    party("sales", "3", given_name="Pedro", family_name="Ruiz", email="pedro@y.es"),
    party("service", "4", given_name="Pedro", family_name="Ruiz", phone="+34699000111"),
    # a fleet customer; the same name as a person must never join it
    party(
        "sales",
        "5",
        party_type="company",
        company_name="Transportes Gómez S.L.",
        tax_id="B12345678",
        postal_code="39035",
    ),
    party(
        "finance",
        "8",
        party_type="company",
        company_name="TRANSPORTES GOMEZ, SL",
        tax_id="B12345678",
    ),
    # a messy row: nothing to match on
    party("leads", "9", given_name=None, family_name="  "),
]


def write_party_records(spark: SparkSession, lake: Lake, rows: list[dict]) -> None:
    df = spark.createDataFrame(
        [tuple(r[f.name] for f in PARTY_RECORDS.fields) for r in rows], PARTY_RECORDS
    )
    df.write.format("delta").mode("overwrite").save(lake.path("silver.party_records"))


@pytest.fixture
def ident_conf(conf: Config, repo) -> Config:
    return conf.with_overrides(
        [
            "identity.min_training_records=1000000",  # tiny input: rules only
            f"identity.overrides={repo / 'conf/identity/overrides.yaml'}",
            f"identity.survivorship={repo / 'conf/identity/survivorship.yaml'}",
        ]
    )


def ids(spark: SparkSession, lake: Lake) -> dict[str, str]:
    cw = lake.read(spark, "silver.identity_crosswalk").filter(~F.col("is_deleted"))
    return {r.record_key: r.customer_id for r in cw.collect()}


def versions(spark: SparkSession, lake: Lake) -> dict[str, int]:
    return {t: lake.delta(spark, f"silver.{t}").history().count() for t in TABLES}


def changelog(spark: SparkSession, lake: Lake) -> list[tuple]:
    events = lake.read(spark, "silver.identity_changelog")
    return sorted(
        tuple(r) for r in events.select("event_id", "event", "customer_id", "other_id").collect()
    )


def golden_records(spark: SparkSession, lake: Lake) -> DataFrame:
    """Golden records without the run id; maps cannot be sorted, so provenance as JSON."""
    c = lake.read(spark, "silver.customers").drop("run_id")
    return c.withColumn("provenance", F.to_json("provenance"))


def run(spark: SparkSession, conf: Config, day: dt.date) -> None:
    run_stages(spark, conf, day, ["identity"])


def day2_rows() -> list[dict]:
    """Day 2: a new record of Ana joins her id; a new record bridges Pedro's two ids."""
    return [
        *BASE,
        party(
            "ecommerce", "11", batch="b2", email="ana@x.es", given_name="Ana", family_name="García"
        ),
        party(
            "loyalty",
            "12",
            batch="b2",
            given_name="Pedro",
            family_name="Ruiz",
            email="pedro@y.es",
            phone="+34699000111",
        ),
    ]


def link_writes(spark: SparkSession, lake: Lake, n: int) -> list[tuple[str, str | None]]:
    history = lake.delta(spark, "silver.identity_links").history(n).collect()
    return [(h.operation, h.operationParameters.get("mode")) for h in history]


def link_keys(spark: SparkSession, lake: Lake) -> list[tuple]:
    links = lake.read(spark, "silver.identity_links")
    return sorted(links.select("record_key_l", "record_key_r", "method", "status").collect())


# slow tier (the default tier's 15-minute budget): test_identity_ids covers the id rules on frames
@pytest.mark.slow
def test_ids_persist_merge_split_and_rerun(
    spark: SparkSession, ident_conf: Config, caplog: pytest.LogCaptureFixture
) -> None:
    lake = Lake.from_config(ident_conf)
    write_party_records(spark, lake, BASE)
    run(spark, ident_conf, DAY1)
    day1 = ids(spark, lake)
    assert day1["sales:1"] == day1["service:7"] == day1["loyalty:3"]
    assert day1["sales:2"] != day1["sales:1"]  # the husband
    assert day1["sales:3"] != day1["service:4"]
    assert day1["sales:5"] == day1["finance:8"] and day1["sales:5"] not in {
        day1[k] for k in ("sales:1", "sales:2", "sales:3", "service:4", "leads:9")
    }
    assert len(day1) == len(BASE)
    # golden record: one row per id, with provenance per attribute
    customers = lake.read(spark, "silver.customers")
    assert customers.count() == len(set(day1.values()))
    ana = customers.filter(F.col("customer_id") == day1["sales:1"]).first()
    assert (ana.given_name, ana.family_name, ana.party_type) == ("Ana", "García", "person")
    assert ana.provenance["given_name"].source == "sales"
    assert ana.provenance["given_name"].rule == "source_priority"
    assert ana.sources == ["loyalty", "sales", "service"]
    # every link is explained by its rules
    links = lake.read(spark, "silver.identity_links")
    assert links.filter(F.col("method") == "rule").filter(F.size("rules") == 0).count() == 0

    # rerun on the same input: nothing written
    before = versions(spark, lake)
    run(spark, ident_conf, DAY1)
    assert versions(spark, lake) == before and ids(spark, lake) == day1

    # day 2: a new record of Ana joins her id; a new record bridges Pedro's two ids
    rows2 = day2_rows()
    write_party_records(spark, lake, rows2)
    with caplog.at_level(logging.INFO, logger="c360.identity.stage"):
        run(spark, ident_conf, DAY2)
    # day 2 re-clusters Ana's and Pedro's components only, not the husband's or the fleet's
    assert "pass=changed components records=7" in caplog.text
    day2 = ids(spark, lake)
    assert day2["ecommerce:11"] == day1["sales:1"] == day2["sales:1"]
    pedro = {day1["sales:3"], day1["service:4"]}
    assert day2["sales:3"] == day2["service:4"] == day2["loyalty:12"] == min(pedro)
    changes = lake.read(spark, "silver.identity_changelog").filter(F.col("as_of") == DAY2)
    merge = changes.filter(F.col("event") == "merge").collect()
    assert [(m.customer_id, m.other_id) for m in merge] == [(min(pedro), max(pedro))]
    evidence = json.loads(merge[0].evidence)["links"]
    assert {lk["record_key_l"] for lk in evidence} | {lk["record_key_r"] for lk in evidence} >= {
        "loyalty:12"
    }
    retired = lake.read(spark, "silver.customers").filter(F.col("customer_id") == max(pedro))
    assert retired.count() == 0
    cw = lake.read(spark, "silver.identity_crosswalk")
    seen = {r.record_key: (r.first_seen, r.last_seen) for r in cw.collect()}
    assert seen["sales:1"] == (DAY1, DAY1) and seen["ecommerce:11"] == (DAY2, DAY2)
    # day 2's links replaced only those of the changed records, in place
    links2 = lake.read(spark, "silver.identity_links")
    new_links = links2.filter(F.col("record_key_l").isin("ecommerce:11", "loyalty:12"))
    new_links = new_links.unionByName(
        links2.filter(F.col("record_key_r").isin("ecommerce:11", "loyalty:12"))
    )
    assert new_links.count() > 0 and new_links.filter(F.col("as_of") != DAY2).count() == 0
    assert links2.filter(F.col("as_of") == DAY1).count() > 0  # the unchanged ones kept

    # (new records had no stored links to delete: an append, no unchanged link rewritten)
    assert link_writes(spark, lake, 1) == [("WRITE", "Append")]

    # day 3: a steward says Pedro's loyalty record is someone else; Ana's web record is
    # deleted at source
    overrides = spark.createDataFrame(
        [("loyalty:12", "sales:3", "must_not_link", "different person")], IDENTITY_OVERRIDES
    )
    overrides.write.format("delta").save(lake.path("silver.identity_overrides"))
    rows3 = [r for r in rows2 if r["source_record_id"] != "11"] + [
        party(
            "ecommerce",
            "11",
            batch="b3",
            deleted=True,
            email="ana@x.es",
            given_name="Ana",
            family_name="García",
        ),
    ]
    write_party_records(spark, lake, rows3)
    run(spark, ident_conf, DAY3)
    # the deleted record's links deleted in place (deletion vectors); no record with new
    # match fields, so no link to append
    assert link_writes(spark, lake, 1) == [("DELETE", None)]
    day3 = ids(spark, lake)
    assert day3["loyalty:12"] == day3["service:4"] == min(pedro)  # the larger part keeps it
    assert day3["sales:3"] not in {min(pedro), max(pedro)}  # a new id, never a retired one
    split = lake.read(spark, "silver.identity_changelog").filter(
        (F.col("as_of") == DAY3) & (F.col("event") == "split")
    )
    assert [(r.customer_id, r.other_id) for r in split.collect()] == [(min(pedro), day3["sales:3"])]
    cut = json.loads(split.first().evidence)["links"]  # the links that held the two together
    assert any("sales:3" in (lk["record_key_l"], lk["record_key_r"]) for lk in cut)
    gone = lake.read(spark, "silver.identity_crosswalk").filter("record_key = 'ecommerce:11'")
    assert [(r.is_deleted, r.customer_id) for r in gone.collect()] == [(True, day1["sales:1"])]
    assert day3["sales:1"] == day1["sales:1"]  # Ana unchanged
    links3 = lake.read(spark, "silver.identity_links")
    gone_links = links3.filter("record_key_l = 'ecommerce:11' OR record_key_r = 'ecommerce:11'")
    assert gone_links.count() == 0  # a deleted record's links are deleted with it


@pytest.mark.slow
def test_full_pass_agrees_and_a_run_killed_before_the_crosswalk_is_completed(
    spark: SparkSession, ident_conf: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Day 2 again (the default tier's test above runs days 1 to 3): a full pass over the
    same records agrees with the scoped one, and a run killed after links, changelog and
    customers but before the crosswalk (the commit point) is completed by the next run."""
    lake = Lake.from_config(ident_conf)
    write_party_records(spark, lake, BASE)
    run(spark, ident_conf, DAY1)
    day1_crosswalk = lake.delta(spark, "silver.identity_crosswalk").history(1).first().version
    write_party_records(spark, lake, day2_rows())
    run(spark, ident_conf, DAY2)
    day2 = ids(spark, lake)
    day2_links = link_keys(spark, lake)
    # a full pass over the same records agrees with the scoped one: it writes nothing
    before = versions(spark, lake)
    run(spark, ident_conf.with_overrides(["identity.full_pass=true"]), DAY2)
    assert versions(spark, lake) == before

    # a run killed after links, changelog and customers, before the crosswalk (the
    # commit point): the next run on the same input completes it, recording nothing twice
    done_log = changelog(spark, lake)
    done_customers = golden_records(spark, lake).localCheckpoint()
    lake.delta(spark, "silver.identity_crosswalk").restoreToVersion(day1_crosswalk)
    assert "loyalty:12" not in ids(spark, lake)
    # (more changed records than a run deletes links for in place: the links table is
    # rewritten whole, to the same links)
    with monkeypatch.context() as m:
        m.setattr("c360.identity.stage.LINKS_IN_PLACE_MAX", 0)
        run(spark, ident_conf, DAY2)
    assert (
        link_writes(spark, lake, 1) == [("WRITE", "Overwrite")]
        and link_keys(spark, lake) == day2_links
    )
    assert ids(spark, lake) == day2
    assert changelog(spark, lake) == done_log
    assert_df_equality(golden_records(spark, lake), done_customers, ignore_row_order=True)


def test_override_yaml_must_link(spark: SparkSession, ident_conf: Config, tmp_path) -> None:
    lake = Lake.from_config(ident_conf)
    write_party_records(spark, lake, BASE)
    path = tmp_path / "overrides.yaml"
    path.write_text(
        "must_link:\n  - {a: 'sales:3', b: 'service:4', reason: 'confirmed by phone'}\n"
        "must_not_link: []\n"
    )
    run(spark, ident_conf.with_overrides([f"identity.overrides={path}"]), DAY1)
    got = ids(spark, lake)
    assert got["sales:3"] == got["service:4"]


def test_bad_override_file_names_the_entry(
    spark: SparkSession, ident_conf: Config, tmp_path
) -> None:
    from c360.errors import ConfigError

    lake = Lake.from_config(ident_conf)
    write_party_records(spark, lake, BASE)
    path = tmp_path / "overrides.yaml"
    path.write_text("must_link:\n  - {a: 'sales:3'}\n")
    with pytest.raises(ConfigError, match=r"must_link\[0\] needs 'a' and 'b'"):
        run(spark, ident_conf.with_overrides([f"identity.overrides={path}"]), DAY1)
