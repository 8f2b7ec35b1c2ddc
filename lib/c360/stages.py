"""The stages the product knows, by name: light to import (no Spark), so the CLI can list
them in ``--help`` and reject an unknown one before Spark starts."""

from __future__ import annotations

# Every stage, in pipeline order, as "module:function".
STAGES: dict[str, str] = {
    "bronze": "c360.bronze.stage:run",
    "silver": "c360.silver.stage:run",
    "identity": "c360.identity.stage:run",
    "gold": "c360.gold.stage:run",
    "train": "c360.ml.stage:run_train",
    "score": "c360.ml.stage:run_score",
    "activation": "c360.activation.stage:run",
    "pseudonymize": "c360.privacy.pseudo:run",
    "reconcile": "c360.reconcile:run",
    # Not in pipeline.stages: weekly upkeep (c360 maintain), OPTIMIZE and VACUUM.
    "maintain": "c360.maintain:run",
}

__all__ = ["STAGES"]
