"""Bad calls fail in one line, with a non-zero exit, and write nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession


def c360(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "c360.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def assert_one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("c360: error: ")
    assert needle in lines[0]


def test_missing_config(repo: Path, lake: Path) -> None:
    proc = c360("run", "--conf", "conf/nope.yaml", "--as-of", "2026-11-24", cwd=repo)
    assert_one_line_error(proc, "config file not found: conf/nope.yaml")


def test_malformed_yaml(repo: Path, tmp_path: Path, lake: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("lake: {root: [\n", encoding="utf-8")
    proc = c360("run", "--conf", str(bad), "--as-of", "2026-11-24", cwd=repo)
    assert_one_line_error(proc, "malformed YAML")
    assert not lake.exists()


def test_unknown_set_key(repo: Path, lake: Path) -> None:
    proc = c360(
        "run",
        "--as-of",
        "2026-11-24",
        "--set",
        f"lake.root={lake}",
        "--set",
        "lake.colour=red",
        cwd=repo,
    )
    assert_one_line_error(proc, "unknown config key 'lake.colour'")
    assert not lake.exists()


def test_unknown_stage(repo: Path, lake: Path) -> None:
    proc = c360(
        "run",
        "--stage",
        "platinum",
        "--as-of",
        "2026-11-24",
        "--set",
        f"lake.root={lake}",
        cwd=repo,
    )
    assert_one_line_error(proc, "unknown stage(s): platinum")
    assert not lake.exists()


@pytest.mark.parametrize("as_of", ["2026-13-01", "24/11/2026", "yesterday"])
def test_bad_as_of(repo: Path, lake: Path, as_of: str) -> None:
    proc = c360("run", "--as-of", as_of, "--set", f"lake.root={lake}", cwd=repo)
    assert_one_line_error(proc, f"bad --as-of '{as_of}'")
    assert not lake.exists()


def test_unwritable_lake_root(repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    proc = c360(
        "run",
        "--as-of",
        "2026-11-24",
        "--set",
        f"lake.root={blocker}/lake",
        "--set",
        "pipeline.stages=[bronze]",
        cwd=repo,
    )
    assert_one_line_error(proc, "cannot be written")


def test_missing_delta_jars(repo: Path, tmp_path: Path, lake: Path) -> None:
    proc = c360(
        "summary",
        "--set",
        f"lake.root={lake}",
        "--set",
        f"spark.jars_cache={tmp_path}/nojars",
        cwd=repo,
    )
    assert_one_line_error(proc, "Delta Lake jars not found")
    assert "scripts/setup.sh" in proc.stderr


def test_version(repo: Path) -> None:
    from importlib import metadata

    proc = c360("--version", cwd=repo)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"c360 {metadata.version('c360')}")


def test_an_unexpected_error_is_one_line_and_a_trace_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not one of c360's own errors (a bug, or the engine failing): exit 1, one line that
    names the file holding the whole traceback."""
    from c360.cli import run_guarded

    monkeypatch.setenv("C360_LOG_DIR", str(tmp_path / "logs"))

    def broken() -> int:
        return {"a": 1}["b"]  # a KeyError, as a bug raises it

    assert run_guarded(broken) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("c360: unexpected error: KeyError: 'b' ")
    (trace,) = (tmp_path / "logs").glob("c360-error-*.log")
    assert f"(full trace: {trace})" in err
    text = trace.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "in broken" in text
    assert oct(trace.stat().st_mode & 0o777) == "0o600"


def test_an_engine_error_prints_no_trace_on_the_console(
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A failed Spark task and an analysis error: PySpark's JSON copy of the error (its
    message and whole Java trace, on one line) is off, and the CLI's one line names the
    file with the whole trace. The JVM's own error lines carry no trace either (its
    stderr is not this process's to capture: the setting is checked)."""
    from pyspark.sql import functions as F

    from c360.cli import run_guarded
    from c360.logs import configure_logging

    monkeypatch.setenv("C360_LOG_DIR", str(tmp_path / "logs"))
    configure_logging("INFO", terminal=False)
    capfd.readouterr()
    assert run_guarded(lambda: spark.range(1).select(F.raise_error(F.lit("boom"))).collect()) == 1
    assert run_guarded(lambda: spark.sql("SELECT no_such_column").collect()) == 1
    err = capfd.readouterr().err.splitlines()
    ours = [line for line in err if line.startswith("c360: unexpected error: ")]
    assert len(ours) == 2 and "AnalysisException" in ours[1]
    assert [line for line in err if line.startswith(("\tat ", "{", "Caused by"))] == []
    assert len(err) <= 6, err  # ours, and Spark's few ERROR lines of the failed task
    traces = sorted((tmp_path / "logs").glob("c360-error-*.log"))
    assert len(traces) == 2 and all("Traceback" in t.read_text("utf-8") for t in traces)
    log4j = (Path(__file__).parents[1] / "lib/c360/log4j2.properties").read_text("utf-8")
    assert "appender.stderr.layout.alwaysWriteExceptions = false" in log4j
    assert "%ex" not in log4j and "%throwable" not in log4j


def test_run_help_lists_the_stages(capsys: pytest.CaptureFixture[str]) -> None:
    from c360.cli import build_parser
    from c360.stages import STAGES

    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["run", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "stage to run (repeatable): " + ", ".join(STAGES) in text
    assert "maintain" in STAGES and "maintain" in text
