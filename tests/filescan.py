"""Look for values in the files themselves, not through Delta: proof that an erasure (and
its VACUUM) left no copy behind, whatever the table's log says is current.

Every Parquet file under a folder is read (data files, change-data files, log
checkpoints); JSON and CSV files are read as text. A hit names the file and column only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import SparkSession


@dataclass(frozen=True)
class Hit:
    file: str
    column: str  # a Parquet column, or "text" for a text file


def _string_columns(table: pa.Table) -> Iterable[tuple[str, pa.ChunkedArray]]:
    flat = table.flatten()
    for name, column in zip(flat.column_names, flat.columns, strict=True):
        t = column.type
        # strings, and nested values (maps of provenance, arrays of names) as text
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_nested(t):
            yield name, column


def _contains_any(column: pa.ChunkedArray, needles: list[str]) -> bool:
    """Lower-cased once per column, whatever the number of needles (a nested column's
    text form is the slow part)."""
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        lowered = pc.utf8_lower(column)
        return any(pc.any(pc.match_substring(lowered, n.lower())).as_py() for n in needles)
    text = str(column.to_pylist()).lower()
    return any(n.lower() in text for n in needles)


def _hits(path: str, data: bytes, needles: list[str]) -> list[Hit]:
    name = path.rsplit("/", 1)[-1]
    if name.endswith(".parquet"):
        table = pq.read_table(pa.BufferReader(data))
        return [
            Hit(path, col_name)
            for col_name, column in _string_columns(table)
            if _contains_any(column, needles)
        ]
    if name.endswith((".json", ".csv", ".crc", ".txt")):
        text = data.decode("utf-8", errors="replace").lower()
        if any(n.lower() in text for n in needles):
            return [Hit(path, "text")]
    return []


def find_values(root: str, needles: list[str]) -> list[Hit]:
    """Files under ``root`` that hold any of ``needles`` (case-insensitive substring)."""
    hits: list[Hit] = []
    needles = [n for n in needles if n]
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                hits += _hits(path, fh.read(), needles)
    return hits


def find_values_on(spark: SparkSession, root: str, needles: list[str]) -> list[Hit]:
    """``find_values`` for a lake on any store: every file under ``root`` listed and read
    through Hadoop's FileSystem, the lake's own, as Delta reads it."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    path = jvm.org.apache.hadoop.fs.Path(root)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[attr-defined]
    needles = [n for n in needles if n]
    hits: list[Hit] = []
    files = fs.listFiles(path, True)
    while files.hasNext():
        name = files.next().getPath().toString()
        stream = fs.open(jvm.org.apache.hadoop.fs.Path(name))
        try:
            data = bytes(stream.readAllBytes())
        finally:
            stream.close()
        hits += _hits(name, data, needles)
    return hits
