"""One exception hierarchy for the whole product.

Every message names what is at fault (file, table, column, key) so that the CLI can
print it as a single line and exit non-zero, without a Java stack trace.
"""

from __future__ import annotations


class C360Error(Exception):
    """Base class: the CLI turns any of these into a one-line error and exit code 2."""

    exit_code = 2


class ConfigError(C360Error):
    """A config file is missing or malformed, or a key or value is not allowed."""


class UsageError(C360Error):
    """A command-line argument is wrong (unknown stage, bad --as-of)."""


class LakeNotWritableError(C360Error):
    """The lake root cannot be created or written."""


class DeltaJarsMissingError(C360Error):
    """The Delta Lake jars are not in the local cache, or not on the cluster classpath."""


class SchemaError(C360Error):
    """A DataFrame does not carry the columns or types a layer boundary requires."""

    def __init__(self, table: str, message: str, columns: list[str] | None = None) -> None:
        self.table = table
        self.columns = list(columns or [])
        cols = f" (columns: {', '.join(self.columns)})" if self.columns else ""
        super().__init__(f"table {table}: {message}{cols}")


class SourceError(C360Error):
    """A landed source cannot be loaded; names the source, file, row and column where known."""

    def __init__(
        self,
        source: str,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source = source
        self.file = file
        self.row = row
        self.column = column
        where = [f"source {source}"]
        if file:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column {column}")
        super().__init__(f"{', '.join(where)}: {message}")


class DataQualityError(C360Error):
    """A data-quality rule of severity 'fail' was violated."""

    def __init__(
        self, table: str, rule: str, failed: int, columns: list[str] | None = None
    ) -> None:
        self.table = table
        self.rule = rule
        self.failed = failed
        self.columns = list(columns or [])
        cols = f" on {', '.join(self.columns)}" if self.columns else ""
        super().__init__(f"table {table}: rule '{rule}'{cols} failed for {failed} row(s)")


class ReconciliationError(C360Error):
    """Counts that must add up between layers do not."""


class ConcurrentRunError(C360Error):
    """Another pipeline run holds the lake."""


class IdentityError(C360Error):
    """Identity resolution could not produce a consistent answer (names the table/columns)."""


class HistoryOrderError(C360Error):
    """A run would rewrite history: its as_of is before the last recorded change."""

    def __init__(self, table: str, as_of: str, latest: str) -> None:
        super().__init__(
            f"{table}: as_of {as_of} is before its latest change ({latest}); history only "
            "moves forward (rerun that date or a later one)"
        )


class StaleInputError(C360Error):
    """A stage's input table is not as of the run date (an earlier stage did not run)."""


class ExportError(C360Error):
    """An export folder for the campaign platform could not be written."""


class ModelError(C360Error):
    """A propensity model cannot be trained, saved, found or applied (names the model)."""


class ErasureError(C360Error):
    """An erasure request names no customer, or more than one (names the table searched)."""


class PrivacyError(C360Error):
    """The pseudonymization key is missing or unreadable (names where it looked)."""
