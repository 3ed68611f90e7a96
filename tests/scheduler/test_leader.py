"""Leader election: a lease row (SQLite, also usable on PostgreSQL) and a PostgreSQL
session advisory lock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tci_gateway.ledger.engine import Ledger, make_engine
from tci_gateway.scheduler.leader import (
    AdvisoryLockLeader,
    Leader,
    LeaseLeader,
    advisory_key,
    leader_status,
    make_leader,
)

from ..conftest import PG_URL
from .fakes import FakeClock

T0 = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)


def test_lease_leader_one_at_a_time_then_expiry_and_release(ledger: Ledger) -> None:
    clock = FakeClock(T0)
    a = LeaseLeader(ledger, "a", lease_seconds=60, clock=clock)
    b = LeaseLeader(ledger, "b", lease_seconds=60, clock=clock)
    assert isinstance(a, Leader)
    assert a.acquire() and a.is_leader
    assert not b.acquire() and not b.is_leader
    assert a.acquire()  # idempotent for the holder
    clock.advance(seconds=50)
    assert a.renew()
    clock.advance(seconds=100)  # a stopped renewing: its lease ran out 40 s ago
    # (on PostgreSQL the status reports the advisory lock, which this leader does not use)
    sqlite = ledger.engine.dialect.name == "sqlite"
    if sqlite:
        status = leader_status(ledger, clock.now)
        assert (status["held"], status["leader"]) == (False, None)
    assert b.acquire()
    assert not a.renew() and not a.is_leader
    assert not a.acquire()
    if sqlite:
        assert leader_status(ledger, clock.now)["leader"] == "b"
    b.release()
    assert not b.is_leader
    assert a.acquire()
    a.release()
    a.release()  # idempotent
    if sqlite:
        assert leader_status(ledger, clock.now)["held"] is False


def test_lease_leader_concurrent_acquire_exactly_one(ledger: Ledger) -> None:
    clock = FakeClock(T0)
    leaders = [LeaseLeader(ledger, f"l{n}", lease_seconds=60, clock=clock) for n in range(4)]
    barrier = threading.Barrier(len(leaders))
    got: list[bool] = []

    def go(leader: LeaseLeader) -> None:
        barrier.wait()
        got.append(leader.acquire())

    threads = [threading.Thread(target=go, args=(leader,)) for leader in leaders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(got) == [False, False, False, True]


def test_make_leader_suits_the_database(ledger: Ledger) -> None:
    leader = make_leader(ledger, "a", lease_seconds=60)
    expected = AdvisoryLockLeader if ledger.engine.dialect.name == "postgresql" else LeaseLeader
    assert type(leader) is expected


def _pg(ledger: Ledger) -> None:
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's (SQLite uses the lease row)")


def test_advisory_lock_one_leader_then_release(ledger: Ledger) -> None:
    _pg(ledger)
    a = AdvisoryLockLeader(ledger, "a", lease_seconds=60)
    b = AdvisoryLockLeader(ledger, "b", lease_seconds=60)
    assert a.acquire() and a.is_leader
    assert not b.acquire() and not b.is_leader
    assert a.renew() and a.acquire()
    status = leader_status(ledger)
    assert (status["backend"], status["held"], status["leader"]) == ("postgresql", True, "a")
    a.release()
    assert not a.is_leader and not a.renew()
    assert leader_status(ledger)["held"] is False
    assert b.acquire()
    assert not a.acquire()
    b.release()


def test_advisory_lock_is_freed_when_its_connection_dies(ledger: Ledger) -> None:
    _pg(ledger)
    a = AdvisoryLockLeader(ledger, "a", lease_seconds=60)
    b = AdvisoryLockLeader(ledger, "b", lease_seconds=60)
    assert a.acquire()
    assert a._conn is not None
    pid = a._conn.scalar(text("SELECT pg_backend_pid()"))
    assert PG_URL
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as conn:  # what the server does when the process is killed
            assert conn.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    finally:
        admin.dispose()
    for _ in range(50):  # the server frees the lock as the backend exits
        if b.acquire():
            break
        time.sleep(0.05)
    assert b.is_leader
    assert not a.renew() and not a.is_leader  # a notices it lost its connection
    assert not a.acquire()
    b.release()
    assert a.acquire()
    a.release()


def test_advisory_key_is_per_schema() -> None:
    assert advisory_key("public") == advisory_key("public")
    assert advisory_key("public") != advisory_key("t_other")
    assert -(2**63) <= advisory_key("public") < 2**63
