"""One writer per lake, held for a whole command.

- **A local lake** (a plain path or ``file:``): an exclusive ``flock`` on
  ``<root>/_c360.lock``. The kernel releases it when its process dies, ``kill -9``
  included, so a crashed run never leaves a stale lock behind and the next run takes it.
- **A lake on object storage or HDFS** (``s3a://``, ``abfss://``, ``hdfs://``): a lease
  object ``<root>/_c360.lock`` on the lake's own file system, so it holds across hosts and
  clusters. It is created only if absent (S3: a conditional ``If-None-Match`` write;
  HDFS and ABFS create exclusively), renewed by its holder every third of
  ``lake.lock_lease_seconds`` with a compare-and-swap on its ETag, and deleted on release.
  A holder killed with no chance to delete it blocks the lake until its lease runs out;
  the next run then takes the lease over, by a swap only one contender can win (on S3;
  HDFS and ABFS have no compare-and-swap through Hadoop's API, so two waiters taking over
  the same expired lease at the same instant could both win there). Expiry compares the
  holder's clock with the waiter's: hosts must agree within a lease.

The lock is re-entrant within one thread (the CLI takes it, ``run_stages`` takes it
again for callers that skip the CLI). The holder writes who it is (pid, host, command,
since) into it, so a refused run can say who holds the lake.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from c360 import hfs
from c360.config import Config, is_uri
from c360.errors import ConcurrentRunError, ConfigError, LakeNotWritableError
from c360.lake import local_path

log = logging.getLogger(__name__)

LOCK_NAME = "_c360.lock"

# path -> depth: the locks this thread holds (the CLI and run_stages take it on one thread).
_local = threading.local()


def _held() -> dict[str, int]:
    if not hasattr(_local, "held"):
        _local.held = {}
    return _local.held


def lock_path(conf: Config) -> str:
    """``lake.lock_file`` if set, else ``<lake root>/_c360.lock``: a local path, or a URI
    on the lake's own storage."""
    if conf.lake.lock_file:
        return local_path(conf.lake.lock_file)
    root = local_path(conf.lake.root.rstrip("/"))
    return f"{root}/{LOCK_NAME}" if is_uri(root) else os.path.join(root, LOCK_NAME)


def needs_session(conf: Config) -> bool:
    """Whether the lock lives on a remote file system, reached through Spark's Hadoop
    client: then it is taken once the session exists, not before."""
    return is_uri(lock_path(conf))


def _holder_line(info: dict | None) -> str:
    if not info:
        return "another process"
    return (
        f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')}, "
        f"since {info.get('since')})"
    )


