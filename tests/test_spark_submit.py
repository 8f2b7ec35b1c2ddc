"""spark-submit the pipeline to a real standalone master and worker on 127.0.0.1; kill -9
runs of the same pipeline at several points and check the next run finishes them to the
same lake; erase a customer through spark-submit.

One run on the cluster (``cluster_run``) is the reference for the whole module. At the
same time, runs of the same config and landed files through ``spark-submit --master
local[2]`` are killed at each point in turn, then one more finishes them: its lake must
equal the cluster run's table by table (content checksums), with the same export files
and saved models, and the stages the killed runs had already finished must commit
nothing when it runs them again."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.checksum import lake_checksums
from c360.config import Config
from c360.lake import Lake
from c360.ml import MODELS, registry
from c360.runner import latest_runs
from conftest import kill_at, start, tail

# The whole pipeline on the cluster, the kill -9 runs and the erasure take ~40 minutes
# of CI's 90 on a slow day: they are the ``slow`` tier (``scripts/test.sh --all``). The
# default run starts the cluster and spark-submits bronze and silver to it.
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
    "pseudo.customer_360",
    "pseudo.contact_plan",
    "pseudo.households",
    "pseudo.vehicle_owners",
}
# The driver gets spark-submit's 1g default otherwise, too little for the whole pipeline.
# Interpreted expressions, as conf/test.yaml has them (the JIT flags reach every JVM of
# the module through JAVA_TOOL_OPTIONS, set by the cluster fixture).
CLUSTER_OPTS = (
    "--driver-memory 2g --conf spark.executor.memory=1g --conf spark.ui.enabled=false"
    " --conf spark.sql.codegen.wholeStage=false --conf spark.sql.codegen.factoryMode=NO_CODEGEN"
)
# The JIT of conf/test.yaml (spark.driver.extraJavaOptions there) for the master, the
# worker, the executors and the drivers spark-submit starts: C1 only, with room for its code.
FAST_JIT = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m"
LOCAL_OPTS = "--driver-memory 3g --conf spark.ui.enabled=false"


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
        JAVA_TOOL_OPTIONS=FAST_JIT,
    )
    cluster_sh(repo, env, "start")
    try:
        yield {"master": f"spark://127.0.0.1:{port}", **env}
    finally:
        subprocess.run(["bash", "scripts/cluster.sh", "stop"], cwd=repo, env=env, timeout=120)


def cluster_sh(repo: Path, env: dict[str, str], command: str) -> None:
    proc = subprocess.run(
        ["bash", "scripts/cluster.sh", command],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr


def pipeline_args(master: str, root: Path, landing: str, *sets: str) -> list[str]:
    """One pipeline run of the sample; every run in this module uses the same config."""
    out = ["bash", "scripts/submit.sh", master, "jobs/run_pipeline.py"]
    out += ["--conf", "conf/cluster.yaml", "--as-of", AS_OF, *sets]
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


def exports(root: Path) -> dict[str, object]:
    """Every export file's bytes; the manifest without its run id (which run wrote it)."""
    out: dict[str, object] = {}
    for path in sorted((root / "exports").rglob("*")):
        if path.is_file():
            rel = str(path.relative_to(root / "exports"))
            if path.name == "manifest.json":
                manifest = json.loads(path.read_text())
                manifest.pop("run_id")
                out[rel] = manifest
            else:
                out[rel] = path.read_bytes()
    return out


def models(spark: SparkSession, root: Path) -> dict[str, list[dict]]:
    """Every saved model's metadata (features, parameters, importances, metrics) by model:
    what it learned, not the name of its folder."""
    return {m: registry.versions(spark, str(root / "models"), m) for m in MODELS}


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

    cluster: Path  # the uninterrupted run on the cluster: the reference
    killed: Path  # the lake killed at every point, then finished
    logs: Path
    cluster_rc: int | None = None
    final_rc: int | None = None
    kills: list[str] = field(default_factory=list)
    error: str | None = None  # a kill point never reached, or a killed run that failed
    before_final: dict[str, int] = field(default_factory=dict)  # table versions
    after_final: dict[str, int] = field(default_factory=dict)


def run_on_cluster(repo: Path, cluster: dict[str, str], landing: str, runs: Runs) -> None:
    args = pipeline_args(cluster["master"], runs.cluster, landing)
    env = {**cluster, "SPARK_SUBMIT_OPTS_EXTRA": CLUSTER_OPTS}
    runs.cluster_rc = start(repo, args, env, runs.logs / "cluster.log").wait(timeout=2400)


