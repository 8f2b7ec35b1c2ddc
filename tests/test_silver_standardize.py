"""Column helpers for silver: tiny inline frames, each with a None row and a messy row."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.silver import standardize as st
from c360.silver.phones import e164_reference, phone_e164
from c360.silver.sentiment import sentiment_label, sentiment_score
from c360.silver.sources import Typed, looks_like_company, select_typed, split_full_name


def one_col(spark: SparkSession, values: list, name: str = "x", typ: str = "string") -> DataFrame:
    return spark.createDataFrame([(v,) for v in values], f"{name} {typ}")


def mapped(spark: SparkSession, values: list, fn, typ: str = "string") -> list:
    """Apply a Column helper to each value; results in input order."""
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, x string")
    rows = df.select("i", fn(F.col("x")).alias("y")).orderBy("i").collect()
    return [r.y for r in rows]


def test_blank_to_null_and_nfc(spark: SparkSession) -> None:
    decomposed = unicodedata.normalize("NFD", "José Núñez")
    assert decomposed != "José Núñez"
    df = one_col(spark, ["  Ana   María ", "   ", "", None, decomposed, "\u00a0Luis\u00a0"])
    got = df.select(st.clean_text(F.col("x")).alias("x"))
    want = one_col(spark, ["Ana María", None, None, None, "José Núñez", "Luis"])
    assert_df_equality(got, want)


def test_name_case(spark: SparkSession) -> None:
    got = mapped(
        spark,
        ["GARCÍA  lópez", "maría de la o", "ruiz-mateos", "o'neill", None, "  "],
        st.name_case,
    )
    assert got == ["García López", "María de la O", "Ruiz-Mateos", "O'Neill", None, None]


def test_salutation_and_gender(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [
            ("Sra. Ana Pérez",),
            ("D. luis garcia",),
            ("DÑA carmen",),
            ("Alberto Ruiz",),
            (None,),
            ("Sr.",),
        ],
        "x string",
    )
    tok = st.salutation_token(F.col("x"))
    got = df.select(
        st.salutation_display(tok).alias("salutation"),
        st.without_salutation(F.col("x")).alias("rest"),
        F.coalesce(
            st.gender_from_salutation(tok),
            st.gender_from_given_name(st.without_salutation(F.col("x"))),
        ).alias("gender"),
    )
    want = spark.createDataFrame(
        [
            ("Sra.", "Ana Pérez", "F"),
            ("D.", "luis garcia", "M"),
            ("Dña.", "carmen", "F"),
            (None, "Alberto Ruiz", "M"),
            (None, None, None),
            ("Sr.", None, "M"),
        ],
        "salutation string, rest string, gender string",
    )
    assert_df_equality(got, want, ignore_nullable=True)


def test_split_full_name(spark: SparkSession) -> None:
    got = mapped(
        spark,
        ["Ana Garcia", "garcia ana", "GARCIA LOPEZ, ANA", "Zyx Qwerty", "Cher", None],
        lambda c: F.concat_ws("|", split_full_name(c)["given"], split_full_name(c)["family"]),
    )
    assert got == [
        "Ana|Garcia",
        "ana|garcia",
        "ANA|GARCIA LOPEZ",
        "Zyx|Qwerty",
        "Cher",  # one word: the family name, no given name
        "",
    ]


def test_looks_like_company(spark: SparkSession) -> None:
    got = mapped(
        spark,
        [
            "Transportes Gómez S.L.",
            "ACME SA",
            "Ana S. Lopez",
            "Talleres Ruiz, SLU",
            None,
            # legal forms damaged by a typo
            "Reparto Garcías.l.",
            "Frutas Lozano S..l",
            "Frutas Santana Sll.",
            "Flota Molina Sa..",
            "Construcciones Schmidt Sla.",
            # persons that only look a little like it
            "Ana Sal.",
            "Luis Garcías",
            "María L.",
        ],
        looks_like_company,
    )
    assert got == [True, True, False, True, False] + [True] * 5 + [False] * 3


def test_email(spark: SparkSession) -> None:
    df = one_col(
        spark,
        [" Ana.Garcia@Gmail.COM ", "mailto:luis@x.es", "<eva@y.com>", "no-at-sign", "a@b", None],
    )
    clean = st.email_clean(F.col("x"))
    got = df.select(clean.alias("email"), st.email_valid(clean).alias("valid"))
    want = spark.createDataFrame(
        [
            ("ana.garcia@gmail.com", True),
            ("luis@x.es", True),
            ("eva@y.com", True),
            ("no-at-sign", False),
            ("a@b", False),
            (None, None),
        ],
        "email string, valid boolean",
    )
    assert_df_equality(got, want, ignore_nullable=True)


# Formats the sources export, plus foreign and broken numbers for the fallback.
PHONE_CORPUS = [
    "612345678",
    "612 34 56 78",
    "612.345.678",
    "+34 612 345 678",
    "0034-612345678",
    "(+34) 912 345 678",
    "34612345678",
    "+34612345678",
    "912345678",
    "+44 20 7946 0958",
    "+33 1 42 68 53 00",
    "+49 30 901820",
    "12345",
    "phone",
    "",
    "512345678",
    None,
]


def test_phone_native_path_agrees_with_phonenumbers(spark: SparkSession) -> None:
    native = mapped(spark, PHONE_CORPUS, st.phone_e164_es)
    reference = [e164_reference(v) for v in PHONE_CORPUS]
    for raw, mine, ref in zip(PHONE_CORPUS, native, reference, strict=True):
        if mine is not None:  # where the native path answers, it must agree
            assert mine == ref, raw
    # it reads every Spanish export style itself; only the rest pays for Python
    assert all(native[i] is not None for i in range(9))
    assert native[PHONE_CORPUS.index("512345678")] is None  # valid 5xx: left to phonenumbers


def test_phone_e164_falls_back_to_phonenumbers(spark: SparkSession) -> None:
    got = mapped(spark, PHONE_CORPUS, phone_e164)
    assert got == [e164_reference(v) for v in PHONE_CORPUS]
    assert got[9] == "+442079460958"
    assert mapped(spark, ["+34612345678", "+34912345678", None], st.phone_is_mobile) == [
        True,
        False,
        None,
    ]


def test_address(spark: SparkSession) -> None:
    assert mapped(
        spark,
        ["c/ Mayor , 5", "Avda. de la Paz 3", "Pº del Prado 1", "PLAZA ESPAÑA 2", None],
        st.street_clean,
    ) == [
        "CALLE Mayor, 5".upper(),
        "AVENIDA DE LA PAZ 3",
        "PASEO DEL PRADO 1",
        "PLAZA ESPAÑA 2",
        None,
    ]
    assert mapped(
        spark, ["28001", "8001", " 08 001", "99000", "2800A", None], st.postal_code_es
    ) == [
        "28001",
        "08001",
        "08001",
        None,
        None,
        None,
    ]
    assert mapped(spark, ["A CORUÑA", "las palmas de gran canaria"], st.city_clean) == [
        "A Coruña",
        "Las Palmas de Gran Canaria",
    ]


def test_dates_money_numbers(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [
            ("03/11/2026", "1.234,50", "12", "2026-11-03T10:00:00+01:00"),
            ("2026-11-03", "€ 99,9", " 1.000 ", "2026-11-03 10:00:00"),
            ("31/02/2026", "abc", "1e3", "yesterday"),
            (None, None, None, None),
        ],
        "d string, m string, n string, t string",
    )
    got = df.select(
        st.parse_date(F.col("d"), "dd/MM/yyyy", "yyyy-MM-dd").alias("d"),
        st.money(F.col("m"), decimal_comma=True).alias("m"),
        st.to_int(F.col("n")).alias("n"),
        st.parse_timestamp(F.col("t"), "yyyy-MM-dd'T'HH:mm:ssXXX", "yyyy-MM-dd HH:mm:ss").alias(
            "t"
        ),
    )
    want = spark.createDataFrame(
        [
            (dt.date(2026, 11, 3), Decimal("1234.50"), 12, dt.datetime(2026, 11, 3, 9, 0)),
            (dt.date(2026, 11, 3), Decimal("99.90"), 1000, dt.datetime(2026, 11, 3, 10, 0)),
            (None, None, None, None),
            (None, None, None, None),
        ],
        "d date, m decimal(14,2), n int, t timestamp",
    )
    assert_df_equality(got, want, ignore_nullable=True)


def test_unparseable_value_stays_raw_with_flag(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [
            ("1", "03/11/2026", "f1", "b1", 1),
            ("2", "31/02/2026", "f1", "b1", 2),
            ("3", None, "f1", "b1", 3),
        ],
        "id string, d string, _source_file string, _batch_id string, _row_number long",
    )
    out = select_typed(
        df, {"id": F.col("id"), "d": Typed(st.parse_date(F.col("d"), "dd/MM/yyyy"), F.col("d"))}
    )
    got = out.select("id", "d", "_unparsed").orderBy("id").collect()
    assert [(r.id, r.d, r._unparsed) for r in got] == [
        ("1", dt.date(2026, 11, 3), {}),
        ("2", None, {"d": "31/02/2026"}),  # never a guess: NULL, raw text kept
        ("3", None, {}),  # missing is not unparseable
    ]


@pytest.mark.parametrize(
    ("vin", "valid"),
    [
        ("1M8GDM9AXKP042788", True),  # the ISO 3779 textbook example, check digit X
        ("1m8-gdm9ax kp042788", True),  # messy spelling of the same VIN
        ("1M8GDM9A1KP042788", False),  # wrong check digit
        ("1M8GDM9AXKP04278", False),  # 16 characters
        ("1M8GDM9AXKPO42788", False),  # letter O is not allowed
        (None, None),
    ],
)
def test_vin_check_digit(spark: SparkSession, vin: str | None, valid: bool | None) -> None:
    df = one_col(spark, [vin])
    row = df.select(st.vin_valid(st.vin_clean(F.col("x"))).alias("v")).collect()[0]
    assert row.v is valid


def test_sentiment_in_the_comment_language(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [
            ("Excelente servicio, muy amables", "es"),
            ("no estoy contento, muy mal", "es"),
            ("Terrible wait, very rude staff", "en"),
            ("not good at all", "en"),
            ("Accueil parfait, merci", "fr"),
            (None, "es"),
            ("12345 ???", "de"),
        ],
        "comment string, lang string",
    )
    score = sentiment_score(F.col("comment"), F.col("lang"))
    rows = df.select(score.alias("s"), sentiment_label(score).alias("l")).collect()
    labels = [r.l for r in rows]
    assert labels == ["positive", "negative", "negative", "negative", "positive", None, "neutral"]
    assert rows[0].s > 0.25 and rows[1].s < -0.25
    assert all(r.s is None or -1.0 <= r.s <= 1.0 for r in rows)
