"""c360: a Customer 360 lakehouse on Apache Spark and Delta Lake."""

from __future__ import annotations

__version__ = "0.1.0"
