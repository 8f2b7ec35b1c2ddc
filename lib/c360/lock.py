"""One writer per lake: an exclusive ``flock`` on a lock file, held for a whole command.

``flock`` is released by the kernel when its process dies, ``kill -9`` included, so a
crashed run never leaves a stale lock behind and the next run simply takes it. The lock
is re-entrant within one process (the CLI takes it before Spark starts, ``run_stages``
takes it again for callers that skip the CLI). The holder writes who it is (pid, host,
command, since) into the file, so a refused run can say who holds the lake.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator

from c360.config import Config, is_uri
from c360.errors import ConcurrentRunError
from c360.lake import local_path

log = logging.getLogger(__name__)

LOCK_NAME = "_c360.lock"

# path -> (open fd, depth): the locks this process holds.
_held: dict[str, tuple[int, int]] = {}


def lock_path(conf: Config) -> str:
    """``lake.lock_file`` if set; else ``<lake root>/_c360.lock`` for a local root; else a
    file in the driver's temp folder named after the root (protects one host only)."""
    if conf.lake.lock_file:
        return conf.lake.lock_file
    root = local_path(conf.lake.root)
    if not is_uri(root):
        return os.path.join(root, LOCK_NAME)
    digest = hashlib.sha256(root.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"c360-{digest}.lock")


def _holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
        return (
            f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')}, "
            f"since {info.get('since')})"
        )
    except (OSError, ValueError):
        return "another process"


@contextlib.contextmanager
def lake_lock(conf: Config, command: str, wait_seconds: float | None = None) -> Iterator[str]:
    """Hold the lake for ``command``; wait up to ``wait_seconds`` (default
    ``lake.lock_wait_seconds``), then fail with ConcurrentRunError naming the holder."""
    path = lock_path(conf)
    if path in _held:
        fd, depth = _held[path]
        _held[path] = (fd, depth + 1)
        try:
            yield path
        finally:
            fd, depth = _held[path]
            _held[path] = (fd, depth - 1)
        return
    wait = conf.lake.lock_wait_seconds if wait_seconds is None else wait_seconds
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + max(wait, 0.0)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConcurrentRunError(
                        f"lake {conf.lake.root} is in use by {_holder(path)}; this "
                        f"{command} did not start (lock file {path}; waited {wait:g} s, "
                        "set lake.lock_wait_seconds to wait longer)"
                    ) from None
                time.sleep(min(1.0, max(deadline - time.monotonic(), 0.05)))
    except BaseException:
        os.close(fd)
        raise
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        # Ops metadata only: when the lock was taken.
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    _held[path] = (fd, 1)
    log.info("lock=%s command=%s acquired", path, command)
    try:
        yield path
    finally:
        del _held[path]
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
