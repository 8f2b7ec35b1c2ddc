"""Bad calls fail in one line, with a non-zero exit, and write nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


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
