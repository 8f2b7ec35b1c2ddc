"""Benchmark: generate the synthetic world at a scale, then run pipeline stages on it.

    .venv/bin/python scripts/bench/pipeline.py --persons 40000 --stages bronze silver

Reports seconds and rows per second per step (generate, then each stage), and the peak
resident memory of the Spark driver JVM (local mode: the whole engine), and writes JSON
and markdown results to ``bench/results/pipeline_<persons>.{json,md}``. A second run of
the last stage on the same input measures the no-op rerun. Not run in CI; no test
asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _jvm_rss_bytes() -> int:
    """Sum of resident memory of this process's java children (the Spark JVM)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().split()
            if int(fields[3]) != os.getpid():
                continue
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return total


class PeakMemory:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, _jvm_rss_bytes())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=40000)
    parser.add_argument("--companies", type=int, default=None)
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--stages", nargs="+", default=["bronze", "silver"])
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    args = parser.parse_args()

    from c360.config import load_config
    from c360.generate.export import generate
    from c360.logs import configure_logging
    from c360.runner import load_stage, run_stages
    from c360.session import build_spark

    work = Path(tempfile.mkdtemp(prefix="c360-bench-"))
    companies = args.companies if args.companies is not None else max(10, args.persons // 25)
    conf = load_config(
        args.conf,
        [
            f"generator.persons={args.persons}",
            f"generator.companies={companies}",
            f"landing.root={work / 'landing'}",
            f"generator.truth_root={work / 'truth'}",
            f"lake.root={work / 'lake'}",
            f"activation.export_root={work / 'exports'}",
            f"ml.model_root={work / 'models'}",
        ],
    )
    configure_logging("WARNING")
    spark = build_spark(conf)
    result: dict[str, object] = {
        "benchmark": "generate+" + "+".join(args.stages),
        "date": dt.date.today().isoformat(),
        "persons": args.persons,
        "companies": companies,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {"spark": spark.version},
        "loadavg_start": os.getloadavg(),
    }
    for stage in args.stages:
        load_stage(stage)  # import cost outside the timings
    as_of = dt.date(2026, 11, 3)
    steps: list[tuple[str, float, int]] = []
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        rows = generate(spark, conf)
        n = sum(rows.values())
        steps.append(("generate", time.perf_counter() - t0, n))
        for stage in args.stages:
            t1 = time.perf_counter()
            res = run_stages(spark, conf, as_of, [stage])[stage]
            steps.append((stage, time.perf_counter() - t1, sum(res.rows_read.values())))
        t2 = time.perf_counter()
        run_stages(spark, conf, as_of, [args.stages[-1]])
        steps.append((f"{args.stages[-1]} rerun (no new input)", time.perf_counter() - t2, 0))
    result.update(
        source_records=n,
        steps=[
            {
                "step": name,
                "seconds": round(secs, 1),
                "rows_in": rows_in,
                "rows_per_second": round(rows_in / secs) if rows_in else None,
            }
            for name, secs, rows_in in steps
        ],
        peak_jvm_rss_gb=round(mem.peak / 1e9, 2),
        loadavg_end=os.getloadavg(),
    )
    spark.stop()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"pipeline_{args.persons}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"{args.persons:,} persons, {companies:,} companies: {n:,} source records; "
        f"peak JVM RSS {mem.peak / 1e9:.2f} GB",
        "",
        "| step | seconds | rows in | rows/s |",
        "|---|---|---|---|",
        *[
            f"| {name} | {secs:.0f} | {rows_in:,} | {f'{rows_in / secs:,.0f}' if rows_in else '-'} |"
            for name, secs, rows_in in steps
        ],
    ]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
