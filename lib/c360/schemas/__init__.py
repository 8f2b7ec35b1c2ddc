"""Explicit StructType constants, one module per layer, validated at layer boundaries."""

from __future__ import annotations

from c360.schemas.validate import validate_schema

__all__ = ["validate_schema"]
