"""Reading the data contract, ``bronze_silver_gold.md``: the columns it documents for each
table, read the way a person reads them (a table's column table, ``| `name` | type |
meaning |``, and its **Columns:** list, with the shared groups it names expanded: "the
party fields", "the record metadata", "version columns", "as `other.table`", "`new` …
instead of `old`"), and each table's description (its section's first line: grain and
key). Tests hold the contract and the schemas equal; ``scripts/contract_json.py`` writes
the descriptions into ``schemas/descriptions.json``, which the lake sets on each table."""

from __future__ import annotations

import re
from pathlib import Path

_SECTION = re.compile(r"^### `([a-z_0-9]+\.(?:[a-z_0-9]+|<source>))`[^\n]*$", re.M)
_NAME = re.compile(r"`([a-z_][a-z_0-9]*)`")
_COLUMNS = re.compile(r"^\s*-?\s*(?:\*\*)?Columns:(?:\*\*)?(.*?)(?=^\s*- |^\s*$|\Z)", re.M | re.S)
VERSION_COLUMNS = ["_change_ts", "_batch_id", "_source_file", "_row_number"]


def _block(text: str, title: str) -> str:
    m = re.search(r"^### " + re.escape(title) + r"[^\n]*$(.*?)(?=^### |^## )", text, re.M | re.S)
    if m is None:
        raise ValueError(f"the contract has no section '### {title}'")
    return m.group(1)


def _table_names(body: str) -> list[str]:
    return [
        n
        for line in body.splitlines()
        if line.startswith("| `")
        for n in _NAME.findall(line.split("|")[1])
    ]


def _without_parentheses(text: str) -> str:
    while True:
        stripped = re.sub(r"\([^()]*\)", "", text)
        if stripped == text:
            return text
        text = stripped


def _sections(text: str) -> dict[str, str]:
    parts = _SECTION.split(text)
    return {
        parts[i]: re.split(r"^## ", parts[i + 1], flags=re.M)[0] for i in range(1, len(parts), 2)
    }


def _plain(markdown: str) -> str:
    text = re.sub(r"\*\*|`", "", " ".join(markdown.split()))
    return text.strip()


def table_descriptions(path: Path) -> dict[str, str]:
    """Each table's first paragraph in the contract (grain, key, source), as plain text."""
    out = {}
    for name, body in _sections(path.read_text(encoding="utf-8")).items():
        parts = re.split(r"\n\s*\n|\n- ", body.strip().removeprefix("- "))
        grain = [p for p in parts if "Grain" in p]  # else the first: what the table is
        out[name] = _plain((grain or parts)[0])
    return out


def documented_columns(path: Path) -> dict[str, list[str]]:
    text = path.read_text(encoding="utf-8")
    shared = {
        "the record metadata": _table_names(_block(text, "Record metadata")),
        "the party fields": _NAME.findall(_block(text, "Party fields")),
        "version columns": VERSION_COLUMNS,
    }
    parts = _SECTION.split(text)
    bodies = {
        parts[i]: re.split(r"^## ", parts[i + 1], flags=re.M)[0] for i in range(1, len(parts), 2)
    }
    out: dict[str, list[str]] = {}

    def columns(name: str) -> list[str]:
        if name in out:
            return out[name]
        body = bodies[name]
        cols = _table_names(body)
        for m in _COLUMNS.finditer(body):
            listed = " ".join(m.group(1).split())
            same = re.search(r"\bas `([a-z_0-9]+\.[a-z_0-9]+)`", listed)
            if same:
                cols += columns(same.group(1))
                listed = listed.replace(same.group(0), "")
            for new, old in re.findall(r"`([a-z_0-9]+)`[^`]*? instead of `([a-z_0-9]+)`", listed):
                cols = [new if c == old else c for c in cols]
                listed = re.sub(r"instead of `" + old + "`", "", listed)
            for phrase, group in shared.items():
                if phrase in listed:
                    cols += group
            cols += [c for c in _NAME.findall(_without_parentheses(listed)) if c not in cols]
        out[name] = list(dict.fromkeys(cols))
        return out[name]

    for name in bodies:
        columns(name)
    return out
