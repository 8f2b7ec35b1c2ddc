"""Propensity models on Spark MLlib: renewal (buys another vehicle within 6 months) and
service churn (no service visit within 12 months). See bronze_silver_gold.md, "Models"."""

from __future__ import annotations

RENEWAL = "renewal"
CHURN = "service_churn"
MODELS: tuple[str, ...] = (RENEWAL, CHURN)
