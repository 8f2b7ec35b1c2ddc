"""Privacy and concurrency: keyed pseudonyms (known-answer HMAC), one writer per lake,
right to erasure on a copy of the small world (every layer, every export, every file,
ids never reused), and no PII in the logs or ops tables of a full run."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.config import Config
from c360.errors import ConcurrentRunError, ErasureError, PrivacyError
from c360.identity.fingerprint import stored_fingerprint
from c360.identity.stage import used_ids
from c360.lake import Lake
from c360.lock import lake_lock, lock_path
from c360.privacy import pseudo
from c360.privacy.erase import Request, footprint, plan_erasure, run_erase
from c360.runner import run_stages
from c360.schemas import pseudo as PS
from c360.schemas import silver as S
from c360.serve.queries import NotFound, Search, customer_360, search
from c360.serve.snapshot import Snapshot
from conftest import DEFAULT_AS_OF, SMALL_WORLD_IDENTITY
from filescan import find_values

KEY = b"k3y-for-tests"


# --------------------------------------------------------------------------- pseudonyms


def test_keyed_hash_is_hmac_sha256_and_nulls_stay_null(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [
            ("1", "ana.lopez@example.es"),
            ("2", None),  # a None row
            ("3", '  Ñandú 🚗 ‏عربي =HYPERLINK("x")  '),  # messy: emoji, RTL mark, formula
        ],
        "id string, email string",
    )

    def keyed(d: DataFrame, key: bytes) -> DataFrame:
        pads = d.crossJoin(pseudo.key_frame(spark, key))
        email = pseudo.hmac_sha256(F.col("email"), F.col("_kipad"), F.col("_kopad"))
        return pads.select("id", email.alias("email"))

    got = keyed(df, KEY)

    def h(v: str | None) -> str | None:
        return None if v is None else hmac.new(KEY, v.encode(), hashlib.sha256).hexdigest()

    want = spark.createDataFrame(
        [(r["id"], h(r["email"])) for r in df.collect()], "id string, email string"
    )
    assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)
    # a key longer than the SHA-256 block is hashed first (RFC 2104)
    long_key = b"x" * 100
    one = keyed(df.limit(1), long_key)
    want_long = hmac.new(long_key, b"ana.lopez@example.es", hashlib.sha256).hexdigest()
    assert one.first()["email"] == want_long
    other = keyed(df, b"another")
    assert other.filter("id = '1'").first()["email"] != h("ana.lopez@example.es")


def test_key_comes_from_the_environment_or_a_file_never_config(
    conf: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("C360_PSEUDONYM_KEY", raising=False)
    with pytest.raises(PrivacyError, match="C360_PSEUDONYM_KEY"):
        pseudo.load_key(conf)
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n", encoding="utf-8")
    from_file = conf.with_overrides([f"privacy.key_file={secret}"])
    assert pseudo.load_key(from_file) == b"from-a-file"
    monkeypatch.setenv("C360_PSEUDONYM_KEY", "from-env")
    assert pseudo.load_key(from_file) == b"from-env"
    missing = conf.with_overrides([f"privacy.key_file={tmp_path / 'nope'}"])
    monkeypatch.delenv("C360_PSEUDONYM_KEY")
    with pytest.raises(PrivacyError, match=r"privacy\.key_file") as err:
        pseudo.load_key(missing)
    assert "from-a-file" not in str(err.value)


LINK_SHARE = 0.02  # a column linking more than this share of a twin's rows (and more than
# two: a dozen-row twin has a rare role or two) one to one fails


def one_to_one_links(real: DataFrame, fake: DataFrame) -> dict[str, int]:
    """Per column both tables have (but the run's own), the values that name exactly one
    row in each: a join on that column alone would link those rows one to one. Counted
    in DuckDB over the two tables as Arrow (one Spark job each, not two per column)."""
    db = duckdb.connect()
    db.register("r", real.toArrow())
    db.register("f", fake.toArrow())
    out = {}
    for c in sorted(set(real.columns) & set(fake.columns) - {"as_of", "run_id"}):
        v = f'CAST("{c}" AS VARCHAR)'
        singles = "SELECT {v} v FROM {t} WHERE {v} IS NOT NULL GROUP BY 1 HAVING count(*) = 1"
        q = f"SELECT count(*) FROM ({singles.format(v=v, t='r')}) JOIN ({singles.format(v=v, t='f')}) USING (v)"
        out[c] = db.sql(q).fetchall()[0][0]
    return out


def test_erase_without_the_key_fails_before_erasing_anything(
    spark: SparkSession, base_conf: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With twins in the lake, the keyed hashes are needed to find the person in them: no
    key, no erasure started (not a half-erased person)."""
    conf = base_conf.with_overrides([f"lake.root={tmp_path / 'lake'}"])
    lake = Lake.from_config(conf)
    day = dt.date(2026, 11, 3)
    row = ("sales:1", "sales", "1", "person", "C1", "h", None, False, False, day, day, "r", None)
    spark.createDataFrame([row], S.IDENTITY_CROSSWALK).write.format("delta").save(
        lake.path("silver.identity_crosswalk")
    )
    spark.createDataFrame([("k",)], "customer_key string").write.format("delta").save(
        lake.path("pseudo.customer_360")
    )
    monkeypatch.delenv("C360_PSEUDONYM_KEY", raising=False)
    with pytest.raises(PrivacyError, match="C360_PSEUDONYM_KEY"):
        run_erase(spark, conf, Request(customer_id="C1"))
    assert not lake.exists(spark, "ops.erasure_log")


def test_pseudonymized_twins_do_not_link_back(spark: SparkSession, world: Path) -> None:
    """Every twin: a row per gold row; ids replaced by the keyed hash Python's hmac gives;
    no dropped column left; no column shared with the gold table that links rows one to
    one (values naming exactly one row on both sides, for more than LINK_SHARE of the
    rows); no email, phone or name of the sample anywhere under the pseudo root."""
    lake = Lake(str(world / "lake"))
    key = os.environ["C360_PSEUDONYM_KEY"].encode()

    def h(v: str) -> str:
        return hmac.new(key, v.encode(), "sha256").hexdigest()

    links = {}
    for name, (source, policy) in PS.TWINS.items():
        real, fake = lake.read(spark, source), lake.read(spark, name)
        n = fake.count()
        assert n == real.count() > 0, name
        assert fake.columns == PS.SCHEMAS[name].fieldNames(), name
        dropped = [c for c, a in policy.items() if a == PS.DROP]
        assert not set(dropped) & set(fake.columns), name
        found = one_to_one_links(real, fake)
        # a rare category names a row or two in a sample this small; a linking column
        # (a date of birth, an amount, a postal code) names a large share of them
        links |= {f"{name}.{c}": k for c, k in found.items() if k > max(LINK_SHARE * n, 2)}
    assert links == {}
    # the check can fail: hashing the ids alone (the old twin) leaves linking columns
    real = lake.read(spark, "gold.customer_360")
    ids_only = real.withColumn("customer_id", F.sha2("customer_id", 256))
    naive = one_to_one_links(real, ids_only)
    assert {c for c, k in naive.items() if k > LINK_SHARE * real.count()} >= {
        "birth_date",
        "email",
        "phone",
        "service_spend_36m",
    }
    real = lake.read(spark, "gold.customer_360")
    fake = lake.read(spark, "pseudo.customer_360")
    row = real.filter(F.col("household_id").isNotNull() & (F.size("vehicles") > 0)).first()
    got = fake.filter(F.col("customer_key") == h(row["customer_id"])).first()
    assert got["household_key"] == h(row["household_id"])
    assert {v["vin_key"] for v in got["vehicles"]} == {h(v["vin"]) for v in row["vehicles"]}
    year = row["birth_date"].year if row["birth_date"] else None
    band = got["birth_year_band"]
    assert band is None if year is None else int(band[:4]) <= year <= int(band[5:])
    assert got["postal_area"] == (row["postal_code"] or "")[:2] or got["postal_area"] is None
    owners = lake.read(spark, "pseudo.vehicle_owners")
    assert owners.filter(F.col("customer_key") == h(row["customer_id"])).count() == len(
        row["vehicles"]
    )
    needles = [r["email"] for r in real.select("email").dropna().limit(200).collect()]
    needles += [r["phone"] for r in real.select("phone").dropna().limit(200).collect()]
    needles += [r["full_name"] for r in real.select("full_name").dropna().limit(50).collect()]
    assert find_values(str(world / "lake" / "pseudo"), needles) == []


def test_postal_area_by_config(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("28001",), ("08002",), ("2800",), (None,), (" 28001",)], "p string"
    )
    got = df.select(
        pseudo.postal_area(F.col("p"), "province").alias("prov"),
        pseudo.postal_area(F.col("p"), "region").alias("reg"),
        pseudo.year_band(F.make_date(F.lit(1983), F.lit(5), F.lit(1)), 5).alias("band"),
    ).collect()
    assert [(r.prov, r.reg) for r in got] == [
        ("28", "Comunidad de Madrid"),
        ("08", "Cataluña"),
        (None, None),
        (None, None),
        (None, None),
    ]
    assert got[0].band == "1980-1984"


