"""Per-source typing: bronze strings -> typed, standardized silver columns.

Each source has one ``type_<source>`` function, ``DataFrame -> DataFrame``. It returns
the silver table's business columns plus ``_is_deleted``, ``_change_ts`` and
``_unparsed`` (column -> raw text that could not be parsed; the typed column is then
NULL), and keeps the bronze lineage columns. Columns a file did not carry (JSON keys
appear and disappear) read as NULL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from c360.schemas import silver as S
from c360.schemas.registry import schema_of
from c360.silver import standardize as st
from c360.silver.phones import phone_e164
from c360.silver.reference import LEGAL_FORM_PATTERN
from c360.silver.sentiment import sentiment_from_tokens, sentiment_label, tokens

LINEAGE_IN = ["_source_file", "_batch_id", "_row_number"]


def col(df: DataFrame, name: str) -> Column:
    """The bronze column, or NULL when this file did not have it."""
    return F.col(name) if name in df.columns else F.lit(None).cast("string")


@dataclass(frozen=True)
class Typed:
    """A typed value and, when parsing can fail, the raw text it came from."""

    value: Column
    raw: Column | None = None


def select_typed(df: DataFrame, fields: dict[str, Column | Typed]) -> DataFrame:
    """Select typed columns plus lineage, and ``_unparsed`` for raw text that did not parse."""
    fields = {
        **fields,
        # Sources without delete markers or change times: nothing is a tombstone, and
        # landing order alone decides which version is newer.
        "_is_deleted": fields.get("_is_deleted", F.lit(False)),
        "_change_ts": fields.get("_change_ts", F.lit(None).cast("timestamp")),
    }
    typed = {k: v if isinstance(v, Typed) else Typed(v) for k, v in fields.items()}
    raws = {k: t.raw for k, t in typed.items() if t.raw is not None}
    out = df.select(
        *[t.value.alias(k) for k, t in typed.items()],
        *[st.blank_to_null(r).alias(f"_raw_{k}") for k, r in raws.items()],
        *LINEAGE_IN,
    )
    if raws:
        keys = F.array(*[F.lit(k) for k in raws])
        values = F.array(
            *[
                F.when(F.col(k).isNull() & F.col(f"_raw_{k}").isNotNull(), F.col(f"_raw_{k}"))
                for k in raws
            ]
        )
        unparsed = F.map_filter(F.map_from_arrays(keys, values), lambda _k, v: v.isNotNull())
    else:
        unparsed = F.create_map().cast("map<string,string>")
    return out.withColumn("_unparsed", unparsed).drop(*[f"_raw_{k}" for k in raws])


# --------------------------------------------------------------------------- party fields


def with_clean_strings(df: DataFrame) -> DataFrame:
    """NFC, trim and blank-to-NULL every raw column once, before any typing."""
    df = df.withColumns({c: st.clean_text(F.col(c)) for c in df.columns if not c.startswith("_")})
    if "vin" in df.columns:
        df = df.withColumn("_vin", st.vin_clean(F.col("vin")))
    return df


@st.bound
def split_full_name(t: Column) -> Column:
    """struct(given, family) from one free-text name field without its title.

    'GARCIA, ANA' is family-first. Otherwise the order is read from the given-name
    reference: 'Ana Garcia' and 'garcia ana' both give Ana / Garcia. If neither end is a
    known given name, the first word is taken as the given name.
    """
    comma = t.contains(",")
    words = F.split(t, " ")
    n = F.size(words)
    first, last = F.element_at(words, 1), F.element_at(words, -1)
    family_first = ~st.is_known_given_name(first) & st.is_known_given_name(last) & (n > 1)
    given = (
        F.when(comma, F.trim(F.substring_index(t, ",", -1)))
        .when(family_first, last)
        .when(n > 1, first)
    )
    family = (
        F.when(comma, F.trim(F.substring_index(t, ",", 1)))
        .when(family_first, F.array_join(F.slice(words, 1, F.greatest(n - 1, F.lit(1))), " "))
        .when(n > 1, F.array_join(F.slice(words, 2, 1000), " "))
        .otherwise(t)
    )
    return F.struct(given.alias("given"), family.alias("family"))


@st.bound
def looks_like_company(name: Column) -> Column:
    """A legal form at the end, intact ('S.L.') or damaged by a typo ('S..l', 'Sll.', 's.l.'
    glued to the name). A damaged form with one dot only counts when the first word is not
    a known given name, so a person written 'Ana Sal.' stays a person."""
    t = st.blank_to_null(name)
    tail = F.regexp_extract(t, r"([SsLlAaUu.\s]{3,8})$", 1)
    letters = F.length(F.regexp_replace(tail, r"[^A-Za-z]", ""))
    dots = F.length(F.regexp_replace(tail, r"[^.]", ""))
    first = F.split(F.trim(t), r"\s+").getItem(0)
    damaged = (
        (letters >= 2)
        & (letters <= 4)
        & ((dots >= 2) | ((dots >= 1) & ~st.is_known_given_name(first)))
    )
    return F.coalesce(t.rlike(LEGAL_FORM_PATTERN) | damaged, F.lit(False))


@st.bound
def company_clean(c: Column) -> Column:
    return F.upper(st.blank_to_null(c))


def with_party(
    df: DataFrame,
    *,
    party_type: Column,
    given: str | None = None,
    family: str | None = None,
    full_name: str | None = None,
    company: str | None = None,
    title: str | None = None,
    tax_id: str | None = None,
    birth_date: tuple[str, ...] | None = None,
    email: str | None = None,
    phone: str | None = None,
    street: str | None = None,
    postal_code: str | None = None,
    city: str | None = None,
) -> DataFrame:
    """Add the common party shape as ``_p_<field>`` columns, one small step at a time.

    Steps are separate projections so that nested helpers reference a column instead of
    copying a whole expression tree into every use.
    """

    def c(name: str | None) -> Column:
        return col(df, name) if name else F.lit(None).cast("string")

    df = df.withColumn("_p_party_type", party_type)
    person = F.col("_p_party_type") == "person"
    if full_name:
        df = df.withColumns(
            {
                "_p_title": st.salutation_token(c(full_name)),
                "_p_n": st.without_salutation(c(full_name)),
            }
        )
        df = df.withColumn("_p_split", split_full_name(F.col("_p_n")))
        df = df.withColumns({"_p_g0": F.col("_p_split.given"), "_p_f0": F.col("_p_split.family")})
        df = df.drop("_p_split", "_p_n")
    else:
        df = df.withColumns(
            {
                "_p_title": F.coalesce(
                    st.salutation_token(c(title)), st.salutation_token(c(given))
                ),
                "_p_g0": st.without_salutation(c(given)),
                "_p_f0": c(family),
            }
        )
    df = df.withColumns(
        {
            "_p_given_name": F.when(person, st.name_case(F.col("_p_g0"))),
            "_p_family_name": F.when(person, st.name_case(F.col("_p_f0"))),
            "_p_company_name": F.when(~person, company_clean(c(company or full_name))),
            "_p_title": F.when(person, F.col("_p_title")),
        }
    ).drop("_p_g0", "_p_f0")
    tax = F.upper(st.blank_to_null(F.regexp_replace(c(tax_id), r"[\s.\-]", "")))
    bdate = (
        st.parse_date(c(birth_date[0]), *birth_date[1:]) if birth_date else F.lit(None).cast("date")
    )
    df = df.withColumns(
        {
            "_p_salutation": st.salutation_display(F.col("_p_title")),
            "_p_gender": F.when(
                person,
                F.coalesce(
                    st.gender_from_salutation(F.col("_p_title")),
                    st.gender_from_given_name(F.col("_p_given_name")),
                ),
            ),
            "_p_full_name": F.when(~person, F.col("_p_company_name")).otherwise(
                st.blank_to_null(F.concat_ws(" ", "_p_given_name", "_p_family_name"))
            ),
            "_p_tax_id": tax,
            "_p_birth_date": bdate,
            "_p_email": st.email_clean(c(email)),
            "_p_phone": phone_e164(c(phone)),
            "_p_street": st.street_clean(c(street)),
            "_p_postal_code": st.postal_code_es(c(postal_code)),
            "_p_city": st.city_clean(c(city)),
        }
    ).drop("_p_title")
    return df.withColumns(
        {
            "_p_email_valid": st.email_valid(F.col("_p_email")),
            "_p_phone_valid": F.when(c(phone).isNotNull(), F.col("_p_phone").isNotNull()),
            "_p_phone_mobile": st.phone_is_mobile(F.col("_p_phone")),
            "_p_raw_phone": c(phone),
            "_p_raw_postal_code": c(postal_code),
            "_p_raw_birth_date": c(birth_date[0]) if birth_date else F.lit(None).cast("string"),
        }
    )


def party_fields() -> dict[str, Column | Typed]:
    """The ``_p_*`` columns of ``with_party`` under their silver names."""
    raws = {"phone", "postal_code", "birth_date"}
    return {
        name: Typed(F.col(f"_p_{name}"), F.col(f"_p_raw_{name}"))
        if name in raws
        else F.col(f"_p_{name}")
        for name in S.PARTY.names
    }


def _date(df: DataFrame, name: str, *formats: str) -> Typed:
    return Typed(st.parse_date(col(df, name), *formats), col(df, name))


def _ts(df: DataFrame, name: str, *formats: str) -> Typed:
    return Typed(st.parse_timestamp(col(df, name), *formats), col(df, name))


def _money(df: DataFrame, name: str, *, decimal_comma: bool = False) -> Typed:
    return Typed(st.money(col(df, name), decimal_comma=decimal_comma), col(df, name))


def _int(df: DataFrame, name: str) -> Typed:
    return Typed(st.to_int(col(df, name)), col(df, name))


def _vin(df: DataFrame) -> dict[str, Column]:
    """The VIN ``with_clean_strings`` cleaned into ``_vin``, and its check-digit flag."""
    return {"vin": F.col("_vin"), "vin_valid": st.vin_valid(F.col("_vin"))}


def _lower(df: DataFrame, name: str) -> Column:
    return F.lower(st.blank_to_null(col(df, name)))


def _text(df: DataFrame, name: str) -> Column:
    return col(df, name)


def _key(df: DataFrame, name: str) -> Column:
    return F.upper(st.blank_to_null(col(df, name)))


# --------------------------------------------------------------------------- sources

ISO_TS = ("yyyy-MM-dd'T'HH:mm:ssXXX", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd HH:mm:ss")


def sales_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {
        "sale_id": _key(df, "sale_id"),
        "_change_ts": _ts(df, "last_update", "dd/MM/yyyy HH:mm:ss", "dd/MM/yyyy"),
    }


def type_sales(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = sales_version(df)
    is_co = F.upper(col(df, "buyer_type")) == "C"
    df = with_party(
        df,
        party_type=F.when(is_co, "company").otherwise("person"),
        given="first_name",
        family="last_name",
        company="company_name",
        title="title",
        tax_id="tax_id",
        birth_date=("birth_date", "dd/MM/yyyy"),
        email="email",
        phone="phone",
        street="street",
        postal_code="postal_code",
        city="city",
    )
    fields: dict[str, Column | Typed] = {
        "sale_id": v["sale_id"],
        **_vin(df),
        "model": st.name_case(col(df, "model")),
        "model_year": _int(df, "model_year"),
        "trim": _text(df, "trim"),
        "new_used": F.when(_lower(df, "new_used") == "n", "new").when(
            _lower(df, "new_used") == "u", "used"
        ),
        "sale_type": _lower(df, "sale_type"),
        "sale_date": _date(df, "sale_date", "dd/MM/yyyy"),
        "price": _money(df, "price", decimal_comma=True),
        "dealer_code": _key(df, "dealer_code"),
        **party_fields(),
        "_is_deleted": F.coalesce(F.upper(col(df, "record_status")) == "D", F.lit(False)),
        "_change_ts": v["_change_ts"],
    }
    return select_typed(df, fields)


def _free_text_party(name: Column) -> Column:
    return F.when(looks_like_company(name), "company").otherwise("person")


def service_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"ro_number": _key(df, "ro_number"), "_change_ts": _ts(df, "updated_at", *ISO_TS)}


def type_service(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = service_version(df)
    df = with_party(
        df,
        party_type=_free_text_party(col(df, "customer_name")),
        full_name="customer_name",
        email="email",
        phone="phone",
        street="address",
        postal_code="postal_code",
        city="city",
    )
    fields: dict[str, Column | Typed] = {
        "ro_number": v["ro_number"],
        **_vin(df),
        "dealer_code": _key(df, "dealer"),
        "open_date": _date(df, "open_date", "yyyy-MM-dd", "dd/MM/yyyy"),
        "close_date": _date(df, "close_date", "yyyy-MM-dd", "dd/MM/yyyy"),
        "odometer_km": _int(df, "odometer"),
        "service_type": _lower(df, "service_type"),
        "labour_amount": _money(df, "labour"),
        "parts_amount": _money(df, "parts"),
        "total_amount": _money(df, "total"),
        **party_fields(),
        "_is_deleted": F.coalesce(F.upper(col(df, "deleted")) == "Y", F.lit(False)),
        "_change_ts": v["_change_ts"],
    }
    return select_typed(df, fields)


def ecommerce_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"lead_id": _key(df, "id"), "_change_ts": _ts(df, "updated_at", *ISO_TS)}


def type_ecommerce(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = ecommerce_version(df)
    df = with_party(
        df,
        party_type=F.lit("person"),
        given="first_name",
        family="last_name",
        email="email",
        phone="phone",
        postal_code="postal_code",
    )
    fields: dict[str, Column | Typed] = {
        "lead_id": v["lead_id"],
        "created_at": _ts(df, "created_at", *ISO_TS),
        "lead_type": _lower(df, "type"),
        "model_of_interest": st.name_case(col(df, "model_of_interest")),
        "lead_status": _lower(df, "status"),
        "dealer_code": _key(df, "preferred_dealer"),
        "marketing_opt_in": Typed(
            st.to_bool(col(df, "marketing_opt_in")), col(df, "marketing_opt_in")
        ),
        "expected_delivery": _date(df, "expected_delivery", "yyyy-MM-dd"),
        **party_fields(),
        "_is_deleted": F.coalesce(_lower(df, "op") == "d", F.lit(False)),
        "_change_ts": v["_change_ts"],
    }
    return select_typed(df, fields)


def finance_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"contract_id": _key(df, "contract_id"), "_change_ts": _ts(df, "updated", *ISO_TS)}


def type_finance(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = finance_version(df)
    is_co = _lower(df, "customer_type") == "business"
    us = ("MM/dd/yyyy", "yyyy-MM-dd")
    df = with_party(
        df,
        party_type=F.when(is_co, "company").otherwise("person"),
        given="first_name",
        family="last_name",
        company="company_name",
        tax_id="tax_id",
        birth_date=("birth_date", *us),
        email="email",
        phone="phone",
        street="street",
        postal_code="zip",
        city="city",
    )
    fields: dict[str, Column | Typed] = {
        "contract_id": v["contract_id"],
        **_vin(df),
        "contract_type": _lower(df, "contract_type"),
        "start_date": _date(df, "start_date", *us),
        "term_months": _int(df, "term_months"),
        "maturity_date": _date(df, "maturity_date", *us),
        "monthly_payment": _money(df, "monthly_payment"),
        "contract_status": _lower(df, "status"),
        "payoff_date": _date(df, "payoff_date", *us),
        **party_fields(),
        "_change_ts": v["_change_ts"],
    }
    return select_typed(df, fields)


def insurance_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"policy_id": _key(df, "policy_id")}


def type_insurance(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = insurance_version(df)
    df = with_party(
        df,
        party_type=_free_text_party(col(df, "policy_holder")),
        full_name="policy_holder",
        email="holder_email",
        phone="holder_phone",
        postal_code="postal_code",
    )
    fields: dict[str, Column | Typed] = {
        "policy_id": v["policy_id"],
        **_vin(df),
        "start_date": _date(df, "start", "yyyyMMdd", "yyyy-MM-dd"),
        "end_date": _date(df, "end", "yyyyMMdd", "yyyy-MM-dd"),
        "premium": _money(df, "premium", decimal_comma=True),
        "policy_status": _lower(df, "status"),
        **party_fields(),
    }
    return select_typed(df, fields)


def subscriptions_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"subscription_id": _key(df, "subscription_id")}


def type_subscriptions(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = subscriptions_version(df)
    df = with_party(
        df,
        party_type=_free_text_party(col(df, "account_name")),
        full_name="account_name",
        email="account_email",
    )
    fields: dict[str, Column | Typed] = {
        "subscription_id": v["subscription_id"],
        **_vin(df),
        "product": _text(df, "product"),
        "plan_type": _lower(df, "plan_type"),
        "start_at": Typed(st.epoch_ms(col(df, "start_ms")), col(df, "start_ms")),
        "end_at": Typed(st.epoch_ms(col(df, "end_ms")), col(df, "end_ms")),
        **party_fields(),
    }
    return select_typed(df, fields)


def loyalty_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {
        "member_id": _key(df, "member_id"),
        "_change_ts": _ts(df, "last_modified", "dd.MM.yyyy", "dd.MM.yyyy HH:mm:ss"),
    }


def type_loyalty(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = loyalty_version(df)
    df = with_party(
        df,
        party_type=F.lit("person"),
        given="first_name",
        family="last_name",
        email="email",
        phone="mobile",
        street="street",
        postal_code="post_code",
        city="town",
    )
    fields: dict[str, Column | Typed] = {
        "member_id": v["member_id"],
        "tier": st.name_case(col(df, "tier")),
        "points": _int(df, "points"),
        "enrolled_on": _date(df, "enrolled_on", "dd.MM.yyyy", "yyyy-MM-dd"),
        "member_status": _lower(df, "status"),
        **party_fields(),
        "_is_deleted": F.coalesce(F.upper(col(df, "status")) == "CLOSED", F.lit(False)),
        "_change_ts": v["_change_ts"],
    }
    return select_typed(df, fields)


def fleet_contacts_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"contact_id": _key(df, "contact_id")}


def type_fleet_contacts(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = fleet_contacts_version(df)
    df = with_party(
        df, party_type=F.lit("person"), full_name="contact_name", email="email", phone="mobile"
    )
    fields: dict[str, Column | Typed] = {
        "contact_id": v["contact_id"],
        "account_tax_id": F.upper(
            st.blank_to_null(F.regexp_replace(col(df, "company_cif"), r"[\s.\-]", ""))
        ),
        "account_name": company_clean(col(df, "company")),
        "role": _lower(df, "role"),
        "since": _date(df, "since", "dd/MM/yyyy", "yyyy-MM-dd"),
        "contact_status": _lower(df, "status"),
        **party_fields(),
    }
    return select_typed(df, fields)


def telematics_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"vin": _vin(df)["vin"], "reading_ts": _ts(df, "reading_ts", *ISO_TS)}


def type_telematics(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = telematics_version(df)
    fields: dict[str, Column | Typed] = {
        **_vin(df),
        "reading_ts": v["reading_ts"],
        "odometer_km": _int(df, "odometer_km"),
    }
    return select_typed(df, fields)


def surveys_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"response_id": _key(df, "response_id")}


def type_surveys(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = surveys_version(df)
    comment = col(df, "comment")
    lang = _lower(df, "language")
    df = df.withColumn("_tokens", tokens(comment))
    fields: dict[str, Column | Typed] = {
        "response_id": v["response_id"],
        "survey_type": _lower(df, "survey_type"),
        "vin": F.col("_vin"),
        "email": st.email_clean(col(df, "email")),
        "dealer_code": _key(df, "dealer_code"),
        "response_ts": _ts(df, "response_date", *ISO_TS),
        "nps": _int(df, "nps"),
        "csat": _int(df, "csat"),
        "comment": comment,
        "language": lang,
        "sentiment_score": F.when(
            comment.isNotNull(), sentiment_from_tokens(F.col("_tokens"), lang)
        ),
    }
    out = select_typed(df, fields)
    return out.withColumn("sentiment_label", sentiment_label(F.col("sentiment_score")))


def campaigns_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"campaign_id": _key(df, "campaign_id")}


def type_campaigns(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = campaigns_version(df)
    fields: dict[str, Column | Typed] = {
        "campaign_id": v["campaign_id"],
        "name": _text(df, "name"),
        "contact_plan": _lower(df, "contact_plan"),
        "offer": _text(df, "offer"),
        "channel": _lower(df, "channel"),
        "start_date": _date(df, "start_date", "yyyy-MM-dd"),
        "end_date": _date(df, "end_date", "yyyy-MM-dd"),
        "cost_per_contact": Typed(
            st.money(col(df, "cost_per_contact"), scale=4), col(df, "cost_per_contact")
        ),
    }
    return select_typed(df, fields)


def campaign_events_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"event_id": _key(df, "event_id")}


def type_campaign_events(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = campaign_events_version(df)
    key = st.blank_to_null(col(df, "recipient_key"))
    is_email = key.contains("@")
    is_phone = ~is_email & key.rlike(r"^[+0-9 ().\-]{7,}$")
    rtype = F.when(is_email, "email").when(is_phone, "phone").when(key.isNotNull(), "address")
    fields: dict[str, Column | Typed] = {
        "event_id": v["event_id"],
        "campaign_id": _key(df, "campaign_id"),
        "wave": _int(df, "wave"),
        "recipient_type": rtype,
        "recipient_email": F.when(is_email, st.email_clean(key)),
        "recipient_phone": F.when(is_phone, phone_e164(key)),
        "recipient_address": F.when(~is_email & ~is_phone, F.upper(key)),
        "channel": _lower(df, "channel"),
        "event": _lower(df, "event"),
        "event_ts": _ts(df, "event_ts", *ISO_TS),
    }
    return select_typed(df, fields)


def market_research_version(df: DataFrame) -> dict[str, Column | Typed]:
    raw = col(df, "postal_code")
    return {"postal_code": Typed(st.postal_code_es(raw), raw)}


def type_market_research(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = market_research_version(df)
    fields: dict[str, Column | Typed] = {
        "postal_code": v["postal_code"],
        "segment": _lower(df, "segment"),
        "affluence_index": Typed(
            st.to_double(col(df, "affluence_index")), col(df, "affluence_index")
        ),
        "study_year": _int(df, "study_year"),
    }
    return select_typed(df, fields)


def dealers_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"dealer_code": _key(df, "dealer_code")}


def type_dealers(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = dealers_version(df)
    raw = col(df, "postal_code")
    fields: dict[str, Column | Typed] = {
        "dealer_code": v["dealer_code"],
        "dealer_name": _text(df, "dealer_name"),
        "region": _text(df, "region"),
        "street": st.street_clean(col(df, "street")),
        "postal_code": Typed(st.postal_code_es(raw), raw),
        "city": st.city_clean(col(df, "city")),
        "latitude": Typed(st.to_double(col(df, "latitude")), col(df, "latitude")),
        "longitude": Typed(st.to_double(col(df, "longitude")), col(df, "longitude")),
        "active": st.to_bool(col(df, "active")),
        # not a tombstone when inactive: an inactive dealer is still a known dealer
    }
    return select_typed(df, fields)


def consents_version(df: DataFrame) -> dict[str, Column | Typed]:
    return {"consent_id": _key(df, "consent_id")}


def type_consents(df: DataFrame) -> DataFrame:
    df = with_clean_strings(df)
    v = consents_version(df)
    ctype = _lower(df, "contact_type")
    raw = st.blank_to_null(col(df, "contact_point"))
    point = (
        F.when(ctype == "email", st.email_clean(raw))
        .when(ctype == "phone", phone_e164(raw))
        .otherwise(F.upper(raw))
    )
    fields: dict[str, Column | Typed] = {
        "consent_id": v["consent_id"],
        "contact_point": Typed(point, raw),
        "contact_type": ctype,
        "channel": _lower(df, "channel"),
        "status": F.regexp_replace(_lower(df, "status"), r"[\s-]", "_"),
        "consent_source": _lower(df, "source"),
        "legal_basis": _lower(df, "legal_basis"),
        "consent_ts": _ts(df, "consent_ts", "dd/MM/yyyy HH:mm", "dd/MM/yyyy HH:mm:ss", *ISO_TS),
    }
    return select_typed(df, fields)


@dataclass(frozen=True)
class SourceModel:
    """How one bronze source becomes one silver record table."""

    source: str
    table: str
    key: tuple[str, ...]
    typer: Callable[[DataFrame], DataFrame]
    # The key columns and ``_change_ts`` (from a ``with_clean_strings`` frame): what
    # decides which landed row of a record is current. The typer uses it for those
    # columns, and reconcile types only these (``select_versions``), about a tenth of the
    # full typer's plan.
    version: Callable[[DataFrame], dict[str, Column | Typed]]
    party: bool = False  # feeds silver.party_records
    ownership_role: str | None = None  # feeds silver.ownerships with this role

    @property
    def schema(self) -> StructType:
        return schema_of(self.table)


# Processing order: reference data first, so referential checks see it.
MODELS: tuple[SourceModel, ...] = (
    SourceModel(
        source="dealers",
        table="silver.dealers",
        key=("dealer_code",),
        typer=type_dealers,
        version=dealers_version,
    ),
    SourceModel(
        source="market_research",
        table="silver.market_research",
        key=("postal_code",),
        typer=type_market_research,
        version=market_research_version,
    ),
    SourceModel(
        source="sales",
        table="silver.sales",
        key=("sale_id",),
        typer=type_sales,
        version=sales_version,
        party=True,
        ownership_role="buyer",
    ),
    SourceModel(
        source="service",
        table="silver.service_visits",
        key=("ro_number",),
        typer=type_service,
        version=service_version,
        party=True,
    ),
    SourceModel(
        source="ecommerce",
        table="silver.leads",
        key=("lead_id",),
        typer=type_ecommerce,
        version=ecommerce_version,
        party=True,
    ),
    SourceModel(
        source="finance",
        table="silver.finance_contracts",
        key=("contract_id",),
        typer=type_finance,
        version=finance_version,
        party=True,
        ownership_role="borrower",
    ),
    SourceModel(
        source="insurance",
        table="silver.insurance_policies",
        key=("policy_id",),
        typer=type_insurance,
        version=insurance_version,
        party=True,
        ownership_role="policy_holder",
    ),
    SourceModel(
        source="subscriptions",
        table="silver.subscriptions",
        key=("subscription_id",),
        typer=type_subscriptions,
        version=subscriptions_version,
        party=True,
        ownership_role="subscriber",
    ),
    SourceModel(
        source="loyalty",
        table="silver.loyalty_members",
        key=("member_id",),
        typer=type_loyalty,
        version=loyalty_version,
        party=True,
    ),
    SourceModel(
        source="fleet_contacts",
        table="silver.fleet_contacts",
        key=("contact_id",),
        typer=type_fleet_contacts,
        version=fleet_contacts_version,
        party=True,
    ),
    SourceModel(
        source="telematics",
        table="silver.telematics",
        key=("vin", "reading_ts"),
        typer=type_telematics,
        version=telematics_version,
    ),
    SourceModel(
        source="surveys",
        table="silver.surveys",
        key=("response_id",),
        typer=type_surveys,
        version=surveys_version,
    ),
    SourceModel(
        source="campaigns",
        table="silver.campaigns",
        key=("campaign_id",),
        typer=type_campaigns,
        version=campaigns_version,
    ),
    SourceModel(
        source="campaign_events",
        table="silver.campaign_events",
        key=("event_id",),
        typer=type_campaign_events,
        version=campaign_events_version,
    ),
    SourceModel(
        source="consents",
        table="silver.consent_events",
        key=("consent_id",),
        typer=type_consents,
        version=consents_version,
    ),
)
MODEL_BY_SOURCE = {m.source: m for m in MODELS}


def select_versions(bronze: DataFrame, model: SourceModel) -> DataFrame:
    """Each bronze row's typed key and ``_change_ts`` with its lineage, as ``model.typer``
    types them, without typing the rest of the row."""
    df = with_clean_strings(bronze)
    fields = {"_change_ts": F.lit(None).cast("timestamp"), **model.version(df)}
    values = {k: v.value if isinstance(v, Typed) else v for k, v in fields.items()}
    return df.select(*[v.alias(k) for k, v in values.items()], *LINEAGE_IN)
