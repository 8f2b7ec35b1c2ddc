"""Benchmark: generate the synthetic world at a scale, then load it into bronze.

    .venv/bin/python scripts/bench/ingest.py --persons 40000 --out bench/results

Reports seconds, source records, rows per second and the peak resident memory of the
Spark driver JVM (local mode: the whole engine), and writes JSON and markdown results.
Not run in CI; no test asserts a time.
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
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    args = parser.parse_args()

    from c360.bronze import ingest  # noqa: F401  (import cost outside the timings)
    from c360.config import load_config
    from c360.generate.export import generate
    from c360.logs import configure_logging
    from c360.runner import run_stages
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
        ],
    )
    configure_logging("WARNING")
    spark = build_spark(conf)
    result: dict[str, object] = {
        "benchmark": "generate+bronze",
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
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        rows = generate(spark, conf)
        t_gen = time.perf_counter() - t0
        t1 = time.perf_counter()
        run_stages(spark, conf, dt.date(2026, 11, 3), ["bronze"])
        t_bronze = time.perf_counter() - t1
    n = sum(rows.values())
    result.update(
        source_records=n,
        generate_seconds=round(t_gen, 1),
        generate_rows_per_second=round(n / t_gen),
        bronze_seconds=round(t_bronze, 1),
        bronze_rows_per_second=round(n / t_bronze),
        peak_jvm_rss_gb=round(mem.peak / 1e9, 2),
        loadavg_end=os.getloadavg(),
    )
    spark.stop()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"ingest_{args.persons}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{stem}.md").write_text(
        "| persons | source records | generate s | generate rows/s | bronze s | bronze rows/s | peak JVM RSS GB |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| {args.persons:,} | {n:,} | {t_gen:.0f} | {n / t_gen:,.0f} | {t_bronze:.0f} | {n / t_bronze:,.0f} "
        f"| {mem.peak / 1e9:.2f} |\n"
    )
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
