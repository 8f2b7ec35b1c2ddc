"""spark-submit the pipeline to a real standalone master and worker on 127.0.0.1, kill -9
it at several points, and check the next run finishes it; erase a customer through
spark-submit.

Every run of the module goes to the cluster with the same config and landed files. The
first runs are killed at each point in turn; one more finishes them (``cluster_run``, the
lake the other tests read). The stages the killed runs had finished must commit nothing
when the last run runs them again, and the finished lake must add up in every layer (the
pipeline's own ``reconcile`` stage, plus the checks below).

There is no separate uninterrupted run to compare with any more: it doubled the module's
cost and the suite no longer fit CI's time limit. A killed stage rerunning to the same
table is tested in-process per stage (test_bronze, test_silver_stage,
test_identity_stage, test_gold_stage, test_activation_measurement), and equal results on
any cluster layout by the rounding of the trained model (test_identity_fs)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.config import Config
from c360.lake import Lake

pytestmark = pytest.mark.cluster

AS_OF = "2026-11-03"
# (log line that marks the point, how many times it must have appeared): the run is
# killed right after, while the next step is under way. Silver killed between two source
# merges, identity killed between its links and its crosswalk, and gold and activation
# reruns are tested in-process (test_silver_stage, test_identity_stage, test_gold_stage,
# test_activation_measurement).
KILL_POINTS = [
    (r"step=bronze\.\w+ file=", 5),  # some sources committed, others not
    (r"step=activation\.contact_plan ", 1),  # bronze to score done, the plan under way
]
# What the run after the last kill may still commit: the stages from activation on. Every
# other table was finished by the killed runs, so running their stages again must commit
# nothing: the pipeline-level rerun check.
FINISHED_BY_THE_LAST_RUN = {
    "gold.contact_plan",
    "gold.campaign_results",
    "gold.customer_360_pseudo",
}
CLUSTER_OPTS = "--conf spark.executor.memory=1g --conf spark.ui.enabled=false"


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


def pipeline_args(master: str, root: Path, landing: str) -> list[str]:
    """One pipeline run of the sample; every run in this module uses the same config."""
    out = ["bash", "scripts/submit.sh", master, "jobs/run_pipeline.py"]
    out += ["--conf", "conf/cluster.yaml", "--as-of", AS_OF]
    for key, value in (
        ("lake.root", root / "lake"),
        ("landing.root", landing),
        ("spark.shuffle_partitions", 2),
        ("activation.export_root", root / "exports"),
        ("ml.model_root", root / "models"),
        ("logging.level", "INFO"),  # the kill points are INFO lines
    ):
        out += ["--set", f"{key}={value}"]
    return out


def start(repo: Path, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=repo,
        env=env,
        # spark-submit copies the Python driver's stderr to its own stdout
        stdout=log.open("w", encoding="utf-8"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a kill reaches every child
    )


def tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-4000:]


def kill_at(proc: subprocess.Popen, log: Path, pattern: str, times: int, timeout: float) -> bool:
    """SIGKILL the whole run once ``pattern`` has been logged ``times`` times. False if the
    run ended first."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    seen, offset, rest = 0, 0, b""
    while time.monotonic() < deadline:
        with log.open("rb") as fh:  # read only what was added (Spark's own log is large)
            fh.seek(offset)
            chunk = fh.read()
        offset += len(chunk)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        seen += sum(len(rx.findall(line.decode("utf-8", "replace"))) for line in lines)
        if seen >= times:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"{pattern} not logged within {timeout:.0f} s; see {log}")


def models(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root / "models")) for p in (root / "models").glob("*/*"))


def versions(lake_root: Path) -> dict[str, int]:
    """The newest Delta commit of every bronze, silver and gold table, from the log files."""
    out = {}
    for log in sorted(lake_root.glob("*/*/_delta_log")):
        layer, table = log.parent.parent.name, log.parent.name
        if layer != "ops":
            commits = [p.name for p in log.iterdir() if re.fullmatch(r"\d{20}\.json", p.name)]
            out[f"{layer}.{table}"] = max(int(name[:20]) for name in commits)
    return out


