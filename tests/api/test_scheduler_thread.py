"""``tci serve --with-scheduler`` in process: the scheduler thread starts with the app,
leads, runs the catch-up, and stops with the app (leadership released); on SQLite a
second scheduler is refused before serving, in one line."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tci_gateway.api.scheduler_thread import SchedulerThread, attach
from tci_gateway.errors import TciError
from tci_gateway.ledger import jobs as job_runs
from tci_gateway.ledger.locks import NamedLock
from tci_gateway.scheduler.leader import LEASE_NAME, leader_status

from .conftest import make_harness, sandbox_settings


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_scheduler_runs_with_the_app_and_stops_with_it(database_url: str) -> None:
    settings = sandbox_settings(database_url)
    settings.scheduler.heartbeat_seconds = 0.1
    harness = make_harness(database_url, settings=settings)
    ctx = harness.ctx
    scheduler = SchedulerThread(ctx, stop_timeout=60)
    attach(harness.client.app, scheduler)  # type: ignore[arg-type]
    try:
        assert not scheduler.alive
        with harness.client as client:
            assert scheduler.alive
            wait_for(lambda: leader_status(ctx.ledger)["leader"] == scheduler.owner, 30, "lead")
            wait_for(lambda: len(job_runs.latest(ctx.ledger)) >= 4, 60, "the catch-up")
            runs = job_runs.latest(ctx.ledger)
            assert {r.owner for r in runs} == {scheduler.owner}
            assert client.get("/healthz").status_code == 200  # serving meanwhile
        assert not scheduler.alive
        status = leader_status(ctx.ledger)
        assert status["held"] is False and status["leader"] is None  # released on stop
    finally:
        ctx.wiring.close()
        ctx.ledger.dispose()


def test_a_second_scheduler_is_refused_on_sqlite(database_url: str) -> None:
    harness = make_harness(database_url)
    ctx = harness.ctx
    other = NamedLock(ctx.ledger, LEASE_NAME)
    try:
        assert other.try_acquire()  # another process leads
        scheduler = SchedulerThread(ctx)
        if ctx.ledger.engine.dialect.name == "sqlite":
            with pytest.raises(TciError, match=r"another scheduler .* on this SQLite ledger"):
                scheduler.lead_now()
        else:
            scheduler.lead_now()  # PostgreSQL: stands by, nothing to say
            assert not scheduler.runner.leader.is_leader
        other.release()
        scheduler.lead_now()
        if ctx.ledger.engine.dialect.name == "sqlite":
            assert scheduler.runner.leader.is_leader
        scheduler.stop()  # never started: the leadership lead_now took is released
        assert leader_status(ctx.ledger)["held"] is False
    finally:
        other.release()
        ctx.wiring.close()
        ctx.ledger.dispose()
