"""A lake on S3 (``s3a://``) against a real S3-compatible server (moto's server mode):
tables found through the lake's own file system, an erasure proved by reading every file
back from the store, the lock as a lease object only one contender can take, and export
files and saved models that appear whole there."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType, StructField, StructType

from c360 import hfs
from c360.activation import export
from c360.config import Config
from c360.errors import ConcurrentRunError, ErasureError, LakeNotWritableError, ModelError
from c360.lake import Lake
from c360.lock import lake_lock, lock_path
from c360.ml import registry
from c360.privacy.erase import Request, run_erase
from filescan import find_values_on

ANNA = {
    "email": "anna.berg@example.org",
    "phone": "+4915112345678",
    "street": "Lindenweg 7",
    "name": "Annegret Bergfeld",
}


def _strings(*names: str) -> list[StructField]:
    return [StructField(n, StringType()) for n in names]


CROSSWALK = StructType(_strings("record_key", "source", "source_record_id", "customer_id"))
BORN_AT = StructField("birth_date", DateType())
PARTY = StructType(
    [*_strings("source", "source_record_id", "email", "phone", "full_name", "street"), BORN_AT]
)
PROFILES = StructType([*_strings("customer_id", "email", "phone", "full_name", "street"), BORN_AT])
BORN = dt.date(1980, 2, 3)


def _write(spark: SparkSession, lake: Lake, name: str, schema: StructType, rows: list) -> None:
    lake.ensure_table(spark, name, schema)  # personal columns kept out of the log's stats
    spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(lake.path(name))


def _small_lake(spark: SparkSession, lake: Lake) -> None:
    """Anna (two records, C1), Bob (C2), a None row and a messy row."""
    a, s = ANNA, " Annegret  BERGFELD "  # the messy spelling of another source
    _write(
        spark,
        lake,
        "silver.identity_crosswalk",
        CROSSWALK,
        [
            ("k1", "sales", "S1", "C1"),
            ("k2", "leads", "L1", "C1"),
            ("k3", "sales", "S2", "C2"),
            ("k4", "leads", None, None),
        ],
    )
    _write(
        spark,
        lake,
        "silver.party_records",
        PARTY,
        [
            ("sales", "S1", a["email"], a["phone"], a["name"], a["street"], BORN),
            ("leads", "L1", a["email"], None, s, None, BORN),
            ("sales", "S2", "bob@example.org", "+4930123456", "Bob Marsh", "Am Ring 1", None),
            ("leads", None, None, None, None, None, None),
        ],
    )
    _write(
        spark,
        lake,
        "gold.profiles",
        PROFILES,
        [
            ("C1", a["email"], a["phone"], a["name"], a["street"], BORN),
            ("C2", "bob@example.org", "+4930123456", "Bob Marsh", "Am Ring 1", None),
            (None, None, None, None, None, None),
        ],
    )


@pytest.mark.slow  # about 45 s; erasure on S3 stays in the slow pipeline test too, and the
# default tier keeps the S3 listing, lock, exports, models, scrub and lookup tests
def test_a_lake_on_s3_lists_its_tables_and_erases_a_person_from_every_file(
    spark: SparkSession, base_conf: Config, s3_root: str, tmp_path: Path
) -> None:
    conf = base_conf.with_overrides(
        [f"lake.root={s3_root}", f"activation.export_root={tmp_path / 'exports'}"]
    )
    lake = Lake.from_config(conf)
    _small_lake(spark, lake)
    # a folder without a commit (a run killed while creating it) is no table; neither is
    # anything outside the layers
    spark.range(1).write.parquet(f"{s3_root}/gold/half_created")
    spark.range(1).write.parquet(f"{s3_root}/_checkpoints/an-old-app/rdd-1")
    assert lake.tables(spark) == [
        "silver.identity_crosswalk",
        "silver.party_records",
        "gold.profiles",
    ]
    needles = [ANNA["email"], ANNA["phone"], ANNA["street"], "Bergfeld"]
    assert {
        h.file.split("/lake/")[1].split("/")[1] for h in find_values_on(spark, s3_root, needles)
    } == {
        "party_records",
        "profiles",
    }

    (result,) = run_erase(spark, conf, Request(email=ANNA["email"].upper()))
    assert result.customer_ids == ["C1"]
    assert result.rows_deleted == {
        "gold.profiles": 1,
        "silver.identity_crosswalk": 2,
        "silver.party_records": 2,
    }
    # every file on the store, data, log and checkpoint, read back through s3a: no copy
    # of her email, phone, street or name in any spelling survives the VACUUM
    assert find_values_on(spark, s3_root, needles) == []
    assert not hfs.exists(spark, f"{s3_root}/_checkpoints/an-old-app")
    # everyone else is untouched, the None rows included
    assert_df_equality(
        lake.read(spark, "gold.profiles"),
        spark.createDataFrame(
            [
                ("C2", "bob@example.org", "+4930123456", "Bob Marsh", "Am Ring 1", None),
                (None, None, None, None, None, None),
            ],
            PROFILES,
        ),
        ignore_row_order=True,
    )
    log = lake.read(spark, "ops.erasure_log").select("customer_id", "status").collect()
    assert [tuple(r) for r in log] == [("C1", "done")]

    # a listing that finds no table (as os.listdir did on s3a) never passes for an
    # erasure: the request fails and is recorded as not_found, and erasing the id again
    # is neither "already erased" nor a resumed request, but a new erasure
    listing = Lake.tables
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Lake, "tables", lambda self, s: listing(Lake(f"{s3_root}-elsewhere"), s))
        with pytest.raises(ErasureError, match="recorded as not_found"):
            run_erase(spark, conf, Request(customer_id="C2"))
    log = lake.read(spark, "ops.erasure_log").select("customer_id", "status").collect()
    assert sorted(tuple(r) for r in log) == [("C1", "done"), ("C2", "not_found")]
    (again,) = run_erase(spark, conf, Request(customer_id="C2"))
    assert again.rows_deleted["gold.profiles"] == 1
    assert lake.read(spark, "gold.profiles").filter(F.col("customer_id") == "C2").isEmpty()


def _contend(conf: Config, spark: SparkSession, names: list[str], hold: float) -> list[str]:
    """Runs that want the lake at once, one thread each (the lock is re-entrant per
    thread, so each stands for a process of its own): who took it, who was refused."""
    outcomes: list[str] = []
    gate = threading.Barrier(len(names))

    def run(name: str) -> None:
        gate.wait()
        try:
            with lake_lock(conf, name, wait_seconds=0.0, spark=spark):
                outcomes.append(f"took {name}")
                time.sleep(hold)
        except ConcurrentRunError as exc:
            outcomes.append(f"refused: {exc}")

    threads = [threading.Thread(target=run, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return sorted(outcomes)


def test_the_lock_of_a_lake_on_s3_is_a_lease_only_one_contender_takes(
    spark: SparkSession, base_conf: Config, s3_root: str
) -> None:
    conf = base_conf.with_overrides([f"lake.root={s3_root}", "lake.lock_lease_seconds=3"])
    path = lock_path(conf)
    assert path == f"{s3_root}/_c360.lock"
    with lake_lock(conf, "first holder", spark=spark):
        first = json.loads(hfs.read_bytes(spark, path))
        assert first["command"] == "first holder"
        time.sleep(2.5)  # longer than a renewal (a third of the lease): renewed, not lost
        renewed = json.loads(hfs.read_bytes(spark, path))
        assert renewed["owner"] == first["owner"] and renewed["expires"] > first["expires"]
        (refused,) = _contend(conf, spark, ["second"], 0.0)
        assert refused.startswith("refused") and "first holder" in refused, refused
        assert "\n" not in refused
    assert not hfs.exists(spark, path)  # released

    # a holder killed with no chance to release: once its lease has run out, of two runs
    # that want the lake at once exactly one takes it over
    stale = {"owner": "dead", "pid": 1, "host": "gone", "command": "killed", "expires": 0.0}
    hfs.create_new(spark, path, json.dumps(stale).encode())
    with pytest.raises(hfs.AlreadyExists):
        hfs.create_new(spark, path, b"{}")  # S3's If-None-Match: no second creation
    refused, took = _contend(conf, spark, ["a", "b"], 1.0)  # sorted
    assert refused.startswith("refused") and took.startswith("took"), (took, refused)
    assert not hfs.exists(spark, path)


def test_a_missing_bucket_or_credentials_fail_in_one_line_before_any_write(
    spark: SparkSession, base_conf: Config, s3_root: str
) -> None:
    bucket = s3_root.split("/")[2]
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    nokey, nohost = f"{bucket}-nokey", f"{bucket}-nohost"
    hadoop.set(f"fs.s3a.bucket.{nokey}.access.key", "")
    hadoop.set(f"fs.s3a.bucket.{nokey}.secret.key", "")
    hadoop.set(f"fs.s3a.bucket.{nohost}.endpoint", "http://127.0.0.1:9")  # nothing listens
    for root, cause in [
        (f"s3a://{bucket}-missing/lake", "does not exist|NoSuchBucket|UnknownStore"),
        (f"s3a://{nokey}/lake", "credential|NoAuth|No AWS"),
        (f"s3a://{nohost}/lake", "connect|refused|unable to execute"),
    ]:
        conf = base_conf.with_overrides([f"lake.root={root}"])
        with pytest.raises(LakeNotWritableError) as err, lake_lock(conf, "c360 run", spark=spark):
            pass
        line = str(err.value)
        assert "\n" not in line and root in line, line
        assert any(c.lower() in line.lower() for c in cause.split("|")), line


PLAN_DAY = dt.date(2026, 6, 15)


def _plan(spark: SparkSession, rows: list[dict]):  # type: ignore[no-untyped-def]
    """Selected rows of a contact plan, only the columns an export reads."""
    names = ["run_id", "channel", "status", *dict.fromkeys(export.fields_for("mail"))]
    names += ["email", "phone"]
    schema = StructType([*_strings(*names), StructField("plan_date", DateType())])
    full = [
        {**dict.fromkeys(names), "status": "selected", **r, "plan_date": PLAN_DAY} for r in rows
    ]
    return spark.createDataFrame([tuple(r[f.name] for f in schema) for r in full], schema)


def test_exports_and_models_on_s3_appear_whole_and_erasure_scrubs_them(
    spark: SparkSession, s3_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler

    root = s3_root.replace("/lake", "/exports")
    folder = f"{root}/{PLAN_DAY.isoformat()}"
    common = {"run_id": "r1", "campaign_id": "CMP1", "contact_plan": "renewal"}
    plan = _plan(
        spark,
        [
            {
                **common,
                "channel": "email",
                "contact_id": "a1",
                "customer_id": "C1",
                "email": ANNA["email"],
            },
            {
                **common,
                "channel": "email",
                "contact_id": "b1",
                "customer_id": "C2",
                "email": "bob@example.org",
            },
            {
                **common,
                "channel": "mail",
                "contact_id": "b2",
                "customer_id": "C2",
                "street": "Am Ring 1",
            },
            {
                **common,
                "channel": "mail",
                "contact_id": "n1",
                "customer_id": None,
                "given_name": "=1+1",
            },
        ],
    )
    manifest = export.write_export(plan, root, PLAN_DAY)
    names = sorted(e.name for e in hfs.list_dir(spark, folder))
    assert names == ["manifest.json", "renewal__email.csv", "renewal__mail.csv"]

    def published() -> dict:
        m = export.read_manifest(spark, root, PLAN_DAY)
        assert m is not None
        for entry in m["files"]:  # every file is what its entry says
            data = hfs.read_bytes(spark, f"{folder}/{entry['file']}")
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
            assert data.count(b"\n") - 1 == entry["rows"], entry["file"]
        return m

    assert published() == manifest and manifest["rows"] == 4
    assert b"'=1+1" in hfs.read_bytes(spark, f"{folder}/renewal__mail.csv")  # no formula
    with caplog.at_level(logging.INFO, logger="c360.activation.export"):
        assert export.write_export(plan, root, PLAN_DAY) == manifest
    assert "written=0" in caplog.text  # the rerun wrote nothing

    # erasure: her row leaves the file and the manifest follows
    assert export.scrub_exports(spark, root, {"C1"}) == {"2026-06-15/renewal__email.csv": 1}
    assert published()["rows"] == 3
    assert find_values_on(spark, root, [ANNA["email"]]) == []
    # a scrub killed between a file and its manifest: the next one finds no row left in
    # that file yet still brings the manifest back in line with it
    mail = hfs.read_bytes(spark, f"{folder}/renewal__mail.csv").decode()
    left = "".join(x for x in mail.splitlines(keepends=True) if ",C2," not in x)
    hfs.write_bytes(spark, f"{folder}/renewal__mail.csv", left.encode())
    assert export.scrub_exports(spark, root, {"C2"}) == {"2026-06-15/renewal__email.csv": 1}
    assert published()["rows"] == 1
    # an export killed after it unpublished the folder: no manifest, so no export, and a
    # scrub still reaches its files
    hfs.delete(spark, f"{folder}/manifest.json")
    hfs.write_bytes(spark, f"{folder}/renewal__email.csv", mail.encode())
    assert export.read_manifest(spark, root, PLAN_DAY) is None
    assert export.scrub_exports(spark, root, {"C2"}) == {"2026-06-15/renewal__email.csv": 1}
    assert find_values_on(spark, root, ["Am Ring 1"]) == []

    # models: a version exists once its metadata is there, not before
    models = s3_root.replace("/lake", "/models")
    frame = spark.createDataFrame([(1.0, 2.0), (None, 0.5)], "a double, b double")
    fitted = Pipeline(
        stages=[VectorAssembler(inputCols=["a", "b"], outputCol="v", handleInvalid="keep")]
    ).fit(frame)
    meta = {"model": "renewal", "version": "20260615-abc", "trained_as_of": "2026-06-15"}
    spark.createDataFrame([("half",)], "x string").write.text(
        f"{models}/renewal/20260615-abc/model"
    )  # a save killed before its metadata
    assert registry.versions(spark, models, "renewal") == []
    registry.save(spark, fitted, meta, models)
    with pytest.raises(ModelError, match="already exists"):
        registry.save(spark, fitted, meta, models)
    assert registry.latest(spark, models, "renewal", PLAN_DAY) == meta
    assert registry.latest(spark, models, "renewal", PLAN_DAY - dt.timedelta(days=1)) is None
    loaded, got = registry.load(spark, models, "renewal", "20260615-abc")
    assert got == meta
    filled = frame.na.fill(0.0)  # NaN in a vector never equals itself
    assert_df_equality(loaded.transform(filled), fitted.transform(filled))


@pytest.fixture(scope="module")
def s3_process_endpoint() -> Iterator[str]:
    """The S3 server in a process of its own: delta-rs's DataFusion reader (the deletion
    vectors' path) holds Python's GIL while it reads, so an S3 server on a thread of the
    test's own process could never answer it (production's store is never in-process)."""
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port = so.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_lookup_service_reads_and_logs_a_lake_on_s3(
    spark: SparkSession, s3_process_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``c360 serve`` over an s3a lake: delta-rs reads it as s3:// with the AWS_* settings
    (deletion vectors applied, a new version seen), and appends ops.access_log there with
    S3's conditional writes; Spark reads the log back."""
    import uuid

    from c360.schemas.ops import ACCESS_LOG
    from c360.serve.access import AccessLog, Token
    from c360.serve.snapshot import Snapshot, storage_options, table_uri, versions
    from conftest import S3_KEY, S3_SECRET, s3_client, s3a_settings

    endpoint = s3_process_endpoint
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    for key, value in s3a_settings(endpoint).items():
        hadoop.set(key, value)
    bucket = f"c360-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    s3_root = f"s3a://{bucket}/lake"
    for key, value in (
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", S3_KEY),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
    ):
        monkeypatch.setenv(key, value)
    lake = Lake(s3_root)
    path = lake.path("silver.identity_links")
    links = spark.createDataFrame(
        [("a:1", "b:2", "rule"), ("a:1", "c:3", "rule")],
        "record_key_l string, record_key_r string, method string",
    )
    links.write.format("delta").option("delta.enableDeletionVectors", "true").save(path)
    spark.createDataFrame([("V1", "Micra")], "vin string, model string").write.format("delta").save(
        lake.path("silver.vehicles")
    )
    before = versions(s3_root)["silver.identity_links"]
    spark.sql(f"DELETE FROM delta.`{path}` WHERE record_key_r = 'c:3'")
    assert versions(s3_root)["silver.identity_links"] == before + 1
    snap = Snapshot.load(s3_root)
    assert snap.query("SELECT record_key_r FROM links") == [{"record_key_r": "b:2"}]
    assert snap.query("SELECT vin, model FROM vehicles") == [{"vin": "V1", "model": "Micra"}]

    log = AccessLog(table_uri(s3_root, "ops.access_log"), storage_options(s3_root), flush_seconds=0)
    for ids in (["C1"], ["C1", "C2"]):
        log.record(Token("desk-1", "full"), "/api/customers/{customer_id}", "GET", 200, ids)
        assert log.flush() == 1  # two appends: two commits
    rows = spark.read.format("delta").load(lake.path("ops.access_log"))
    assert [(f.name, f.dataType) for f in rows.schema] == [(f.name, f.dataType) for f in ACCESS_LOG]
    assert sorted(r.customer_ids for r in rows.collect()) == [["C1"], ["C1", "C2"]]
