"""Incremental equals full (issue 28's guard): on the default sample, day 1 and then an
incremental day 2 (identity re-clusters only the changed components, reconcile checks
only the day's files, silver skips sources without a new file, the links of unchanged
records are kept) leave every silver and gold table with the same content checksum
(``c360 checksum``) as the same day 2 recomputed in full from the same lake and files.

Slow tier: three whole pipeline runs on the default world's landed files."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from c360.checksum import lake_checksums
from c360.config import Config
from c360.lake import Lake
from c360.runner import resolve_stages, run_stages

DAY1, DAY2 = dt.date(2026, 11, 2), dt.date(2026, 11, 3)
DAY2_BATCH = "20261103-delta"  # the default sample's last daily batch, held back on day 1
FULL = ["identity.full_pass=true", "reconcile.scope=full"]


def hold_back(landing: Path, held: Path) -> int:
    """Move every source's day-2 batch out of the landing folder; returns how many."""
    moved = 0
    for batch in sorted(landing.glob(f"*/{DAY2_BATCH}")):
        dest = held / batch.parent.name / batch.name
        dest.parent.mkdir(parents=True)
        shutil.move(batch, dest)
        moved += 1
    return moved


def land(held: Path, landing: Path) -> None:
    for batch in sorted(held.glob(f"*/{DAY2_BATCH}")):
        shutil.move(batch, landing / batch.parent.name / batch.name)


def at(base: Config, root: Path, landing: Path, extra: list[str] | None = None) -> Config:
    return base.with_overrides(
        [
            f"lake.root={root / 'lake'}",
            f"landing.root={landing}",
            f"activation.export_root={root / 'exports'}",
            f"ml.model_root={root / 'models'}",
            *(extra or []),
        ]
    )


@pytest.mark.slow
def test_incremental_day2_equals_the_full_recompute(
    spark: SparkSession,
    base_conf: Config,
    default_world: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    landing, held = tmp_path / "landing", tmp_path / "held"
    shutil.copytree(default_world / "landing", landing)
    assert hold_back(landing, held) > 0
    a, b = tmp_path / "a", tmp_path / "b"
    conf = at(base_conf, a, landing, [f"generator.truth_root={default_world / 'truth'}"])
    stages = resolve_stages(None, conf)
    run_stages(spark, conf, DAY1, stages)

    land(held, landing)
    shutil.copytree(a, b)  # the same lake, exports and models after day 1
    with caplog.at_level(logging.INFO, logger="c360"):
        run_stages(spark, conf, DAY2, stages)
    assert "pass=changed components" in caplog.text  # day 2 really was incremental
    caplog.clear()
    full = at(conf, b, landing, FULL)
    with caplog.at_level(logging.INFO, logger="c360"):
        run_stages(spark, full, DAY2, stages)
    assert "pass=full (identity.full_pass)" in caplog.text

    layers = ("silver", "gold")
    incremental = lake_checksums(spark, Lake.from_config(conf), layers)
    recomputed = lake_checksums(spark, Lake.from_config(full), layers)
    assert sorted(incremental) == sorted(recomputed)
    assert len(incremental) > 20
    differ = [
        f"{incremental[t]} vs {recomputed[t]}"
        for t in incremental
        if incremental[t] != recomputed[t]
    ]
    assert differ == []
