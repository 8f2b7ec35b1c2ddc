"""The contact plan on tiny inline frames: each suppression reason, the channel choice,
holdout stability, fatigue across runs (real Delta), the export files, known-answer
campaign results."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    ArrayType,
    DateType,
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from c360.activation import export, plan, results
from c360.activation.stage import prior_plan, write_plan
from c360.config import ActivationConfig, ChannelConfig, Config
from c360.errors import ConfigError
from c360.gold import facts
from c360.lake import Lake
from c360.schemas import gold as G
from c360.schemas import silver as S
from c360.schemas.ops import ERASURE_LOG
from c360.schemas.registry import GOLD_CONTACT_PLAN as CONTACT_PLAN

D = dt.date
AS_OF = D(2026, 6, 15)  # sends on 2026-06-16
EVENTS = StructType(
    [
        StructField("event_id", StringType()),
        StructField("campaign_id", StringType()),
        StructField("wave", IntegerType()),
        StructField("channel", StringType()),
        StructField("event", StringType()),
        StructField("event_ts", S.CAMPAIGN_EVENTS["event_ts"].dataType),
        StructField("customer_id", StringType()),
    ]
)


def _default(dtype):
    if isinstance(dtype, StringType):
        return ""
    if isinstance(dtype, (IntegerType, LongType)):
        return 0
    if isinstance(dtype, DecimalType):
        return Decimal(0)
    if isinstance(dtype, ArrayType):
        return []
    if isinstance(dtype, DateType):
        return AS_OF
    return None


def frame(spark: SparkSession, schema: StructType, rows: list[dict]) -> DataFrame:
    """Rows of ``schema`` from partial dicts: NOT NULL columns get a neutral default."""
    full = [
        tuple(
            r[f.name] if f.name in r else (None if f.nullable else _default(f.dataType))
            for f in schema.fields
        )
        for r in rows
    ]
    loose = StructType([StructField(f.name, f.dataType, True) for f in schema.fields])
    return spark.createDataFrame(full, loose)


def seg(cid: str, stage: str, **kw) -> dict:
    return {
        "customer_id": cid,
        "vin": f"V-{cid}",
        "party_type": "person",
        "account_type": "individual",
        "stage": stage,
        "stage_reason": f"{stage} reason",
        "model": "Qashqai",
        "acquired_date": D(2020, 1, 1),
        "owned_months": 60,
        "latest_km": 40000,
        **kw,
    }


def person(cid: str, email: bool = True, **kw) -> dict:
    """A c360 row; ``email`` gives a valid address that the test may consent."""
    row = {"customer_id": cid, "party_type": "person", "given_name": f"N{cid}", "gender": "F"}
    if email:
        row |= {"email": f"{cid.lower()}@example.com", "email_valid": True}
    return row | kw


OLD = D(2025, 1, 1)


def consent(point: str, channel: str, status: str, day: dt.date = OLD) -> dict:
    return {
        "consent_id": f"{point}:{channel}:{day}",
        "contact_point": point,
        "channel": channel,
        "status": status,
        "consent_ts": dt.datetime.combine(day, dt.time(9)),
        "_is_deleted": False,
    }


def event(cid: str, ev: str, day: dt.date, channel: str = "email", camp: str = "CMP1") -> tuple:
    ts = dt.datetime.combine(day, dt.time(10))
    return (f"{camp}:{cid}:{ev}:{day}", camp, 1, channel, ev, ts, cid)


def activation(conf: Config, holdout: float = 0.0, **plans: dict) -> ActivationConfig:
    """The base activation config, holdout share set on every plan, plan fields replaced."""
    a = conf.activation
    new = {
        n: dataclasses.replace(p, holdout_share=holdout, **plans.get(n, {}))
        for n, p in a.plans.items()
    }
    return dataclasses.replace(a, plans=new)


def build(
    spark: SparkSession,
    aconf: ActivationConfig,
    segments: list[dict],
    people: list[dict],
    consents: list[dict],
    events: list[tuple] = (),
    erased: list[str] = (),
    prior: DataFrame | None = None,
    as_of: dt.date = AS_OF,
    scores: DataFrame | None = None,
    account_contacts: list[dict] | None = None,
) -> DataFrame:
    send = as_of + dt.timedelta(days=aconf.send_offset_days)
    cons = facts.consents_as_of(frame(spark, S.CONSENT_EVENTS, consents), send)
    hist = plan.History(
        erased=frame(
            spark,
            ERASURE_LOG,
            [{"request_id": f"E{c}", "customer_id": c, "requested_at": None} for c in erased],
        ),
        events=spark.createDataFrame(list(events), EVENTS),
        prior_plan=prior if prior is not None else frame(spark, G.CONTACT_PLAN, []),
    )
    return plan.build_contact_plan(
        spark,
        frame(spark, G.LIFECYCLE_SEGMENTS, segments),
        frame(spark, G.CUSTOMER_360, people),
        cons,
        hist,
        aconf,
        False,
        as_of,
        "run-1",
        scores,
        None if account_contacts is None else frame(spark, G.ACCOUNT_CONTACTS, account_contacts),
    )


def status_of(df: DataFrame) -> DataFrame:
    return df.select("customer_id", "contact_plan", "status", "suppression_reason", "channel")


def test_each_suppression_reason(spark: SparkSession, conf: Config) -> None:
    aconf = activation(conf, order={"conversion_value": 0.0})
    ids = ["OK", "ERASED", "COMPLAINT", "NOCONS", "UNSUB", "FATIGUE"]
    segments = [seg(c, "renewal") for c in ids]
    segments += [
        seg("COMPETE", "first_year", vin="VA", owned_months=10),
        seg("COMPETE", "renewal", vin="VB"),
        seg("INVALID", "renewal"),
        seg("PROFIT", "order"),
        # a None row: no vehicle, no model, no dates
        {"customer_id": "NULLS", "party_type": "person", "stage": "renewal", "stage_reason": "r"},
    ]
    people = [person(c) for c in [*ids, "COMPETE", "PROFIT"]]
    addr = {"street": "CALLE NO, 1", "postal_code": "28001", "address_valid": True}
    people = [p | addr if p["customer_id"] == "NOCONS" else p for p in people]
    people += [
        person("INVALID", email_valid=False),
        person("NULLS", email=False, given_name=None, gender=None),
    ]
    opted = ["OK", "ERASED", "COMPLAINT", "UNSUB", "FATIGUE", "COMPETE", "INVALID", "PROFIT"]
    consents = [consent(f"{c.lower()}@example.com", "email", "opt_in") for c in opted]
    # NOCONS opted in after the send date only: not consented when it is sent
    consents.append(consent("nocons@example.com", "email", "opt_in", D(2026, 6, 20)))
    consents.append(consent("CALLE NO, 1, 28001", "mail", "opt_out"))  # and no mail
    events = [
        event("COMPLAINT", "complained", D(2026, 6, 1)),
        event("UNSUB", "unsubscribed", D(2026, 6, 1)),
        *[event("FATIGUE", "sent", D(2026, 6, d), camp=f"CMP{d}") for d in (1, 5, 9)],
        event("OK", "sent", D(2026, 4, 1)),  # outside the 30-day window
        event("NULLS", "sent", D(2026, 6, 10), channel=None),  # a send with no channel
    ]
    got = build(spark, aconf, segments, people, consents, events, erased=["ERASED"])
    # mail: legitimate interest, but no valid address on file for anyone here
    expected = spark.createDataFrame(
        [
            ("COMPETE", "first_year", "selected", None, "email"),
            ("COMPETE", "renewal", "suppressed", "competing_plan", "email"),
            ("COMPLAINT", "renewal", "suppressed", "complaint", "email"),
            ("ERASED", "renewal", "suppressed", "erased", "email"),
            ("FATIGUE", "renewal", "suppressed", "fatigue", None),  # email capped too
            ("INVALID", "renewal", "suppressed", "invalid_contact_point", None),
            ("NOCONS", "renewal", "suppressed", "no_consent", None),
            ("NULLS", "renewal", "suppressed", "invalid_contact_point", None),
            ("OK", "renewal", "selected", None, "email"),
            ("PROFIT", "order", "suppressed", "not_profitable", None),
            ("UNSUB", "renewal", "suppressed", "unsubscribed", None),
        ],
        "customer_id string, contact_plan string, status string, suppression_reason string, "
        "channel string",
    )
    assert_df_equality(status_of(got), expected, ignore_row_order=True, ignore_nullable=True)
    detail = {(r["customer_id"], r["contact_plan"]): r["suppression_detail"] for r in got.collect()}
    assert detail[("COMPETE", "renewal")] == "in plan first_year (priority 2) this run"
    assert detail[("FATIGUE", "renewal")] == "3 contacts in the last 30 days (cap 3)"
    assert detail[("COMPLAINT", "renewal")] == "complained on 2026-06-01"
    assert "email unsubscribed" in detail[("UNSUB", "renewal")]
    # only the chosen channel's contact point is kept, and only on a selected row
    ok = got.filter("customer_id = 'OK'").first()
    assert ok["email"] == "ok@example.com" and ok["phone"] is None and ok["street"] is None
    assert got.filter("status != 'selected' AND email IS NOT NULL").count() == 0
    assert ok["why_channel"].startswith("email: consented and valid")
    assert "sms no_consent" in ok["why_channel"]
    assert ok["why_plan"] == "plan renewal (priority 3) takes stage renewal"
    assert ok["image"] == "renewal/woman" and ok["dealer_role"] == "sales"


def test_channel_choice_follows_preference_then_value(spark: SparkSession, conf: Config) -> None:
    aconf = activation(conf, renewal={"conversion_value": 1000.0, "uplift": 0.01})
    channels = dict(aconf.channels)
    channels["telemarketing"] = ChannelConfig(cost=4.5, response_factor=2.0, max_contacts=1)
    aconf = dataclasses.replace(aconf, channels=channels)
    ids = ["LOW", "HIGH", "PREF"]
    phone = {"phone_valid": True, "phone_mobile": False}
    people = [
        person("LOW", affluence_index=30.0, phone="+34910000001", **phone),
        person("HIGH", affluence_index=150.0, phone="+34910000002", **phone),
        person("PREF", affluence_index=150.0, phone="+34910000003", **phone),
    ]
    consents = []
    for i, c in enumerate(ids, start=1):
        consents.append(consent(f"{c.lower()}@example.com", "email", "opt_in"))
        consents.append(consent(f"+3491000000{i}", "phone", "opt_in"))
    events = [event("PREF", "opened", D(2026, 5, 1), channel="email")]
    got = build(spark, aconf, [seg(c, "renewal") for c in ids], people, consents, events)
    chosen = {r["customer_id"]: r for r in got.collect()}
    # LOW: expected value 1000 x 0.01 x 0.3 = 3: email nets 2.95, the phone 6 - 4.5 = 1.5
    assert chosen["LOW"]["channel"] == "email"
    # HIGH: expected value 15: the phone nets 25.5, email 14.95
    assert chosen["HIGH"]["channel"] == "telemarketing"
    assert "best expected return" in chosen["HIGH"]["why_channel"]
    # PREF: same value as HIGH, but last responded by email: preference wins
    assert chosen["PREF"]["channel"] == "email"
    assert "last responded by this channel" in chosen["PREF"]["why_channel"]
    assert chosen["HIGH"]["channel_reasons"] == {
        "email": "ok",
        "sms": "no_consent",  # a landline: no SMS consent and not a mobile
        "telemarketing": "ok",
        "mail": "invalid_contact_point",
    }
    assert chosen["HIGH"]["phone"] == "+34910000002" and chosen["HIGH"]["email"] is None


def _many(n: int) -> tuple[list[dict], list[dict], list[dict]]:
    ids = [f"P{i:04d}" for i in range(n)]
    segs = [seg(c, "renewal") for c in ids]
    people = [person(c) for c in ids]
    consents = [consent(f"{c.lower()}@example.com", "email", "opt_in") for c in ids]
    return segs, people, consents


def held(df: DataFrame) -> set[str]:
    return {r["customer_id"] for r in df.filter("status = 'held_out'").collect()}


def test_holdout_is_a_stable_hash_share(spark: SparkSession, conf: Config, tmp_path) -> None:
    aconf = activation(conf, holdout=0.2)
    segs, people, consents = _many(400)
    first = build(spark, aconf, segs, people, consents)
    again = build(spark, aconf, segs, people, consents)
    a, b = held(first), held(again)
    assert a == b
    assert 0.12 * 400 < len(a) < 0.28 * 400
    # held-out rows are recorded with their would-be channel, never a contact point
    rows = first.filter("status = 'held_out'")
    assert rows.filter("channel = 'email' AND email IS NULL").count() == len(a)
    # a later day of the same month holds out the same people; next month draws anew
    same_month = held(build(spark, aconf, segs, people, consents, as_of=D(2026, 6, 20)))
    next_month = held(build(spark, aconf, segs, people, consents, as_of=D(2026, 7, 15)))
    assert same_month == a
    assert next_month != a and len(next_month & a) < len(a) / 2
    # a different salt draws different people
    other = build(spark, dataclasses.replace(aconf, holdout_salt="other"), segs, people, consents)
    assert held(other) != a
    # MERGE into a real Delta table: the rerun writes nothing
    lake = Lake.from_config(conf)
    assert write_plan(spark, lake, first, AS_OF) == 400
    assert write_plan(spark, lake, again, AS_OF) == 0


# slow tier (the default tier's 15-minute budget): test_each_suppression_reason covers the fatigue cap, and the household test a prior run's plan
@pytest.mark.slow
def test_fatigue_across_runs(spark: SparkSession, conf: Config) -> None:
    lake = Lake.from_config(conf)
    base = activation(conf)
    capped = dataclasses.replace(base, fatigue=dataclasses.replace(base.fatigue, max_contacts=1))
    segs = [seg("A", "renewal")]
    people = [person("A")]
    consents = [consent("a@example.com", "email", "opt_in")]

    def run(as_of: dt.date) -> dict:
        rows = build(
            spark, capped, segs, people, consents, prior=prior_plan(spark, lake, as_of), as_of=as_of
        ).localCheckpoint()
        write_plan(spark, lake, rows, as_of)
        return rows.first().asDict()

    day1 = run(D(2026, 6, 15))
    assert day1["status"] == "selected" and day1["campaign_id"] == "C360-RENEWAL-2026-06"
    day2 = run(D(2026, 6, 20))  # same month: already in this month's campaign
    assert day2["suppression_reason"] == "fatigue"
    assert day2["suppression_detail"] == (
        "already in campaign C360-RENEWAL-2026-06 (selected on 2026-06-15)"
    )
    day3 = run(D(2026, 7, 1))  # new campaign, but the 2026-06-16 send is within 30 days
    assert day3["suppression_detail"] == "1 contacts in the last 30 days (cap 1)"
    day4 = run(D(2026, 7, 20))  # 30 days on; day 3 was suppressed, so no entry this month
    assert day4["status"] == "selected"
    ops = lake.delta(spark, CONTACT_PLAN).history().select("operation").collect()
    assert [r.operation for r in ops].count("WRITE") == 4  # each new date an append
    # rerunning the first day after the others gives the same answer and writes nothing
    again = build(
        spark, capped, segs, people, consents, prior=prior_plan(spark, lake, D(2026, 6, 15))
    )
    assert write_plan(spark, lake, again, D(2026, 6, 15)) == 0
    by_date = lake.read(spark, CONTACT_PLAN).groupBy("plan_date").count().count()
    assert by_date == 4


def test_one_letter_per_household_per_campaign(spark: SparkSession, conf: Config) -> None:
    """Household H1: A (highest value) keeps the letter, B has nothing else and is
    suppressed, C falls back to email. H2's D and the householdless E get theirs. H3
    already had a letter this campaign (F, an earlier run), so G gets none. With the rule
    off (household_letters 0) every mail row is selected."""
    aconf = activation(conf, renewal={"conversion_value": 200000.0, "channels": ["email", "mail"]})
    addr = {"street": "CALLE UNO, 1", "postal_code": "28001", "address_valid": True}
    hh = {"A": "H1", "B": "H1", "C": "H1", "D": "H2", "E": None, "G": "H3"}
    people = [
        person(c, email=(c == "C"), household_id=h, affluence_index=100.0 + i, **addr)
        for i, (c, h) in enumerate(sorted(hh.items(), key=lambda x: x[0] != "A"))
    ]
    people = [p | {"affluence_index": 200.0} if p["customer_id"] == "A" else p for p in people]
    consents = [consent("c@example.com", "email", "opt_in")]
    segments = [seg(c, "renewal") for c in hh]
    send = AS_OF + dt.timedelta(days=aconf.send_offset_days)
    camp = plan.campaign_id("renewal", plan.period_of(send, "month"))
    prior = frame(
        spark,
        G.CONTACT_PLAN,
        [
            {
                "plan_date": AS_OF - dt.timedelta(days=7),
                "send_date": send - dt.timedelta(days=7),
                "customer_id": "F",
                "household_id": "H3",
                "contact_plan": "renewal",
                "campaign_id": camp,
                "status": "selected",
                "channel": "mail",
            }
        ],
    )
    got = build(spark, aconf, segments, people, consents, prior=prior)
    expected = spark.createDataFrame(
        [
            ("A", "renewal", "selected", None, "mail"),
            ("B", "renewal", "suppressed", "household_already_contacted", None),
            ("C", "renewal", "selected", None, "email"),
            ("D", "renewal", "selected", None, "mail"),
            ("E", "renewal", "selected", None, "mail"),
            ("G", "renewal", "suppressed", "household_already_contacted", None),
        ],
        "customer_id string, contact_plan string, status string, suppression_reason string, "
        "channel string",
    )
    assert_df_equality(status_of(got), expected, ignore_row_order=True, ignore_nullable=True)
    c = got.filter("customer_id = 'C'").first()
    assert c["channel_reasons"]["mail"] == "household_already_contacted"
    assert "mail household_already_contacted" in c["why_channel"]
    assert c["household_id"] == "H1" and c["street"] is None  # no letter, no address
    off = dataclasses.replace(
        aconf, fatigue=dataclasses.replace(aconf.fatigue, household_letters=0)
    )
    got = build(spark, off, segments, people, consents, prior=prior)
    assert {r["customer_id"] for r in got.collect() if r["channel"] == "mail"} == set(hh)
    assert got.filter("status != 'selected'").count() == 0


def test_a_company_is_addressed_through_its_fleet_contact(
    spark: SparkSession, conf: Config
) -> None:
    """K1's active fleet manager P1 gets K1's email (P1's consent, P1's address and
    name; the purchasing contact P2 ranks after). K2's contact P3 never opted in: no email
    although K2's own address did. K3's only contact left (inactive): K3 is written to
    itself. P1's own plan row is untouched by being a contact."""
    aconf = activation(conf, renewal={"channels": ["email"]})
    co = {"party_type": "company", "gender": None, "given_name": None}
    people = [
        person("K1", company_name="K1 SL", **co),
        person("K2", company_name="K2 SA", **co),
        person("K3", company_name="K3 SL", **co),
        person("P1", salutation="Sra.", family_name="Garcia"),
        person("P2"),
        person("P3"),
        person("P4", email=False),  # the messy row: a contact with no email at all
    ]
    consents = [
        consent(f"{c.lower()}@example.com", "email", "opt_in") for c in ("K1", "K2", "K3", "P1")
    ]
    link = {"source": "fleet_contacts", "since": D(2020, 1, 1), "active": True}
    contacts = [
        {"company_id": "K1", "customer_id": "P2", "role": "purchasing", **link},
        {"company_id": "K1", "customer_id": "P1", "role": "fleet manager", **link},
        {"company_id": "K2", "customer_id": "P3", "role": "fleet manager", **link},
        {"company_id": "K3", "customer_id": "P4", "role": "fleet manager", **link}
        | {"active": False},
    ]
    segments = [
        seg(c, "renewal", party_type="company", account_type="fleet") for c in ["K1", "K2", "K3"]
    ]
    segments.append(seg("P1", "renewal"))
    got = build(spark, aconf, segments, people, consents, account_contacts=contacts)
    rows = {r["customer_id"]: r for r in got.collect()}
    k1 = rows["K1"]
    assert (k1["status"], k1["channel"], k1["email"]) == ("selected", "email", "p1@example.com")
    assert (k1["contact_person_id"], k1["given_name"], k1["family_name"]) == ("P1", "NP1", "Garcia")
    assert (k1["salutation"], k1["company_name"], k1["image"]) == (
        "Sra.",
        "K1 SL",
        "renewal/business",
    )
    k2 = rows["K2"]
    assert k2["contact_person_id"] == "P3" and k2["status"] == "suppressed"
    assert k2["channel_reasons"] == {"email": "no_consent"} and k2["email"] is None
    k3 = rows["K3"]
    assert k3["contact_person_id"] is None and k3["email"] == "k3@example.com"
    assert rows["P1"]["contact_person_id"] is None and rows["P1"]["email"] == "p1@example.com"
    # without the table, every company is written to itself
    plain = {r["customer_id"]: r for r in build(spark, aconf, segments, people, consents).collect()}
    assert plain["K2"]["email"] == "k2@example.com" and plain["K1"]["contact_person_id"] is None


