"""Propensity models on Spark MLlib: renewal (buys another vehicle within 6 months) and
service churn (no service visit within 12 months). See bronze_silver_gold.md, "Models"."""

from __future__ import annotations

from c360.schemas.gold import CHURN, RENEWAL
from c360.schemas.gold import SCORE_MODELS as MODELS

__all__ = ["CHURN", "MODELS", "RENEWAL"]
