"""Leader election: the ledger's ``scheduler`` lock (a PostgreSQL advisory lock, a file
lock beside a SQLite database), which dies with its holder and never depends on a write
being made in time."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text

from tci_gateway.ledger.engine import Ledger, make_engine
from tci_gateway.ledger.locks import lock_key
from tci_gateway.scheduler.leader import LockLeader, leader_status, make_leader

from ..conftest import PG_URL

HOLDER = """
import sys, time
from tci_gateway.ledger.engine import Ledger
from tci_gateway.scheduler.leader import make_leader
leader = make_leader(Ledger.from_url(sys.argv[1]), "holder", lease_seconds=60)
print("leads" if leader.acquire() else "stands by", flush=True)
time.sleep(120)
"""


def test_one_leader_at_a_time_then_release(ledger: Ledger) -> None:
    a = make_leader(ledger, "a", lease_seconds=60)
    b = make_leader(ledger, "b", lease_seconds=60)
    assert a.acquire() and a.is_leader
    assert not b.acquire() and not b.is_leader
    assert a.acquire() and a.renew()  # idempotent for the holder
    status = leader_status(ledger)
    assert (status["backend"], status["held"], status["leader"]) == (
        ledger.engine.dialect.name,
        True,
        "a",
    )
    assert not b.renew()
    a.release()
    a.release()  # idempotent
    assert not a.is_leader and not a.renew()
    assert leader_status(ledger) == {
        "backend": ledger.engine.dialect.name,
        "held": False,
        "leader": None,
        "lease_until": None,
    }
    assert b.acquire()
    assert not a.acquire()
    b.release()


def test_concurrent_acquire_exactly_one(ledger: Ledger) -> None:
    leaders = [make_leader(ledger, f"l{n}", lease_seconds=60) for n in range(4)]
    barrier = threading.Barrier(len(leaders))
    got: list[bool] = []

    def go(leader: LockLeader) -> None:
        barrier.wait()
        got.append(leader.acquire())

    threads = [threading.Thread(target=go, args=(leader,)) for leader in leaders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(got) == [False, False, False, True]
    for leader in leaders:
        leader.release()


def test_the_lock_dies_with_a_killed_leader(database_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url], stdout=subprocess.PIPE, text=True
    )
    ledger = Ledger.from_url(database_url)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "leads"
        standby = make_leader(ledger, "standby", lease_seconds=60)
        assert not standby.acquire()
        assert leader_status(ledger)["leader"] == "holder"
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        deadline = time.monotonic() + 30  # PostgreSQL frees it as the backend exits
        while not standby.acquire() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert standby.is_leader
        standby.release()
    finally:
        holder.kill()
        holder.wait(10)
        ledger.dispose()


def _pg(ledger: Ledger) -> None:
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL lock can drop with its connection; a file lock cannot")


def test_a_leader_whose_connection_dies_stops_leading(ledger: Ledger) -> None:
    _pg(ledger)
    a = make_leader(ledger, "a", lease_seconds=60)
    b = make_leader(ledger, "b", lease_seconds=60)
    assert a.acquire()
    conn = a._lock._conn
    assert conn is not None and PG_URL
    pid = conn.scalar(text("SELECT pg_backend_pid()"))
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as c:  # what the server does when the process is killed
            assert c.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    finally:
        admin.dispose()
    deadline = time.monotonic() + 30
    while not b.acquire() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b.is_leader
    assert not a.renew() and not a.is_leader  # a notices it lost its connection
    assert not a.acquire()
    b.release()


def test_a_leader_that_could_not_renew_for_a_lease_stops_leading(ledger: Ledger) -> None:
    a = make_leader(ledger, "a", lease_seconds=60)
    assert a.acquire()
    a._confirmed -= 61  # no renewal got through for a whole lease (a stuck heartbeat)
    # On PostgreSQL the lock could have gone with the connection: stop starting jobs.
    # A file lock cannot go while its process lives.
    assert a.is_leader is (ledger.engine.dialect.name == "sqlite")
    assert a.renew() and a.is_leader  # a renewal that gets through confirms it again
    a.release()


def test_one_key_derivation_per_schema_and_name() -> None:
    assert lock_key("public:scheduler") == lock_key("public:scheduler")
    assert lock_key("public:scheduler") != lock_key("t_other:scheduler")
    assert -(2**63) <= lock_key("public:scheduler") < 2**63
