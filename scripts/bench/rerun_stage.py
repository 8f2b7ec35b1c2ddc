"""Profile one stage of a day that already ran: rewind a copy of the lake to just before
that stage ran for that date, run it again, and report its steps.

    .venv/bin/python scripts/bench/rerun_stage.py --lake /tmp/r1m/work/lake-0 \\
        --stage identity --as-of 2026-11-02 --repeats 2 --set spark.driver_memory=12g

A whole ``run.py`` call at 1M takes half an hour to reach day 2's identity stage; this
takes the stage's own minutes, so a change to one stage can be measured before and after
on the same input. The lake given is never written: it is copied to ``--work`` (local
lakes only), and in the copy every Delta table is restored to its last version committed
before the stage's start in ``ops.job_runs`` (tables created later are removed). Each
repeat starts from that rewound copy. Seconds per ``step=`` line (the library's progress
lines) go to stdout as a markdown table, the median over the repeats. Not run in CI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import REPO, StepTimes


def stage_start(spark, lake: str, stage: str, as_of: dt.date) -> dt.datetime:
    """When the stage's last successful run for ``as_of`` started (ops.job_runs)."""
    from pyspark.sql import functions as F

    row = (
        spark.read.format("delta")
        .load(f"{lake}/ops/job_runs")
        .filter(
            (F.col("stage") == stage) & (F.col("as_of") == as_of) & (F.col("status") == "succeeded")
        )
        .agg(F.max("started_at").alias("t"))
        .first()
    )
    if row is None or row.t is None:
        raise SystemExit(f"ops.job_runs has no succeeded run of {stage} for {as_of} in {lake}")
    return row.t


def rewind(spark, lake: str, before: dt.datetime) -> list[str]:
    """Every table of the (copied) lake as it was at ``before``; returns what changed."""
    from pyspark.sql import functions as F

    from c360.lake import Lake

    changed = []
    for name in Lake(root=lake).tables(spark):
        path = f"{lake}/{name.replace('.', '/')}"
        history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`")
        kept = history.filter(F.col("timestamp") < F.lit(before)).agg(F.max("version")).first()[0]
        latest = history.agg(F.max("version")).first()[0]
        if kept is None:  # made by the stage itself (or later)
            shutil.rmtree(path)
            changed.append(f"{name} removed")
        elif kept != latest:
            spark.sql(f"RESTORE TABLE delta.`{path}` TO VERSION AS OF {kept}")
            changed.append(f"{name} v{latest} -> v{kept}")
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lake", required=True, help="a lake run.py kept (not written)")
    parser.add_argument("--stage", required=True)
    parser.add_argument("--as-of", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--work", default=None, help="scratch folder (default: a temp one)")
    parser.add_argument("--set", action="append", default=[], help="config override")
    args = parser.parse_args()

    from c360.config import load_config
    from c360.logs import configure_logging
    from c360.runner import load_stage, run_stages
    from c360.session import build_spark

    work = Path(args.work or tempfile.mkdtemp(prefix="c360-rerun-"))
    base, trial = work / "base", work / "trial"
    conf = load_config(args.conf, [*args.set, f"lake.root={trial}"])
    configure_logging("WARNING")
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
    spark = build_spark(conf)
    load_stage(args.stage)
    source = str(Path(args.lake).resolve())
    before = stage_start(spark, source, args.stage, args.as_of)
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(source, base, ignore=shutil.ignore_patterns("_c360.lock"))
    for line in rewind(spark, str(base), before):
        sys.stderr.write(f"[rerun] {line}\n")
    runs: list[dict[str, float]] = []
    jobs: dict[str, int] = {}  # per step, first repeat (a step in threads counts its peers')
    for n in range(args.repeats):
        shutil.rmtree(trial, ignore_errors=True)
        shutil.copytree(base, trial)
        t0 = time.perf_counter()
        with StepTimes() as inner:
            run_stages(spark, conf, args.as_of, [args.stage])
        steps: dict[str, float] = {"(stage)": round(time.perf_counter() - t0, 1)}
        for s in inner.steps:
            steps[str(s["step"])] = steps.get(str(s["step"]), 0.0) + float(s["seconds"])
            if n == 0 and s.get("jobs") is not None:
                jobs[str(s["step"])] = jobs.get(str(s["step"]), 0) + int(s["jobs"])
        runs.append(steps)
        sys.stderr.write(f"[rerun] repeat {n + 1}: {steps['(stage)']} s\n")
    spark.stop()
    names = list(runs[0])
    sys.stdout.write(
        f"| step ({args.stage}, {args.as_of}) | median s | each | jobs (first) |\n"
        "|---|---|---|---|\n"
    )
    for name in names:
        each = [round(r.get(name, 0.0), 1) for r in runs]
        sys.stdout.write(
            f"| {name} | {statistics.median(each):.1f} | {each} | {jobs.get(name, '-')} |\n"
        )


if __name__ == "__main__":
    main()
