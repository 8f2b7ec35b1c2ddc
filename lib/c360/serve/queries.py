"""The lookups, as SQL over a ``Snapshot``: search, a customer's 360, why one customer, a
vehicle. Every answer leaves out erased customers (``ops.erasure_log``: started or
done), so a person is gone from the service as soon as their erasure lands, even before
the tables it rewrites do."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from dataclasses import dataclass
from typing import Any

from c360.errors import C360Error
from c360.serve import normalize as nz
from c360.serve.snapshot import Snapshot

SEARCH_KINDS = ("email", "phone", "vin", "name")
NOT_ERASED = "customer_id NOT IN (SELECT customer_id FROM erased)"


class BadRequest(C360Error):
    """A request the service cannot answer as asked: 400 with this one line."""


class NotFound(C360Error):
    """No such (current, not erased) customer or vehicle: 404."""


def jsonable(value: Any) -> Any:
    """DuckDB's Python values as JSON: dates ISO, decimals as numbers, maps as objects."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


@dataclass(frozen=True)
class Search:
    kind: str
    value: str
    postal_code: str | None = None

    @classmethod
    def parse(
        cls,
        email: str | None = None,
        phone: str | None = None,
        vin: str | None = None,
        name: str | None = None,
        postal_code: str | None = None,
    ) -> Search:
        """One kind of term, normalized as silver normalizes its column."""
        given = {
            k: v
            for k, v in (("email", email), ("phone", phone), ("vin", vin), ("name", name))
            if v is not None and v.strip()
        }
        if len(given) != 1:
            raise BadRequest("give exactly one of email, phone, vin or name (with postal_code)")
        ((kind, raw),) = given.items()
        if kind == "name":
            pc = nz.postal_code_es(postal_code)
            if pc is None:
                raise BadRequest("a name search needs a 5-digit postal_code")
            if not nz.name_tokens(raw):
                raise BadRequest("name has no letters or digits")
            return cls("name", " ".join(nz.name_tokens(raw)), pc)
        clean = {"email": nz.email_clean, "phone": nz.phone_e164, "vin": nz.vin_clean}[kind](raw)
        if clean is None:
            raise BadRequest(f"the {kind} is not a valid {kind} once normalized")
        return cls(kind, clean)


def search(snap: Snapshot, term: Search, limit: int) -> list[dict[str, Any]]:
    """Matching customers, each with why it matched: the field and the records carrying it."""
    if term.kind == "name":
        tokens = term.value.split()
        like = " AND ".join(["name LIKE ?"] * len(tokens))
        hits = snap.query(
            f"SELECT customer_id, record_key, source FROM search_names"
            f" WHERE postal_code = ? AND {like}",
            [term.postal_code, *(f"%{t}%" for t in tokens)],
        )
        field = "name and postal code"
    else:
        hits = snap.query(
            "SELECT customer_id, record_key, source FROM search_keys WHERE value = ? AND kind = ?",
            [term.value, term.kind],
        )
        field = term.kind
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for h in hits:
        by_customer.setdefault(h["customer_id"], []).append(h)
    if not by_customer:
        return []
    ids = sorted(by_customer)
    marks = ",".join("?" * len(ids))
    rows = snap.query(
        f"SELECT customer_id, party_type, full_name, city, postal_code, lifecycle_stage,"
        f" vehicles_current FROM c360 WHERE customer_id IN ({marks}) AND {NOT_ERASED}"
        " ORDER BY full_name, customer_id",
        ids,
    )
    out = []
    for r in rows[:limit]:
        recs = sorted(by_customer[r["customer_id"]], key=lambda h: h["record_key"])
        sources = sorted({h["source"] for h in recs})
        r["match"] = {
            "field": field,
            "records": [h["record_key"] for h in recs],
            "reason": f"{field} on {len(recs)} record(s) from {', '.join(sources)}",
        }
        out.append(jsonable(r))
    return out


def _one(snap: Snapshot, table: str, customer_id: str) -> dict[str, Any]:
    rows = snap.query(
        f"SELECT * FROM {table} WHERE customer_id = ? AND {NOT_ERASED}", [customer_id]
    )
    if not rows:
        raise NotFound(f"no current customer {customer_id}")
    return rows[0]


