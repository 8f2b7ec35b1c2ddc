"""Files for the campaign platform: one CSV per (plan, channel) and a manifest.

Each file carries only what its channel needs (no email in the mail file, no address in
the SMS file). Rows are sorted and the bytes fully determined by the table, so exporting
the same run again writes identical files. A cell that a spreadsheet would run as a
formula is prefixed with a quote (CSV injection)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import os
import shutil
from collections import Counter

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from c360.errors import ExportError

log = logging.getLogger(__name__)

COMMON_FIELDS = (
    "contact_id",
    "campaign_id",
    "contact_plan",
    "send_date",
    "customer_id",
    "salutation",
    "given_name",
    "family_name",
    "company_name",
    "image",
    "offer",
    "service",
    "price",
    "vehicle_model",
    "vehicle_km",
    "dealer_code",
    "dealer_name",
    "dealer_role",
)
CHANNEL_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "sms": ("phone",),
    "telemarketing": ("phone",),
    "mail": ("street", "postal_code", "city"),
}
MANIFEST = "manifest.json"


def csv_safe(c: Column) -> Column:
    """Text a spreadsheet would evaluate (=, +, -, @, tab, CR first) gets a leading quote;
    a plain signed number (an E.164 phone) is left alone."""
    s = c.cast("string")
    formula = s.rlike(r"^[=+\-@\t\r]") & ~s.rlike(r"^[+\-]?[0-9][0-9 .]*$")
    return F.when(formula, F.concat(F.lit("'"), s)).otherwise(s)


def fields_for(channel: str) -> tuple[str, ...]:
    return COMMON_FIELDS + CHANNEL_FIELDS[channel]


def file_name(plan: str, channel: str) -> str:
    return f"{plan}__{channel}.csv"


def export_rows(plan_table: DataFrame, as_of: dt.date) -> DataFrame:
    """Selected rows of one plan date, every field as CSV-safe text, in file order."""
    every = list(dict.fromkeys(f for ch in CHANNEL_FIELDS for f in fields_for(ch)))
    rows = plan_table.filter((F.col("plan_date") == F.lit(as_of)) & (F.col("status") == "selected"))
    return rows.select("run_id", "channel", *[csv_safe(F.col(f)).alias(f) for f in every]).orderBy(
        "contact_plan", "channel", "contact_id"
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_export(plan_table: DataFrame, root: str, as_of: dt.date) -> dict:
    """Write ``<root>/<as_of>/`` atomically (temp folder, then rename); returns the manifest.

    The folder must be on a file system the driver writes (local disk or a mount)."""
    if "://" in root or root.startswith("file:"):
        raise ExportError(
            f"activation.export_root {root}: the driver writes the export files itself; "
            "give a local or mounted folder, not a URI"
        )
    final = os.path.join(root, as_of.isoformat())
    tmp = os.path.join(root, f".{as_of.isoformat()}.tmp")
    try:
        os.makedirs(root, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    except OSError as exc:
        raise ExportError(f"cannot write the export folder {root}: {exc}") from None
    files: list[dict] = []
    runs: Counter[str] = Counter()
    current: tuple[str, str] | None = None
    buf: io.StringIO | None = None
    writer = None

    def close() -> None:
        if current is None or buf is None:
            return
        data = buf.getvalue().encode("utf-8")
        name = file_name(*current)
        with open(os.path.join(tmp, name), "wb") as fh:
            fh.write(data)
        files[-1].update(sha256=_digest(data), bytes=len(data))

    for row in export_rows(plan_table, as_of).toLocalIterator():
        key = (row["contact_plan"], row["channel"])
        if key != current:
            close()
            current = key
            buf = io.StringIO(newline="")
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(fields_for(key[1]))
            files.append(
                {
                    "file": file_name(*key),
                    "contact_plan": key[0],
                    "channel": key[1],
                    "campaign_id": row["campaign_id"],
                    "fields": list(fields_for(key[1])),
                    "rows": 0,
                }
            )
        assert writer is not None
        writer.writerow(["" if row[f] is None else row[f] for f in fields_for(key[1])])
        files[-1]["rows"] += 1
        runs[row["run_id"]] += 1
    close()
    manifest = {
        "as_of": as_of.isoformat(),
        # The run that wrote most of the exported rows (a rerun that changes nothing
        # keeps the rows and their run id, so the manifest stays the same).
        "run_id": min(runs, key=lambda r: (-runs[r], r)) if runs else None,
        "rows": sum(f["rows"] for f in files),
        "files": files,
    }
    with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")
    old = os.path.join(root, f".{as_of.isoformat()}.old")
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(final):
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    log.info("step=activation.export files=%d rows=%d", len(files), manifest["rows"])
    return manifest