def test_plan_config_errors_name_the_plan(spark: SparkSession, conf: Config) -> None:
    bad_stage = activation(conf, renewal={"stages": ["renewals"]})
    with pytest.raises(ConfigError, match=r"activation.plans.renewal.stages"):
        plan.check_plans(bad_stage)
    same_priority = activation(conf, renewal={"priority": 1})
    with pytest.raises(ConfigError, match=r"priority 1 is also order's"):
        plan.check_plans(same_priority)
    bad_where = activation(conf, renewal={"where": "no_such_column > 1"})
    with pytest.raises(ConfigError, match=r"activation.plans.renewal.where"):
        build(spark, bad_where, [seg("A", "renewal")], [person("A")], [])


def test_export_files_per_channel_and_manifest(
    spark: SparkSession, conf: Config, tmp_path: Path
) -> None:
    aconf = activation(conf)
    people = [
        person("E1", given_name='=HYPERLINK("http://x")', family_name='O\'Brien, "Jr"'),
        person(
            "M1",
            email=False,
            street="CALLE MAYOR, 1",
            postal_code="28001",
            city="Madrid",
            address_valid=True,
        ),
        person("S1", email=False, phone="+34600000009", phone_valid=True, phone_mobile=True),
        person("X1", email=False),  # nothing: suppressed, not exported
    ]
    consents = [
        consent("e1@example.com", "email", "opt_in"),
        consent("+34600000009", "sms", "opt_in"),
    ]
    segs = [seg(c, "brand_commitment") for c in ("E1", "M1", "S1", "X1")]
    rows = build(spark, aconf, segs, people, consents)
    lake = Lake.from_config(conf)
    write_plan(spark, lake, rows, AS_OF)
    table = lake.read(spark, CONTACT_PLAN)
    root = tmp_path / "exports"
    manifest = export.write_export(table, str(root), AS_OF)
    folder = root / "2026-06-15"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "brand_commitment__email.csv",
        "brand_commitment__mail.csv",
        "brand_commitment__sms.csv",
        "manifest.json",
    ]
    files = {f["channel"]: f for f in manifest["files"]}
    for ch, f in files.items():
        data = (folder / f["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
        lines = list(csv.DictReader(data.decode().splitlines()))
        assert len(lines) == f["rows"] == 1
        header = set(lines[0])
        assert header == set(export.fields_for(ch))
    mail = next(csv.DictReader((folder / "brand_commitment__mail.csv").open()))
    assert "email" not in mail and "phone" not in mail and mail["postal_code"] == "28001"
    sms = next(csv.DictReader((folder / "brand_commitment__sms.csv").open()))
    assert "street" not in sms and "email" not in sms and sms["phone"] == "+34600000009"
    mail_row = next(csv.DictReader((folder / "brand_commitment__email.csv").open()))
    assert mail_row["given_name"] == '\'=HYPERLINK("http://x")'  # not a formula any more
    assert mail_row["family_name"] == 'O\'Brien, "Jr"'  # quoted, round-trips
    assert manifest["rows"] == 3 and manifest["run_id"] == "run-1"
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    export.write_export(lake.read(spark, CONTACT_PLAN), str(root), AS_OF)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in root.iterdir()) == ["2026-06-15"]  # no temp folder left


def newcombe_by_hand(xt: int, nt: int, xc: int, nc: int) -> tuple[float, float]:
    """Newcombe (1998) method 10, written out from the paper for the known answer."""
    z = 1.959963984540054

    def wilson(x: int, n: int) -> tuple[float, float]:
        p = x / n
        c = (p + z * z / (2 * n)) / (1 + z * z / n)
        h = z / (1 + z * z / n) * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5)
        return c - h, c + h

    pt, pc = xt / nt, xc / nc
    (lt, ut), (lc, uc) = wilson(xt, nt), wilson(xc, nc)
    d = pt - pc
    return (
        d - ((pt - lt) ** 2 + (uc - pc) ** 2) ** 0.5,
        d + ((ut - pt) ** 2 + (pc - lc) ** 2) ** 0.5,
    )


