"""spark-submit the pipeline to a real standalone master and worker on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.config import Config
from c360.lake import Lake

pytestmark = pytest.mark.cluster


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env["SPARK_HOME"] = os.path.dirname(pyspark.__file__)
    port = free_port()
    env.update(
        C360_MASTER_PORT=str(port),
        C360_MASTER_UI_PORT=str(free_port()),
        C360_WORKER_UI_PORT=str(free_port()),
        C360_WORKER_CORES="2",
        C360_WORKER_MEMORY="2g",
        C360_CLUSTER_DIR=str(tmp_path_factory.mktemp("cluster")),
        C360_PYFILES=str(tmp_path_factory.mktemp("dist") / "c360-lib.zip"),
    )
    start = subprocess.run(
        ["bash", "scripts/cluster.sh", "start"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert start.returncode == 0, start.stderr
    try:
        yield {"master": f"spark://127.0.0.1:{port}", **env}
    finally:
        subprocess.run(["bash", "scripts/cluster.sh", "stop"], cwd=repo, env=env, timeout=120)


def test_pipeline_runs_under_spark_submit(
    spark: SparkSession,
    repo: Path,
    cluster: dict[str, str],
    sample: dict[str, int],
    sample_conf: Config,
    tmp_path: Path,
) -> None:
    lake_root = tmp_path / "lake"
    proc = subprocess.run(
        [
            "bash",
            "scripts/submit.sh",
            cluster["master"],
            "jobs/run_pipeline.py",
            "--conf",
            "conf/cluster.yaml",
            "--as-of",
            "2026-11-03",
            "--set",
            f"lake.root={lake_root}",
            "--set",
            f"landing.root={sample_conf.landing.root}",
            "--set",
            "spark.shuffle_partitions=2",
            "--set",
            f"activation.export_root={tmp_path / 'exports'}",
            "--set",
            f"ml.model_root={tmp_path / 'models'}",
        ],
        cwd=repo,
        env={
            **cluster,
            "SPARK_SUBMIT_OPTS_EXTRA": "--conf spark.executor.memory=1g --conf spark.ui.enabled=false",
        },
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lake = Lake(root=str(lake_root))
    runs = lake.read(spark, "ops.job_runs").collect()
    by_stage = {r.stage: r for r in runs}
    assert sorted((r.stage, r.status) for r in runs) == [
        ("activation", "succeeded"),
        ("bronze", "succeeded"),
        ("gold", "succeeded"),
        ("identity", "succeeded"),
        ("pseudonymize", "succeeded"),
        ("reconcile", "succeeded"),
        ("score", "succeeded"),
        ("silver", "succeeded"),
        ("train", "succeeded"),
    ]
    assert {r.spark_master for r in runs} == {cluster["master"]}
    assert by_stage["bronze"].rows_read["landing.sales"] == sample["sales"]
    quarantine = lake.read(spark, "bronze.quarantine")
    for source, n in sample.items():
        in_q = quarantine.filter(F.col("source") == source).count()
        assert lake.read(spark, f"bronze.{source}").count() + in_q == n
    log = lake.read(spark, "ops.bronze_files")
    assert log.filter(~F.col("reconciled")).count() == 0
    # silver ran on the executors too (pandas UDFs included) and every file reconciles
    silver_log = lake.read(spark, "ops.silver_files")
    assert silver_log.count() == log.filter(F.col("rows_bronze") > 0).count()
    assert silver_log.filter(~F.col("reconciled")).count() == 0
    party = lake.read(spark, "silver.party_records")
    assert party.count() > 0
    # identity ran with Splink's JVM similarity functions from --jars: every current party
    # record has a customer id, and the model was trained (the sample has enough persons)
    crosswalk = lake.read(spark, "silver.identity_crosswalk").filter(~F.col("is_deleted"))
    assert crosswalk.count() == party.filter(~F.col("is_deleted")).count()
    assert lake.read(spark, "ops.identity_models").count() == 1
    links = lake.read(spark, "silver.identity_links")
    assert links.filter(F.col("method") == "probabilistic").count() > 0
    # gold: one profile per customer id, and every current vehicle row has a stage
    c360 = lake.read(spark, "gold.customer_360")
    assert c360.count() == crosswalk.select("customer_id").distinct().count()
    assert c360.select("customer_id").distinct().count() == c360.count()
    segments = lake.read(spark, "gold.lifecycle_segments")
    assert segments.count() > 0
    assert lake.read(spark, "gold.lifecycle_history").filter("is_current").count() == (
        segments.count()
    )
    assert lake.read(spark, "gold.dealer_radiography").count() > 0
    kpi = lake.read(spark, "gold.kpi_counts").agg(F.sum("customers")).first()[0]
    assert kpi == c360.count()
    # activation: a plan row per eligible (customer, plan), the export written by the
    # driver holds exactly the selected rows, campaign results per platform campaign
    plan = lake.read(spark, "gold.contact_plan")
    assert plan.count() > 0
    manifest = json.loads((tmp_path / "exports" / "2026-11-03" / "manifest.json").read_text())
    assert manifest["rows"] == plan.filter(F.col("status") == "selected").count()
    results = lake.read(spark, "gold.campaign_results")
    assert results.filter(F.col("level") == "campaign").count() == 4  # generator.campaigns
    # train and score ran on the cluster: both models saved, scored and in the profile
    scores = lake.read(spark, "gold.customer_scores")
    assert {r.model for r in scores.select("model").distinct().collect()} == {
        "renewal",
        "service_churn",
    }
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["renewal", "service_churn"]
    assert lake.read(spark, "gold.customer_360").filter("renewal_decile IS NOT NULL").count() > 0
    # pseudonymized profile for analysts: one row per profile, no email in clear
    pseudo = lake.read(spark, "gold.customer_360_pseudo")
    assert pseudo.count() == c360.count()
    assert pseudo.join(c360.select("email").dropna(), "email").count() == 0
    # right to erasure through spark-submit too
    target = (
        plan.filter(F.col("status") == "selected").orderBy("customer_id").first()["customer_id"]
    )
    erase = subprocess.run(
        [
            "bash",
            "scripts/submit.sh",
            cluster["master"],
            "jobs/erase.py",
            "--conf",
            "conf/cluster.yaml",
            "--customer-id",
            target,
            "--set",
            f"lake.root={lake_root}",
            "--set",
            f"activation.export_root={tmp_path / 'exports'}",
        ],
        cwd=repo,
        env={**cluster, "SPARK_SUBMIT_OPTS_EXTRA": "--conf spark.ui.enabled=false"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert erase.returncode == 0, erase.stderr[-4000:]
    assert f"erased {target}" in erase.stdout
    for table in ("gold.customer_360", "gold.contact_plan", "silver.identity_crosswalk"):
        assert lake.read(spark, table).filter(F.col("customer_id") == target).count() == 0
    assert [r.status for r in lake.read(spark, "ops.erasure_log").collect()] == ["done"]
    assert target not in (tmp_path / "exports" / "2026-11-03" / "manifest.json").read_text()
    exported = "".join(p.read_text() for p in (tmp_path / "exports" / "2026-11-03").glob("*.csv"))
    assert target not in exported


def test_spark_submit_without_delta_jars_fails_in_one_line(
    repo: Path, cluster: dict[str, str], tmp_path: Path
) -> None:
    proc = subprocess.run(
        [
            ".venv/bin/spark-submit",
            "--master",
            cluster["master"],
            "--conf",
            "spark.driver.host=127.0.0.1",
            "--conf",
            "spark.driver.bindAddress=127.0.0.1",
            "--conf",
            f"spark.pyspark.python={repo / '.venv/bin/python'}",
            "jobs/run_pipeline.py",
            "--conf",
            "conf/cluster.yaml",
            "--as-of",
            "2026-11-03",
            "--set",
            f"lake.root={tmp_path / 'lake'}",
        ],
        cwd=repo,
        env=cluster,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    # spark-submit merges the Python driver's stderr into its stdout; ours is one line.
    errors = re.findall(r"c360: error: [^\n]*", proc.stdout + proc.stderr)
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "Delta Lake is not on the cluster classpath" in errors[0]
