"""One session-scoped, Delta-enabled Spark for the whole suite, and a fresh lake per test."""

from __future__ import annotations

import os
import re
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


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Print a failure or a fixture error as it happens, not only in the end summary: a CI
    run stopped by its time limit never reaches the summary."""
    if not report.failed or not _CONFIG:
        return
    reporter = _CONFIG[0].pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        text = report.longreprtext
        reporter.write_line(f"\n[{report.when} failed] {report.nodeid}\n{text[-3000:]}")


# The test files that use a built world (``world``, and ``default_world`` in the slow tier). Under pytest-xdist
# (scripts/test.sh) they form one unit of work, so one worker builds that world once;
# every other file is its own unit, so its module fixtures (the standalone cluster, the
# bad-input corpus) are built once too. (pytest-xdist 3.8's own ``loadgroup`` has no
# effect on pytest 9.2: it renames ``item._nodeid``, which pytest 9 no longer reads.)
DEFAULT_WORLD_FILES = frozenset(
    {
        "test_activation_measurement.py",
        "test_identity_accuracy.py",
        "test_ml.py",
        "test_privacy.py",
        "test_reconcile.py",
    }
)
DEFAULT_WORLD = "default_world"  # their unit of work
WORLD_FIXTURES = frozenset({"world", "default_world"})

# Units of work, longest first (``--durations``); the rest follow in file order. The
# workers take units in this order, one at a time, so the two longest start at once on
# different workers and the short files fill in at the end (longest processing time
# first). xdist's own order, by number of tests, started the spark-submit module (four
# tests, ~20 minutes) last and ran CI out of time.
LONGEST_FIRST = (
    DEFAULT_WORLD,
    "test_silver_stage.py",
    "test_spark_submit.py",
    "test_bad_input.py",
    "test_identity_stage.py",
    "test_identity_ids.py",
    "test_cli.py",
    "test_gold_stage.py",
    "test_activation_plan.py",
    "test_bronze.py",
)


def unit_of_work(path: str) -> str:
    """The xdist unit a test file belongs to."""
    name = Path(path).name
    return DEFAULT_WORLD if name in DEFAULT_WORLD_FILES else name


def _rank(unit: str) -> int:
    return LONGEST_FIRST.index(unit) if unit in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest units first (stable: files and tests keep their order otherwise). A test of
    another file that uses the default world would build it a second time on the other
    worker: name its file above."""
    strays = sorted(
        {
            item.path.name
            for item in items
            if WORLD_FIXTURES & set(getattr(item, "fixturenames", ()))
            and item.path.name not in DEFAULT_WORLD_FILES
        }
    )
    if strays:
        raise pytest.UsageError(f"add {', '.join(strays)} to conftest.DEFAULT_WORLD_FILES")
    items.sort(key=lambda item: _rank(unit_of_work(str(item.path))))


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        """Units handed out in collection order (above), not xdist's by-count order."""

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
    session = build_spark(base_conf)
    yield session
    session.stop()


@pytest.fixture
def conf(base_conf: Config, tmp_path: Path) -> Config:
    """The test config pointed at a fresh lake root and landing folder for this test."""
    return base_conf.with_overrides(
        [f"lake.root={tmp_path / 'lake'}", f"landing.root={tmp_path / 'landing'}"]
    )


SAMPLE_OVERRIDES = [
    "generator.persons=200",
    "generator.companies=8",
    "generator.campaigns=4",
    "generator.daily_batches=2",
]


@pytest.fixture(scope="session")
def sample_conf(base_conf: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A small generated world shared by the tests that need realistic landed data."""
    root = tmp_path_factory.mktemp("sample")
    return base_conf.with_overrides(
        [
            *SAMPLE_OVERRIDES,
            f"landing.root={root / 'landing'}",
            f"generator.truth_root={root / 'truth'}",
            f"lake.root={root / 'lake'}",
        ]
    )


@pytest.fixture(scope="session")
def sample(spark: SparkSession, sample_conf: Config) -> dict[str, int]:
    """Generate the sample once per session; returns records landed per source."""
    from c360.generate.export import generate

    return generate(spark, sample_conf)


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


def c360(repo: Path, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "c360.cli", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


# The world every default-tier test of the DEFAULT_WORLD_FILES shares: the default
# generator (households, nicknames, typos, moves, twelve campaigns with control groups) at
# 300 persons and 12 companies, run through the whole pipeline once. Cheap enough for
# the default tier (about 6 minutes), big enough that every stage has real work.
SMALL_WORLD = ["generator.persons=300", "generator.companies=12"]


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


def world_sets(root: Path) -> list[str]:
    """The ``--set`` arguments of the small world at ``root`` (the tests that run more
    stages on its landed files use the same config, so their tables compare equal)."""
    return [*sets(root, shuffle_partitions=1), *(a for o in SMALL_WORLD for a in ("--set", o))]


def build_world(repo: Path, root: Path, world_args: list[str]) -> Path:
    """Generate a world at ``root`` and run the whole pipeline on it with the ``c360``
    command in a subprocess (its own JVM, as a user runs it)."""
    c360(repo, "generate", "--conf", "conf/test.yaml", *world_args)
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
    )
    (root / "run.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    return root


def reuse_or_build_world(
    repo: Path,
    tmp_path_factory: pytest.TempPathFactory,
    variable: str,
    name: str,
    world_args: Callable[[Path], list[str]],
) -> Path:
    """The world named by the environment variable ``variable`` when set (a folder with
    its ``run.log``, say a ``world0`` left by an earlier session, to skip building it when
    working on its tests; the tests that rerun stages on it expect it unchanged since its
    run), else a new one built under a temporary folder ``name``."""
    given = os.environ.get(variable)
    if given:
        if not (Path(given) / "run.log").is_file():
            raise pytest.UsageError(f"{variable}={given}: no finished world there")
        return Path(given)
    root = tmp_path_factory.mktemp(name)
    return build_world(repo, root, world_args(root))


@pytest.fixture(scope="session")
def world(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small world (``SMALL_WORLD``) through the whole pipeline: the default tier's
    reconciliation, privacy, activation, ML and identity-accuracy tests read it.
    ``C360_SMALL_WORLD`` reuses one already built."""
    return reuse_or_build_world(repo, tmp_path_factory, "C360_SMALL_WORLD", "world", world_sets)


@pytest.fixture(scope="session")
def default_world(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sample (conf/base.yaml's generator: 2,000 persons, 80 companies) through
    the whole pipeline: the slow tier's statistical gates (lift recovered and detected,
    models against the baseline, identity accuracy at this scale) need its numbers.
    ``C360_DEFAULT_WORLD`` reuses one already built."""
    return reuse_or_build_world(repo, tmp_path_factory, "C360_DEFAULT_WORLD", "default-world", sets)