# The 360's sections: gold.customer_360 columns by what a desk clerk looks for.
GROUPS: dict[str, list[str]] = {
    "profile": [
        "party_type",
        "account_type",
        "salutation",
        "given_name",
        "family_name",
        "full_name",
        "company_name",
        "birth_date",
        "street",
        "postal_code",
        "city",
        "region",
        "market_segment",
        "lifecycle_stage",
        "first_seen",
        "records",
        "sources",
    ],
    "service": [
        "last_service_date",
        "service_visits_12m",
        "service_visits_36m",
        "service_spend_12m",
        "service_spend_36m",
        "warranty_visits_36m",
        "paid_visits_36m",
        "preferred_dealer_code",
        "preferred_dealer_name",
        "preferred_dealer_basis",
    ],
    "loyalty": ["loyalty_tier", "loyalty_points", "loyalty_status"],
    "voice": [
        "latest_nps",
        "latest_csat",
        "latest_survey_date",
        "latest_sentiment",
        "avg_sentiment_score",
    ],
    "scores": ["renewal_score", "renewal_decile", "churn_score", "churn_decile", "score_versions"],
}

CONTACT_CHANNELS = (
    ("email", "email", "email_valid", "email_consent"),
    ("sms", "phone", "phone_mobile", "sms_consent"),
    ("telemarketing", "phone", "phone_valid", "telemarketing_consent"),
    ("mail", "street", "address_valid", "mail_consent"),
)


def customer_360(snap: Snapshot, customer_id: str) -> dict[str, Any]:
    row = _one(snap, "c360", customer_id)
    contactable = set(row.get("contactable_channels") or [])
    contact_points = [
        {
            "channel": channel,
            "point": row.get(point) if channel != "mail" else _address(row),
            "valid": row.get(valid),
            "consent": row.get(consent),
            "contactable": channel in contactable,
        }
        for channel, point, valid, consent in CONTACT_CHANNELS
    ]
    household = []
    if row.get("household_id"):
        household = snap.query(
            "SELECT customer_id, full_name FROM c360 WHERE household_id = ?"
            f" AND customer_id <> ? AND {NOT_ERASED} ORDER BY customer_id",
            [row["household_id"], customer_id],
        )
    # a company's contact persons, or the companies a person is the contact of
    accounts = snap.query(
        "SELECT a.company_id, a.customer_id, a.role, a.since, a.active,"
        " c.full_name AS company_name, p.full_name AS person_name"
        " FROM accounts a JOIN c360 c ON c.customer_id = a.company_id"
        " JOIN c360 p ON p.customer_id = a.customer_id"
        " WHERE (a.company_id = ? OR a.customer_id = ?)"
        " AND a.company_id NOT IN (SELECT customer_id FROM erased)"
        " AND a.customer_id NOT IN (SELECT customer_id FROM erased)"
        " ORDER BY a.active DESC, a.role, a.customer_id, a.company_id",
        [customer_id, customer_id],
    )
    plan = (
        snap.query(
            "SELECT plan_date, contact_plan, campaign_id, status, suppression_reason,"
            " suppression_detail, channel, offer, send_date, why_customer, why_plan, why_offer,"
            " why_channel FROM plan WHERE customer_id = ? ORDER BY priority, contact_plan",
            [customer_id],
        )
        if snap.has("gold.contact_plan")
        else []
    )
    return jsonable(
        {
            "customer_id": customer_id,
            **{group: {k: row.get(k) for k in cols} for group, cols in GROUPS.items()},
            "contact_points": contact_points,
            "vehicles": row.get("vehicles") or [],
            "contact_plan": plan,
            "household": {"household_id": row.get("household_id"), "members": household},
            "account_contacts": accounts,
            "as_of": row.get("as_of"),
        }
    )


def _address(row: dict[str, Any]) -> str | None:
    parts = [row.get("street"), row.get("postal_code"), row.get("city")]
    return ", ".join(p for p in parts if p) or None


def pseudo_360(snap: Snapshot, customer_key: str) -> dict[str, Any]:
    """A pseudo token names a customer by its keyed hash, as the pseudonymized tables do
    (an erased customer's row is deleted from them by the erasure itself)."""
    rows = snap.query("SELECT * FROM c360_pseudo WHERE customer_key = ?", [customer_key])
    if not rows:
        raise NotFound(f"no current customer {customer_key}")
    return jsonable(rows[0])


