"""The scheduler is honest about what it did: the day's jobs run in their order per
business date, retries wait whatever fired them, a failed run carries its error, raises
an alert that the digest counts, and a run taken over records nothing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from tci_gateway.ledger import jobs as runs
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.runs import list_alerts
from tci_gateway.ledger.tables import JobRunRow
from tci_gateway.scheduler.dispatch import Dispatcher, Outcome, error_of
from tci_gateway.scheduler.jobs import JobSpec

from . import fakes
from .fakes import COUNTING, SLOW, AlwaysLeader, FakeClock, make_dispatcher, only

DAY = date(2026, 12, 1)
MORNING = datetime(2026, 12, 1, 7, 5, tzinfo=UTC)  # after every nightly fire of the day
NIGHTLY = ("limit_sync", "claims_run", "alert_digest")


def called() -> list[tuple[str, date]]:
    return [(job, day) for job, day, _ in fakes.CALLS]


def wait_until(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# -- the day's order ---------------------------------------------------------------------


def test_claims_and_digest_wait_for_the_days_sync_and_run_after_its_retry(
    ledger: Ledger,
) -> None:
    settings = only(*NIGHTLY, retry_failed_seconds=900, max_attempts=3)
    clock = FakeClock(MORNING)
    d = make_dispatcher(ledger, settings, clock)
    assert d.leader.acquire()
    fakes.FAIL.add("limit_sync")
    (failed,) = d.catch_up()  # claims_run and alert_digest wait: a retry is to come
    assert (failed.key, failed.ok) == ("limit_sync", False)
    assert d.waiting_for("alert_digest", DAY, clock.now) == ["limit_sync", "claims_run"]
    assert d.catch_up() == []  # the retry delay holds the sync, and so the others
    fakes.FAIL.clear()
    clock.advance(seconds=901)
    assert [(o.key, o.ok) for o in d.catch_up()] == [
        ("limit_sync", True),
        ("claims_run", True),
        ("alert_digest", True),
    ]
    assert [job for job, _ in called()] == [
        "limit_sync",
        "limit_sync",
        "claims_run",
        "alert_digest",
    ]


def test_a_sync_failed_for_good_lets_the_day_go_on(ledger: Ledger) -> None:
    clock = FakeClock(MORNING)
    d = make_dispatcher(ledger, only(*NIGHTLY, max_attempts=1), clock)
    assert d.leader.acquire()
    fakes.FAIL.add("limit_sync")
    outcomes = d.catch_up()
    assert [(o.key, o.ok) for o in outcomes] == [
        ("limit_sync", False),
        ("claims_run", True),
        ("alert_digest", True),
    ]


def test_a_fire_waits_for_a_sync_still_running(ledger: Ledger) -> None:
    clock = FakeClock(MORNING)
    d = make_dispatcher(ledger, only(*NIGHTLY), clock)
    assert d.leader.acquire()
    other = runs.claim(ledger, "limit_sync", DAY, "other", clock.now, timedelta(seconds=60))
    assert other is not None
    assert d.fire_due("claims_run") is None and d.fire_due("alert_digest") is None
    assert runs.finish(ledger, other, succeeded=True, now=clock.now)
    assert [o.key for o in d.catch_up()] == ["claims_run", "alert_digest"]


def test_a_job_that_does_not_fire_that_day_is_not_waited_for(ledger: Ledger) -> None:
    settings = only(*NIGHTLY)
    settings.jobs["limit_sync"].cron = "30 2 * * 1"  # Mondays; 2026-12-01 is a Tuesday
    clock = FakeClock(MORNING)
    d = make_dispatcher(ledger, settings, clock)
    assert d.leader.acquire()
    keys = [(o.key, o.business_date) for o in d.catch_up()]
    assert keys == [
        ("limit_sync", date(2026, 11, 30)),
        ("claims_run", DAY),
        ("alert_digest", DAY),
    ]


# -- retries ----------------------------------------------------------------------------


def test_a_cron_fire_does_not_retry_before_the_retry_delay(ledger: Ledger) -> None:
    settings = only("limit_sync", retry_failed_seconds=900)
    clock = FakeClock(datetime(2026, 12, 1, 2, 30, tzinfo=UTC))
    d = make_dispatcher(ledger, settings, clock)
    assert d.leader.acquire()
    fakes.FAIL.add("limit_sync")
    first = d.fire_due("limit_sync")
    assert first is not None and not first.ok
    fakes.FAIL.clear()
    clock.advance(seconds=60)
    assert d.fire_due("limit_sync") is None  # APScheduler firing again (a restart, a misfire)
    clock.advance(seconds=841)
    retried = d.fire_due("limit_sync")
    assert retried is not None and (retried.ok, retried.attempts) == (True, 2)


# -- errors, alerts, the digest ----------------------------------------------------------


def test_error_of_a_summary() -> None:
    assert error_of({"ok": True, "errors": ["ignored"]}) is None
    assert error_of({"ok": False, "errors": ["a", "b\nc"]}) == "a; b c"
    assert error_of({"ok": False, "failed": ["p1", "p2"]}) == "failed: p1, p2"
    assert error_of({"ok": False}) == "the job's report is not ok"
    assert error_of({}) == "the job's report is not ok"


def test_a_partly_failed_job_shows_its_error_alerts_and_is_in_the_digest(
    ledger: Ledger,
) -> None:
    jobs = {
        **COUNTING,
        "limit_sync": JobSpec("tests.scheduler.fakes:partly_failed_job"),
        "alert_digest": JobSpec("tci_gateway.scheduler.jobs:alert_digest"),
    }
    clock = FakeClock(MORNING)
    d = make_dispatcher(
        ledger, only("limit_sync", "alert_digest", max_attempts=1), clock, jobs=jobs
    )
    assert d.leader.acquire()
    failed, digest = d.catch_up()
    assert not failed.ok and failed.detail["error"] == (
        "live-main: connection refused; second line"
    )
    run = runs.find(ledger, "limit_sync", DAY)
    assert run is not None and run.detail["error"] == failed.detail["error"]
    with ledger.unit_of_work() as session:
        (alert,) = list_alerts(session, since=DAY)
    assert (alert.kind, alert.severity, alert.business_date) == (
        "scheduler_job_failed",
        "critical",
        DAY,
    )
    assert "limit_sync failed (attempt 1): live-main: connection refused" in alert.message
    assert digest.ok and digest.detail["result"]["by_kind"] == {"scheduler_job_failed": 1}


def test_an_exception_is_the_runs_error_and_alerts(ledger: Ledger) -> None:
    clock = FakeClock(MORNING)
    d = make_dispatcher(ledger, only("limit_sync"), clock)
    assert d.leader.acquire()
    fakes.FAIL.add("limit_sync")
    (failed,) = d.catch_up()
    assert failed.detail["error"] == "RuntimeError: limit_sync failed on purpose"
    with ledger.unit_of_work() as session:
        assert [a.kind for a in list_alerts(session)] == ["scheduler_job_failed"]


# -- a run taken over, a leader that lost its lead ----------------------------------------


def test_a_run_taken_over_while_its_job_ran_records_nothing(ledger: Ledger) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 2, 30, tzinfo=UTC))
    d = make_dispatcher(ledger, only("limit_sync", lease_seconds=60), clock, jobs=SLOW)
    assert d.leader.acquire()
    outcomes: list[Outcome | None] = []
    thread = threading.Thread(target=lambda: outcomes.append(d.fire_due("limit_sync")))
    thread.start()
    wait_until(lambda: runs.find(ledger, "limit_sync", DAY) is not None, "the claim")
    # The job's heartbeat stalled for a whole lease: another instance took the run over.
    later = clock.now + timedelta(seconds=61)
    other = runs.claim(ledger, "limit_sync", DAY, "other", later, timedelta(seconds=60))
    assert other is not None and other.attempts == 2
    fakes.GATE.set()
    thread.join(30)
    (outcome,) = outcomes
    assert outcome is not None and not outcome.recorded and not outcome.ok
    run = runs.find(ledger, "limit_sync", DAY)
    assert run is not None and (run.state, run.owner, run.attempts) == ("RUNNING", "other", 2)


class Toggle(AlwaysLeader):
    """A leader whose leadership the test switches."""

    leads: bool = True

    @property
    def is_leader(self) -> bool:
        return self.leads


def test_a_leader_that_lost_its_lead_while_waiting_for_its_turn_starts_nothing(
    ledger: Ledger,
) -> None:
    clock = FakeClock(MORNING)
    leader = Toggle("a")
    d = Dispatcher(
        only("limit_sync", "pending_requests_poll"),
        ledger=ledger,
        adapters={},
        policies={},
        leader=leader,
        clock=clock,
        wall=clock,
        jobs=SLOW,
    )
    outcomes: list[Outcome | None] = []
    busy = threading.Thread(target=lambda: outcomes.append(d.fire_due("limit_sync")))
    busy.start()
    wait_until(lambda: runs.find(ledger, "limit_sync", DAY) is not None, "the first job")
    waiting = threading.Thread(target=lambda: outcomes.append(d.fire_due("pending_requests_poll")))
    waiting.start()  # queued behind the slow job (one job at a time)
    leader.leads = False  # e.g. the lock could not be renewed for a lease
    fakes.GATE.set()
    busy.join(30)
    waiting.join(30)
    assert sorted(o.key if o else "-" for o in outcomes) == ["-", "limit_sync"]
    with ledger.unit_of_work() as session:
        assert session.scalars(select(JobRunRow.job)).all() == ["limit_sync"]


def test_a_run_abandoned_after_crashes_alerts(ledger: Ledger) -> None:
    t0 = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    lease = timedelta(seconds=60)
    assert runs.claim(ledger, "limit_sync", DAY, "x", t0, lease) is not None
    clock = FakeClock(t0 + 2 * lease)
    d = make_dispatcher(ledger, only("limit_sync", max_attempts=1), clock)
    assert d.leader.acquire()
    assert d.catch_up() == []
    with ledger.unit_of_work() as session:
        (alert,) = list_alerts(session)
    assert alert.kind == "scheduler_job_failed" and "out of attempts" in alert.message


def test_a_poll_failing_all_day_alerts_once_per_attempt_number(ledger: Ledger) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 5, 10, tzinfo=UTC))
    d = make_dispatcher(ledger, only("pending_requests_poll", max_attempts=1), clock)
    assert d.leader.acquire()
    fakes.FAIL.add("pending_requests_poll")
    failed = [*d.catch_up(), *d.catch_up()]
    clock.advance(minutes=30)
    failed += d.catch_up()
    assert [(o.key, o.ok) for o in failed] == [
        ("pending_requests_poll@0500", False),
        ("pending_requests_poll@0530", False),
    ]
    with ledger.unit_of_work() as session:
        (alert,) = list_alerts(session)
    assert alert.message.startswith("pending_requests_poll@0500 failed (attempt 1)")
