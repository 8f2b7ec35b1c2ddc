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


def _table_meanings(body: str) -> dict[str, str]:
    """Each name of a column table's rows with the row's last cell (its meaning)."""
    out: dict[str, str] = {}
    for line in body.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            meaning = _plain(cells[-1]) if len(cells) >= 2 else ""
            for n in _NAME.findall(cells[0]):
                out[n] = meaning
    return out


def _top_level_items(listed: str) -> list[str]:
    """A **Columns:** list cut at its commas outside parentheses and type brackets
    (``map<string,bigint>``)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(listed):
        depth = max(0, depth + {"(": 1, "<": 1, ")": -1, ">": -1}.get(ch, 0))
        if ch == "," and depth == 0:
            items.append(listed[start:i])
            start = i + 1
    items.append(listed[start:])
    return items


_TYPE_ONLY = re.compile(r"^(?:bigint|int|string|date|double|boolean|timestamp|json)$", re.I)


def _list_meanings(listed: str) -> dict[str, str]:
    """The names of a **Columns:** list, each with what its parentheses say about it."""
    out: dict[str, str] = {}
    for item in _top_level_items(listed):
        names = _NAME.findall(_without_parentheses(item))
        said = re.search(r"\((.*)\)", item)
        meaning = _plain(said.group(1)) if said else ""
        for n in names:
            out[n] = "" if _TYPE_ONLY.match(meaning) else meaning
    return out


def _contract(path: Path) -> dict[str, dict[str, str]]:
    """Every table's columns in the contract's order, each with its meaning ("" when its
    section gives none)."""
    text = path.read_text(encoding="utf-8")
    shared = {
        "the record metadata": _table_meanings(_block(text, "Record metadata")),
        "the party fields": _list_meanings(_block(text, "Party fields")),
        "version columns": dict.fromkeys(VERSION_COLUMNS, ""),
    }
    bodies = _sections(text)
    out: dict[str, dict[str, str]] = {}

    def columns(name: str) -> dict[str, str]:
        if name in out:
            return out[name]
        body = bodies[name]
        cols = _table_meanings(body)
        for m in _COLUMNS.finditer(body):
            listed = " ".join(m.group(1).split())
            same = re.search(r"\bas `([a-z_0-9]+\.[a-z_0-9]+)`", listed)
            if same:
                cols.update(columns(same.group(1)))
                listed = listed.replace(same.group(0), "")
            for new, old in re.findall(r"`([a-z_0-9]+)`[^`]*? instead of `([a-z_0-9]+)`", listed):
                cols = {(new if c == old else c): v for c, v in cols.items()}
                listed = re.sub(r"instead of `" + old + "`", "", listed)
            for phrase, group in shared.items():
                if phrase in listed:
                    cols.update({c: v for c, v in group.items() if c not in cols})
            said = _list_meanings(listed)
            cols.update({c: v for c, v in said.items() if c not in cols or v})
        out[name] = cols
        return cols

    for name in bodies:
        columns(name)
    return out


def documented_columns(path: Path) -> dict[str, list[str]]:
    """Every table's documented columns, in the contract's order."""
    return {name: list(cols) for name, cols in _contract(path).items()}


def glossary(path: Path) -> dict[str, str]:
    """The meanings the contract gives a column name wherever it appears (its **Column
    glossary**): the comment of a column whose own section says nothing more."""
    return {
        n: m
        for n, m in _table_meanings(_block(path.read_text("utf-8"), "Column glossary")).items()
        if m
    }


def column_comments(path: Path) -> dict[str, dict[str, str]]:
    """Each table's column comments: what the table's own section says of the column,
    else the glossary's meaning of its name, else "" (a gap the tests name)."""
    words = glossary(path)
    return {
        name: {c: meaning or words.get(c, "") for c, meaning in cols.items()}
        for name, cols in _contract(path).items()
    }
