"""Benchmark the whole pipeline at a scale: stages, IO floor, day-2 batch, identity vs Splink.

    .venv/bin/python scripts/bench/run.py --records 100000 --repeats 3
    .venv/bin/python scripts/bench/run.py --records 1000000 --repeats 3
    .venv/bin/python scripts/bench/run.py --summary            # only rewrite summary.md

One call generates the synthetic world once (about ``--records`` source records: a full
dump dated ``generator.start_date`` plus one daily delta), then ``--repeats`` times, each
on a fresh lake:

1. the IO floor: Spark reads the full dump's landed files (CSV with its header, delimiter
   and encoding; JSON lines) and writes each source once as Delta, nothing else;
2. the full load: every stage of ``pipeline.stages`` on the full dump, timed one by one
   (rows in and out from the stage's own counts), with the peak resident memory of the
   Spark JVM (local mode: the whole engine);
3. day 2: the delta batch is landed and every stage runs again for the next date.

Every stage reports its seconds, rows, Spark jobs started and Delta commits written
(``c360.meter``, filled in by the run loop), so a change to fixed cost shows as fewer
jobs and commits, not only as seconds.

After the repeats, Splink 5 on DuckDB resolves exactly the party records silver made
(scripts/bench/identity.py's settings), and both it and our identity stage are scored
against the generator's truth. Reported: the median of the repeats, with every repeat's
numbers and the load average around it. Results go to
``bench/results/bench_<records>.{json,md}``; ``summary.md`` puts every scale measured so
far beside the targets. Not run in CI; no test asserts a time.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import PeakMemory  # noqa: E402

RECORDS_PER_PERSON = 23.7  # the generator's source records per person (companies included)
TARGETS = {
    "pipeline_over_floor_at_1m": 5.0,  # the compass
    "pipeline_over_floor_at_1m_round": 20.0,  # issue 28's round
    "scale_5m_over_1m": 5.5,
    "day2_over_full": 0.15,  # with a 1% day 2 (--day2-share 0.01)
}


def label(records: int) -> str:
    if records >= 1_000_000 and records % 1_000_000 == 0:
        return f"{records // 1_000_000}m"
    if records >= 1000 and records % 1000 == 0:
        return f"{records // 1000}k"
    return str(records)


def machine() -> dict[str, object]:
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    out = {}
    for dist in ("pyspark", "delta-spark", "splink", "duckdb", "pandas", "pyarrow"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


def hold_deltas(landing: Path, held: Path) -> int:
    """Move every daily delta batch out of the landing folder; returns its file count."""
    n = 0
    for batch in sorted(p for p in landing.glob("*/*-delta") if p.is_dir()):
        dest = held / batch.parent.name / batch.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        n += sum(1 for f in batch.iterdir() if f.is_file())
        batch.rename(dest)
    return n


def _records(path: Path, spec) -> tuple[list[str] | None, list]:
    """A landed file's header (None for JSON lines) and its records, as the source wrote
    them (quoted newlines stay inside their record)."""
    # surrogateescape: a line the generator cut inside a character is kept byte for byte
    if spec.format == "jsonl":
        return None, path.read_text(spec.encoding, "surrogateescape").splitlines()
    enc = "utf-8-sig" if spec.encoding.upper().replace("-", "") == "UTF8" else spec.encoding
    with path.open(encoding=enc, errors="surrogateescape", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=spec.delimiter, quotechar=spec.quote))
    return (rows[0], rows[1:]) if rows else ([], [])


def _write_records(path: Path, spec, header: list[str] | None, rows: list) -> None:
    from c360.generate.export import BOM, BOM_SOURCES

    with path.open("w", encoding=spec.encoding, errors="surrogateescape", newline="") as fh:
        if header is None:
            fh.write("".join(f"{r}\n" for r in rows))
            return
        if path.parent.parent.name in BOM_SOURCES:
            fh.write(BOM)
        out = csv.writer(fh, delimiter=spec.delimiter, quotechar=spec.quote, lineterminator="\n")
        out.writerows([header, *rows])


def _unit(record: object) -> float:
    return int(hashlib.sha256(repr(record).encode()).hexdigest()[:8], 16) / 2**32


def thin_deltas(conf, landing: Path, share: float) -> dict[str, int]:
    """Keep about ``share`` x the full load's records in the daily delta files: a record
    stays when a hash of its content falls under the fraction that takes, so every repeat
    and every code version reads the same day 2. Returns the record counts."""
    full, delta, files = 0, 0, []
    for source, spec in sorted(conf.sources.items()):
        for path in sorted(p for p in (landing / source).glob("*/*") if p.is_file()):
            n = len(_records(path, spec)[1])
            if path.parent.name.endswith("-delta"):
                delta += n
                files.append((path, spec))
            else:
                full += n
    keep = min(1.0, share * full / delta) if delta else 1.0
    kept = 0
    for path, spec in files:
        header, rows = _records(path, spec)
        rows = [r for r in rows if _unit(r) < keep]
        kept += len(rows)
        _write_records(path, spec, header, rows)
    return {"full": full, "delta": delta, "kept": kept, "fraction": keep}


def land_deltas(held: Path, landing: Path) -> None:
    for batch in sorted(p for p in held.glob("*/*") if p.is_dir()):
        batch.rename(landing / batch.parent.name / batch.name)


def io_floor(spark, conf, landing: Path, target: Path) -> dict[str, object]:
    """Read every landed file of every source and write it once as Delta."""
    from c360.bronze.landing import normalize_column

    rows = 0
    t0 = time.perf_counter()
    for source, spec in sorted(conf.sources.items()):
        files = [str(p) for p in sorted((landing / source).glob("*/*")) if p.is_file()]
        if not files:
            continue
        if spec.format == "jsonl":
            df = spark.read.json(files)
        else:
            df = (
                spark.read.option("header", True)
                .option("sep", spec.delimiter)
                .option("encoding", spec.encoding)
                .option("quote", spec.quote)
                .option("multiLine", True)  # bronze keeps quoted newlines too
                .csv(files)
            )
        df = df.toDF(*[normalize_column(c) for c in df.columns])  # Delta refuses spaces
        df.write.format("delta").mode("overwrite").save(str(target / source))
    seconds = time.perf_counter() - t0
    for table in sorted(p for p in target.iterdir() if p.is_dir()):  # counted untimed
        rows += spark.read.format("delta").load(str(table)).count()
    return {"seconds": round(seconds, 1), "rows": rows}


STEP_LINE = re.compile(r"step=(?P<step>\S+) .*seconds=(?P<seconds>[0-9.]+)")
STEP_JOBS = re.compile(r" jobs=(\d+) ")


class StepTimes(logging.Handler):
    """Collects the library's own ``step=`` progress lines (name, seconds) while a phase
    runs, so the results show where inside a stage the time goes."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        found = STEP_LINE.match(msg)
        if found and "failed" not in found.group(0):
            jobs = STEP_JOBS.search(msg)
            self.steps.append(
                {
                    "step": found["step"],
                    "seconds": float(found["seconds"]),
                    "jobs": int(jobs[1]) if jobs else None,
                }
            )

    def __enter__(self) -> StepTimes:
        logger = logging.getLogger("c360")
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("c360").removeHandler(self)