def test_campaign_results_known_answer(spark: SparkSession, conf: Config) -> None:
    aconf = activation(conf)
    send = D(2026, 6, 16)
    rows = [
        {
            "plan_date": AS_OF,
            "customer_id": cid,
            "contact_plan": "after_sales_in_warranty",
            "campaign_id": "C360-AFTER_SALES_IN_WARRANTY-2026-06",
            "status": status,
            "send_date": send,
            "channel": "email",
        }
        for cid, status in [
            ("T1", "selected"),
            ("T2", "selected"),
            ("T3", "selected"),
            ("T4", "selected"),
            ("K1", "held_out"),
            ("K2", "held_out"),
            ("K3", "held_out"),
            ("K4", "held_out"),
            ("Z1", "suppressed"),
        ]
    ]
    plan_table = frame(spark, G.CONTACT_PLAN, rows)
    visits = spark.createDataFrame(
        [
            ("T1", D(2026, 6, 20), Decimal("100.00")),
            ("T1", D(2026, 6, 25), Decimal("50.00")),
            ("T2", D(2026, 7, 10), Decimal("80.00")),
            ("T3", D(2026, 8, 1), Decimal("90.00")),  # after the 30-day window
            ("K1", D(2026, 6, 30), Decimal("120.00")),
            ("Z1", D(2026, 6, 30), Decimal("120.00")),  # not in the audience
            ("T4", D(2026, 6, 16), Decimal("10.00")),  # same day as the send: not after
        ],
        "customer_id string, open_date date, total_amount decimal(14,2)",
    )
    sales = spark.createDataFrame([], "customer_id string, sale_date date, price decimal(14,2)")
    events = spark.createDataFrame(
        [
            event("T1", "sent", send, camp="C360-AFTER_SALES_IN_WARRANTY-2026-06"),
            event("T2", "sent", send, camp="C360-AFTER_SALES_IN_WARRANTY-2026-06"),
            event("T3", "sent", send, camp="C360-AFTER_SALES_IN_WARRANTY-2026-06"),
            event("T3", "opened", send, camp="C360-AFTER_SALES_IN_WARRANTY-2026-06"),
        ],
        EVENTS,
    )
    campaigns = frame(spark, S.CAMPAIGNS, [])
    segments = spark.createDataFrame(
        [("T1", "a1"), ("K1", None)], "customer_id string, segment string"
    )
    got = results.campaign_results(
        plan_table, events, campaigns, visits, sales, segments, aconf, D(2026, 9, 1), "r"
    )
    row = got.filter("level = 'campaign'").first()
    assert (row["targeted"], row["held_out"], row["sent"], row["opened"]) == (4, 4, 3, 1)
    # converted: T1 (2 visits), T2 -> 2 / 4; control: K1 -> 1 / 4
    assert row["service_conversions"] == 3 and row["converted_customers"] == 2
    assert row["treated_rate"] == 0.5 and row["control_rate"] == 0.25
    assert row["lift"] == pytest.approx(0.25)
    assert row["incremental_conversions"] == pytest.approx(1.0)
    low, high = newcombe_by_hand(2, 4, 1, 4)
    assert row["lift_ci_low"] == pytest.approx(low, abs=1e-9)
    assert row["lift_ci_high"] == pytest.approx(high, abs=1e-9)
    assert row["revenue"] == Decimal("230.00")
    assert row["incremental_revenue"] == pytest.approx((230 / 4 - 120 / 4) * 4)
    assert row["cost"] == Decimal("0.15")  # three sends at 0.05
    assert row["roi"] == pytest.approx((110 - 0.15) / 0.15)
    assert row["window_complete"] is True and row["source"] == "contact_plan"
    segs = {r["segment"]: r["targeted"] for r in got.filter("level = 'segment'").collect()}
    assert segs == {"a1": 1, "unknown": 3}
    # before the window closes the row says so
    early = results.campaign_results(
        plan_table, events, campaigns, visits, sales, segments, aconf, D(2026, 7, 1), "r"
    )
    assert early.filter("level = 'campaign'").first()["window_complete"] is False
