"""Write each table's description and its columns' comments from the data contract into
the package, where the lake sets them on the table (Delta's table description and field
comments: the Spark catalog and delta-rs show them).

    .venv/bin/python scripts/contract_json.py          # after editing bronze_silver_gold.md

``tests/test_platform.py`` fails when the file is not what this script would write.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "lib" / "c360" / "schemas" / "descriptions.json"


def contract() -> dict[str, dict]:
    from c360.schemas.contract import column_comments, table_descriptions

    path = REPO / "bronze_silver_gold.md"
    return {
        "tables": dict(sorted(table_descriptions(path).items())),
        "columns": dict(sorted(column_comments(path).items())),
    }


def render() -> str:
    return json.dumps(contract(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    found = contract()
    columns = sum(len(c) for c in found["columns"].values())
    print(f"wrote {OUT.relative_to(REPO)} ({len(found['tables'])} tables, {columns} columns)")