def run_killed(repo: Path, landing: str, runs: Runs) -> None:
    """Killed at every point in turn on local[2], then one run to the end."""
    env = {
        **os.environ,
        "SPARK_SUBMIT_OPTS_EXTRA": LOCAL_OPTS,
        "C360_PYFILES": str(runs.logs / "c360-lib.zip"),
    }
    args = pipeline_args("local[2]", runs.killed, landing)
    for n, (pattern, times) in enumerate(KILL_POINTS):
        log = runs.logs / f"killed-{n}.log"
        proc = start(repo, args, env, log)
        if kill_at(proc, log, pattern, times, timeout=1500):
            runs.kills.append(pattern)
        elif proc.returncode != 0:  # ended before the point: failed is a bug, finished is not
            runs.error = f"killed run {n} failed:\n{tail(log)}"
            return
        else:
            break
    runs.before_final = versions(runs.killed / "lake")
    runs.final_rc = start(repo, args, env, runs.logs / "killed-final.log").wait(timeout=2400)
    runs.after_final = versions(runs.killed / "lake")


@pytest.fixture(scope="module")
def runs(
    repo: Path,
    cluster: dict[str, str],
    sample: dict[str, int],
    sample_conf: Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> Runs:
    """All of the module's pipeline runs: the cluster run in a thread, beside the killed
    runs."""
    root = tmp_path_factory.mktemp("submitted")
    runs = Runs(cluster=root / "cluster", killed=root / "killed", logs=root)
    runs.cluster.mkdir()
    runs.killed.mkdir()
    landing = sample_conf.landing.root
    thread = threading.Thread(target=run_on_cluster, args=(repo, cluster, landing, runs))
    thread.start()
    try:
        run_killed(repo, landing, runs)
    except AssertionError as exc:  # a kill point not logged in time
        runs.error = str(exc)
    finally:
        thread.join()
    return runs


@pytest.fixture(scope="module")
def cluster_run(runs: Runs) -> Path:
    assert runs.cluster_rc == 0, tail(runs.logs / "cluster.log")
    return runs.cluster


def assert_bronze_and_silver_ran_on(
    spark: SparkSession, lake: Lake, master: str, sample: dict[str, int], stages: list[str]
) -> None:
    """Every stage ran on ``master``; bronze holds every landed row (or quarantined it) and
    silver, pandas UDFs on the executors included, reconciles every file."""
    runs = latest_runs(lake.read(spark, "ops.job_runs")).collect()
    assert sorted((r.stage, r.status) for r in runs) == [(s, "succeeded") for s in sorted(stages)]
    assert {r.spark_master for r in runs} == {master}
    by_stage = {r.stage: r for r in runs}
    assert by_stage["bronze"].rows_read["landing.sales"] == sample["sales"]
    quarantine = lake.read(spark, "bronze.quarantine")
    for source, n in sample.items():
        in_q = quarantine.filter(F.col("source") == source).count()
        assert lake.read(spark, f"bronze.{source}").count() + in_q == n
    log = lake.read(spark, "ops.bronze_files")
    assert log.filter(~F.col("reconciled")).count() == 0
    silver_log = lake.read(spark, "ops.silver_files")
    assert silver_log.count() == log.filter(F.col("rows_bronze") > 0).count()
    assert silver_log.filter(~F.col("reconciled")).count() == 0
    assert lake.read(spark, "silver.party_records").count() > 0


# The default tier's cluster run lands these sources only: a Latin-1 CSV and a JSON-lines
# export, both with names and phones (the pandas UDFs), and the dealers their references
# point at. The slow tier runs every source to the end.
CLUSTER_SOURCES = ("sales", "ecommerce", "dealers")


def test_bronze_and_silver_under_spark_submit_on_the_cluster(
    spark: SparkSession,
    repo: Path,
    cluster: dict[str, str],
    sample: dict[str, int],
    sample_conf: Config,
    tmp_path: Path,
) -> None:
    """The default tier's spark-submit check: Delta and our code from --jars/--py-files on
    the executors, for the two stages that run the most code there."""
    landing = tmp_path / "landing"
    for source in CLUSTER_SOURCES:
        shutil.copytree(Path(sample_conf.landing.root) / source, landing / source)
    stages = ["bronze", "silver"]
    args = pipeline_args(
        cluster["master"],
        tmp_path,
        str(landing),
        "--set",
        f"pipeline.stages=[{', '.join(stages)}]",
    )
    env = {**cluster, "SPARK_SUBMIT_OPTS_EXTRA": CLUSTER_OPTS}
    log = tmp_path / "submit.log"
    assert start(repo, args, env, log).wait(timeout=1800) == 0, tail(log)
    lake = Lake(root=str(tmp_path / "lake"))
    landed = {source: sample[source] for source in CLUSTER_SOURCES}
    assert_bronze_and_silver_ran_on(spark, lake, cluster["master"], landed, stages)


@pytest.mark.slow
def test_pipeline_runs_under_spark_submit(
    spark: SparkSession,
    cluster: dict[str, str],
    cluster_run: Path,
    sample: dict[str, int],
    sample_conf: Config,
) -> None:
    lake = Lake(root=str(cluster_run / "lake"))
    stages = [
        "activation",
        "bronze",
        "gold",
        "identity",
        "pseudonymize",
        "reconcile",
        "score",
        "silver",
        "train",
    ]
    assert_bronze_and_silver_ran_on(spark, lake, cluster["master"], sample, stages)
    party = lake.read(spark, "silver.party_records")
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
    campaigns = sample_conf.generator.campaigns
    assert results.filter(F.col("level") == "campaign").count() == campaigns
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
    pseudo = lake.read(spark, "pseudo.customer_360")
    assert pseudo.count() == c360.count() and "email" not in pseudo.columns


@pytest.mark.slow
def test_killed_runs_resume_to_the_same_lake_and_a_rerun_changes_nothing(
    spark: SparkSession, runs: Runs, cluster_run: Path
) -> None:
    assert runs.error is None, runs.error
    assert runs.final_rc == 0, tail(runs.logs / "killed-final.log")
    assert runs.kills == [p for p, _ in KILL_POINTS]  # every point was reached and killed

    # The stages the killed runs had finished (bronze to score) ran again in the last run
    # and committed nothing; only the stages from activation on wrote.
    changed = {t for t, v in runs.after_final.items() if runs.before_final.get(t) != v}
    assert changed and changed <= FINISHED_BY_THE_LAST_RUN, changed
    assert len(runs.before_final) > 40
    # The killed-and-resumed lake equals the uninterrupted one, table by table, the ops
    # tables on their content columns.
    layers = ("bronze", "silver", "gold", "ops")
    want = lake_checksums(spark, Lake(root=str(cluster_run / "lake")), layers)
    got = lake_checksums(spark, Lake(root=str(runs.killed / "lake")), layers)
    assert any(t.startswith("gold.") for t in want) and len(want) > 40
    assert {t: str(c) for t, c in got.items()} == {t: str(c) for t, c in want.items()}
    assert exports(runs.killed) == exports(cluster_run)
    saved = models(spark, cluster_run)
    assert models(spark, runs.killed) == saved and all(len(v) == 1 for v in saved.values())


def _logged(log: Path, pattern: str, proc: subprocess.Popen, timeout: float) -> bool:
    """Wait until ``pattern`` is in the log; False if the run ended first."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.is_file() and rx.search(log.read_text(encoding="utf-8", errors="replace")):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    raise AssertionError(f"{pattern} not logged within {timeout:.0f} s; see {log}")


def _kill_worker(cluster_dir: Path) -> int:
    """SIGKILL the worker and its executors, as a lost machine: returns how many died."""
    pid = int((cluster_dir / "worker.pid").read_text())
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    pids = [int(p) for p in children.stdout.split()] + [pid]
    for p in pids:
        os.kill(p, signal.SIGKILL)
    return len(pids)


@pytest.mark.slow
def test_a_worker_lost_during_silver_is_replaced_and_the_tables_equal_an_uninterrupted_run(
    spark: SparkSession,
    repo: Path,
    cluster: dict[str, str],
    sample_conf: Config,
    tmp_path: Path,
) -> None:
    """The worker and its executors die mid-silver; a worker comes back and Spark runs the
    lost tasks there. The checkpoints are reliable on a cluster (spark.checkpoint: auto),
    so no stage needs blocks that died with the executor."""
    landing = tmp_path / "landing"
    for source in CLUSTER_SOURCES:
        shutil.copytree(Path(sample_conf.landing.root) / source, landing / source)
    env = {**cluster, "SPARK_SUBMIT_OPTS_EXTRA": CLUSTER_OPTS}

    def submit(root: Path, log: Path) -> subprocess.Popen:
        root.mkdir()
        stages = "pipeline.stages=[bronze, silver]"
        return start(
            repo, pipeline_args(cluster["master"], root, str(landing), "--set", stages), env, log
        )

    ref = submit(tmp_path / "ref", tmp_path / "ref.log")
    assert ref.wait(timeout=1800) == 0, tail(tmp_path / "ref.log")
    log = tmp_path / "lost.log"
    proc = submit(tmp_path / "lost", log)
    cluster_dir = Path(cluster["C360_CLUSTER_DIR"])
    assert _logged(log, r"stage=silver run_id=\S+ as_of=\S+ started", proc, 900), tail(log)
    time.sleep(4)  # into the sources' first jobs (about 10 s each here)
    assert proc.poll() is None, tail(log)
    assert _kill_worker(cluster_dir) >= 2  # the worker and at least one executor
    cluster_sh(repo, cluster, "start-worker")
    assert proc.wait(timeout=1800) == 0, tail(log)
    # the application got an executor on the new worker, and the tables are the same
    second = (cluster_dir / "worker.log").read_text().split("Successfully registered")[-1]
    assert "Asked to launch executor" in second, second[-2000:]
    layers = ("bronze", "silver")
    want = lake_checksums(spark, Lake(str(tmp_path / "ref" / "lake")), layers)
    got = lake_checksums(spark, Lake(str(tmp_path / "lost" / "lake")), layers)
    assert len(got) > 10 and got == want


@pytest.mark.slow
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
