"""Write each table's description from the data contract into the package, where the lake
sets it on the table (Delta's table description: the Spark catalog and delta-rs show it).

    .venv/bin/python scripts/contract_json.py          # after editing bronze_silver_gold.md

``tests/test_platform.py`` fails when the file is not what this script would write.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "lib" / "c360" / "schemas" / "descriptions.json"


def descriptions() -> dict[str, str]:
    from c360.schemas.contract import table_descriptions

    return dict(sorted(table_descriptions(REPO / "bronze_silver_gold.md").items()))


def render() -> str:
    return json.dumps(descriptions(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)} ({len(descriptions())} tables)")
