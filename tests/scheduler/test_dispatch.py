"""Fires and the database catch-up: only the leader runs, a duplicate fire is a no-op,
a fire missed during downtime runs once after restart, crashed runs resume, failed
runs are retried."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from tci_gateway.errors import ConfigError
from tci_gateway.ledger import jobs as runs
from tci_gateway.ledger.engine import Ledger
from tci_gateway.scheduler.dispatch import Dispatcher
from tci_gateway.scheduler.jobs import JobSpec

from . import fakes
from .fakes import COUNTING, SLOW, AlwaysLeader, FakeClock, make_dispatcher, only

# -- fires ------------------------------------------------------------------------------


def test_only_the_leader_fires(ledger: Ledger) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 3, tzinfo=UTC))
    a, b = (
        make_dispatcher(ledger, only("limit_sync"), clock, "a"),
        make_dispatcher(ledger, only("limit_sync"), clock, "b"),
    )
    assert a.leader.acquire() and not b.leader.acquire()
    fire = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    assert b.fire("limit_sync", fire) is None
    assert b.catch_up() == []
    outcome = a.fire("limit_sync", fire)
    assert outcome is not None and outcome.ok and outcome.business_date == date(2026, 12, 1)
    assert a.fire("limit_sync", fire) is None  # a duplicate fire is a no-op
    assert len(fakes.CALLS) == 1


def test_concurrent_fires_of_one_job_run_it_once(ledger: Ledger) -> None:
    # Two instances that both believe they lead (split brain) fire the same job at once.
    clock = FakeClock(datetime(2026, 12, 1, 3, tzinfo=UTC))
    ds = [
        Dispatcher(
            only("limit_sync"),
            ledger=ledger,
            adapters={},
            policies={},
            leader=AlwaysLeader(owner),
            clock=clock,
            wall=clock,
            jobs=SLOW,
        )
        for owner in ("a", "b")
    ]
    fire = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def go(d: Dispatcher) -> None:
        barrier.wait()
        outcomes.append(d.fire("limit_sync", fire))

    threads = [threading.Thread(target=go, args=(d,)) for d in ds]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30  # the loser finds the run claimed and returns at once
    while not outcomes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert outcomes == [None]
    fakes.GATE.set()
    for t in threads:
        t.join(30)
    assert len([o for o in outcomes if o is not None]) == 1
    assert len(fakes.CALLS) == 1


def test_per_fire_jobs_run_once_per_fire(ledger: Ledger) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 5, 10, tzinfo=UTC))
    d = make_dispatcher(ledger, only("pending_requests_poll"), clock)
    assert d.leader.acquire()
    assert [o.key for o in d.catch_up()] == ["pending_requests_poll@0500"]
    assert d.catch_up() == []
    clock.advance(minutes=30)
    assert [o.key for o in d.catch_up()] == ["pending_requests_poll@0530"]
    assert len(fakes.CALLS) == 2


# -- catch-up ---------------------------------------------------------------------------


def test_a_fire_missed_during_a_3h_outage_runs_exactly_once_after_restart(
    ledger: Ledger,
) -> None:
    settings = only("limit_sync")
    clock = FakeClock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    first = make_dispatcher(ledger, settings, clock, "before")
    assert first.leader.acquire()
    assert [o.business_date for o in first.catch_up()] == [date(2026, 11, 30)]  # startup
    clock.now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert first.catch_up() == []
    # down from 02:00 to 05:00, across the 02:30 fire (its lock died with the process)
    first.leader._lock.release()
    clock.now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    for restart in range(3):
        again = make_dispatcher(ledger, settings, clock, f"after{restart}")
        assert again.leader.acquire()
        outcomes = again.catch_up()
        assert [(o.business_date, o.ok) for o in outcomes] == (
            [(date(2026, 12, 1), True)] if restart == 0 else []
        )
        again.leader.release()
        clock.advance(minutes=1)
    assert [(j, day) for j, day, _ in fakes.CALLS] == [
        ("limit_sync", date(2026, 11, 30)),
        ("limit_sync", date(2026, 12, 1)),
    ]
    run = runs.find(ledger, "limit_sync", date(2026, 12, 1))
    assert run is not None
    assert (run.state, run.attempts, run.owner, run.detail["reason"]) == (
        "SUCCEEDED",
        1,
        "after0",
        "catch_up",
    )
    assert run.detail["fire_time"] == "2026-12-01T02:30:00+00:00"


def test_a_run_left_running_by_a_crash_is_resumed_once_its_lease_expires(
    ledger: Ledger,
) -> None:
    settings = only("limit_sync", lease_seconds=60, heartbeat_seconds=15)
    t0 = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    dead = runs.claim(ledger, "limit_sync", date(2026, 12, 1), "dead", t0, timedelta(seconds=60))
    assert dead is not None
    clock = FakeClock(t0 + timedelta(seconds=30))
    d = make_dispatcher(ledger, settings, clock)
    assert d.leader.acquire()
    assert d.catch_up() == []  # the lease is still live
    clock.advance(seconds=31)
    (outcome,) = d.catch_up()
    assert (outcome.key, outcome.attempts, outcome.detail["reason"], outcome.ok) == (
        "limit_sync",
        2,
        "resume",
        True,
    )
    assert d.catch_up() == []
    assert len(fakes.CALLS) == 1


def test_a_crashing_run_is_abandoned_after_max_attempts(ledger: Ledger) -> None:
    settings = only("limit_sync", max_attempts=2)
    t0 = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    lease = timedelta(seconds=60)
    first = runs.claim(ledger, "limit_sync", date(2026, 12, 1), "x", t0, lease)
    assert first is not None
    second = runs.claim(ledger, "limit_sync", date(2026, 12, 1), "y", t0 + 2 * lease, lease)
    assert second is not None and second.attempts == 2
    clock = FakeClock(t0 + 4 * lease)
    d = make_dispatcher(ledger, settings, clock)
    assert d.leader.acquire()
    with capture_logs() as logs:
        assert d.catch_up() == []
    assert any(e["event"] == "scheduler_job_abandoned" for e in logs)
    run = runs.find(ledger, "limit_sync", date(2026, 12, 1))
    assert run is not None and run.state == "FAILED"
    assert fakes.CALLS == []


def test_a_failed_run_is_retried_after_the_retry_delay(ledger: Ledger) -> None:
    settings = only("limit_sync", retry_failed_seconds=900)
    clock = FakeClock(datetime(2026, 12, 1, 2, 30, tzinfo=UTC))
    d = make_dispatcher(ledger, settings, clock)
    assert d.leader.acquire()
    fakes.FAIL.add("limit_sync")
    with capture_logs() as logs:
        (failed,) = d.catch_up()
    assert not failed.ok and "failed on purpose" in failed.detail["error"]
    assert {"scheduler_job_error", "scheduler_job_failed"} <= {e["event"] for e in logs}
    clock.advance(seconds=600)
    assert d.leader.acquire()  # (its 60 s lease ran out meanwhile: nobody else took it)
    assert d.catch_up() == []
    fakes.FAIL.clear()
    clock.advance(seconds=301)
    assert d.leader.acquire()
    (retried,) = d.catch_up()
    assert (retried.ok, retried.attempts) == (True, 2)
    assert len(fakes.CALLS) == 2


def test_a_job_returning_not_ok_fails_the_run(ledger: Ledger) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 2, 30, tzinfo=UTC))
    jobs = {**COUNTING, "limit_sync": JobSpec("tests.scheduler.fakes:not_ok_job")}
    d = make_dispatcher(ledger, only("limit_sync"), clock, jobs=jobs)
    assert d.leader.acquire()
    (outcome,) = d.catch_up()
    assert outcome.state == "FAILED" and outcome.detail["result"] == {"ok": False, "why": "x"}


def test_unknown_or_unimportable_jobs_fail_at_startup(ledger: Ledger) -> None:
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    with pytest.raises(ConfigError, match="limit_sync"):
        make_dispatcher(
            ledger, only("limit_sync"), clock, jobs={"limit_sync": JobSpec("tests.nowhere:job")}
        )
    with pytest.raises(ConfigError, match="not a known job"):
        make_dispatcher(ledger, only("limit_sync"), clock, jobs={})
