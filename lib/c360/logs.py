"""Logging setup and progress reporting: step, rows in, rows out, seconds.

Only counts, table names and timings are logged here; never row content (PII).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from c360.meter import jobs_so_far

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STEP = re.compile(r"\bstep=(\S+)")
_ROWS = re.compile(r"\brows(?:_out|_checked)?=(\d+)")


def configure_logging(level: str = "INFO", terminal: bool | None = None) -> None:
    """Plain lines, one per record, in CI and in files. On a terminal (``terminal`` None:
    stderr is one), the INFO lines of a stage become one progress line instead, rewritten
    in place; warnings, errors and each stage's end line stay (``TerminalProgress``)."""
    if terminal is None:
        terminal = sys.stderr.isatty()
    numeric = logging.getLevelName(level.upper())
    if terminal and isinstance(numeric, int) and numeric <= logging.INFO:
        handler: logging.Handler = TerminalProgress(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logging.basicConfig(level=numeric, handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level.upper(), format=_FORMAT, force=True)
    # py4j chatters at INFO about every gateway call. Splink narrates each training step
    # (about 170 multi-line INFO lines a run, for the demo) and warns of m values that a
    # sample without such pairs cannot train, on every run: identity logs its own steps.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    logging.getLogger("splink").setLevel(logging.ERROR)
    # PySpark logs every analysis error it raises once more, as a JSON line of its whole
    # message and Java trace: the error itself reaches the CLI, which prints one line and
    # writes the trace to a file (c360.cli.run_guarded).
    from pyspark.logger import PySparkLogger

    for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def end_progress() -> None:
    """Take a terminal's progress line (on stderr) off the screen before a command prints
    its result on stdout, which would otherwise start at the end of it."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, TerminalProgress):
            handler.end()


class TerminalProgress(logging.Handler):
    """One line per stage on a terminal: ``[3/9] identity  identity.links  rows 3,363
    12s``, rewritten as the stage's steps log, then replaced by the stage's end line.
    The runner marks a stage's start with ``extra={"stage": name, "stage_index": k,
    "stage_count": n}`` and its end with ``extra={"stage_done": True}``; every other INFO
    line only feeds the progress line (its ``step=`` and row count). Warnings and errors
    print whole, and the progress line is drawn again under them."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.shown = False
        self._reset("")

    def _reset(self, stage: str) -> None:
        """A stage starts (``stage``) or ends (""): its step, rows and clock start over."""
        self.stage, self.detail = stage, ""
        self.rows: str | None = None
        self.started = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if hasattr(record, "stage_index"):
                n = getattr(record, "stage_count", "?")
                self._reset(f"[{record.stage_index}/{n}] {getattr(record, 'stage', '')}")
            if record.levelno > logging.INFO or getattr(record, "stage_done", False):
                self._clear()
                self.stream.write(self.format(record) + "\n")
                if getattr(record, "stage_done", False):
                    self._reset("")
                    return
            else:
                msg = record.getMessage()
                step = _STEP.search(msg)
                rows = _ROWS.search(msg)
                if step and step.group(1) != self.detail:
                    self.detail, self.rows = step.group(1), None
                self.rows = f"{int(rows.group(1)):,}" if rows else self.rows
            self._draw()
        except Exception:  # a log line must never stop a run
            self.handleError(record)

    def end(self) -> None:
        self._clear()
        self.stream.flush()
        self._reset("")

    def _clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.shown = False

    def _draw(self) -> None:
        if not (self.stage or self.detail):  # nothing under way yet (the lock's line)
            return
        parts = [self.stage or "c360", self.detail]
        if self.rows is not None:
            parts.append(f"rows {self.rows}")
        parts.append(f"{time.monotonic() - self.started:.0f}s")
        self.stream.write("\r\x1b[K" + "  ".join(p for p in parts if p))
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.shown = False
        super().close()


# logging.count_rows: count a step's frame for its log line only when asked, since each
# count is a Spark job; the runner sets it around each stage (and puts it back after).
_count_rows = False


@contextmanager
def counting_rows(enabled: bool) -> Iterator[None]:
    global _count_rows
    before, _count_rows = _count_rows, enabled
    try:
        yield
    finally:
        _count_rows = before


@dataclass
class StepProgress:
    name: str
    rows_in: int | None = None
    rows_out: int | None = None

    def count(self, df: DataFrame) -> int | None:
        """Rows of ``df`` for the log line, or None (shown as ``-``) unless
        ``logging.count_rows`` is on: row counts that matter come from commit metrics."""
        return df.count() if _count_rows else None


@contextmanager
def step(logger: logging.Logger, name: str) -> Iterator[StepProgress]:
    """Log the start and end of a step with its row counts, Spark jobs and duration."""
    progress = StepProgress(name)
    start, jobs = time.perf_counter(), jobs_so_far()
    logger.info("step=%s started", name)
    try:
        yield progress
    except Exception:
        logger.error("step=%s failed seconds=%.1f", name, time.perf_counter() - start)
        raise
    end = jobs_so_far()
    logger.info(
        "step=%s rows_in=%s rows_out=%s jobs=%s seconds=%.1f",
        name,
        "-" if progress.rows_in is None else progress.rows_in,
        "-" if progress.rows_out is None else progress.rows_out,
        # the application's jobs: a step running beside another (threads) counts both
        "-" if jobs is None or end is None else end - jobs,
        time.perf_counter() - start,
    )
