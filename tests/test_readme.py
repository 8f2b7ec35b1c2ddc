"""The README's reader snippet runs for real against a lake the pipeline wrote."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from c360.config import Config
from c360.runner import run_stages


def snippet(repo: Path) -> str:
    text = (repo / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- reader-snippet:start -->\s*```python\n(.*?)```", text, re.S)
    assert block, "README lost its reader snippet"
    return block.group(1)


def test_readme_reader_snippet(
    spark: SparkSession,
    conf: Config,
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_stages(spark, conf, dt.date(2026, 11, 3), ["bronze"])  # nothing landed: still logs the run
    (tmp_path / "demo").mkdir()
    os.symlink(conf.lake.root, tmp_path / "demo" / "lake")
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet(repo), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "('bronze', 'succeeded'" in out and "'running'" not in out


def test_readme_names_the_two_commands(repo: Path) -> None:
    text = (repo / "README.md").read_text(encoding="utf-8")
    assert "scripts/demo.sh" in text and "scripts/test.sh" in text
    ci = (repo / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/test.sh" in ci