def slowest_steps(steps: list[dict], n: int = 8) -> list[dict]:
    """The ``n`` slowest innermost steps (a stage's own total line is left out)."""
    inner = [s for s in steps if "." in str(s["step"])]
    return sorted(inner, key=lambda s: -s["seconds"])[:n]


def run_pipeline(spark, conf, as_of: dt.date) -> list[dict[str, object]]:
    from c360.runner import run_stages

    steps = []
    for stage in conf.pipeline.stages:
        t0 = time.perf_counter()
        res = run_stages(spark, conf, as_of, [stage])[stage]
        steps.append(
            {
                "stage": stage,
                "seconds": round(time.perf_counter() - t0, 1),
                "rows_in": sum(res.rows_read.values()),
                "rows_out": sum(res.rows_written.values()),
                "jobs": res.jobs,
                "commits": res.commits,
            }
        )
        log_line(
            f"{as_of} {stage}: {steps[-1]['seconds']} s, {res.jobs} jobs, {res.commits} commits"
        )
    return steps


def one_repeat(spark, conf, work: Path, n: int, start: dt.date, day2: bool = True) -> dict:
    """Floor, full load and (unless ``day2`` is off) day 2 on a fresh lake; the landing
    ends as it began (all in)."""
    landing, held = Path(conf.landing.root), work / "held"
    for stale in ("lake", "exports", "models", "floor"):  # left by a killed call
        shutil.rmtree(work / f"{stale}-{n}", ignore_errors=True)
    conf = conf.with_overrides(
        [
            f"lake.root={work / f'lake-{n}'}",
            f"activation.export_root={work / f'exports-{n}'}",
            f"ml.model_root={work / f'models-{n}'}",
        ]
    )
    log_line(f"holding {hold_deltas(landing, held)} delta file(s) back for day 2")
    out: dict = {"loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    floor_root = work / f"floor-{n}"
    with PeakMemory() as mem:
        out["floor"] = io_floor(spark, conf, landing, floor_root)
    out["floor"]["peak_jvm_rss_gb"] = round(mem.peak / 1e9, 2)
    shutil.rmtree(floor_root, ignore_errors=True)
    with PeakMemory() as mem, StepTimes() as inner:
        out["full"] = run_pipeline(spark, conf, start)
    out["full_peak_jvm_rss_gb"] = round(mem.peak / 1e9, 2)
    out["full_slowest_steps"] = slowest_steps(inner.steps)
    land_deltas(held, landing)
    out["day2"], out["day2_peak_jvm_rss_gb"], out["day2_slowest_steps"] = [], 0.0, []
    if day2:
        with PeakMemory() as mem, StepTimes() as inner:
            out["day2"] = run_pipeline(spark, conf, start + dt.timedelta(days=1))
        out["day2_peak_jvm_rss_gb"] = round(mem.peak / 1e9, 2)
        out["day2_slowest_steps"] = slowest_steps(inner.steps)
    out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["lake"] = lake = str(work / f"lake-{n}")
    out["rows_full"], out["rows_day2"] = (
        bronze_rows(spark, lake, "-full"),
        bronze_rows(spark, lake, "-delta"),
    )
    return out


def median_steps(repeats: list[list[dict]]) -> list[dict[str, object]]:
    """Per stage: the median seconds over the repeats, and the rows of the first repeat
    (every repeat reads the same input)."""
    out: list[dict[str, object]] = []
    for i, step in enumerate(repeats[0] if repeats else []):
        secs = [r[i]["seconds"] for r in repeats]
        out.append(
            {
                **step,
                "seconds": round(statistics.median(secs), 1),
                "seconds_each": secs,
                "rows_per_second": round(step["rows_in"] / statistics.median(secs))
                if step["rows_in"] and statistics.median(secs)
                else None,
            }
        )
    return out


def total(steps: list[dict]) -> float:
    return round(sum(s["seconds"] for s in steps), 1)


def slowest(steps: list[dict]) -> str:
    return max(steps, key=lambda s: s["seconds"])["stage"]


def bronze_rows(spark, lake: str, batch_suffix: str) -> int:
    """Rows landed in the files whose batch ends with ``batch_suffix`` (full or delta)."""
    from pyspark.sql import functions as F

    files = spark.read.format("delta").load(f"{lake}/ops/bronze_files")
    return int(
        files.filter((F.col("status") == "loaded") & F.col("batch_id").endswith(batch_suffix))
        .agg(F.coalesce(F.sum("rows_landed"), F.lit(0)))
        .first()[0]
    )


def build_result(raw: dict) -> dict:
    """The report from the raw measurements (``raw.json`` in the work folder)."""
    reps, ident = raw["repeats"], raw["identity"]
    full = median_steps([r["full"] for r in reps])
    day2 = median_steps([r["day2"] for r in reps if r["day2"]])  # [] when --skip-day2
    floor_s = statistics.median(r["floor"]["seconds"] for r in reps)
    # the pipeline's time is the median of the repeats' totals; the stage table holds each
    # stage's own median, and those need not add up to it
    full_s = round(statistics.median(total(r["full"]) for r in reps), 1)
    day2_s = (
        round(statistics.median(total(r["day2"]) for r in reps if r["day2"]), 1) if day2 else None
    )
    full_rows, day2_rows = reps[0]["rows_full"], reps[0]["rows_day2"]
    result = {
        "benchmark": "c360 pipeline: stages, IO floor, day 2, identity vs Splink",
        "date": dt.date.today().isoformat(),
        "label": label(raw["requested_records"]),
        "requested_records": raw["requested_records"],
        "persons": raw["persons"],
        "companies": raw["companies"],
        "generate_seconds": raw["generate_seconds"],
        "source_records_full": full_rows,
        "source_records_day2": day2_rows,
        "repeats": len(reps),
        "machine": raw["machine"],
        "versions": raw["versions"],
        "overrides": raw.get("overrides", []),
        "day2_share": raw.get("day2_share"),
        "floor_seconds": round(floor_s, 1),
        "floor_rows": reps[0]["floor"]["rows"],
        "full_load": full,
        "full_load_seconds": full_s,
        "day2": day2,
        "day2_seconds": day2_s,
        "peak_jvm_rss_gb": max(
            max(r["full_peak_jvm_rss_gb"], r["day2_peak_jvm_rss_gb"], r["floor"]["peak_jvm_rss_gb"])
            for r in reps
        ),
        "pipeline_over_floor": round(full_s / floor_s, 2) if floor_s else None,
        "day2_over_full": round(day2_s / full_s, 3) if day2_s else None,
        "full_slowest_steps": reps[0].get("full_slowest_steps", []),
        "day2_slowest_steps": reps[0].get("day2_slowest_steps", []),
        "identity": ident,
        "runs": [
            {k: r.get(k) for k in ("loadavg_start", "loadavg_end", "floor", "commit")}
            | {"full_seconds": total(r["full"]), "day2_seconds": total(r["day2"]) or None}
            for r in reps
        ],
    }
    return result


def _target(name: str, value: str, met: bool, stage: str) -> dict[str, object]:
    return {"target": name, "value": value, "met": met, "held_back_by": stage}


def targets(results: dict[str, dict]) -> list[dict[str, object]]:
    """Every target that the scales measured so far can answer, with the stage that holds
    it back when it is missed."""
    out: list[dict[str, object]] = []
    for lab, res in sorted(results.items(), key=lambda kv: kv[1]["source_records_full"]):
        ratio, bound = res["day2_over_full"], TARGETS["day2_over_full"]
        if ratio is None:  # measured with --skip-day2
            continue
        out.append(
            _target(
                f"day 2 <= {bound:.0%} of the full load ({lab})",
                f"{ratio:.1%}",
                ratio <= bound,
                slowest(res["day2"]),
            )
        )
    one_m, five_m = results.get("1m"), results.get("5m")
    if not one_m:
        return out
    ratio = one_m["pipeline_over_floor"]
    for key, name in (
        ("pipeline_over_floor_at_1m_round", "this round"),
        ("pipeline_over_floor_at_1m", "the compass"),
    ):
        bound = TARGETS[key]
        out.append(
            _target(
                f"pipeline at 1M <= {bound:.0f}x floor ({name})",
                f"{ratio:.1f}x",
                ratio <= bound,
                slowest(one_m["full_load"]),
            )
        )
    ident = {r["system"]: r for r in one_m["identity"]["results"]}
    ours = next(
        (r for name, r in ident.items() if name.startswith("c360 ") and name.endswith(", persons")),
        None,
    )
    # the strongest Splink row: at the threshold that scored best against the truth
    splink = max(
        (r for name, r in ident.items() if name.startswith("Splink 5 + DuckDB, persons")),
        key=lambda r: r["pairwise_f1"],
        default=None,
    )
    if ours and splink:
        out.append(
            _target(
                "identity at 1M faster than Splink-DuckDB, higher F1",
                f"{ours['seconds']:.0f} s vs {splink['seconds']:.0f} s; "
                f"F1 {ours['pairwise_f1']:.3f} vs {splink['pairwise_f1']:.3f}",
                ours["seconds"] < splink["seconds"] and ours["pairwise_f1"] > splink["pairwise_f1"],
                "identity",
            )
        )
    if five_m:
        ratio, bound = (
            five_m["full_load_seconds"] / one_m["full_load_seconds"],
            TARGETS["scale_5m_over_1m"],
        )
        by_stage = {s["stage"]: s["seconds"] for s in one_m["full_load"]}
        growth = max(
            five_m["full_load"], key=lambda s: s["seconds"] / max(by_stage.get(s["stage"], 1), 1)
        )
        codes = [str((r.get("runs") or [{}])[0].get("commit")) for r in (five_m, one_m)]
        value = f"{ratio:.2f}x"
        if codes[0] != codes[1]:  # a ratio across code versions says little
            value += f" (5M at {codes[0]}, 1M at {codes[1]})"
        out.append(_target(f"5M <= {bound}x the 1M time", value, ratio <= bound, growth["stage"]))
    return out


def markdown(res: dict) -> str:
    from identity import markdown_table

    loads = ", ".join(f"{r['loadavg_start'][0]:.1f}" for r in res["runs"])
    lines = [
        f"# Benchmark {res['label']}: {res['source_records_full']:,} source records "
        f"(+{res['source_records_day2']:,} on day 2"
        + (
            f", the deltas thinned to {res['day2_share']:.1%} of the full load"
            if res.get("day2_share")
            else ""
        )
        + ")",
        "",
        f"{res['persons']:,} persons, {res['companies']:,} companies; {res['date']}; "
        f"{res['machine']['cores']} cores, {res['machine']['memory_gb']} GB; "
        f"load average at the start of each repeat: {loads}. Median of {res['repeats']} "
        "repeat(s); every repeat's seconds in brackets.",
        "",
        f"Code measured: repeats at {', '.join(str(r.get('commit')) for r in res['runs'])}; "
        f"identity at {res['identity'].get('commit') or 'not run'}. "
        f"Versions: {', '.join(f'{k} {v}' for k, v in res['versions'].items())}. "
        f"Config overrides: {', '.join(res.get('overrides') or []) or 'none'}.",
        "",
        f"- IO floor (read the landed files, write each source once as Delta): "
        f"{res['floor_seconds']:.0f} s for {res['floor_rows']:,} rows (median of "
        f"{_each(res, 'floor')})",
        f"- full load: {res['full_load_seconds']:.0f} s = {res['pipeline_over_floor']}x the floor "
        f"(median of the repeats' totals: {_each(res, 'full_seconds')})",
        f"- day 2: {res['day2_seconds']:.0f} s = {res['day2_over_full']:.1%} of the full load "
        f"(median of {_each(res, 'day2_seconds')})"
        if res["day2"]
        else "- day 2: not run (--skip-day2)",
        f"- peak JVM resident memory: {res['peak_jvm_rss_gb']} GB",
        "",
        "Each stage's median below, every repeat in brackets (stage medians need not add up "
        "to the median total above):",
        "",
        "Jobs and commits: the Spark jobs the stage started and the Delta commits it wrote "
        "(first repeat; `-` for results measured before they were counted).",
        "",
        "| stage | full load s | rows in | rows/s | jobs | commits | day 2 s | day 2 rows in "
        "| day 2 jobs | day 2 commits |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, f in enumerate(res["full_load"]):
        rps = f"{f['rows_per_second']:,}" if f["rows_per_second"] else "-"
        d = res["day2"][i] if res["day2"] else None
        day2 = (
            f"{d['seconds']:.0f} {d['seconds_each']} | {d['rows_in']:,} | "
            f"{d.get('jobs', '-')} | {d.get('commits', '-')}"
            if d
            else "- | - | - | -"
        )
        lines.append(
            f"| {f['stage']} | {f['seconds']:.0f} {f['seconds_each']} | {f['rows_in']:,} | "
            f"{rps} | {f.get('jobs', '-')} | {f.get('commits', '-')} | {day2} |"
        )
    for phase in ("full", "day2"):
        steps = res.get(f"{phase}_slowest_steps") or []
        if steps:
            what = "full load" if phase == "full" else "day 2"
            lines += [
                "",
                f"Slowest steps inside the stages, {what} (first repeat): "
                + "; ".join(f"{s['step']} {s['seconds']:.0f} s" for s in steps)
                + ".",
            ]
    ident = res["identity"]
    if not ident["results"]:  # --skip-splink
        return "\n".join([*lines, "", "Identity beside Splink: not run (--skip-splink)."]) + "\n"
    lines += [
        "",
        f"## Identity beside Splink: {ident['records']:,} party records "
        f"({ident['person_records']:,} persons), one run each",
        "",
        *markdown_table(ident["results"]),
    ]
    if ident.get("splink_sweep"):
        lines += [
            "",
            "Splink's one model clustered at each threshold (persons): "
            + "; ".join(
                f"{r['threshold']}: F1 {r['pairwise_f1']:.3f}, P {r['pairwise_precision']:.3f}, "
                f"R {r['pairwise_recall']:.3f}, largest cluster {r['largest']:,}"
                for r in ident["splink_sweep"]
            )
            + ".",
        ]
    if ident.get("slowest_steps"):
        lines += [
            "",
            "Slowest steps inside c360's identity runs: " + _steps(ident["slowest_steps"]),
        ]
    return "\n".join(lines) + "\n"


def _each(res: dict, key: str) -> str:
    """Every repeat's total, for the median beside it."""
    each = [r[key]["seconds"] if key == "floor" else r[key] for r in res["runs"] if r.get(key)]
    return "[" + ", ".join(f"{s:.0f}" for s in each) + "]"


def _steps(steps: list[dict]) -> str:
    return "; ".join(f"{s['step']} {s['seconds']:.0f} s" for s in steps) + "."


def _or_dash(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def write_summary(out: Path) -> None:
    results = {}
    for path in sorted(out.glob("bench_*.json")):
        res = json.loads(path.read_text())
        results[res["label"]] = res
    lines = [
        "# Benchmark summary",
        "",
        "Written by `scripts/bench/run.py` from every `bench_*.json` here. Scales measured on",
        "different dates ran different code, often on a machine of another speed: compare a",
        "scale's ratios (x floor, day 2 share), which are measured within one run.",
        "",
        "| scale | measured | code | repeats | source records | floor s | full load s | x floor "
        "| day 2 s | day 2 share | peak GB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lab, r in sorted(results.items(), key=lambda kv: kv[1]["source_records_full"]):
        code = str((r.get("runs") or [{}])[0].get("commit") or "-").split(" ")[0]
        lines.append(
            f"| {lab} | {r['date']} | {code} | {r['repeats']} | {r['source_records_full']:,} | "
            f"{r['floor_seconds']:.0f} | {r['full_load_seconds']:.0f} | "
            f"{r['pipeline_over_floor']} | {_or_dash(r['day2_seconds'], '.0f')} | "
            f"{_or_dash(r['day2_over_full'], '.1%')} | "
            f"{r['peak_jvm_rss_gb']} |"
        )
    lines += [
        "",
        "| target | value | met | stage to look at (most time, or most growth) |",
        "|---|---|---|---|",
    ]
    for t in targets(results):
        lines.append(
            f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'no'} | "
            f"{t['held_back_by']} |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000, help="source records, about")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--work", default=None, help="work folder (default: a new temp one)")
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument(
        "--skip-day2", action="store_true", help="full load only (5M fits a session this way)"
    )
    parser.add_argument("--summary", action="store_true", help="only rewrite summary.md")
    parser.add_argument("--raw", default=None, help="report from a saved raw.json only")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--day2-share",
        type=float,
        default=None,
        help="thin the generated daily deltas to this share of the full load's records "
        "(0.01: a 1%% day 2); default: the generator's own (about 2.5%%)",
    )
    parser.add_argument(
        "--set", action="append", default=[], help="config override, e.g. spark.driver_memory=12g"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.summary:
        write_summary(out)
        return
    if args.raw:
        report(json.loads(Path(args.raw).read_text()), out)
        return

    from c360.config import load_config
    from c360.logs import configure_logging
    from c360.session import build_spark

    os.environ.setdefault("C360_PSEUDONYM_KEY", "bench-key-not-a-secret")
    work = Path(args.work or tempfile.mkdtemp(prefix="c360-bench-"))
    persons = max(50, round(args.records / RECORDS_PER_PERSON))
    conf = load_config(
        args.conf,
        [
            f"generator.persons={persons}",
            f"generator.companies={max(10, persons // 25)}",
            "generator.daily_batches=1",
            f"landing.root={work / 'landing'}",
            f"generator.truth_root={work / 'truth'}",
            f"lake.root={work / 'lake-0'}",
            *args.set,
        ],
    )
    configure_logging("WARNING")
    for handler in logging.getLogger().handlers:  # StepTimes listens at INFO; stderr does not
        handler.setLevel(logging.WARNING)
    spark = build_spark(conf)
    for stage in conf.pipeline.stages:
        from c360.runner import load_stage

        load_stage(stage)  # import cost outside the timings
    start = dt.date.fromisoformat(conf.generator.start_date)
    log_line(f"work folder {work}; {persons:,} persons")
    generate_seconds = generated_world(spark, conf, work, persons, args.day2_share)
    raw: dict = {
        "requested_records": args.records,
        "persons": persons,
        "companies": conf.generator.companies,
        "generate_seconds": generate_seconds,
        "machine": machine(),
        "versions": versions(),
        "overrides": args.set,
        "day2_share": args.day2_share,
        "repeats": [],
        "identity": {"records": 0, "person_records": 0, "results": []},
    }
    earlier = work / "raw.json"
    if earlier.is_file():  # a killed call: keep the repeats it finished
        kept = json.loads(earlier.read_text())
        if kept.get("persons") == persons:
            raw["repeats"] = kept["repeats"][: args.repeats]
            log_line(f"reusing {len(raw['repeats'])} finished repeat(s) from {earlier}")
    for n in range(len(raw["repeats"]), args.repeats):
        raw["repeats"].append(
            one_repeat(spark, conf, work, n, start, not args.skip_day2) | {"commit": commit()}
        )
        (work / "raw.json").write_text(json.dumps(raw, indent=2))  # kept if a later step fails
        log_line(f"repeat {n + 1} of {args.repeats} done")
        if n:  # the first lake stays for the identity comparison
            shutil.rmtree(work / f"lake-{n}", ignore_errors=True)
    if not args.skip_splink:
        from identity import side_by_side

        with StepTimes() as inner:
            raw["identity"] = side_by_side(
                spark,
                conf,
                work / "identity",
                Path(raw["repeats"][0]["lake"]),
                work / "truth",
                start + dt.timedelta(days=1),
            ) | {"commit": commit()}
        raw["identity"]["slowest_steps"] = slowest_steps(inner.steps, 10)
        (work / "raw.json").write_text(json.dumps(raw, indent=2))
    spark.stop()
    report(raw, out)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def commit() -> str:
    """The code measured: HEAD, marked ``+changes`` when the work tree differs from it."""
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *a], capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--", "lib", "conf") else "")


def generated_world(
    spark, conf, work: Path, persons: int, day2_share: float | None = None
) -> float:
    """Generate the world, or reuse the one a killed or earlier call left in ``--work``
    (same persons and day-2 share): generation is not what is measured. Returns its
    seconds."""
    from c360.generate.export import generate

    marker = work / "generated.json"
    earlier = json.loads(marker.read_text()) if marker.is_file() else {}
    if earlier.get("persons") == persons and earlier.get("day2_share") == day2_share:
        land_deltas(work / "held", Path(conf.landing.root))  # a killed repeat held them
        log_line("reusing the generated world in the work folder")
        return float(earlier["seconds"])
    t0 = time.perf_counter()
    generate(spark, conf)
    seconds = round(time.perf_counter() - t0, 1)
    if day2_share:
        counts = thin_deltas(conf, Path(conf.landing.root), day2_share)
        log_line(
            f"day 2 thinned to {counts['kept']:,} of {counts['delta']:,} delta records "
            f"({counts['kept'] / max(counts['full'], 1):.2%} of {counts['full']:,})"
        )
    marker.write_text(
        json.dumps({"persons": persons, "seconds": seconds, "day2_share": day2_share})
    )
    return seconds


def log_line(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")


def report(raw: dict, out: Path) -> None:
    res = build_result(raw)
    stem = f"bench_{res['label']}"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(res))
    write_summary(out)
    sys.stdout.write(markdown(res))


if __name__ == "__main__":
    main()