def _me(command: str) -> dict:
    return {
        "owner": uuid.uuid4().hex,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        # Ops metadata only: when the lock was taken.
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _wait_or_refuse(
    deadline: float, conf: Config, command: str, path: str, wait: float, holder: Callable[[], str]
) -> None:
    """Sleep before the next try (at most a second), or, once ``deadline`` has passed,
    raise ConcurrentRunError naming the holder (``holder()``, read only then)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ConcurrentRunError(
            f"lake {conf.lake.root} is in use by {holder()}; this {command} did not start "
            f"(lock {path}; waited {wait:g} s, set lake.lock_wait_seconds to wait longer)"
        ) from None
    time.sleep(min(1.0, max(left, 0.05)))


@contextlib.contextmanager
def lake_lock(
    conf: Config,
    command: str,
    wait_seconds: float | None = None,
    *,
    spark: SparkSession | None = None,
) -> Iterator[str]:
    """Hold the lake for ``command``; wait up to ``wait_seconds`` (default
    ``lake.lock_wait_seconds``), then fail with ConcurrentRunError naming the holder. A
    lake on remote storage needs ``spark`` (its lock is an object there)."""
    path = lock_path(conf)
    held = _held()
    if path in held:
        held[path] += 1
        try:
            yield path
        finally:
            held[path] -= 1
        return
    wait = conf.lake.lock_wait_seconds if wait_seconds is None else wait_seconds
    if is_uri(path):
        if spark is None:
            raise ConfigError(
                f"the lock of lake {conf.lake.root} is an object on its storage: take it "
                "with a Spark session (lake_lock(..., spark=spark))"
            )
        taken = _take_lease(spark, conf, path, command, wait)
    else:
        taken = _take_flock(conf, path, command, wait)
    held[path] = 1
    log.info("lock=%s command=%s acquired", path, command)
    try:
        with taken:
            yield path
    finally:
        del held[path]


# ------------------------------------------------------------------ a local lake: flock


def _take_flock(conf: Config, path: str, command: str, wait: float):  # type: ignore[no-untyped-def]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + max(wait, 0.0)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _wait_or_refuse(deadline, conf, command, path, wait, lambda: _flock_holder(path))
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(_me(command)).encode(), 0)
    return _flock_release(fd)


@contextlib.contextmanager
def _flock_release(fd: int) -> Iterator[None]:
    try:
        yield
    finally:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _flock_holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return _holder_line(json.load(fh))
    except (OSError, ValueError):
        return "another process"


# ------------------------------------------------ a lake on remote storage: a lease object


def _read_lease(spark: SparkSession, path: str) -> tuple[dict | None, str | None]:
    """The lease's content and version tag; (None, None) when there is none (released)."""
    try:
        tag = hfs.etag(spark, path)
        return json.loads(hfs.read_bytes(spark, path).decode("utf-8")), tag
    except Py4JJavaError as exc:
        if exc.java_exception.getClass().getName().endswith("FileNotFoundException"):
            return None, None
        raise
    except ValueError:  # a torn or foreign file: treat it as a lease that has run out
        return {"expires": 0.0}, hfs.etag(spark, path)


def _take_lease(spark: SparkSession, conf: Config, path: str, command: str, wait: float):  # type: ignore[no-untyped-def]
    lease = max(conf.lake.lock_lease_seconds, 3.0)
    me = _me(command)
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        body = json.dumps({**me, "expires": time.time() + lease}).encode()
        try:
            hfs.create_new(spark, path, body)
            break
        except hfs.AlreadyExists:
            pass
        except Py4JJavaError as exc:  # before any table is written: one line, no trace
            raise LakeNotWritableError(
                f"lake root {conf.lake.root} cannot be written (lock {path}): {hfs.java_cause(exc)}"
            ) from None
        info, tag = _read_lease(spark, path)
        if info is None:
            continue  # released between our write and our read: try again at once
        if float(info.get("expires", 0.0)) < time.time():
            try:
                hfs.replace(spark, path, body, tag)
            except hfs.AlreadyExists:
                continue  # another waiter took it over first
            log.warning("lock=%s took over the expired lease of %s", path, _holder_line(info))
            break
        _wait_or_refuse(deadline, conf, command, path, wait, functools.partial(_holder_line, info))
    return _Lease(spark, path, me, lease)


class _Lease:
    """Renews the lease every third of its length on a daemon thread while held."""

    def __init__(self, spark: SparkSession, path: str, me: dict, lease: float) -> None:
        self.spark, self.path, self.me, self.lease = spark, path, me, lease
        self.tag = hfs.etag(spark, path)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._renew, name="c360-lake-lease", daemon=True)

    def _renew(self) -> None:
        while not self.stop.wait(self.lease / 3):
            body = json.dumps({**self.me, "expires": time.time() + self.lease}).encode()
            try:
                hfs.replace(self.spark, self.path, body, self.tag)
                self.tag = hfs.etag(self.spark, self.path)
            except hfs.AlreadyExists:
                log.error("lock=%s lease lost: another run took the lake over", self.path)
                return
            except Exception:  # a store hiccup: the next renewal tries again
                log.warning("lock=%s lease not renewed this time", self.path, exc_info=True)

    def __enter__(self) -> _Lease:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        info, _ = _read_lease(self.spark, self.path)
        if info is not None and info.get("owner") == self.me["owner"]:
            hfs.delete(self.spark, self.path)
