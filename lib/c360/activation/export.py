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
from collections import Counter

from py4j.protocol import Py4JJavaError
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from c360 import hfs
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
    """Write ``<root>/<as_of>/`` and return its manifest; the root is any path or URI the
    lake's Hadoop file system reaches (local, ``s3a://``, ``abfss://``).

    The manifest is the commit: it is written last, and a folder without one is not an
    export. An object store has no atomic folder rename, so instead of a swap the old
    manifest goes first when any file changes: a crash leaves an unpublished folder,
    which the next run rewrites, never a manifest over a mix of two runs. A rerun that
    changes nothing writes nothing."""
    spark = plan_table.sparkSession
    folder = f"{root.rstrip('/')}/{as_of.isoformat()}"
    files: dict[str, bytes] = {}
    entries: list[dict] = []
    runs: Counter[str] = Counter()
    current: tuple[str, str] | None = None
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")

    def close() -> None:
        if current is not None:
            files[file_name(*current)] = buf.getvalue().encode("utf-8")

    for row in export_rows(plan_table, as_of).toLocalIterator():
        key = (row["contact_plan"], row["channel"])
        if key != current:
            close()
            current = key
            buf = io.StringIO(newline="")
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(fields_for(key[1]))
            entries.append(
                {
                    "file": file_name(*key),
                    "contact_plan": key[0],
                    "channel": key[1],
                    "campaign_id": row["campaign_id"],
                    "fields": list(fields_for(key[1])),
                    "rows": 0,
                }
            )
        writer.writerow(["" if row[f] is None else row[f] for f in fields_for(key[1])])
        entries[-1]["rows"] += 1
        runs[row["run_id"]] += 1
    close()
    for entry in entries:
        data = files[entry["file"]]
        entry.update(sha256=_digest(data), bytes=len(data))
    manifest = {
        "as_of": as_of.isoformat(),
        # The run that wrote most of the exported rows (a rerun that changes nothing
        # keeps the rows and their run id, so the manifest stays the same).
        "run_id": min(runs, key=lambda r: (-runs[r], r)) if runs else None,
        "rows": sum(f["rows"] for f in entries),
        "files": entries,
    }
    written = _publish(spark, folder, files, manifest, unpublish_first=True)
    log.info(
        "step=activation.export files=%d rows=%d written=%d",
        len(entries),
        manifest["rows"],
        written,
    )
    return manifest


def _manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _read_manifest(spark: SparkSession, folder: str, names: set[str]) -> dict | None:
    if MANIFEST not in names:
        return None
    try:
        return json.loads(hfs.read_bytes(spark, f"{folder}/{MANIFEST}").decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExportError(f"{folder}/{MANIFEST} is not a readable manifest: {exc}") from None


def read_manifest(spark: SparkSession, root: str, as_of: dt.date) -> dict | None:
    """The published manifest of ``<root>/<as_of>/``, or None when there is none."""
    folder = f"{root.rstrip('/')}/{as_of.isoformat()}"
    return _read_manifest(
        spark, folder, {MANIFEST} if hfs.exists(spark, f"{folder}/{MANIFEST}") else set()
    )


def _publish(
    spark: SparkSession,
    folder: str,
    files: dict[str, bytes],
    manifest: dict,
    *,
    unpublish_first: bool,
) -> int:
    """Bring ``folder`` to ``files`` and ``manifest``, writing only what differs: the
    changed files, then the manifest, then away with CSV files it does not list. Returns
    the number of files written (the manifest included)."""
    try:
        names = {e.name for e in hfs.list_dir(spark, folder) if not e.is_dir}
        old = _read_manifest(spark, folder, names)
        same = {
            e["file"]
            for e in (old or {}).get("files", [])
            if e["file"] in names
            and e["file"] in files
            and e["sha256"] == _digest(files[e["file"]])
        }
        changed = sorted(set(files) - same)
        if old == manifest and not changed:
            return 0
        if old is not None and unpublish_first and changed:
            hfs.delete(spark, f"{folder}/{MANIFEST}")
        for name in changed:
            hfs.write_bytes(spark, f"{folder}/{name}", files[name])
        hfs.write_bytes(spark, f"{folder}/{MANIFEST}", _manifest_bytes(manifest))
        for name in sorted(names - set(files) - {MANIFEST}):
            if name.endswith(".csv"):
                hfs.delete(spark, f"{folder}/{name}")
    except Py4JJavaError as exc:
        raise ExportError(
            f"cannot write the export folder {folder}: {hfs.java_cause(exc)}"
        ) from None
    return len(changed) + 1


def _export_folders(spark: SparkSession, root: str) -> list[str]:
    """Every folder under the root, published or not (a crash may leave one without its
    manifest, and ``.<date>.tmp`` ones from the rename-based layout of earlier versions):
    erasure must reach the files in all of them."""
    try:
        return [e.path for e in hfs.list_dir(spark, root) if e.is_dir]
    except Py4JJavaError as exc:
        raise ExportError(f"cannot list the export root {root}: {hfs.java_cause(exc)}") from None


def scrub_exports(
    spark: SparkSession, root: str, customer_ids: set[str], dry_run: bool = False
) -> dict[str, int]:
    """Drop the rows of ``customer_ids`` from every export file already written (right to
    erasure) and update the manifests. Returns the rows removed per ``<folder>/<file>``
    (with ``dry_run``, that would be: nothing is written).

    Files are rewritten in place, then the manifest: a crash in between leaves entries
    whose sha256 no longer matches their file, and the next scrub, finding no row left to
    remove, still brings every entry back in line with its file."""
    removed: dict[str, int] = {}
    for folder in _export_folders(spark, root):
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        names = {e.name for e in hfs.list_dir(spark, folder) if not e.is_dir}
        manifest = _read_manifest(spark, folder, names)
        files: dict[str, bytes] = {}
        for file in sorted(n for n in names if n.endswith(".csv")):
            data = hfs.read_bytes(spark, f"{folder}/{file}")
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
            if not rows or "customer_id" not in rows[0]:
                raise ExportError(f"{folder}/{file}: no customer_id column in its header")
            at = rows[0].index("customer_id")
            kept = [rows[0]] + [r for r in rows[1:] if r[at] not in customer_ids]
            if len(kept) < len(rows):
                removed[f"{name}/{file}"] = len(rows) - len(kept)
                out = io.StringIO(newline="")
                csv.writer(out, lineterminator="\n").writerows(kept)
                data = out.getvalue().encode("utf-8")
            files[file] = data
        if dry_run:
            continue
        changed = {f for f in files if f"{name}/{f}" in removed}
        if manifest is None:  # not published: the files alone, the next export rewrites it
            for file in sorted(changed):
                hfs.write_bytes(spark, f"{folder}/{file}", files[file])
            continue
        for entry in manifest["files"]:
            data = files.get(entry["file"])
            if data is not None:
                rows = sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
                entry.update(rows=rows - 1, sha256=_digest(data), bytes=len(data))
        manifest["rows"] = sum(f["rows"] for f in manifest["files"])
        listed = {e["file"] for e in manifest["files"]}
        # a CSV file the manifest does not list is a leftover, and _publish removes it
        kept = {f: d for f, d in files.items() if f in listed}
        _publish(spark, folder, kept, manifest, unpublish_first=False)
    return removed
