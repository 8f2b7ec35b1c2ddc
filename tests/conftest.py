"""One session-scoped, Delta-enabled Spark for the whole suite, and a fresh lake per test."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from c360.config import Config, load_config
from c360.session import build_spark

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# The pseudonymize stage's HMAC key; subprocesses (c360, spark-submit) inherit it.
os.environ.setdefault("C360_PSEUDONYM_KEY", "c360-test-key-not-a-secret")

_CONFIG: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    _CONFIG.append(config)


# Caches a run may fill (bytecode, jars, the JVM class archive), not output.
_CACHES = (".cache/", ".pytest_cache/", ".ruff_cache/", ".venv/")


def repo_leftovers(repo: Path = REPO) -> set[str]:
    """Untracked and ignored paths in the checkout, less caches: ignored directories count
    as one entry (``lake/``), so a test that writes a lake into the checkout shows."""
    proc = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=normal", "--ignored=traditional"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:  # not a git checkout (an unpacked sdist): nothing to compare
        return set()
    paths = {line[3:] for line in proc.stdout.splitlines() if line[:2] in ("??", "!!")}
    return {p for p in paths if not p.startswith(_CACHES) and "__pycache__" not in p}


_LEFT_BEFORE: set[str] = set()


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, not an xdist worker
        _LEFT_BEFORE.update(repo_leftovers())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when the suite left files in the checkout: tests write under
    ``tmp_path`` or the system temp folder only."""
    if hasattr(session.config, "workerinput") or session.config.option.collectonly:
        return
    left = sorted(repo_leftovers() - _LEFT_BEFORE)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"FAILED: the test run left {len(left)} path(s) in the checkout: "
                + ", ".join(left[:10]),
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Print a failure or a fixture error as it happens, not only in the end summary: a CI
    run stopped by its time limit never reaches the summary."""
    if not report.failed or not _CONFIG:
        return
    reporter = _CONFIG[0].pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        text = report.longreprtext
        reporter.write_line(f"\n[{report.when} failed] {report.nodeid}\n{text[-3000:]}")


# Units of work, longest first (``--durations``); the rest follow in file order. Every
# file is one unit (its module fixtures, the standalone cluster or the bad-input corpus,
# are built once), and the workers take units in this order, one at a time (longest
# processing time first). The built worlds are shared by every worker (``build_once``): the
# first unit asks for the world and builds it while the other worker runs the longest
# units that do not need it; by the time those end, the world is there for both.
LONGEST_FIRST = (
    "test_privacy.py",
    "test_identity_stage.py",
    "test_bad_input.py",
    "test_gold_stage.py",
    "test_silver_stage.py",
    "test_identity_accuracy.py",
    "test_spark_submit.py",
    "test_activation_measurement.py",
    "test_activation_plan.py",
    "test_ml.py",
    "test_generate.py",
    "test_bronze.py",
    "test_identity_ids.py",
    "test_cli.py",
)


def unit_of_work(path: str) -> str:
    """The xdist unit a test file belongs to: the file."""
    return Path(path).name


def _rank(unit: str) -> int:
    return LONGEST_FIRST.index(unit) if unit in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest units first (stable: files and tests keep their order otherwise)."""
    items.sort(key=lambda item: _rank(unit_of_work(str(item.path))))


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        """Units handed out in collection order (above), not xdist's by-count order.
        (pytest-xdist 3.8's own ``loadgroup`` has no effect on pytest 9.2: it renames
        ``item._nodeid``, which pytest 9 no longer reads.)"""

        def _split_scope(self, nodeid: str) -> str:
            return unit_of_work(nodeid.split("::", 1)[0])

    config.option.loadscopereorder = False
    return ByUnit(config, log)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def base_conf(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """conf/test.yaml: local[2], 1 shuffle partition, UI off, UTC, ERROR logs."""
    root = tmp_path_factory.mktemp("session-lake")
    return load_config(
        REPO / "conf" / "test.yaml",
        [f"spark.jars_cache={REPO / '.cache' / 'ivy'}", f"lake.root={root}"],
    )


@pytest.fixture(scope="session")
def spark(base_conf: Config) -> Iterator[SparkSession]:
    # hadoop-aws on the class path too, for the tests of a lake on S3 (s3_root)
    session = build_spark(base_conf.with_overrides(["spark.s3a_jars=true"]))
    yield session
    session.stop()


# Dummy credentials: moto accepts any. They exist only here and in the session's Hadoop
# configuration (never in config files, code paths of the package, or logs).
S3_KEY, S3_SECRET = "c360-test-access-key", "c360-test-secret-key"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto's server mode) on 127.0.0.1, one per worker."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3a_settings(endpoint: str) -> dict[str, str]:
    """The s3a client's settings for the test server: path-style, plain HTTP, the dummy
    credentials, and no retry storm when a test expects a failure."""
    return {
        "fs.s3a.endpoint": endpoint,
        "fs.s3a.endpoint.region": "us-east-1",
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": "false",
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "fs.s3a.access.key": S3_KEY,
        "fs.s3a.secret.key": S3_SECRET,
        "fs.s3a.attempts.maximum": "1",
        "fs.s3a.retry.limit": "1",
    }


@pytest.fixture
def s3_root(spark: SparkSession, s3_endpoint: str) -> str:
    """A fresh bucket on the test server; returns ``s3a://<bucket>/lake``. The s3a client
    of the shared session points at the server (every s3a URI of a test does)."""
    import uuid

    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    for key, value in s3a_settings(s3_endpoint).items():
        hadoop.set(key, value)
    bucket = f"c360-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3a://{bucket}/lake"


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    """A boto3 client of the test server, with the dummy credentials."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
    )


@pytest.fixture
def conf(base_conf: Config, tmp_path: Path) -> Config:
    """The test config pointed at a fresh lake root and landing folder for this test."""
    return base_conf.with_overrides(
        [f"lake.root={tmp_path / 'lake'}", f"landing.root={tmp_path / 'landing'}"]
    )


@pytest.fixture(scope="session")
def sample_conf(base_conf: Config, world: Path, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The small world's landed files and truth (read only), with a fresh lake of this
    worker's for the tests that load them again."""
    root = tmp_path_factory.mktemp("sample")
    return base_conf.with_overrides(
        [
            *SMALL_WORLD,
            f"landing.root={world / 'landing'}",
            f"generator.truth_root={world / 'truth'}",
            f"lake.root={root / 'lake'}",
        ]
    )


@pytest.fixture(scope="session")
def sample(world: Path) -> dict[str, int]:
    """Records the generator landed per source in the small world."""
    return json.loads((world / "generated.json").read_text(encoding="utf-8"))


def copy_world(world: Path, dest: Path, parts: tuple[str, ...] = ("lake",)) -> Path:
    """A private copy of parts of a built world, for a test that runs stages on it: the
    world itself is read by both workers at once and must not change."""
    for part in parts:
        shutil.copytree(world / part, dest / part)
    return dest


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


DEFAULT_AS_OF = "2026-11-03"  # the default sample's last daily batch


def c360(
    repo: Path, *args: str, timeout: int = 1800, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "c360.cli", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


# The world every default-tier test that needs realistic landed data shares: the default
# generator (households, nicknames, typos, moves, twelve campaigns with control groups) at
# 300 persons and 12 companies, run through the whole pipeline once. Cheap enough for
# the default tier (about 6 minutes), big enough that every stage has real work.
SMALL_WORLD = [
    "generator.persons=300",
    "generator.companies=12",
    "ml.gbt.max_iter=5",  # the models' quality is the slow tier's (default_world) to test
]


def sets(root: Path, lake: str = "lake", shuffle_partitions: int = 4) -> list[str]:
    out = []
    for key, value in (
        ("lake.root", root / lake),
        ("landing.root", root / "landing"),
        ("generator.truth_root", root / "truth"),
        ("activation.export_root", root / "exports"),
        ("ml.model_root", root / "models"),
        ("spark.driver_memory", "6g"),
        ("spark.shuffle_partitions", shuffle_partitions),
    ):
        out += ["--set", f"{key}={value}"]
    return out


# Fellegi-Sunter on the small world runs on DuckDB, as conf/local.yaml (the demo) has it:
# a third of the Spark engine's time here. The Spark engine is tested on hand-built records
# (test_identity_fs, both engines on the same pairs) and on the slow tier's default world.
SMALL_WORLD_IDENTITY = ["identity.engine=duckdb", "identity.duckdb_memory_limit=2GB"]


def world_sets(root: Path) -> list[str]:
    """The ``--set`` arguments of the small world at ``root`` (the tests that run more
    stages on its landed files use the same config, so their tables compare equal)."""
    extra = [*SMALL_WORLD, *SMALL_WORLD_IDENTITY]
    return [*sets(root, shuffle_partitions=1), *(a for o in extra for a in ("--set", o))]


_LANDED = re.compile(r"^  (\w+)\s+([\d,]+)$", re.M)  # a source's line in `c360 generate`


def build_world(repo: Path, root: Path, world_args: list[str]) -> Path:
    """Generate a world at ``root`` and run the whole pipeline on it with the ``c360``
    command in a subprocess (its own JVM, as a user runs it)."""
    gen = c360(repo, "generate", "--conf", "conf/test.yaml", *world_args)
    counts = {m[1]: int(m[2].replace(",", "")) for m in _LANDED.finditer(gen.stdout)}
    (root / "generated.json").write_text(json.dumps(counts), encoding="utf-8")
    # INFO logs, kept in run.log: test_privacy greps them for the sample's emails and phones.
    proc = c360(
        repo,
        "run",
        "--conf",
        "conf/test.yaml",
        "--as-of",
        DEFAULT_AS_OF,
        *world_args,
        "--set",
        "logging.level=INFO",
        "--set",
        "spark.log_level=WARN",  # as the demo has it: test_platform checks what it prints
    )
    (root / "run.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    return root


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every pytest-xdist worker of this run shares (their base temps' parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if "PYTEST_XDIST_WORKER" in os.environ else base


def build_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]
) -> Path:
    """``build(folder)`` once per test run, whichever worker asks first; the other waits
    for it (a lock file in the shared folder) and then reads the same folder."""
    shared = shared_root(tmp_path_factory)
    root = shared / name
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (root / "run.log").is_file():
            return root
        shutil.rmtree(root, ignore_errors=True)  # a build that failed on the other worker
        root.mkdir()
        return build(root)


def reuse_or_build_world(
    repo: Path,
    tmp_path_factory: pytest.TempPathFactory,
    variable: str,
    name: str,
    world_args: Callable[[Path], list[str]],
) -> Path:
    """The world named by the environment variable ``variable`` when set (a folder with
    its ``run.log``, say a ``world`` left by an earlier session, to skip building it when
    working on its tests; the tests that rerun stages on it expect it unchanged since its
    run), else one built once for the whole test run under the shared folder ``name``."""
    given = os.environ.get(variable)
    if given:
        if not (Path(given) / "run.log").is_file():
            raise pytest.UsageError(f"{variable}={given}: no finished world there")
        return Path(given)
    return build_once(
        tmp_path_factory, name, lambda root: build_world(repo, root, world_args(root))
    )


@pytest.fixture(scope="session")
def world(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small world (``SMALL_WORLD``) through the whole pipeline, built once for both
    workers: the default tier's bronze, silver, generator, reconciliation, privacy,
    activation, ML, identity-accuracy and spark-submit tests read it (read only: a test
    that runs a stage on it works on a ``copy_world``). ``C360_SMALL_WORLD`` reuses one
    already built."""
    return reuse_or_build_world(repo, tmp_path_factory, "C360_SMALL_WORLD", "world", world_sets)


# The slow tier's default world runs with the production JIT and whole-stage code
# generation (conf/test.yaml turns both off for speed), so that path stays tested.
CODEGEN_ON = [
    "spark.conf.spark.sql.codegen.wholeStage=true",
    "spark.conf.spark.sql.codegen.factoryMode=FALLBACK",
    "spark.conf.spark.driver.extraJavaOptions=",
]


def default_world_sets(root: Path) -> list[str]:
    return [*sets(root), *(a for o in CODEGEN_ON for a in ("--set", o))]


@pytest.fixture(scope="session")
def default_world(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sample (conf/base.yaml's generator: 2,000 persons, 80 companies) through
    the whole pipeline: the slow tier's statistical gates (lift recovered and detected,
    models against the baseline, identity accuracy at this scale) need its numbers.
    ``C360_DEFAULT_WORLD`` reuses one already built."""
    return reuse_or_build_world(
        repo, tmp_path_factory, "C360_DEFAULT_WORLD", "default-world", default_world_sets
    )
