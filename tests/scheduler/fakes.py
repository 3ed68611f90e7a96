"""Test doubles for the scheduler: clocks, leaders, and importable job functions."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from tci_gateway.config import SchedulerSettings
from tci_gateway.ledger.engine import Ledger
from tci_gateway.scheduler.dispatch import Dispatcher
from tci_gateway.scheduler.jobs import JobContext, JobSpec
from tci_gateway.scheduler.leader import LockLeader

CALLS: list[tuple[str, date, datetime]] = []
"""What the counting jobs were asked to do: (job, business date, now)."""
FAIL: set[str] = set()
"""Job ids whose counting job raises."""
GATE = threading.Event()
"""The slow job waits on this (tests set it)."""
_calls_lock = threading.Lock()


def counting_job(context: JobContext) -> dict[str, Any]:
    with _calls_lock:
        CALLS.append((context.job, context.business_date, context.now))
    if context.job in FAIL:
        raise RuntimeError(f"{context.job} failed on purpose")
    return {"ok": True, "calls": len(CALLS)}


def not_ok_job(context: JobContext) -> dict[str, Any]:
    with _calls_lock:
        CALLS.append((context.job, context.business_date, context.now))
    return {"ok": False, "why": "x"}


def partly_failed_job(context: JobContext) -> dict[str, Any]:
    with _calls_lock:
        CALLS.append((context.job, context.business_date, context.now))
    return {"ok": False, "errors": ["live-main: connection refused", "second\nline"]}


def slow_job(context: JobContext) -> dict[str, Any]:
    GATE.wait(5)
    return counting_job(context)


COUNTING = {
    "limit_sync": JobSpec("tests.scheduler.fakes:counting_job"),
    "pending_requests_poll": JobSpec("tests.scheduler.fakes:counting_job", per_fire=True),
    "claims_run": JobSpec("tests.scheduler.fakes:counting_job"),
    "credit_review": JobSpec("tests.scheduler.fakes:counting_job"),
    "alert_digest": JobSpec("tests.scheduler.fakes:counting_job"),
}
SLOW = {**COUNTING, "limit_sync": JobSpec("tests.scheduler.fakes:slow_job")}


def reset() -> None:
    CALLS.clear()
    FAIL.clear()
    GATE.clear()


@dataclass
class FakeClock:
    """A settable clock (aware datetimes)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@dataclass
class AlwaysLeader:
    """A leader that always leads: what two instances believe in a split brain."""

    owner: str
    released: bool = field(default=False)

    @property
    def is_leader(self) -> bool:
        return True

    def acquire(self) -> bool:
        return True

    def renew(self) -> bool:
        return True

    def release(self) -> None:
        self.released = True


def only(*jobs: str, **overrides: Any) -> SchedulerSettings:
    """Scheduler settings with only ``jobs`` enabled (default schedules)."""
    names = ("limit_sync", "pending_requests_poll", "claims_run", "credit_review", "alert_digest")
    return SchedulerSettings(
        jobs={name: {"enabled": name in jobs} for name in names},  # type: ignore[dict-item]
        **overrides,
    )


def make_dispatcher(
    ledger: Ledger,
    settings: SchedulerSettings,
    clock: FakeClock,
    owner: str = "a",
    jobs: dict[str, JobSpec] = COUNTING,
) -> Dispatcher:
    """A dispatcher of counting jobs whose run leases run on ``clock``."""
    leader = LockLeader(ledger, owner, lease_seconds=settings.lease_seconds, clock=clock)
    return Dispatcher(
        settings,
        ledger=ledger,
        adapters={},
        policies={},
        leader=leader,
        clock=clock,
        wall=clock,
        jobs=jobs,
    )
