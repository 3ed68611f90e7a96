"""Leader election: one scheduler instance runs jobs, however many are started.

* PostgreSQL (:class:`AdvisoryLockLeader`): ``pg_try_advisory_lock(key)`` taken on a
  connection of its own, held for as long as the process lives. It is a session lock:
  when the process dies, its connection closes and the server frees the lock at once.
  (Session locks need a direct connection: not through a PgBouncer in transaction
  pooling mode.) The key is derived from the ledger's schema, so two ledgers in
  schemas of one database elect their leaders independently. For ``tci scheduler
  status`` the leader also writes its name in ``scheduler_leases`` (for information
  only: the lock decides).
* SQLite (:class:`LeaseLeader`): the ``scheduler_leases`` row with a time to live:
  taken when free or expired, renewed on every heartbeat, deleted on release. It also
  works on PostgreSQL, but a crashed leader there blocks the others until its lease
  expires, where the advisory lock is freed at once.

Both offer ``acquire() -> bool``, ``renew() -> bool``, ``release()`` and ``is_leader``.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import Connection, delete, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import SchedulerLeaseRow
from tci_gateway.logs import get_logger

LEASE_NAME = "scheduler"
"""The ``scheduler_leases`` row of the scheduler's leader."""

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """Now, in UTC: leases always run on real time, even when jobs run on a simulated
    clock."""
    return datetime.now(UTC)


@runtime_checkable
class Leader(Protocol):
    """The common interface of the leader elections."""

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


