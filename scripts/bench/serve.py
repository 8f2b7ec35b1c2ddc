"""Benchmark: ``c360 serve`` over a built lake, through real HTTP.

    .venv/bin/python scripts/bench/serve.py --lake demo/lake --label demo --requests 300

Starts the service in its own process on 127.0.0.1 (on a copy of nothing: it only adds
``ops.access_log`` to the lake), waits until it answers, then sends ``--requests``
lookups of each kind one after another on a kept-alive connection: search by email, by
phone (typed with spaces and the 0034 prefix, so normalization is on the path), by VIN,
and the 360 call, with terms drawn (seeded) from the lake's live records. Reports per kind
the p50, p95 and max in milliseconds, the snapshot's load seconds, and the service's
resident memory after loading and after the run. Writes ``bench/results/serve_<label>.
{json,md}``. The target (issue 33) is p95 <= 50 ms for a lookup: reported, not asserted;
no test asserts a time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECRET = "bench-secret-" + "x" * 24


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def terms(lake: str, n: int, seed: int) -> dict[str, list[str]]:
    """Live records' emails, phones and VINs, and current customer ids, sampled."""
    from deltalake import DeltaTable

    recs = DeltaTable(f"{lake}/silver/party_records").to_pyarrow_table(
        columns=["email", "phone", "vin", "is_deleted"]
    )
    rng = random.Random(seed)
    out: dict[str, list[str]] = {}
    for col in ("email", "phone", "vin"):
        values = sorted(
            {
                v
                for v, d in zip(recs[col].to_pylist(), recs["is_deleted"].to_pylist(), strict=True)
                if v and not d
            }
        )
        out[col] = [rng.choice(values) for _ in range(n)]
    ids = DeltaTable(f"{lake}/gold/customer_360").to_pyarrow_table(columns=["customer_id"])
    ids = sorted(ids["customer_id"].to_pylist())
    out["customer"] = [rng.choice(ids) for _ in range(n)]
    return out


def spaced(e164: str) -> str:
    if e164.startswith("+34") and len(e164) == 12:
        n = e164[3:]
        return f"0034 {n[:3]} {n[3:5]} {n[5:7]} {n[7:]}"
    return e164


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lake", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    lake = str(Path(args.lake).resolve())

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = Path(tempfile.mkdtemp(prefix="c360-bench-serve-")) / "serve.log"
    env = {**os.environ, "C360_SERVE_TOKENS": f"bench full {SECRET}"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "c360.cli", "serve", "--conf", "conf/local.yaml",
         "--set", f"lake.root={lake}", "--set", "logging.level=INFO", "--port", str(port)],
        cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        while True:
            if proc.poll() is not None:
                print(log.read_text()[-3000:], file=sys.stderr)
                return 1
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        ready = time.perf_counter() - t0
        rss_loaded = rss_mb(proc.pid)
        sample = terms(lake, args.requests, args.seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {SECRET}"}
        kinds = {
            "search_email": [
                f"/api/search?{urllib.parse.urlencode({'email': v})}" for v in sample["email"]
            ],
            "search_phone": [
                f"/api/search?{urllib.parse.urlencode({'phone': spaced(v)})}"
                for v in sample["phone"]
            ],
            "search_vin": [
                f"/api/search?{urllib.parse.urlencode({'vin': v})}" for v in sample["vin"]
            ],
            "customer_360": [f"/api/customers/{v}" for v in sample["customer"]],
        }
        results = {}
        for kind, paths in kinds.items():
            ms, found = [], 0
            for path in paths:
                t = time.perf_counter()
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                ms.append((time.perf_counter() - t) * 1000)
                found += resp.status == 200 and (b'"results":[]' not in body)
            results[kind] = {
                "requests": len(ms),
                "answered": found,
                "p50_ms": round(statistics.median(ms), 2),
                "p95_ms": round(percentile(ms, 0.95), 2),
                "max_ms": round(max(ms), 2),
            }
        rss_after = rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    load_line = next((ln for ln in log.read_text().splitlines() if "step=serve.load" in ln), "")
    out = {
        "label": args.label,
        "lake": lake,
        "snapshot_load": load_line.split("step=serve.load", 1)[-1].strip(),
        "ready_seconds": round(ready, 1),
        "rss_mb_loaded": round(rss_loaded),
        "rss_mb_after": round(rss_after),
        "results": results,
    }
    dest = REPO / "bench" / "results"
    (dest / f"serve_{args.label}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        f"# c360 serve: {args.label}",
        "",
        f"Snapshot: {out['snapshot_load']}; ready in {out['ready_seconds']} s; "
        f"resident memory {out['rss_mb_loaded']} MB loaded, {out['rss_mb_after']} MB after.",
        "",
        "| lookup | requests | answered | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        lines.append(
            f"| {kind} | {r['requests']} | {r['answered']} | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} |"
        )
    (dest / f"serve_{args.label}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