# ------------------------------------------------------------------------------- lock


def _c360(repo: Path, *args: str, timeout: int = 900) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "c360.cli", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_writer_fails_fast_and_a_killed_holder_frees_the_lake(
    conf: Config, repo: Path, tmp_path: Path
) -> None:
    sets = ["--set", f"lake.root={conf.lake.root}", "--set", f"landing.root={tmp_path}"]
    with lake_lock(conf, "test holder"):
        t0 = time.monotonic()
        proc = _c360(repo, "run", "--conf", "conf/test.yaml", "--as-of", "2026-11-03", *sets)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2
        assert "is in use by pid" in err and "test holder" in err, err
        assert time.monotonic() - t0 < 60  # refused before any Spark started
        with lake_lock(conf, "nested"):  # re-entrant in the holding process
            pass
    # kill -9 of a holder releases the lock with it (flock dies with the process)
    code = (
        "import sys, time; from c360.config import load_config; from c360.lock import lake_lock\n"
        f"conf = load_config('conf/test.yaml', ['lake.root={conf.lake.root}'])\n"
        "with lake_lock(conf, 'doomed'):\n    print('held', flush=True); time.sleep(600)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], cwd=repo, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(ConcurrentRunError, match="doomed"), lake_lock(conf, "too early"):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with lake_lock(conf, "after the kill") as path:
        assert path == lock_path(conf)


@pytest.mark.slow
def test_two_runs_at_once_one_runs_and_the_other_is_refused(
    spark: SparkSession, sample_conf: Config, sample: dict[str, int], repo: Path, tmp_path: Path
) -> None:
    lake_root = tmp_path / "lake"
    sets = [
        "--set",
        f"lake.root={lake_root}",
        "--set",
        f"landing.root={sample_conf.landing.root}",
    ]
    args = ["run", "--conf", "conf/test.yaml", "--as-of", "2026-11-03", "--stage", "bronze"]
    procs = [_c360(repo, *args, *sets) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], [o[1][-2000:] for o in outs]
    refused = next(o[1] for p, o in zip(procs, outs, strict=True) if p.returncode == 2)
    assert "is in use by" in refused
    # the run that went ahead loaded every landed file once, and every row reconciles
    lake = Lake(str(lake_root))
    files = lake.read(spark, "ops.bronze_files").filter("status = 'loaded'")
    assert files.count() >= len(sample) and files.filter("NOT reconciled").count() == 0
    bronze = sum(lake.read(spark, t).count() for t in lake.tables(spark) if t.startswith("bronze"))
    assert files.agg(F.sum("rows_landed")).first()[0] == bronze


# ---------------------------------------------------------------------------- erasure


def _world_copy(world: Path, dest: Path, base_conf: Config) -> Config:
    for part in ("lake", "exports", "landing"):
        shutil.copytree(world / part, dest / part)
    return base_conf.with_overrides(
        [
            f"lake.root={dest / 'lake'}",
            f"landing.root={dest / 'landing'}",
            f"activation.export_root={dest / 'exports'}",
            f"ml.model_root={world / 'models'}",
            "spark.shuffle_partitions=2",
            *SMALL_WORLD_IDENTITY,  # the world's own engine
        ]
    )


def latest_versions(lake: Lake, tables: list[str]) -> dict[str, int]:
    """Each table's latest Delta version, from its local log's commit files."""
    return {
        t: max(int(p.stem) for p in (Path(lake.path(t)) / "_delta_log").glob("*.json"))
        for t in tables
    }


def commits_since(lake: Lake, table: str, version: int) -> list[dict]:
    """The ``commitInfo`` of each commit of ``table`` after ``version``, from its log."""
    out = []
    for path in sorted((Path(lake.path(table)) / "_delta_log").glob("*.json")):
        if int(path.stem) > version:
            actions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            out += [a["commitInfo"] for a in actions if "commitInfo" in a]
    return out


def _raw_identifiers(spark: SparkSession, lake: Lake, lineage: dict[str, list[str]]) -> set[str]:
    """The person's emails, phones and contact names exactly as landed, from their bronze
    rows (a record id such as the fleet desk's ``contact_id`` is a key, not a needle)."""
    out: set[str] = set()
    for table, rows in lineage.items():
        df = lake.read(spark, table)
        keys = F.concat_ws("#", "_source_file", F.col("_row_number").cast("string"))
        cols = [
            c
            for c in df.columns
            if any(k in c for k in ("email", "phone", "contact")) and not c.endswith("_id")
        ]
        cols += ["recipient_key"] if "recipient_key" in df.columns else []
        for r in df.filter(keys.isin(rows)).select(*cols).collect():
            out.update(v.strip() for v in r if v and len(v.strip()) >= 6)
    return out


def erase_one_person(
    spark: SparkSession, world: Path, base_conf: Config, tmp_path: Path
) -> tuple[Config, Lake, str, str]:
    """Erase a person found in several sources and an export file, checking everything
    the erasure promises; returns (conf, lake, customer_id, one of their sale ids)."""
    conf = _world_copy(world, tmp_path, base_conf)
    lake = Lake.from_config(conf)
    exports = Path(conf.activation.export_root) / DEFAULT_AS_OF
    # a person in an export file, with an email and a phone, known to several sources,
    # and (first) a company's fleet contact: their contact rows must go too
    contacts = lake.read(spark, "gold.account_contacts").select("customer_id").distinct()
    exported = set()
    for f in exports.glob("*.csv"):
        with f.open(encoding="utf-8", newline="") as fh:
            exported.update(r["customer_id"] for r in csv.DictReader(fh))
    people = (
        lake.read(spark, "silver.customers")
        .filter(
            (F.col("party_type") == "person")
            & F.col("email").isNotNull()
            & F.col("phone").isNotNull()
            & (F.size("sources") >= 2)
            & F.array_contains("sources", "sales")
            & F.col("customer_id").isin(sorted(exported))
        )
        .join(contacts.withColumn("_contact", F.lit(True)), "customer_id", "left")
        .orderBy(F.col("_contact").isNull(), "customer_id")
    )
    target = people.first()
    assert target["_contact"], "the small world has a fleet contact who is a customer too"
    cid = target["customer_id"]
    fp = footprint(spark, lake, [cid])
    sale_id = fp.records["sales"][0]
    assert fp.emails and fp.phones and fp.shared == 0
    tables = lake.tables(spark)
    before = latest_versions(lake, tables)
    # --dry-run: what would go, found as the erasure finds it, and nothing written
    plan = plan_erasure(spark, conf, Request(email=target["email"]))
    assert (plan.customer_ids, plan.shared) == ([cid], 0) and plan.rows["silver.customers"] == 1
    assert latest_versions(lake, tables) == before
    raw = _raw_identifiers(spark, lake, plan.lineage)
    needles = sorted({*fp.emails, *fp.phones, *raw, cid})
    assert find_values(str(tmp_path / "lake"), needles), "the scan must see the person first"
    pseudonym = pseudo.keyed_hash(os.environ["C360_PSEUDONYM_KEY"].encode(), cid)

    def pseudonym_in_data() -> list:
        hits = find_values(str(tmp_path / "lake" / "pseudo"), [pseudonym])
        return [h for h in hits if "/_delta_log/" not in h.file]

    assert pseudonym_in_data(), "the twins hold the person's keyed hash first"

    with pytest.raises(ErasureError, match=r"not in silver\.identity_crosswalk"):
        run_erase(spark, conf, Request(customer_id="C-nobody"))
    (result,) = run_erase(spark, conf, Request(email=target["email"].upper() + " "))
    assert result.customer_ids == [cid]
    assert result.rows_deleted["silver.customers"] == 1
    assert sum(result.exports.values()) >= 1
    assert (result.rows_deleted, result.exports) == (plan.rows, plan.exports)  # as planned
    assert any(t.startswith("bronze.") for t in result.rows_deleted)
    contact_tables = {f"{x}.fleet_contacts" for x in ("bronze", "silver")}
    contact_tables |= {f"{x}.account_contacts" for x in ("gold", "pseudo")}
    assert contact_tables <= set(result.rows_deleted)

    # every table lost exactly the rows the result reports, and nothing else: only the
    # tables it names have new commits, and those commits' own metrics (Delta's row
    # counts, not the erasure's) delete exactly that many rows and add none
    after = latest_versions(lake, tables)
    assert {t for t in tables if after[t] != before[t]} == set(result.rows_deleted)
    for t, n in result.rows_deleted.items():
        metrics = [c.get("operationMetrics", {}) for c in commits_since(lake, t, before[t])]
        assert sum(int(m.get("numTargetRowsDeleted", 0)) for m in metrics) == n, t
        added = ("numTargetRowsInserted", "numTargetRowsUpdated")
        assert [m for m in metrics if any(int(m.get(k, 0)) for k in added)] == [], t
    # no data file, no Delta log (statistics skip personal columns), no checkpoint holds
    # an email or phone of the person, in any spelling
    pii = find_values(str(tmp_path / "lake"), [n for n in needles if n != cid])
    assert pii == [], pii[:5]
    # the id stays only in ops.erasure_log (by design: it is how the id is never reused)
    # and in the log statistics of old commits (an id is a pseudonym, not personal data)
    id_hits = find_values(str(tmp_path / "lake"), [cid])
    data = [h for h in id_hits if "/_delta_log/" not in h.file]
    assert {Path(h.file).parent.name for h in data} == {"erasure_log"}, data[:5]
    assert pseudonym_in_data() == []  # nor the twins, under their keyed hash
    assert find_values(str(tmp_path / "exports"), needles) == []
    manifest = json.loads((exports / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        data = (exports / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert data.count(b"\n") - 1 == entry["rows"]
    erasures = lake.read(spark, "ops.erasure_log").collect()
    assert [(r["customer_id"], r["status"]) for r in erasures] == [(cid, "done")]
    # the lookup service, loading the erased lake, finds the person nowhere
    snap = Snapshot.load(lake.root)
    for term in (Search.parse(email=target["email"]), Search.parse(phone=target["phone"])):
        assert search(snap, term, 50) == []
    with pytest.raises(NotFound):
        customer_360(snap, cid)
    # the components that lost the person's records are re-clustered in full next run
    assert stored_fingerprint(spark, lake) is None
    assert erasures[0]["rows_deleted"] == result.rows_deleted

    # asking again changes nothing
    versions = latest_versions(lake, tables)
    assert run_erase(spark, conf, Request(customer_id=cid)) == []
    assert latest_versions(lake, tables) == versions

    return conf, lake, cid, sale_id


def test_erase_removes_the_person_everywhere_and_the_id_is_never_reused(
    spark: SparkSession, world: Path, base_conf: Config, tmp_path: Path
) -> None:
    _, lake, cid, _ = erase_one_person(spark, world, base_conf, tmp_path)
    # the id is among those identity never issues again (the slow tier lands the person
    # again and runs identity: a new customer)
    used = used_ids(spark, lake, lake.read(spark, "silver.identity_crosswalk"))
    assert used.filter(F.col("customer_id") == cid).count() == 1


@pytest.mark.slow
def test_an_erased_person_who_comes_back_is_a_new_customer(
    spark: SparkSession, world: Path, base_conf: Config, tmp_path: Path
) -> None:
    conf, lake, cid, sale_id = erase_one_person(spark, world, base_conf, tmp_path)
    # the person comes back in a later batch: a new customer, never the erased id
    land = Path(conf.landing.root) / "sales"  # bytes: the source exports Latin-1
    header, line = next(
        (f.read_bytes().split(b"\n")[0], ln)
        for f in sorted(land.glob("*/*.csv"))
        for ln in f.read_bytes().split(b"\n")[1:]
        if sale_id.encode() in ln
    )
    batch = land / "20261104-delta"
    batch.mkdir()
    (batch / "sales_20261104-delta.csv").write_bytes(header + b"\n" + line + b"\n")
    run_stages(spark, conf, dt.date(2026, 11, 4), ["bronze", "silver", "identity"])
    cw = lake.read(spark, "silver.identity_crosswalk")
    assert cw.filter(F.col("customer_id") == cid).count() == 0
    back = cw.filter((F.col("source") == "sales") & (F.col("source_record_id") == sale_id))
    assert [r["customer_id"] != cid for r in back.collect()] == [True]
    assert stored_fingerprint(spark, lake) is not None  # that full pass stored it again


# ------------------------------------------------------------------------ PII in logs


def test_no_pii_in_the_logs_or_ops_tables_of_a_full_run(spark: SparkSession, world: Path) -> None:
    lake = Lake(str(world / "lake"))
    party = lake.read(spark, "silver.party_records")
    emails = [r[0] for r in party.select("email").dropna().distinct().collect()]
    phones = [r[0] for r in party.select("phone").dropna().distinct().collect()]
    assert len(emails) > 200 and len(phones) > 200
    log_text = (world / "run.log").read_text(encoding="utf-8").lower()
    assert "step=identity" in log_text  # the run logged at INFO
    leaked = [e for e in emails if e in log_text] + [p for p in phones if p in log_text]
    assert leaked == []
    assert find_values(str(world / "lake" / "ops"), emails[:300] + phones[:300]) == []
