"""``c360 serve``: the real server on 127.0.0.1 over a copy of the small world, its JSON
API, tokens, access log and erasure, and its pages in Debian's headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from c360.lake import Lake
from c360.privacy.pseudo import keyed_hash
from c360.schemas import ops as O
from c360.schemas.registry import comments_of, description_of
from c360.serve import normalize as nz
from c360.serve import queries as q
from c360.serve.snapshot import Snapshot
from c360.silver import standardize as st
from c360.silver.phones import phone_e164

FULL = "desk-1 full c360-test-full-token-0001"
PSEUDO = "analyst-1 pseudo c360-test-pseudo-token-01"
FULL_SECRET = FULL.split()[2]
PSEUDO_SECRET = PSEUDO.split()[2]


# ---------------------------------------------------------------- normalization


def test_search_terms_are_normalized_as_silver_normalizes(spark: SparkSession) -> None:
    """The service's Python rules give silver's Spark answers on messy input, so a phone
    typed any way finds the record silver stored."""
    phones = [
        "612 34 56 78",
        "+34 612-345-678",
        "0034.612.345.678",
        "(+34) 912345678",
        "34612345678",
        "612345678",
        " 612\u00a0345 678 ",
        "+44 20 7946 0958",
        "+1 (212) 555-0199",
        "12345",
        "",
        "   ",
        None,
        "tel: 0034 699 000 111",
    ]
    emails = ["  Ana.Garcia@X.es ", "mailto:ana@x.es", "<ANA@X.ES>", "a n a@x.es", "", None]
    vins = ["vsk-g6w835.jc785192", " VSKG6W835JC785192 ", "", None]
    postal = ["28001", "8001", " 08 001", "99999", "abcde", "", None]
    df = spark.createDataFrame([(i, p) for i, p in enumerate(phones)], "i int, v string").select(
        "i", phone_e164(F.col("v")).alias("out")
    )
    assert {r.i: r.out for r in df.collect()} == {i: nz.phone_e164(p) for i, p in enumerate(phones)}
    for values, spark_fn, py_fn in (
        (emails, st.email_clean, nz.email_clean),
        (vins, st.vin_clean, nz.vin_clean),
        (postal, st.postal_code_es, nz.postal_code_es),
    ):
        got = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
        got = got.select("i", spark_fn(F.col("v")).alias("out"))
        assert {r.i: r.out for r in got.collect()} == {i: py_fn(v) for i, v in enumerate(values)}
    assert nz.phone_e164("612 34 56 78") == "+34612345678"
    assert nz.name_tokens("José  GARCÍA-López") == ["jose", "garcia", "lopez"]


def test_snapshot_applies_deletion_vectors(spark: SparkSession, tmp_path: Path) -> None:
    """silver.identity_links deletes in place with deletion vectors: a deleted link must
    not come back through the service's reader."""
    root = str(tmp_path / "lake")
    links = spark.createDataFrame(
        [("a:1", "b:2", "rule"), ("a:1", "c:3", "rule"), ("b:2", "c:3", None)],
        "record_key_l string, record_key_r string, method string",
    )
    path = f"{root}/silver/identity_links"
    links.write.format("delta").option("delta.enableDeletionVectors", "true").save(path)
    spark.sql(f"DELETE FROM delta.`{path}` WHERE record_key_r = 'c:3' AND method = 'rule'")
    removed = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").first()
    assert removed.operationMetrics.get("numDeletionVectorsAdded") == "1"  # not a rewrite
    snap = Snapshot.load(root)
    got = snap.query("SELECT record_key_l, record_key_r FROM links ORDER BY 1, 2")
    assert [(r["record_key_l"], r["record_key_r"]) for r in got] == [("a:1", "b:2"), ("b:2", "c:3")]
    assert snap.query("SELECT count(*) n FROM c360") == [{"n": 0}]  # missing tables: empty


