"""A named lock across processes on one ledger, released when its holder dies.

Two claims runs must never send the same action twice. The outbox makes every send
look-up-first after a crash; this lock makes two *live* runs take turns. It must vanish
with a process killed by ``kill -9``, so it is never a row with a lease:

* PostgreSQL: a session advisory lock on a dedicated connection (the server releases it
  when the connection drops);
* SQLite file: ``flock`` on a file beside the database (the kernel releases it when the
  process dies);
* in-memory SQLite: a lock within the process (no other process can see the database).
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from tci_gateway.ledger.engine import Ledger

_LOCAL: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


class LockTimeout(TimeoutError):
    """The lock stayed held by another run for longer than the caller would wait."""


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name``."""
    digest = hashlib.sha256(f"tci_gateway.lock:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def exclusive(ledger: Ledger, name: str, *, wait_seconds: float = 600.0) -> Iterator[None]:
    """Hold the lock ``name`` on this ledger for the block; wait up to ``wait_seconds``
    for another holder, then raise :class:`LockTimeout`."""
    url = ledger.engine.url
    if url.get_backend_name() == "postgresql":
        with _advisory(ledger, name, wait_seconds):
            yield
    elif url.database and url.database != ":memory:":
        with _file_lock(Path(f"{url.database}.{name}.lock"), wait_seconds):
            yield
    else:
        with _LOCAL_GUARD:
            lock = _LOCAL.setdefault(f"{id(ledger.engine)}:{name}", threading.Lock())
        if not lock.acquire(timeout=wait_seconds):
            raise LockTimeout(f"{name} is held by another run")
        try:
            yield
        finally:
            lock.release()


@contextmanager
def _advisory(ledger: Ledger, name: str, wait_seconds: float) -> Iterator[None]:
    conn = ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        schema = str(conn.scalar(text("SELECT current_schema()")))
        key = lock_key(f"{schema}:{name}")
        deadline = time.monotonic() + wait_seconds
        while not conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}):
            if time.monotonic() >= deadline:
                raise LockTimeout(f"{name} is held by another run")
            time.sleep(0.1)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        conn.close()


@contextmanager
def _file_lock(path: Path, wait_seconds: float) -> Iterator[None]:
    with path.open("a+b") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"{path.name} is held by another run") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