@dataclass
class Runs:
    """What the module's spark-submit runs did; the tests assert on it."""

    root: Path  # lake, exports and models of every run
    logs: Path
    final_rc: int | None = None
    kills: list[str] = field(default_factory=list)
    error: str | None = None  # a kill point never reached, or a killed run that failed
    before_final: dict[str, int] = field(default_factory=dict)  # table versions
    after_final: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def runs(
    repo: Path,
    cluster: dict[str, str],
    sample: dict[str, int],
    sample_conf: Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> Runs:
    """Killed at every point in turn on the cluster, then one run to the end."""
    root = tmp_path_factory.mktemp("submitted")
    runs = Runs(root=root / "run", logs=root)
    runs.root.mkdir()
    env = {**cluster, "SPARK_SUBMIT_OPTS_EXTRA": CLUSTER_OPTS}
    args = pipeline_args(cluster["master"], runs.root, sample_conf.landing.root)
    for n, (pattern, times) in enumerate(KILL_POINTS):
        log = runs.logs / f"killed-{n}.log"
        proc = start(repo, args, env, log)
        try:
            killed = kill_at(proc, log, pattern, times, timeout=1500)
        except AssertionError as exc:  # a kill point not logged in time
            runs.error = str(exc)
            return runs
        if killed:
            runs.kills.append(pattern)
        elif proc.returncode != 0:  # ended before the point: failed is a bug, finished is not
            runs.error = f"killed run {n} failed:\n{tail(log)}"
            return runs
        else:
            break
    runs.before_final = versions(runs.root / "lake")
    runs.final_rc = start(repo, args, env, runs.logs / "final.log").wait(timeout=2400)
    runs.after_final = versions(runs.root / "lake")
    return runs


@pytest.fixture(scope="module")
def cluster_run(runs: Runs) -> Path:
    assert runs.error is None, runs.error
    assert runs.final_rc == 0, tail(runs.logs / "final.log")
    return runs.root


def test_pipeline_runs_under_spark_submit(
    spark: SparkSession,
    cluster: dict[str, str],
    cluster_run: Path,
    sample: dict[str, int],
) -> None:
    lake = Lake(root=str(cluster_run / "lake"))
    jobs = lake.read(spark, "ops.job_runs")
    last = jobs.orderBy(F.col("started_at").desc()).first().pipeline_run_id
    runs = jobs.filter(F.col("pipeline_run_id") == last).collect()  # the run that finished
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
    assert {r.spark_master for r in jobs.collect()} == {cluster["master"]}
    landed = lake.read(spark, "ops.bronze_files").filter(F.col("source") == "sales")
    assert landed.agg(F.sum("rows_landed")).first()[0] == sample["sales"]
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
    manifest = json.loads((cluster_run / "exports" / AS_OF / "manifest.json").read_text())
    assert manifest["rows"] == plan.filter(F.col("status") == "selected").count()
    results = lake.read(spark, "gold.campaign_results")
    assert results.filter(F.col("level") == "campaign").count() == 4  # generator.campaigns
    # train and score ran on the cluster: both models saved, scored and in the profile
    scores = lake.read(spark, "gold.customer_scores")
    assert {r.model for r in scores.select("model").distinct().collect()} == {
        "renewal",
        "service_churn",
    }
    assert sorted(p.name for p in (cluster_run / "models").iterdir()) == [
        "renewal",
        "service_churn",
    ]
    assert lake.read(spark, "gold.customer_360").filter("renewal_decile IS NOT NULL").count() > 0
    # pseudonymized profile for analysts: one row per profile, no email in clear
    pseudo = lake.read(spark, "gold.customer_360_pseudo")
    assert pseudo.count() == c360.count()
    assert pseudo.join(c360.select("email").dropna(), "email").count() == 0


def test_killed_runs_resume_and_a_rerun_of_finished_stages_changes_nothing(
    spark: SparkSession, runs: Runs, cluster_run: Path
) -> None:
    assert runs.kills == [p for p, _ in KILL_POINTS]  # every point was reached and killed
    # The stages the killed runs had finished (bronze to score) ran again in the last run
    # and committed nothing; only the stages from activation on wrote.
    changed = {t for t, v in runs.after_final.items() if runs.before_final.get(t) != v}
    assert changed and changed <= FINISHED_BY_THE_LAST_RUN, changed
    assert len(runs.before_final) > 40
    lake = Lake(root=str(cluster_run / "lake"))
    jobs = lake.read(spark, "ops.job_runs")
    # each killed run shows as still running at the stage it was killed in, nothing more
    pipelines = jobs.groupBy("pipeline_run_id").agg(
        F.min("started_at").alias("t"),
        F.sort_array(F.collect_list(F.struct("stage", "status"))).alias("stages"),
    )
    killed = [r.stages for r in pipelines.orderBy("t").collect()][:-1]
    assert [[tuple(s) for s in k if s.status != "succeeded"] for k in killed] == [
        [("bronze", "running")],
        [("activation", "running")],
    ], killed
    # the models the killed run trained are the only ones: the last run reused them
    assert [m.split("/")[0] for m in models(cluster_run)] == ["renewal", "service_churn"]


def test_erasure_under_spark_submit(
    spark: SparkSession,
    repo: Path,
    cluster: dict[str, str],
    cluster_run: Path,
    tmp_path: Path,
) -> None:
    """On a copy of the cluster run's lake and exports, so the other tests see it whole."""
    for part in ("lake", "exports"):
        shutil.copytree(cluster_run / part, tmp_path / part)
    lake_root = tmp_path / "lake"
    lake = Lake(root=str(lake_root))
    plan = lake.read(spark, "gold.contact_plan")
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
