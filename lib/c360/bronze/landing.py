"""Discover landed files through Hadoop's FileSystem, so local, HDFS and S3 all work.

Layout: ``<landing>/<source>/<batch_id>/<file>``; names starting with ``_`` or ``.``
are ignored (in-flight uploads, markers).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360 import hfs

_HEAD_BYTES = 1 << 16


@dataclass(frozen=True)
class LandedFile:
    source: str
    batch_id: str
    path: str  # full URI or absolute path, as Spark reads it
    relative: str  # <source>/<batch_id>/<name>: the lineage value, stable across hosts
    size: int


def _visible(name: str) -> bool:
    return not (name.startswith("_") or name.startswith("."))


def source_exists(spark: SparkSession, landing_root: str, source: str) -> bool:
    return hfs.exists(spark, f"{landing_root}/{source}")


def list_files(spark: SparkSession, landing_root: str, source: str) -> list[LandedFile]:
    """Every visible file of a source, in batch then file-name order."""
    jpath, fs = hfs.fs_path(spark, f"{landing_root}/{source}")
    if not fs.exists(jpath):
        return []
    out: list[LandedFile] = []
    for batch in sorted(fs.listStatus(jpath), key=lambda st: st.getPath().getName()):
        batch_id = batch.getPath().getName()
        if not batch.isDirectory() or not _visible(batch_id):
            continue
        for st in sorted(fs.listStatus(batch.getPath()), key=lambda s: s.getPath().getName()):
            name = st.getPath().getName()
            if st.isDirectory() or not _visible(name):
                continue
            out.append(
                LandedFile(
                    source=source,
                    batch_id=batch_id,
                    path=st.getPath().toString(),
                    relative=f"{source}/{batch_id}/{name}",
                    size=int(st.getLen()),
                )
            )
    return out


def read_head(spark: SparkSession, path: str, n: int = _HEAD_BYTES) -> bytes:
    jpath, fs = hfs.fs_path(spark, path)
    stream = fs.open(jpath)
    try:
        return bytes(stream.readNBytes(n))
    finally:
        stream.close()


def file_sha256(spark: SparkSession, path: str) -> str:
    """Content hash: streamed locally for local files, computed by Spark for remote ones."""
    local = _local_path(path)
    if local is not None:
        digest = hashlib.sha256()
        with open(local, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    row = (
        spark.read.format("binaryFile")
        .load(path)
        .select(F.sha2(F.col("content"), 256).alias("sha"))
        .first()
    )
    return row.sha if row else ""


def _local_path(path: str) -> str | None:
    if path.startswith("file:"):
        return unquote(urlparse(path).path)
    if path.startswith("/"):
        return path
    return None


_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize_column(name: str) -> str:
    """'Policy Holder' -> policy_holder, 'MemberID' -> member_id, BOM and quotes dropped."""
    name = name.replace("\ufeff", "").strip().strip('"').strip()
    name = _CAMEL.sub(r"\1_\2", name)
    return _NON_ALNUM.sub("_", name.lower()).strip("_")


def unique_columns(names: list[str]) -> list[str]:
    """Blank or repeated header names get positional, unique replacements."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for i, name in enumerate(names, start=1):
        base = name or f"column_{i}"
        if base in seen:
            seen[base] += 1
            base = f"{base}_{seen[base]}"
        else:
            seen[base] = 1
        out.append(base)
    return out


def csv_header(head: bytes, encoding: str, delimiter: str, quote: str) -> list[str] | None:
    """The normalized header of a CSV file, or None if the file has no header line."""
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    first = text.splitlines()[0] if text.strip() else ""
    if not first.strip():
        return None
    raw = next(csv.reader(io.StringIO(first), delimiter=delimiter, quotechar=quote))
    return unique_columns([normalize_column(c) for c in raw])
