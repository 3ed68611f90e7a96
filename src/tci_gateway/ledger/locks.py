"""Named locks across processes on one ledger, released when their holder dies.

One helper for every lock the gateway takes outside a transaction: the claims run's
turn (:func:`exclusive`), the claim on one outbox row (:mod:`tci_gateway.ledger.row_claims`)
and the scheduler's leadership (:mod:`tci_gateway.scheduler.leader`). A lock must vanish
with a process killed by ``kill -9`` and must not hold a transaction open, so it is never
a row with a lease:

* PostgreSQL: a session advisory lock (key :func:`lock_key` of the schema and the name)
  on a dedicated autocommit connection; the server frees it when the connection drops.
* SQLite file: an OS file lock (:mod:`filelock`) on a file beside the database; the
  operating system frees it when the process dies. Portable: no ``fcntl``.
* in-memory SQLite: a lock within the process (no other process can see the database).

Threads of one process exclude each other too: each :class:`NamedLock` is its own
holder.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from tci_gateway.ledger.engine import Ledger

_LOCAL: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()
_POLL_SECONDS = 0.1


class LockTimeout(TimeoutError):
    """The lock stayed held by another holder for longer than the caller would wait."""


def lock_key(name: str) -> int:
    """The signed 64-bit PostgreSQL advisory lock key for ``name`` (the one derivation
    every advisory lock of the gateway uses; callers include the schema in ``name``)."""
    digest = hashlib.sha256(f"tci_gateway.lock:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_path(database: str, name: str) -> Path:
    """The lock file of ``name`` beside a SQLite database file."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return Path(f"{database}.locks") / f"{safe}.lock"


def _held_query() -> str:
    # Advisory locks belong to a database: another database on the same server (a
    # restored copy, a UAT ledger) may hold the same key.
    return (
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
        "AND granted AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = :k "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )


class NamedLock:
    """The lock ``name`` on ``ledger``: :meth:`try_acquire`, :meth:`acquire`,
    :meth:`held` and :meth:`release`. Not re-entrant; one holder per object."""

    def __init__(self, ledger: Ledger, name: str) -> None:
        self.ledger, self.name = ledger, name
        url = ledger.engine.url
        self.backend = url.get_backend_name()
        self._database = url.database if url.database not in (None, "", ":memory:") else None
        self._conn: Connection | None = None
        self._key: int | None = None
        self._file: FileLock | None = None
        self._local: threading.Lock | None = None

    @property
    def can_lapse(self) -> bool:
        """True when the lock can be lost without this process noticing at once (a
        PostgreSQL connection that dropped): a holder should check :meth:`held`."""
        return self.backend == "postgresql"

    @property
    def is_held(self) -> bool:
        """Whether this object believes it holds the lock (no database round trip)."""
        return self._conn is not None or self._file is not None or self._local is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting; True when held."""
        if self.is_held:
            return True
        if self.backend == "postgresql":
            return self._try_advisory()
        if self._database is not None:
            path = lock_path(self._database, self.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(path, thread_local=False)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                return False
            self._file = lock
            return True
        with _LOCAL_GUARD:
            local = _LOCAL.setdefault(f"{id(self.ledger.engine)}:{self.name}", threading.Lock())
        if not local.acquire(blocking=False):
            return False
        self._local = local
        return True

    def acquire(self, wait_seconds: float) -> None:
        """Take the lock, waiting up to ``wait_seconds``; raises :class:`LockTimeout`."""
        deadline = time.monotonic() + wait_seconds
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise LockTimeout(f"{self.name} is held by another run")
            time.sleep(_POLL_SECONDS)

    def held(self) -> bool:
        """Whether the lock is still ours; on PostgreSQL asks the server (and lets the
        lock go when its connection is gone)."""
        if self._conn is None:
            return self.is_held
        try:
            query = text(_held_query() + " AND pid = pg_backend_pid())")
            still = bool(self._conn.scalar(query, {"k": self._key}))
        except DBAPIError:
            still = False
        if not still:
            self._drop()
        return still

    def release(self) -> None:
        """Let the lock go (idempotent)."""
        if self._conn is not None:
            # If this fails, the connection is closed below and the lock goes with it.
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            self._drop()
        if self._file is not None:
            self._file.release(force=True)
            self._file = None
        if self._local is not None:
            self._local.release()
            self._local = None

    def _try_advisory(self) -> bool:
        conn = self.ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if self._key is None:
                schema = str(conn.scalar(text("SELECT current_schema()")))
                self._key = lock_key(f"{schema}:{self.name}")
            got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}))
        except DBAPIError:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.invalidate()  # never hand a connection that may hold it to the pool
            self._conn.close()
            self._conn = None


def is_locked(ledger: Ledger, name: str) -> bool:
    """Whether anyone holds ``name`` on ``ledger`` (for status displays)."""
    if ledger.engine.url.get_backend_name() == "postgresql":
        with ledger.engine.connect() as conn:
            schema = str(conn.scalar(text("SELECT current_schema()")))
            query = text(_held_query() + ")")
            return bool(conn.scalar(query, {"k": lock_key(f"{schema}:{name}")}))
    probe = NamedLock(ledger, name)
    if probe.try_acquire():
        probe.release()
        return False
    return True


@contextmanager
def exclusive(ledger: Ledger, name: str, *, wait_seconds: float = 600.0) -> Iterator[None]:
    """Hold the lock ``name`` on this ledger for the block; wait up to ``wait_seconds``
    for another holder, then raise :class:`LockTimeout`."""
    lock = NamedLock(ledger, name)
    lock.acquire(wait_seconds)
    try:
        yield
    finally:
        lock.release()
