"""The benchmark's arithmetic: medians, ratios, targets and the reports built from them.

No Spark and no timing: the benchmark runs outside CI, but what it writes into
``bench/results/`` is only as honest as these functions.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench"


@pytest.fixture(scope="module")
def bench():
    path, modules = list(sys.path), set(sys.modules)
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # puts scripts/bench on sys.path for its own imports
    yield module
    # the bench's top-level names (identity, pipeline) must not shadow anything later
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if str(BENCH) in str(getattr(sys.modules[name], "__file__", "")):
            del sys.modules[name]


def _stages(seconds: dict[str, float], rows: int) -> list[dict]:
    return [
        {"stage": s, "seconds": v, "rows_in": rows, "rows_out": rows, "jobs": 7, "commits": 2}
        for s, v in seconds.items()
    ]


def _repeat(full: dict[str, float], day2: dict[str, float] | None, floor: float) -> dict:
    return {
        "loadavg_start": [2.0],
        "loadavg_end": [2.5],
        "floor": {"seconds": floor, "rows": 1000, "peak_jvm_rss_gb": 1.0},
        "full": _stages(full, 1000),
        "full_peak_jvm_rss_gb": 3.0,
        "full_slowest_steps": [{"step": "silver.shared", "seconds": 5.0}],
        "day2": _stages(day2, 10) if day2 else [],
        "day2_peak_jvm_rss_gb": 4.0 if day2 else 0.0,
        "day2_slowest_steps": [],
        "rows_full": 1000,
        "rows_day2": 10 if day2 else 0,
        "commit": "abc1234",
    }


def _accuracy(name: str, seconds: float, f1: float, largest: int = 7) -> dict:
    return {
        "system": name,
        "seconds": seconds,
        "records": 100,
        "pairwise_precision": f1,
        "pairwise_recall": f1,
        "pairwise_f1": f1,
        "bcubed_precision": f1,
        "bcubed_recall": f1,
        "predicted_clusters": 10,
        "true_entities": 10,
        "largest": largest,
    }


def _raw(repeats: list[dict], records: int = 1_000_000, identity: dict | None = None) -> dict:
    return {
        "requested_records": records,
        "persons": 42,
        "companies": 2,
        "generate_seconds": 1.0,
        "machine": {"cores": 2, "memory_gb": 23.5, "platform": "linux", "python": "3.11"},
        "versions": {"pyspark": "4.2.0"},
        "overrides": [],
        "repeats": repeats,
        "identity": identity or {"records": 0, "person_records": 0, "results": []},
    }


# stage medians are bronze 20 + silver 20 = 40, but the repeats' totals are 60, 30 and
# 120: the pipeline's median is 60, which a sum of stage medians would miss
REPEATS = [
    _repeat({"bronze": 10.0, "silver": 50.0}, {"bronze": 3.0, "silver": 3.0}, 4.0),
    _repeat({"bronze": 20.0, "silver": 10.0}, {"bronze": 1.0, "silver": 5.0}, 2.0),
    _repeat({"bronze": 100.0, "silver": 20.0}, {"bronze": 9.0, "silver": 2.0}, 3.0),
]


def test_full_load_and_day2_are_the_median_of_the_repeats_totals(bench):
    res = bench.build_result(_raw(REPEATS))
    assert res["full_load_seconds"] == 60.0
    assert res["day2_seconds"] == statistics.median([6.0, 6.0, 11.0])
    assert res["floor_seconds"] == 3.0
    assert res["pipeline_over_floor"] == 20.0
    assert res["day2_over_full"] == 0.1
    assert [s["seconds"] for s in res["full_load"]] == [20.0, 20.0]
    assert res["full_load"][0]["seconds_each"] == [10.0, 20.0, 100.0]
    assert [r["full_seconds"] for r in res["runs"]] == [60.0, 30.0, 120.0]
    assert res["peak_jvm_rss_gb"] == 4.0
    md = bench.markdown(res)
    assert "full load: 60 s = 20.0x the floor (median of the repeats' totals: [60, 30, 120])" in md
    assert "3 s for 1,000 rows (median of [4, 2, 3])" in md
    # each stage's Spark jobs and Delta commits, full load and day 2
    assert "| bronze | 20 [10.0, 20.0, 100.0] | 1,000 | 50 | 7 | 2 | " in md


def test_a_full_load_only_run_reports_day2_as_not_run(bench):
    repeats = [_repeat({"bronze": 10.0, "silver": 5.0}, None, 1.0)]
    res = bench.build_result(_raw(repeats, records=5_000_000))
    assert res["day2_seconds"] is None and res["day2_over_full"] is None
    md = bench.markdown(res)
    assert "- day 2: not run (--skip-day2)" in md
    assert "| bronze | 10 [10.0] | 1,000 | 100 | 7 | 2 | - | - | - | - |" in md
    assert "Identity beside Splink: not run (--skip-splink)." in md
    assert [t["target"] for t in bench.targets({"5m": res})] == []


def test_identity_target_compares_with_splinks_best_threshold(bench):
    identity = {
        "records": 120,
        "person_records": 100,
        "results": [
            _accuracy("c360 identity (Spark, FS on duckdb), persons", 100.0, 0.8, 55),
            _accuracy("c360 identity (Spark, FS on duckdb), all party records", 100.0, 0.85, -1),
            _accuracy("Splink 5 + DuckDB, persons, clusters at 0.95", 10.0, 0.5, 900),
            _accuracy(
                "Splink 5 + DuckDB, persons, best threshold against the truth: 0.999", 10.0, 0.9
            ),
        ],
        "splink_sweep": [
            {**_accuracy("", 10.0, 0.5, 900), "threshold": 0.95},
            {**_accuracy("", 10.0, 0.9), "threshold": 0.999},
        ],
    }
    one_m = bench.build_result(_raw(REPEATS, identity=identity))
    five_m = bench.build_result(
        _raw([_repeat({"bronze": 200.0, "silver": 200.0}, None, 9.0)], records=5_000_000)
    )
    found = {t["target"]: t for t in bench.targets({"1m": one_m, "5m": five_m})}
    ident = found["identity at 1M faster than Splink-DuckDB, higher F1"]
    assert ident["value"] == "100 s vs 10 s; F1 0.800 vs 0.900"  # the best row, not 0.95's
    assert ident["met"] is False
    assert found["5M <= 5.5x the 1M time"]["value"] == "6.67x"
    five_m["runs"][0]["commit"], one_m["runs"][0]["commit"] = "aaa1111", "bbb2222"
    across = {t["target"]: t for t in bench.targets({"1m": one_m, "5m": five_m})}
    assert across["5M <= 5.5x the 1M time"]["value"] == "6.67x (5M at aaa1111, 1M at bbb2222)"
    assert found["5M <= 5.5x the 1M time"]["met"] is False
    assert found["day 2 <= 15% of the full load (1m)"]["met"] is True  # 10.0%
    compass = found["pipeline at 1M <= 5x floor (the compass)"]
    assert compass["held_back_by"] in {"bronze", "silver"}
    this_round = found["pipeline at 1M <= 20x floor (this round)"]
    assert this_round["value"] == compass["value"]
    assert this_round["met"] is (float(this_round["value"].rstrip("x")) <= 20) is not compass["met"]
    md = bench.markdown(one_m)
    assert "| 55 |" in md and "| 900 |" in md and "| - |" in md  # largest clusters
    assert "0.95: F1 0.500, P 0.500, R 0.500, largest cluster 900; 0.999: F1 0.900" in md


def test_an_older_result_without_the_sweep_still_answers_the_target(bench):
    identity = {
        "records": 120,
        "person_records": 100,
        "results": [
            _accuracy("c360 identity (Spark), persons", 50.0, 0.85),
            _accuracy("Splink 5 + DuckDB, persons", 60.0, 0.02),
        ],
    }
    one_m = bench.build_result(_raw(REPEATS, identity=identity))
    ident = next(t for t in bench.targets({"1m": one_m}) if t["target"].startswith("identity"))
    assert ident["met"] is True
    assert "Splink's one model" not in bench.markdown(one_m)


def test_day2_share_thins_only_the_deltas_and_keeps_records_whole(bench, tmp_path):
    """``--day2-share``: the same records on every call, a quoted newline stays inside its
    record, Latin-1 text and the BOM survive, and full-load files are not touched."""
    from types import SimpleNamespace

    from c360.config import SourceSpec

    sources = {
        "sales": SourceSpec(delimiter=";", encoding="ISO-8859-1"),
        "insurance": SourceSpec(),  # UTF-8 with a BOM, as the generator writes it
        "ecommerce": SourceSpec(format="jsonl"),
    }
    conf = SimpleNamespace(sources=sources)

    def land(source: str, batch: str, text: str, encoding: str = "utf-8") -> Path:
        path = tmp_path / source / batch / f"{source}.txt"
        path.parent.mkdir(parents=True)
        path.write_bytes(text.encode(encoding))
        return path

    full = land("sales", "20261101-full", "id;name\n" + "".join(f"{i};Ñandú\n" for i in range(400)))
    before = full.read_bytes()
    lines = ['"p1";"two\nlines"', "p2;", *(f"d{i};José" for i in range(98))]
    sales = land("sales", "20261102-delta", "id;name\n" + "\n".join(lines) + "\n", "latin-1")
    insurance = land(
        "insurance", "20261102-delta", "\ufeffid,n\n" + "".join(f"i{i},x\n" for i in range(50))
    )
    web = land("ecommerce", "20261102-delta", "".join(f'{{"id": {i}}}\n' for i in range(50)))
    web.write_bytes(web.read_bytes() + b'{"id": "cut \xc3\n')  # cut inside a character
    web_lines = set(web.read_bytes().splitlines())

    counts = bench.thin_deltas(conf, tmp_path, 0.05)  # 5% of 400 = 20 of 201 delta records
    assert (counts["full"], counts["delta"]) == (400, 201)
    assert 8 <= counts["kept"] <= 40 and counts["fraction"] == pytest.approx(20 / 201)
    assert set(web.read_bytes().splitlines()) <= web_lines  # byte for byte, the cut one too
    assert full.read_bytes() == before
    header, rows = bench._records(sales, sources["sales"])
    assert header == ["id", "name"] and all(len(r) == 2 for r in rows)
    assert all(r[1] == "José" for r in rows if r[0].startswith("d"))
    assert insurance.read_bytes().startswith("\ufeffid,n\n".encode())
    kept = [
        *rows,
        *bench._records(insurance, sources["insurance"])[1],
        *bench._records(web, sources["ecommerce"])[1],
    ]
    assert len(kept) == counts["kept"]
    # which records stay is a function of their content: the same on every call
    expected = [["p1", "two\nlines"], ["p2", ""], *([f"d{i}", "José"] for i in range(98))]
    assert rows == [r for r in expected if bench._unit(r) < counts["fraction"]]
