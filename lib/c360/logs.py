"""Logging setup and progress reporting: step, rows in, rows out, seconds.

Only counts, table names and timings are logged here; never row content (PII).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=_FORMAT, force=True)
    # py4j chatters at INFO about every gateway call.
    logging.getLogger("py4j").setLevel(logging.WARNING)


@dataclass
class StepProgress:
    name: str
    rows_in: int | None = None
    rows_out: int | None = None


@contextmanager
def step(logger: logging.Logger, name: str) -> Iterator[StepProgress]:
    """Log the start and end of a step with its row counts and duration."""
    progress = StepProgress(name)
    start = time.perf_counter()
    logger.info("step=%s started", name)
    try:
        yield progress
    except Exception:
        logger.error("step=%s failed seconds=%.1f", name, time.perf_counter() - start)
        raise
    logger.info(
        "step=%s rows_in=%s rows_out=%s seconds=%.1f",
        name,
        "-" if progress.rows_in is None else progress.rows_in,
        "-" if progress.rows_out is None else progress.rows_out,
        time.perf_counter() - start,
    )
