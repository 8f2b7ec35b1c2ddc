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


def _contains(column: pa.ChunkedArray, needle: str) -> bool:
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        hits = pc.match_substring(pc.utf8_lower(column), needle.lower())
        return bool(pc.any(hits).as_py())
    return needle.lower() in str(column.to_pylist()).lower()


def find_values(root: str, needles: list[str]) -> list[Hit]:
    """Files under ``root`` that hold any of ``needles`` (case-insensitive substring)."""
    hits: list[Hit] = []
    needles = [n for n in needles if n]
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".parquet"):
                table = pq.read_table(path)
                for col_name, column in _string_columns(table):
                    if any(_contains(column, n) for n in needles):
                        hits.append(Hit(path, col_name))
            elif name.endswith((".json", ".csv", ".crc", ".txt")):
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read().lower()
                if any(n.lower() in text for n in needles):
                    hits.append(Hit(path, "text"))
    return hits