def test_twins_under_a_pseudo_root_of_their_own(
    spark: SparkSession, world: Path, tmp_path: Path
) -> None:
    """lake.pseudo_root elsewhere: the lake lists the twins there and the service reads
    the pseudonymized profile from there, by its key."""
    analysts = tmp_path / "analysts"
    shutil.copytree(world / "lake" / "pseudo" / "customer_360", analysts / "customer_360")
    lake = Lake(str(world / "lake"), pseudo_root=str(analysts))
    assert lake.path("pseudo.customer_360") == f"{analysts}/customer_360"
    assert [t for t in lake.tables(spark) if t.startswith("pseudo.")] == ["pseudo.customer_360"]
    key = lake.read(spark, "pseudo.customer_360").first()["customer_key"]
    snap = Snapshot.load(lake)
    assert snap.has("pseudo.customer_360") and q.pseudo_360(snap, key)["customer_key"] == key


# ---------------------------------------------------------------- the real server


@dataclass
class Served:
    url: str
    lake: Lake
    root: Path
    proc: subprocess.Popen
    log: Path

    def get(self, path: str, secret: str | None = FULL_SECRET, **params: str) -> tuple[int, dict]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        req = urllib.request.Request(self.url + path + query)
        if secret:
            req.add_header("Authorization", f"Bearer {secret}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise AssertionError(f"c360 serve exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"c360 serve did not start: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(
    repo: Path, world: Path, base_conf, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve")
    shutil.copytree(world / "lake", root / "lake")  # the service writes ops.access_log
    tokens = root / "tokens"
    tokens.write_text(f"# id scope secret\n{FULL}\n{PSEUDO}\n", encoding="utf-8")
    tokens.chmod(0o600)
    port = _free_port()
    log = root / "serve.log"
    env = {**os.environ}
    env.pop("C360_SERVE_TOKENS", None)
    args = [
        sys.executable, "-m", "c360.cli", "serve", "--conf", "conf/test.yaml",
        "--set", f"lake.root={root / 'lake'}", "--set", "logging.level=INFO",
        "--set", "serve.reload_seconds=0.5", "--set", "serve.access_log_flush_seconds=0.5",
        "--port", str(port), "--tokens-file", str(tokens),
    ]  # fmt: skip
    proc = subprocess.Popen(args, cwd=repo, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc, log)
        lake = Lake.from_config(base_conf.with_overrides([f"lake.root={root / 'lake'}"]))
        yield Served(url, lake, root, proc, log)
    finally:
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful stop: the access log flushes
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _target(spark: SparkSession, lake: Lake, nth: int = 0) -> Row:
    """A person with an email, a phone, a vehicle, several records and household members
    (the API test erases the first: the browser test takes the second)."""
    c360 = lake.read(spark, "gold.customer_360")
    hh = c360.groupBy("household_id").count().filter("count >= 2").select("household_id")
    return (
        c360.join(hh, "household_id", "left_semi")
        .filter(
            (F.col("party_type") == "person")
            & F.col("email").isNotNull()
            & F.col("phone").isNotNull()
            & (F.size("vehicles") >= 1)
            & (F.col("records") >= 3)
        )
        .orderBy("customer_id")
        .collect()[nth]
    )


def _spaced(e164: str) -> str:
    """'+34612345678' as a call centre types it: '0034 612 34 56 78'."""
    n = e164[3:]
    return f"0034 {n[:3]} {n[3:5]} {n[5:7]} {n[7:]}"


def test_api_tokens_access_log_and_erasure(spark: SparkSession, served: Served) -> None:
    lake = served.lake
    t = _target(spark, lake)
    cid = t.customer_id
    vin = t.vehicles[0].vin

    # search: each kind finds the customer, with its reason
    for params in (
        {"email": f"  {t.email.upper()} "},
        {"phone": _spaced(t.phone)},
        {"vin": vin.lower()},
        {"name": f"{t.family_name.upper()} {t.given_name}", "postal_code": t.postal_code},
    ):
        status, body = served.get("/api/search", **params)
        assert status == 200, (params, body)
        hit = next(r for r in body["results"] if r["customer_id"] == cid)
        assert hit["match"]["records"] and "record(s) from" in hit["match"]["reason"]

    # the 360 holds what gold holds for the customer
    status, c = served.get(f"/api/customers/{cid}")
    assert status == 200
    assert c["profile"]["full_name"] == t.full_name and c["profile"]["sources"] == t.sources
    assert [v["vin"] for v in c["vehicles"]] == [v.vin for v in t.vehicles]
    channels = {cp["channel"]: cp for cp in c["contact_points"]}
    assert channels["email"]["point"] == t.email
    assert channels["email"]["consent"] == t.email_consent
    assert {ch for ch, cp in channels.items() if cp["contactable"]} == set(t.contactable_channels)
    members = lake.read(spark, "gold.customer_360").filter(
        (F.col("household_id") == t.household_id) & (F.col("customer_id") != cid)
    )
    assert (
        {m["customer_id"] for m in c["household"]["members"]}
        == {r.customer_id for r in members.collect()}
        != set()
    )
    plan = lake.read(spark, "gold.contact_plan")
    latest = plan.agg(F.max("plan_date")).first()[0]
    want = plan.filter((F.col("plan_date") == latest) & (F.col("customer_id") == cid))
    assert sorted(r["contact_plan"] for r in c["contact_plan"]) == sorted(
        r.contact_plan for r in want.collect()
    )
    # a company lists the persons it deals through, and each of them the company
    link = lake.read(spark, "gold.account_contacts").orderBy("company_id", "customer_id").first()
    status, co = served.get(f"/api/customers/{link.company_id}")
    assert status == 200
    want = lake.read(spark, "gold.account_contacts").filter(F.col("company_id") == link.company_id)
    assert {(a["customer_id"], a["role"]) for a in co["account_contacts"]} == {
        (r.customer_id, r.role) for r in want.collect()
    }
    status, person = served.get(f"/api/customers/{link.customer_id}")
    assert (link.company_id, link.role) in {
        (a["company_id"], a["role"]) for a in person["account_contacts"]
    }

    # why: its records are the crosswalk's, its links join only them, each golden field
    # names the record and rule behind it
    status, w = served.get(f"/api/customers/{cid}/why")
    assert status == 200
    cw = lake.read(spark, "silver.identity_crosswalk").filter(
        (F.col("customer_id") == cid) & ~F.col("is_deleted")
    )
    assert [r["record_key"] for r in w["records"]] == sorted(r.record_key for r in cw.collect())
    inner = [lk for lk in w["links"] if lk["within"]]
    assert inner and all(lk["rules"] or lk["weights"] for lk in inner)
    golden = {f["field"]: f for f in w["golden_fields"]}
    assert golden["given_name"]["value"] == t.given_name and golden["given_name"]["rule"]
    assert any(e["event"] == "new" for e in w["events"])

    # a vehicle and its owners
    status, v = served.get(f"/api/vehicles/{vin.lower()}")
    assert status == 200 and v["vehicle"]["vin"] == vin  # gold.vehicles
    assert v["vehicle"]["owners"] == len(v["owners"]) >= 1
    assert cid in {o["customer_id"] for o in v["owners"]}

    # scopes: a pseudo token reads the pseudonymized row only
    ckey = keyed_hash(os.environ["C360_PSEUDONYM_KEY"].encode(), cid)
    status, p = served.get(f"/api/customers/{ckey}", secret=PSEUDO_SECRET)
    assert status == 200 and p["customer_key"] == ckey
    assert not {"email", "given_name", "birth_date", "customer_id"} & set(p)
    assert served.get(f"/api/customers/{cid}", secret=PSEUDO_SECRET)[0] == 404  # keys only
    for path in ("/api/search?vin=" + vin, f"/api/customers/{cid}/why", f"/api/vehicles/{vin}"):
        status, body = served.get(path, secret=PSEUDO_SECRET)
        assert status == 403 and "pseudo" in body["error"]

    # bad requests: one line, no stack trace
    for params, expected in (
        ({"email": "a@b.es", "phone": "612345678"}, "exactly one of"),
        ({"phone": "12"}, "not a valid phone"),
        ({"name": "Ana"}, "postal_code"),
        ({}, "exactly one of"),
    ):
        status, body = served.get("/api/search", **params)
        assert status == 400 and expected in body["error"] and "\n" not in body["error"]
        assert "Traceback" not in json.dumps(body)
    assert served.get("/api/customers/C-nobody")[0] == 404
    assert served.get("/api/customers/x", secret=None) == (401, {"error": "missing bearer token"})
    assert served.get("/api/customers/x", secret="not-a-token-at-all") == (
        403,
        {"error": "unknown token"},
    )
    assert served.get("/openapi.json", secret=None)[0] == 401
    status, spec = served.get("/openapi.json")
    assert status == 200 and {"/api/search", "/api/customers/{customer_id}/why"} <= set(
        spec["paths"]
    )

    # erasure: once the person's erasure lands in ops.erasure_log, the service (reloaded
    # on the new table version) returns them nowhere
    now = dt.datetime(2026, 11, 4, 12, 0)
    spark.createDataFrame(
        [("E0000000000000001", cid, now, "done", now, {}, {}, 0)], O.ERASURE_LOG
    ).write.format("delta").mode("append").save(lake.path("ops.erasure_log"))
    for _ in range(600):  # the reload polls every 0.5 s
        if served.get(f"/api/customers/{cid}")[0] == 404:
            break
        time.sleep(0.1)
    assert served.get(f"/api/customers/{cid}")[0] == 404
    assert served.get(f"/api/customers/{cid}/why")[0] == 404
    for params in ({"email": t.email}, {"phone": t.phone}):
        status, body = served.get("/api/search", **params)
        assert cid not in {r["customer_id"] for r in body["results"]}
    status, v = served.get(f"/api/vehicles/{vin}")
    assert cid not in {o["customer_id"] for o in v.get("owners", [])}
    status, c2 = served.get(f"/api/customers/{c['household']['members'][0]['customer_id']}")
    assert cid not in {m["customer_id"] for m in c2["household"]["members"]}

    # the access log: every request, with its token id and route, the ids returned, and
    # never a search term (read back with Spark: the delta-rs table is a lake table)
    path = lake.path("ops.access_log")
    for _ in range(600):
        if Path(path, "_delta_log").is_dir():
            rows = spark.read.format("delta").load(path)
            if rows.filter(F.col("token_id") == "-").count() >= 2:
                break
        time.sleep(0.1)
    log = spark.read.format("delta").load(path)
    assert [(f.name, f.dataType) for f in log.schema] == [
        (f.name, f.dataType) for f in O.ACCESS_LOG
    ]
    # created by delta-rs with the contract's description and column comments
    assert {f.name: f.metadata.get("comment") for f in log.schema} == comments_of("ops.access_log")
    assert DeltaTable(path).metadata().description == description_of("ops.access_log")
    rows = log.collect()
    ok = [r for r in rows if r.endpoint == "/api/customers/{customer_id}" and r.status == 200]
    # (the 360 returns the household's members too: their ids are logged with it)
    assert any(r.token_id == "desk-1" and cid in r.customer_ids for r in ok)
    assert any(r.token_id == "analyst-1" and r.scope == "pseudo" for r in ok)
    assert {"/api/search", "/api/customers/{customer_id}/why", "/api/vehicles/{vin}"} <= {
        r.endpoint for r in rows
    }
    assert {(r.token_id, r.status) for r in rows if r.endpoint == "unauthenticated"} == {
        ("-", 401),
        ("-", 403),
    }
    refused = [r for r in rows if r.token_id == "analyst-1" and r.status == 403]
    assert len(refused) == 3 and all(r.customer_ids == [] for r in refused)
    files = b"".join(p.read_bytes() for p in Path(path).rglob("*") if p.is_file())
    for term in (t.email, t.email.upper(), t.phone, _spaced(t.phone), t.family_name.upper()):
        assert term.encode() not in files
    served_log = served.log.read_text(encoding="utf-8")
    for term in (t.email, t.phone, t.family_name, vin):
        assert term not in served_log, "the service's own log must not hold search terms"


def test_serve_without_tokens_fails_in_one_line(repo: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("C360_SERVE_TOKENS")}
    proc = subprocess.run(
        [sys.executable, "-m", "c360.cli", "serve", "--conf", "conf/test.yaml",
         "--set", f"lake.root={tmp_path}"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "c360: error: c360 serve needs tokens: set $C360_SERVE_TOKENS or give a secret file"
        " (--tokens-file or $C360_SERVE_TOKENS_FILE)"
    ]
    bad = tmp_path / "tokens"
    bad.write_text("desk-1 admin c360-test-full-token-0001\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "c360.cli", "serve", "--conf", "conf/test.yaml",
         "--set", f"lake.root={tmp_path}", "--tokens-file", str(bad)],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.stderr.strip() == (
        f"c360: error: tokens file {bad} line 1: scope must be one of full, pseudo"
    )


# ---------------------------------------------------------------- the pages, in Chromium


def _chromium():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    assert binary and driver, (
        "Debian's chromium and chromium-driver are needed (scripts/setup.sh installs them)"
    )
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1600"):  # fmt: skip
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


def test_pages_in_headless_chromium(spark: SparkSession, served: Served, tmp_path: Path) -> None:
    """A desk clerk signs in, finds a customer by a phone typed another way, opens the
    customer and the 'why' graph. Screenshots: <tmp_path>/screens (CI keeps them)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    t = _target(spark, served.lake, nth=1)
    shots = tmp_path / "screens"
    shots.mkdir()
    browser = _chromium()
    try:
        wait = WebDriverWait(browser, 60)
        browser.get(served.url + "/")
        assert "missing bearer token" in browser.find_element(By.ID, "reason").text
        browser.find_element(By.ID, "token").send_keys(FULL_SECRET)
        browser.find_element(By.ID, "sign-in").click()
        wait.until(EC.presence_of_element_located((By.ID, "search")))
        Select(browser.find_element(By.ID, "kind")).select_by_value("phone")
        browser.find_element(By.ID, "q").send_keys(_spaced(t.phone))
        browser.find_element(By.ID, "go").click()
        results = wait.until(EC.presence_of_element_located((By.ID, "results")))
        browser.save_screenshot(str(shots / "search.png"))
        assert "phone on" in results.text
        link = next(
            a
            for a in browser.find_elements(By.CSS_SELECTOR, "a.customer")
            if a.get_attribute("href").endswith(f"/customers/{t.customer_id}")
        )
        link.click()
        wait.until(EC.presence_of_element_located((By.ID, "vehicles")))
        browser.save_screenshot(str(shots / "customer.png"))
        assert browser.find_element(By.ID, "name").text == t.full_name
        assert t.vehicles[0].vin in browser.find_element(By.ID, "vehicles").text
        contact = browser.find_element(By.ID, "contact").text
        assert t.email in contact and (t.email_consent or "") in contact
        browser.find_element(By.ID, "why").click()
        # Plotly drew the graph: its SVG, one marker per record
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#graph svg.main-svg")))
        browser.save_screenshot(str(shots / "why.png"))
        records = browser.find_element(By.ID, "records").text
        cw = served.lake.read(spark, "silver.identity_crosswalk").filter(
            (F.col("customer_id") == t.customer_id) & ~F.col("is_deleted")
        )
        keys = [r.record_key for r in cw.collect()]
        assert keys and all(k in records for k in keys)
        points = browser.find_elements(By.CSS_SELECTOR, "#graph .scatterlayer .point")
        assert len(points) == len(keys)
        assert "source_priority" in browser.find_element(By.ID, "golden").text or "most_" in (
            browser.find_element(By.ID, "golden").text
        )
    finally:
        browser.quit()
    for name in ("search", "customer", "why"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
