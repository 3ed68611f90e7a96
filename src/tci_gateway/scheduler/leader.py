"""Leader election: one scheduler instance runs jobs, however many are started.

The leader holds the named lock ``scheduler`` of :mod:`tci_gateway.ledger.locks` for
as long as it lives: a PostgreSQL session advisory lock (freed by the server the moment
the process dies; it needs a direct connection, not a PgBouncer in transaction pooling
mode), or on SQLite a file lock beside the database (freed by the operating system).
The lock never depends on a database write succeeding in time, so a long SQLite write
transaction (a large sync) cannot make a second instance believe the leader is gone.

A leader that cannot confirm its lock stops leading: on PostgreSQL the lock is checked
with the server on every :meth:`LockLeader.renew`, and ``is_leader`` turns False once
no renewal succeeded for ``lease_seconds`` (a heartbeat stuck on a dead connection),
so the dispatcher stops starting jobs before another instance can have taken over.

For ``tci scheduler status`` the leader also writes its name in ``scheduler_leases``
(:mod:`tci_gateway.ledger.jobs`; information only: the lock decides).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from tci_gateway.ledger import jobs as job_runs
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.locks import NamedLock, is_locked
from tci_gateway.logs import get_logger

LEASE_NAME = "scheduler"
"""The name of the leader's lock and of its ``scheduler_leases`` note."""

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """Now, in UTC: leases always run on real time, even when jobs run on a simulated
    clock."""
    return datetime.now(UTC)


class Leader(Protocol):
    """The interface of a leader election."""

    owner: str

    @property
    def is_leader(self) -> bool: ...

    def acquire(self) -> bool:
        """Try to become the leader (no waiting); True when this instance leads."""
        ...

    def renew(self) -> bool:
        """Keep the leadership; False (and ``is_leader`` False) when it was lost."""
        ...

    def release(self) -> None:
        """Give the leadership up (idempotent)."""
        ...


class LockLeader:
    """Leadership as the ledger's ``scheduler`` lock (see the module docstring)."""

    def __init__(
        self, ledger: Ledger, owner: str, *, lease_seconds: float, clock: Clock = wall_clock
    ) -> None:
        self.ledger, self.owner, self.clock = ledger, owner, clock
        self.lease = timedelta(seconds=lease_seconds)
        self._lock = NamedLock(ledger, LEASE_NAME)
        self._confirmed = 0.0  # time.monotonic() of the last confirmation
        self._guard = threading.Lock()
        self._log = get_logger(owner=owner)

    @property
    def is_leader(self) -> bool:
        if not self._lock.is_held:
            return False
        if not self._lock.can_lapse:
            return True
        return time.monotonic() - self._confirmed < self.lease.total_seconds()

    def acquire(self) -> bool:
        with self._guard:
            if self._lock.is_held:
                return self._confirm()
            if not self._lock.try_acquire():
                return False
            self._confirmed = time.monotonic()
        self._note()
        return True

    def _confirm(self) -> bool:
        """Whether the lock is still ours (the caller holds ``_guard``)."""
        if self._lock.held():
            self._confirmed = time.monotonic()
            return True
        self._log.warning("scheduler_leader_lock_lost")
        return False

    def renew(self) -> bool:
        with self._guard:
            if not self._lock.is_held:
                return False
            held = self._confirm()
        if held:
            self._note()
        return held and self.is_leader

    def release(self) -> None:
        with self._guard:
            if not self._lock.is_held:
                return
            self._lock.release()
        try:
            job_runs.clear_leader(self.ledger, LEASE_NAME, self.owner)
        except SQLAlchemyError as exc:
            self._log.warning("scheduler_lease_note_failed", error=str(exc))

    def _note(self) -> None:
        try:
            job_runs.note_leader(self.ledger, LEASE_NAME, self.owner, self.clock(), self.lease)
        except SQLAlchemyError as exc:  # informational only: never lose leadership over it
            self._log.warning("scheduler_lease_note_failed", error=str(exc))


def make_leader(
    ledger: Ledger, owner: str, *, lease_seconds: float, clock: Clock = wall_clock
) -> LockLeader:
    """The leader election for ``ledger``."""
    return LockLeader(ledger, owner, lease_seconds=lease_seconds, clock=clock)


def leader_status(ledger: Ledger) -> dict[str, object]:
    """Who leads, as far as the ledger knows: whether the leader's lock is held, and
    the name (and last renewal's lease) its holder noted."""
    held = is_locked(ledger, LEASE_NAME)
    note = job_runs.leader_note(ledger, LEASE_NAME) if held else None
    return {
        "backend": ledger.engine.dialect.name,
        "held": held,
        "leader": note.owner if note is not None else None,
        "lease_until": note.lease_until.isoformat() if note is not None else None,
    }
