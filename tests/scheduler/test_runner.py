"""The scheduler process: APScheduler configuration pinned, real APScheduler fires,
missed-fire alerts, the control loop, and simulated time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from structlog.testing import capture_logs

from tci_gateway.config import SchedulerSettings
from tci_gateway.errors import ConfigError
from tci_gateway.ledger import jobs as runs
from tci_gateway.ledger.engine import Ledger
from tci_gateway.scheduler.cron import CrontabTrigger
from tci_gateway.scheduler.dispatch import Dispatcher, Outcome
from tci_gateway.scheduler.leader import make_leader
from tci_gateway.scheduler.runner import (
    SchedulerRunner,
    SimulatedClock,
    build_scheduler,
    check_jobs,
)

from . import fakes
from .fakes import COUNTING, FakeClock, make_dispatcher, only

# -- APScheduler configuration ----------------------------------------------------------


def test_scheduler_configuration_is_pinned() -> None:
    settings = SchedulerSettings(timezone="Europe/Paris")
    fired: list[str] = []
    scheduler = build_scheduler(settings, fired.append, on_missed=print, on_error=print)
    scheduler.start(paused=True)
    try:
        assert scheduler.timezone == ZoneInfo("Europe/Paris")
        assert isinstance(scheduler._jobstores["default"], MemoryJobStore)
        assert set(scheduler._jobstores) == {"default"}
        executor = scheduler._executors["default"]
        assert isinstance(executor, ThreadPoolExecutor)
        assert executor._pool._max_workers == 1
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {
            "limit_sync",
            "pending_requests_poll",
            "claims_run",
            "credit_review",
            "alert_digest",
        }
        for job_id, job in jobs.items():
            assert job.func == fired.append
            assert job.args == (job_id,) and job.kwargs == {}
            assert job.coalesce is True
            assert job.max_instances == 1
            assert job.misfire_grace_time == 6 * 3600
            assert isinstance(job.trigger, CrontabTrigger)
            assert job.trigger.timezone == ZoneInfo("Europe/Paris")
        assert str(jobs["limit_sync"].trigger) == "crontab['30 2 * * *' Europe/Paris]"
        masks = [mask for _callback, mask in scheduler._listeners]
        assert EVENT_JOB_MISSED in masks and EVENT_JOB_ERROR in masks
        check_jobs(scheduler, settings, fired.append)
        with pytest.raises(ConfigError, match="wrong"):
            check_jobs(scheduler, settings, print)
        scheduler.remove_job("alert_digest")
        with pytest.raises(ConfigError, match="alert_digest"):
            check_jobs(scheduler, settings, fired.append)
    finally:
        scheduler.shutdown(wait=False)


def test_disabled_jobs_are_not_scheduled_and_job_zones_apply() -> None:
    settings = SchedulerSettings(
        jobs={"alert_digest": {"enabled": False}, "limit_sync": {"timezone": "Asia/Tokyo"}}  # type: ignore[dict-item]
    )
    scheduler = build_scheduler(settings, print)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {"limit_sync", "pending_requests_poll", "claims_run", "credit_review"}
        assert jobs["limit_sync"].trigger.timezone == ZoneInfo("Asia/Tokyo")
        assert jobs["pending_requests_poll"].trigger.timezone == ZoneInfo("UTC")
    finally:
        scheduler.shutdown(wait=False)


def test_an_apscheduler_fire_runs_through_the_dispatcher(ledger: Ledger) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 2, 30, 5, tzinfo=UTC))
    d = make_dispatcher(ledger, only("limit_sync"), clock)
    assert d.leader.acquire()
    errors: list[object] = []
    scheduler = build_scheduler(only("limit_sync"), d.fire_due, on_error=errors.append)
    scheduler.start(paused=True)
    try:
        scheduler.modify_job("limit_sync", next_run_time=datetime.now(UTC))
        scheduler.resume()
        for _ in range(100):
            if fakes.CALLS:
                break
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert errors == []
    assert [(j, day) for j, day, _ in fakes.CALLS] == [("limit_sync", date(2026, 12, 1))]
    run = runs.find(ledger, "limit_sync", date(2026, 12, 1))
    assert run is not None and run.state == "SUCCEEDED" and run.detail["reason"] == "cron"


# -- listeners, the runner loop, simulated time -----------------------------------------


def test_a_missed_fire_is_alerted_noted_and_caught_up(ledger: Ledger) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    d = make_dispatcher(ledger, only("limit_sync"), clock)
    runner = SchedulerRunner(d, d.leader)
    event = SimpleNamespace(
        job_id="limit_sync", scheduled_run_time=datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    )
    with capture_logs() as logs:
        runner._on_missed(event)
    (alert,) = [e for e in logs if e["event"] == "scheduler_job_missed"]
    assert (alert["job"], alert["log_level"]) == ("limit_sync", "error")
    assert runner.wake.is_set()
    assert runner.maintain_leadership()
    (outcome,) = d.catch_up()
    assert outcome.detail["events"] == [
        {"event": "scheduler_job_missed", "scheduled": "2026-12-01T02:30:00+00:00"}
    ]
    run = runs.find(ledger, "limit_sync", date(2026, 12, 1))
    assert run is not None and run.detail["events"][0]["event"] == "scheduler_job_missed"


def test_run_forever_catches_up_and_stops_cleanly(database_url: str) -> None:
    ledger = Ledger.from_url(database_url)
    try:
        settings = only("limit_sync", heartbeat_seconds=0.05, lease_seconds=5)
        leader = make_leader(ledger, "forever", lease_seconds=5)
        d = Dispatcher(
            settings, ledger=ledger, adapters={}, policies={}, leader=leader, jobs=COUNTING
        )
        runner = SchedulerRunner(d, leader)
        passes: list[int] = []
        catch_up = d.catch_up

        def counted(now: datetime | None = None) -> list[Outcome]:
            passes.append(1)
            return catch_up(now)

        d.catch_up = counted  # type: ignore[method-assign]
        thread = threading.Thread(target=runner.run_forever)
        thread.start()
        deadline = time.monotonic() + 30
        while (not fakes.CALLS or len(passes) < 4) and time.monotonic() < deadline:
            time.sleep(0.01)  # a few heartbeats and catch-up passes: still one run
        runner.request_stop()
        thread.join(10)
        assert not thread.is_alive()
        assert len(fakes.CALLS) == 1
        assert not leader.is_leader
        other = make_leader(ledger, "next", lease_seconds=5)
        assert other.acquire()  # leadership was released
        other.release()
    finally:
        ledger.dispose()


def test_run_once_does_nothing_when_another_instance_leads(ledger: Ledger) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 3, tzinfo=UTC))
    holder = make_leader(ledger, "holder", lease_seconds=60)
    assert holder.acquire()
    d = make_dispatcher(ledger, only("limit_sync"), clock, "b")
    d.leader = make_leader(ledger, "b", lease_seconds=60)
    assert SchedulerRunner(d, d.leader).run_once() == []
    holder.release()
    (outcome,) = SchedulerRunner(d, d.leader).run_once()
    assert outcome.ok and not d.leader.is_leader
    assert len(fakes.CALLS) == 1


def test_simulated_clock_is_shared_through_its_epoch() -> None:
    start = datetime(2026, 12, 1, 12, tzinfo=UTC)
    clock = SimulatedClock(start, timedelta(days=1), 0.5, epoch=1000.0)
    assert clock.index(999.0) == 0
    assert clock.index(1000.0) == 0
    assert clock.index(1001.26) == 2
    same = SimulatedClock(start, timedelta(days=1), 0.5, epoch=1000.0)
    assert same.index(1001.26) == clock.index(1001.26)
    now = SimulatedClock(start, timedelta(days=1), 0.5, epoch=time.time() - 1.2)
    assert now.now() == start + timedelta(days=2)
    assert 0 < now.seconds_to_next_tick() <= 0.5


def test_simulate_fires_each_job_once_per_simulated_date(ledger: Ledger) -> None:
    settings = SchedulerSettings(heartbeat_seconds=0.05, lease_seconds=5)
    sim = SimulatedClock(
        datetime(2026, 12, 1, 12, tzinfo=UTC), timedelta(days=1), 1.0, epoch=time.time()
    )
    leader = make_leader(ledger, "sim", lease_seconds=5)
    d = Dispatcher(
        settings,
        ledger=ledger,
        adapters={},
        policies={},
        leader=leader,
        clock=sim.now,
        jobs=COUNTING,
    )
    SchedulerRunner(d, leader).simulate(sim, 4)
    days = [date(2026, 12, n) for n in range(1, 5)]
    for job in (
        "limit_sync",
        "pending_requests_poll",
        "claims_run",
        "credit_review",
        "alert_digest",
    ):
        assert sorted(day for j, day, _ in fakes.CALLS if j == job) == days
    assert all(r.state == "SUCCEEDED" for r in runs.latest(ledger, limit=100))
    assert not leader.is_leader