def why(snap: Snapshot, customer_id: str) -> dict[str, Any]:
    """The member records, the links among them with their rules and field weights, the
    guards that ran on them, the id's events, and the record behind each golden field."""
    golden = _one(snap, "customers", customer_id)
    records = snap.query(
        "SELECT c.record_key, c.source, c.source_record_id, c.party_type, c.first_seen,"
        " c.last_seen, c.flagged, r.full_name, r.email, r.phone, r.postal_code, r.vin,"
        " r.record_date FROM crosswalk c LEFT JOIN records r USING (source, source_record_id)"
        " WHERE c.customer_id = ? AND NOT c.is_deleted ORDER BY c.record_key",
        [customer_id],
    )
    keys = [r["record_key"] for r in records]
    links: list[dict[str, Any]] = []
    overrides: list[dict[str, Any]] = []
    if keys:
        marks = ",".join("?" * len(keys))
        links = snap.query(
            "SELECT record_key_l, record_key_r, method, rules, match_probability, match_weight,"
            " weights, status, veto_reasons, as_of FROM links"
            f" WHERE record_key_l IN ({marks}) OR record_key_r IN ({marks})"
            " ORDER BY record_key_l, record_key_r, method",
            [*keys, *keys],
        )
        overrides = snap.query(
            "SELECT record_key_a, record_key_b, kind, reason FROM overrides"
            f" WHERE record_key_a IN ({marks}) OR record_key_b IN ({marks})",
            [*keys, *keys],
        )
    member = set(keys)
    for lk in links:
        lk["within"] = lk["record_key_l"] in member and lk["record_key_r"] in member
    events = snap.query(
        "SELECT event, customer_id, other_id, records, evidence, as_of FROM changelog"
        " WHERE customer_id = ? OR other_id = ? ORDER BY as_of, event",
        [customer_id, customer_id],
    )
    for e in events:
        e["evidence"] = json.loads(e["evidence"]) if e.get("evidence") else None
    c360 = snap.query("SELECT * FROM c360 WHERE customer_id = ?", [customer_id])
    values = c360[0] if c360 else {}
    fields = [
        {
            "field": f,
            "value": values.get(f),
            "source": (p or {}).get("source"),
            "source_record_id": (p or {}).get("source_record_id"),
            "rule": (p or {}).get("rule"),
        }
        for f, p in sorted((golden.get("provenance") or {}).items())
    ]
    guards = {
        "vetoed_links": [lk for lk in links if lk["status"] == "vetoed"],
        "flagged_records": [r["record_key"] for r in records if r["flagged"]],
        "overrides": overrides,
    }
    return jsonable(
        {
            "customer_id": customer_id,
            "sources": golden.get("sources"),
            "records": records,
            "links": links,
            "guards": guards,
            "events": events,
            "golden_fields": fields,
        }
    )


def vehicle(snap: Snapshot, vin_raw: str) -> dict[str, Any]:
    """``gold.vehicles`` and ``gold.vehicle_owners``; on a lake built before them, the
    silver vehicle and owner records."""
    vin = nz.vin_clean(vin_raw)
    if vin is None:
        raise BadRequest("the vin is empty once normalized")
    if snap.has("gold.vehicles"):
        rows = snap.query("SELECT * FROM gold_vehicles WHERE vin = ?", [vin])
        owners = snap.query(
            "SELECT customer_id, ownership, start_date, end_date, source, last_evidence"
            f" FROM vehicle_owners WHERE vin = ? AND {NOT_ERASED}"
            " ORDER BY start_date NULLS LAST, customer_id",
            [vin],
        )
    else:
        rows = snap.query("SELECT * EXCLUDE (_run_id) FROM vehicles WHERE vin = ?", [vin])
        owners = snap.query(
            "SELECT c.customer_id, o.role, o.start_date, o.end_date, o.source,"
            " o.source_record_id FROM ownerships o JOIN crosswalk c USING (source,"
            f" source_record_id) WHERE o.vin = ? AND NOT c.is_deleted AND c.{NOT_ERASED}"
            " ORDER BY o.start_date NULLS LAST, c.customer_id",
            [vin],
        )
    if not rows:
        raise NotFound("no such vehicle")
    return jsonable({"vehicle": rows[0], "owners": owners})


def customer_ids(payload: Any) -> list[str]:
    """The customer ids an answer returns, for the access log."""
    found: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k in ("customer_id", "other_id", "customer_key") and isinstance(x, str) and x:
                    found.add(x)
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(payload)
    return sorted(found)
