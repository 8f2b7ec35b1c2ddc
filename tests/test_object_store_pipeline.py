"""The whole pipeline on a lake on S3 (a real S3-compatible server), with the landed
files there too, through the ``c360`` command as a user runs it: the tables equal a local
run on the same files, export files and saved models included, and summary, report and
erase work there. Slow tier."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.activation.export import read_manifest
from c360.lake import Lake
from c360.ml import CHURN, RENEWAL, registry
from c360.privacy.footprint import footprint
from conftest import (
    DEFAULT_AS_OF,
    S3_KEY,
    S3_SECRET,
    c360,
    kill_at,
    s3_client,
    start,
    world_sets,
)
from filescan import find_values_on

pytestmark = pytest.mark.slow


def _upload(endpoint: str, bucket: str, folder: Path, prefix: str) -> int:
    client = s3_client(endpoint)
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    for p in files:
        client.upload_file(str(p), bucket, f"{prefix}/{p.relative_to(folder).as_posix()}")
    return len(files)


def test_the_pipeline_on_s3_equals_a_local_run_and_every_command_works_there(
    spark: SparkSession,
    world: Path,
    repo: Path,
    s3_endpoint: str,
    s3_root: str,
    tmp_path: Path,
) -> None:
    bucket = s3_root.split("/")[2]
    assert _upload(s3_endpoint, bucket, world / "landing", "landing") > 10
    # the store's settings as a user gives them (spark.conf); credentials only in the
    # environment, where the s3a client's default chain finds them
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}
    store = [
        f"spark.conf.spark.hadoop.fs.s3a.endpoint={s3_endpoint}",
        "spark.conf.spark.hadoop.fs.s3a.endpoint.region=us-east-1",
        "spark.conf.spark.hadoop.fs.s3a.path.style.access=true",
        "spark.conf.spark.hadoop.fs.s3a.connection.ssl.enabled=false",
        f"lake.root={s3_root}",
        f"landing.root=s3a://{bucket}/landing",
        f"activation.export_root=s3a://{bucket}/exports",
        f"ml.model_root=s3a://{bucket}/models",
    ]
    args = [*world_sets(tmp_path), *(a for s in store for a in ("--set", s))]
    run = functools.partial(c360, repo, env=env, timeout=3600)
    conf = ["--conf", "conf/test.yaml"]
    run("run", *conf, "--as-of", DEFAULT_AS_OF, *args)

    # every table equals the local run's on the same landed files
    on_s3 = json.loads(run("checksum", *conf, *args).stdout)
    local = json.loads(run("checksum", *conf, "--set", f"lake.root={world / 'lake'}").stdout)
    assert len(on_s3) > 30 and on_s3 == local
    # the export files and the saved models too (the manifest's run id is the run's own)
    day = dt.date.fromisoformat(DEFAULT_AS_OF)
    exported = read_manifest(spark, f"s3a://{bucket}/exports", day)
    assert exported is not None and exported["rows"] > 0
    assert exported["files"] == read_manifest(spark, str(world / "exports"), day)["files"]
    for name in (RENEWAL, CHURN):
        on_store = registry.versions(spark, f"s3a://{bucket}/models", name)
        assert on_store and on_store == registry.versions(spark, str(world / "models"), name)
    # two runs at once on the store, from two processes: one runs, the other is refused
    # in one line naming the holder, and no commit is lost or torn
    reconcile = ["run", *conf, "--as-of", DEFAULT_AS_OF, *args, "--stage", "reconcile"]
    both = [
        subprocess.Popen(
            [sys.executable, "-m", "c360.cli", *reconcile],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    ends = sorted((p.wait(timeout=1800), p.stderr.read() if p.stderr else "") for p in both)
    assert [code for code, _ in ends] == [0, 2], ends
    refused = [line for line in ends[1][1].splitlines() if line.startswith("c360")]
    assert len(refused) == 1 and "is in use by pid" in refused[0], ends[1][1]
    assert json.loads(run("checksum", *conf, *args).stdout) == local
    summary = run("summary", *conf, *args).stdout
    assert "gold.customer_360" in summary, summary
    run("report", *conf, *args, "--as-of", DEFAULT_AS_OF)
    assert b"<html" in _read(spark, f"{s3_root}/report.html")[:500].lower()

    # erasure on the store: every file read back through s3a holds nothing of the person
    lake = Lake(s3_root)
    exports = f"s3a://{bucket}/exports"
    email_file = next(f["file"] for f in exported["files"] if f["channel"] == "email")
    data = _read(spark, f"{exports}/{DEFAULT_AS_OF}/{email_file}").decode("utf-8")
    in_export = sorted(r["customer_id"] for r in csv.DictReader(io.StringIO(data)))
    person = (  # a person in an export file, with an email and a phone
        lake.read(spark, "silver.customers")
        .filter(F.col("email").isNotNull() & F.col("phone").isNotNull())
        .filter(F.col("customer_id").isin(in_export))
        .orderBy("customer_id")
        .first()
    )
    fp = footprint(spark, lake, [person["customer_id"]])  # less what a family shares
    needles = [*fp.emails, *fp.phones]
    assert needles
    assert find_values_on(spark, s3_root, needles)
    assert find_values_on(spark, exports, needles)
    # killed mid-way (kill -9: its lease stays behind until it runs out), then finished
    # by the next erase, which waits for the dead holder's lease and takes it over
    cid = person["customer_id"]
    lease = ["--set", "lake.lock_lease_seconds=10", "--set", "lake.lock_wait_seconds=120"]
    erase = [sys.executable, "-m", "c360.cli", "erase", *conf, *args, *lease]
    killed = start(
        repo,
        [*erase, "--customer-id", cid, "--set", "logging.level=INFO"],
        env,
        tmp_path / "erase.log",
    )
    assert kill_at(
        killed, tmp_path / "erase.log", r"step=erase\.delete request=\S+ table=", 1, 1200
    )
    log = lake.read(spark, "ops.erasure_log").select("customer_id", "status").collect()
    assert [tuple(r) for r in log] == [(cid, "started")]
    out = run(*erase[3:], "--customer-id", cid)
    assert f"erased {cid}" in out.stdout and "resumed" in out.stdout, out.stdout
    assert find_values_on(spark, s3_root, needles) == []
    assert find_values_on(spark, exports, needles) == []
    after = read_manifest(spark, exports, day)
    assert after is not None and after["rows"] < exported["rows"]
    log = lake.read(spark, "ops.erasure_log").select("customer_id", "status").collect()
    assert [tuple(r) for r in log] == [(person["customer_id"], "done")]


def _read(spark: SparkSession, path: str) -> bytes:
    from c360 import hfs

    return hfs.read_bytes(spark, path)