def advisory_key(namespace: str) -> int:
    """The advisory lock key (a signed 64-bit integer) for a ledger namespace."""
    digest = hashlib.sha256(f"tci_gateway.scheduler:{namespace}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _upsert_lease(ledger: Ledger, owner: str, now: datetime, lease: timedelta) -> bool:
    """Take or renew the lease row when it is free, expired or already ours."""
    with ledger.unit_of_work() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        row = session.execute(
            insert(SchedulerLeaseRow)
            .values(name=LEASE_NAME, owner=owner, lease_until=now + lease, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(SchedulerLeaseRow.name)
        ).first()
        if row is not None:
            return True
        row = session.execute(
            update(SchedulerLeaseRow)
            .where(
                SchedulerLeaseRow.name == LEASE_NAME,
                (SchedulerLeaseRow.owner == owner) | (SchedulerLeaseRow.lease_until < now),
            )
            .values(owner=owner, lease_until=now + lease, updated_at=now)
            .returning(SchedulerLeaseRow.name)
        ).first()
    return row is not None


def _delete_lease(ledger: Ledger, owner: str) -> None:
    with ledger.unit_of_work() as session:
        session.execute(
            delete(SchedulerLeaseRow).where(
                SchedulerLeaseRow.name == LEASE_NAME, SchedulerLeaseRow.owner == owner
            )
        )


class LeaseLeader:
    """Leadership as a lease row with a time to live (SQLite)."""

    def __init__(
        self, ledger: Ledger, owner: str, *, lease_seconds: float, clock: Clock = wall_clock
    ) -> None:
        self.ledger, self.owner, self.clock = ledger, owner, clock
        self.lease = timedelta(seconds=lease_seconds)
        self._leader = False
        self._lock = threading.Lock()

    @property
    def is_leader(self) -> bool:
        return self._leader

    def acquire(self) -> bool:
        with self._lock:
            self._leader = _upsert_lease(self.ledger, self.owner, self.clock(), self.lease)
            return self._leader

    def renew(self) -> bool:
        with self._lock:
            if not self._leader:
                return False
            now = self.clock()
            with self.ledger.unit_of_work() as session:
                row = session.execute(
                    update(SchedulerLeaseRow)
                    .where(
                        SchedulerLeaseRow.name == LEASE_NAME,
                        SchedulerLeaseRow.owner == self.owner,
                        SchedulerLeaseRow.lease_until >= now,
                    )
                    .values(lease_until=now + self.lease, updated_at=now)
                    .returning(SchedulerLeaseRow.name)
                ).first()
            self._leader = row is not None
            return self._leader

    def release(self) -> None:
        with self._lock:
            if self._leader:
                _delete_lease(self.ledger, self.owner)
            self._leader = False


class AdvisoryLockLeader:
    """Leadership as a PostgreSQL session advisory lock on a dedicated connection."""

    def __init__(
        self, ledger: Ledger, owner: str, *, lease_seconds: float, clock: Clock = wall_clock
    ) -> None:
        self.ledger, self.owner, self.clock = ledger, owner, clock
        self.lease = timedelta(seconds=lease_seconds)
        self.key: int | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._log = get_logger(owner=owner)

    @property
    def is_leader(self) -> bool:
        return self._conn is not None

    def acquire(self) -> bool:
        with self._lock:
            if self._conn is not None:
                return self._alive()
            conn = self.ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                if self.key is None:
                    self.key = advisory_key(str(conn.scalar(text("SELECT current_schema()"))))
                got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}))
            except DBAPIError:
                conn.invalidate()
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            self._conn = conn
        self._note()
        return True

    def _alive(self) -> bool:
        """Whether our connection still holds the lock (the caller holds ``_lock``)."""
        assert self._conn is not None
        try:
            held = bool(
                self._conn.scalar(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                        "AND ((classid::bigint << 32) | objid::bigint) = :k)"
                    ),
                    {"k": self.key},
                )
            )
        except DBAPIError as exc:
            self._log.warning("scheduler_leader_connection_lost", error=str(exc))
            held = False
        if not held:
            self._drop()
        return held

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.invalidate()  # never hand a connection that may hold it to the pool
            self._conn.close()
            self._conn = None

    def _note(self) -> None:
        try:
            _upsert_lease(self.ledger, self.owner, self.clock(), self.lease)
        except DBAPIError as exc:  # informational only: never lose leadership over it
            self._log.warning("scheduler_lease_note_failed", error=str(exc))

    def renew(self) -> bool:
        with self._lock:
            if self._conn is None:
                return False
            held = self._alive()
        if held:
            self._note()
        return held

    def release(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            # If this fails, the connection is closed below and the lock goes with it.
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._drop()
        try:
            _delete_lease(self.ledger, self.owner)
        except DBAPIError as exc:
            self._log.warning("scheduler_lease_note_failed", error=str(exc))


def make_leader(
    ledger: Ledger, owner: str, *, lease_seconds: float, clock: Clock = wall_clock
) -> Leader:
    """The leader election that suits the ledger's database."""
    if ledger.engine.dialect.name == "postgresql":
        return AdvisoryLockLeader(ledger, owner, lease_seconds=lease_seconds, clock=clock)
    return LeaseLeader(ledger, owner, lease_seconds=lease_seconds, clock=clock)


def leader_status(ledger: Ledger, now: datetime | None = None) -> dict[str, object]:
    """Who leads, as far as the database knows: the lease row and, on PostgreSQL,
    whether the advisory lock is held at all."""
    now = now or wall_clock()
    with ledger.unit_of_work() as session:
        row = session.get(SchedulerLeaseRow, LEASE_NAME)
        owner, until = (row.owner, row.lease_until) if row is not None else (None, None)
        backend = session.get_bind().dialect.name
        if backend == "postgresql":
            key = advisory_key(str(session.scalar(text("SELECT current_schema()"))))
            held = bool(
                session.scalar(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                        "AND granted AND objsubid = 1 "
                        "AND ((classid::bigint << 32) | objid::bigint) = :k)"
                    ),
                    {"k": key},
                )
            )
        else:
            held = until is not None and until >= now
    return {
        "backend": backend,
        "held": held,
        "leader": owner if held else None,
        "lease_until": until.isoformat() if until is not None and held else None,
    }
