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
    """Text a spreadsheet would evaluate gets a leading quote: =, +, -, @ (also full-width,
    and after leading blanks, which some spreadsheets skip), tab or CR first. A plain
    signed number (an E.164 phone) is left alone."""
    s = c.cast("string")
    formula = s.rlike("^([ \u3000]*[=+\\-@\uff1d\uff0b\uff0d\uff20]|[\t\r])") & ~s.rlike(
        r"^[+\-]?[0-9][0-9 .]*$"
    )
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
    _swap(root, as_of.isoformat())
    log.info("step=activation.export files=%d rows=%d", len(files), manifest["rows"])
    return manifest


def _swap(root: str, name: str) -> None:
    """Replace ``<root>/<name>`` by ``<root>/.<name>.tmp`` (two renames, no half state)."""
    final, tmp = os.path.join(root, name), os.path.join(root, f".{name}.tmp")
    old = os.path.join(root, f".{name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(final):
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def scrub_exports(root: str, customer_ids: set[str], dry_run: bool = False) -> dict[str, int]:
    """Drop the rows of ``customer_ids`` from every export folder already written (right to
    erasure); each touched folder is rewritten whole, its manifest updated. Returns the
    rows removed per ``<folder>/<file>`` (with ``dry_run``, that would be: nothing is
    written)."""
    removed: dict[str, int] = {}
    if not os.path.isdir(root):
        return removed
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        mpath = os.path.join(folder, MANIFEST)
        if name.startswith(".") or not os.path.isfile(mpath):
            continue
        with open(mpath, encoding="utf-8") as fh:
            manifest = json.load(fh)
        new: dict[str, bytes] = {}
        for entry in manifest["files"]:
            with open(os.path.join(folder, entry["file"]), encoding="utf-8", newline="") as fh:
                rows = list(csv.reader(fh))
            at = rows[0].index("customer_id")
            kept = [rows[0]] + [r for r in rows[1:] if r[at] not in customer_ids]
            if len(kept) == len(rows):
                continue
            buf = io.StringIO(newline="")
            csv.writer(buf, lineterminator="\n").writerows(kept)
            new[entry["file"]] = buf.getvalue().encode("utf-8")
            removed[f"{name}/{entry['file']}"] = len(rows) - len(kept)
            entry.update(rows=len(kept) - 1, sha256=_digest(new[entry["file"]]))
            entry["bytes"] = len(new[entry["file"]])
        if not new or dry_run:
            continue
        manifest["rows"] = sum(f["rows"] for f in manifest["files"])
        tmp = os.path.join(root, f".{name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(folder, tmp)
        for file, data in new.items():
            with open(os.path.join(tmp, file), "wb") as fh:
                fh.write(data)
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
            fh.write("\n")
        _swap(root, name)
    return removed
