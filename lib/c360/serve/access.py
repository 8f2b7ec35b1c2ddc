"""Who may ask (bearer tokens with a scope) and who asked for whom (``ops.access_log``).

Tokens come from the environment variable ``C360_SERVE_TOKENS`` or from a secret file
(``--tokens-file`` or ``C360_SERVE_TOKENS_FILE``), never from config: one token per line,
``<token id> <scope> <secret>``. Only the id is ever logged. The access log holds the
time, the token id, the endpoint (its route, never its query string: search terms are
personal data) and the customer ids returned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from c360.errors import ConfigError
from c360.schemas.registry import comments_of, description_of

log = logging.getLogger(__name__)

SCOPES = ("full", "pseudo")
TOKENS_ENV = "C360_SERVE_TOKENS"
TOKENS_FILE_ENV = "C360_SERVE_TOKENS_FILE"
ACCESS_LOG = "ops.access_log"


@dataclass(frozen=True)
class Token:
    token_id: str
    scope: str


class Tokens:
    """The accepted tokens, kept as SHA-256 digests and compared in constant time."""

    def __init__(self, entries: dict[bytes, Token]) -> None:
        self._entries = entries

    @classmethod
    def parse(cls, text: str, origin: str) -> Tokens:
        entries: dict[bytes, Token] = {}
        for n, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 3:
                raise ConfigError(f"{origin} line {n}: expected '<token id> <scope> <secret>'")
            token_id, scope, secret = parts
            if scope not in SCOPES:
                raise ConfigError(f"{origin} line {n}: scope must be one of {', '.join(SCOPES)}")
            if len(secret) < 16:
                raise ConfigError(f"{origin} line {n}: a secret needs at least 16 characters")
            entries[hashlib.sha256(secret.encode()).digest()] = Token(token_id, scope)
        if not entries:
            raise ConfigError(f"{origin}: no token")
        return cls(entries)

    @classmethod
    def load(cls, tokens_file: str | None = None) -> Tokens:
        """From ``C360_SERVE_TOKENS``, else the file (argument or ``C360_SERVE_TOKENS_FILE``)."""
        text = os.environ.get(TOKENS_ENV)
        if text:
            return cls.parse(text, f"${TOKENS_ENV}")
        path = tokens_file or os.environ.get(TOKENS_FILE_ENV)
        if not path:
            raise ConfigError(
                f"c360 serve needs tokens: set ${TOKENS_ENV} or give a secret file"
                f" (--tokens-file or ${TOKENS_FILE_ENV})"
            )
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"tokens file {path}: {exc.strerror}") from None
        return cls.parse(text, f"tokens file {path}")

    def check(self, secret: str | None) -> Token | None:
        if not secret:
            return None
        digest = hashlib.sha256(secret.encode()).digest()
        found = None
        for known, token in self._entries.items():  # every entry: no early exit to time
            if hmac.compare_digest(known, digest):
                found = token
        return found


class AccessLog:
    """Buffers access rows and appends them to ``ops.access_log`` with delta-rs every
    ``flush_seconds`` and on shutdown: one commit per batch, not per request."""

    def __init__(self, table_uri: str, storage_options: dict[str, str], flush_seconds: float):
        self.table_uri = table_uri
        self.storage_options = storage_options
        self.flush_seconds = flush_seconds
        self._rows: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0

    def record(self, token: Token, endpoint: str, method: str, status: int, ids: list[str]) -> None:
        row = {
            "accessed_at": dt.datetime.now(dt.UTC),  # the request's time: an event, not a transform
            "token_id": token.token_id,
            "scope": token.scope,
            "method": method,
            "endpoint": endpoint,
            "status": status,
            "customer_ids": ids,
        }
        with self._lock:
            self._rows.append(row)

    def flush(self) -> int:
        import pyarrow as pa
        from deltalake import write_deltalake

        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        table = pa.Table.from_pylist(rows, schema=ACCESS_LOG_SCHEMA)
        try:
            write_deltalake(  # the description and comments take on the first write
                self.table_uri,
                table,
                mode="append",
                storage_options=self.storage_options,
                description=description_of(ACCESS_LOG),
            )
        except Exception:
            with self._lock:  # keep them for the next flush
                self._rows[:0] = rows
            raise
        self.written += len(rows)
        return len(rows)

    def start(self) -> None:
        if self.flush_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="c360-access-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception as exc:
                log.warning("step=serve.access_log flush failed error=%s", type(exc).__name__)


def _schema():
    """The table's schema, each column with its comment from the contract (delta-rs keeps
    an Arrow field's ``comment`` as the Delta column comment when it creates the table)."""
    import pyarrow as pa

    comments = comments_of(ACCESS_LOG)
    return pa.schema(
        [
            pa.field(name, kind, nullable=False, metadata={"comment": comments[name]})
            for name, kind in [
                ("accessed_at", pa.timestamp("us", tz="UTC")),
                ("token_id", pa.string()),
                ("scope", pa.string()),
                ("method", pa.string()),
                ("endpoint", pa.string()),
                ("status", pa.int32()),
                ("customer_ids", pa.list_(pa.string())),
            ]
        ]
    )


ACCESS_LOG_SCHEMA = _schema()
