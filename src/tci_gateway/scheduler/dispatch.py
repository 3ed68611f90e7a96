"""Running fires: the one code path every run takes, whatever started it.

A fire is ``(job, fire time)``. :meth:`Dispatcher.fire` runs it only on the leader:
it derives the run's key (the job id, plus the fire's local time for intra-day jobs)
and business date (the fire time's date in the job's time zone), claims the run in
``job_runs`` (a duplicate fire is a no-op), runs the job, and finishes the run with
its outcome. Cron fires from APScheduler, the catch-up after downtime and the
simulated ticks all end up here.

:meth:`Dispatcher.catch_up` scans the database, not the scheduler's memory: it resumes
runs whose owner died mid-job (``RUNNING``, lease expired), and for each enabled job
runs the most recent scheduled fire at or before now when its run has not succeeded
(a failed run is retried after ``retry_failed_seconds``, up to ``max_attempts``).

Two clocks: ``clock`` gives the business "now" (fire times, what services are told);
``wall`` gives real time for leases. They differ only in simulations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from tci_gateway.adapters.contract import InsurerAdapter
from tci_gateway.config import SchedulerSettings
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import ConfigError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.logs import get_logger, redact_text
from tci_gateway.scheduler import cron, runs
from tci_gateway.scheduler.jobs import (
    JOBS,
    JobContext,
    JobFunction,
    JobSpec,
    no_claims_options,
    no_exposure_options,
    no_sync_options,
    resolve,
)
from tci_gateway.scheduler.leader import Clock, Leader, wall_clock


@dataclass(frozen=True)
class Outcome:
    """What one run did."""

    job: str
    key: str
    business_date: date
    state: str
    attempts: int
    detail: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.state == runs.SUCCEEDED


class Dispatcher:
    """Claims, runs and finishes fires for the enabled jobs of ``settings``."""

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        ledger: Ledger,
        adapters: Mapping[str, InsurerAdapter],
        policies: Mapping[str, Policy],
        leader: Leader,
        clock: Clock = wall_clock,
        wall: Clock = wall_clock,
        jobs: Mapping[str, JobSpec] = JOBS,
        exposure_options: Callable[[], Mapping[str, Any]] = no_exposure_options,
        claims_options: Callable[[], Mapping[str, Any]] = no_claims_options,
        sync_options: Callable[[], Mapping[str, Any]] = no_sync_options,
    ) -> None:
        self.settings = settings
        self.exposure_options = exposure_options
        self.claims_options = claims_options
        self.sync_options = sync_options
        self.ledger, self.adapters, self.policies = ledger, adapters, policies
        self.leader, self.owner = leader, leader.owner
        self.clock, self.wall = clock, wall
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.specs: dict[str, JobSpec] = {}
        self.triggers: dict[str, CronTrigger] = {}
        self.functions: dict[str, JobFunction] = {}
        for job, job_settings in settings.jobs.items():
            if not job_settings.enabled:
                continue
            if job not in jobs:
                raise ConfigError(f"scheduler job {job!r} is not a known job")
            try:
                self.functions[job] = resolve(jobs[job].ref)
            except (ImportError, ValueError) as exc:
                raise ConfigError(f"scheduler job {job!r}: {exc}") from None
            self.specs[job] = jobs[job]
            self.triggers[job] = cron.trigger(job_settings.cron, settings.job_timezone(job))
        self.log = get_logger(owner=self.owner)
        self._run_lock = threading.Lock()  # one job at a time in this process
        self._state_lock = threading.Lock()
        self._active: dict[int, runs.Claim] = {}
        self._notes: dict[str, list[dict[str, Any]]] = {}

    # -- keys and alerts ------------------------------------------------------------

    def run_key(self, job: str, fire_time: datetime) -> tuple[str, date]:
        """The ``job_runs`` key and business date of a fire."""
        zone = self.settings.job_timezone(job)
        day = cron.business_date(fire_time, zone)
        if self.specs[job].per_fire:
            return f"{job}@{fire_time.astimezone(ZoneInfo(zone)):%H%M}", day
        return job, day

    def _leads(self) -> bool:
        # A method, not the property inline: leadership can change between two reads.
        return self.leader.is_leader

    def alert(self, event: str, **fields: Any) -> None:
        """A scheduler alert: an error-level structured event for the operators."""
        self.log.error(event, **fields)

    def note(self, job: str, event: dict[str, Any]) -> None:
        """Remember a scheduler event (a missed fire, an error) for the job's next run
        detail."""
        with self._state_lock:
            self._notes.setdefault(job, []).append(event)

    def _take_notes(self, job: str) -> list[dict[str, Any]]:
        with self._state_lock:
            return self._notes.pop(job, [])

    # -- running --------------------------------------------------------------------

    def fire(
        self, job: str, fire_time: datetime, *, now: datetime | None = None, reason: str = "cron"
    ) -> Outcome | None:
        """Run one fire of ``job`` if this instance leads and the run is not done or
        held elsewhere; ``None`` when there was nothing to do."""
        if not self.leader.is_leader:
            self.log.debug("scheduler_fire_skipped", job=job, reason="not the leader")
            return None
        key, day = self.run_key(job, fire_time)
        detail = {"job": job, "fire_time": fire_time.isoformat(), "reason": reason}
        return self._run(job, key, day, detail, now)

    def fire_due(self, job: str) -> Outcome | None:
        """Run the job's most recent scheduled fire (what a cron fire means)."""
        now = self.clock()
        fire_time = cron.latest_fire(self.triggers[job], now)
        if fire_time is None:
            return None
        return self.fire(job, fire_time, now=now, reason="cron")

    def _run(
        self, job: str, key: str, day: date, detail: dict[str, Any], now: datetime | None
    ) -> Outcome | None:
        claim = runs.claim(
            self.ledger,
            key,
            day,
            self.owner,
            self.wall(),
            self.lease,
            detail=detail,
            max_attempts=self.settings.max_attempts,
        )
        if claim is None:
            return None
        with self._state_lock:
            self._active[claim.run_id] = claim
        log = self.log.bind(job=job, key=key, business_date=str(day), attempts=claim.attempts)
        try:
            with self._run_lock:
                log.info("scheduler_job_started", resumed=claim.resumed, reason=detail["reason"])
                context = JobContext(
                    self.ledger,
                    self.adapters,
                    self.policies,
                    now or self.clock(),
                    day,
                    job,
                    self.exposure_options,
                    self.claims_options,
                    self.sync_options,
                )
                extra: dict[str, Any]
                try:
                    result = self.functions[job](context)
                    ok = bool(result.get("ok", True))
                    extra = {"result": result}
                except Exception as exc:  # the run fails, the scheduler goes on
                    ok = False
                    error = f"{type(exc).__name__}: {redact_text(str(exc))}"
                    extra = {"error": error}
                    self.alert("scheduler_job_error", job=job, key=key, error=error)
                events = self._take_notes(job)
                if events:
                    extra["events"] = events
                finished = runs.finish(
                    self.ledger, claim, succeeded=ok, now=self.wall(), detail=extra
                )
        finally:
            with self._state_lock:
                self._active.pop(claim.run_id, None)
        state = runs.SUCCEEDED if ok else runs.FAILED
        if not finished:
            log.warning("scheduler_run_taken_over", state=state)
        elif ok:
            log.info("scheduler_job_succeeded")
        else:
            self.alert("scheduler_job_failed", job=job, key=key, business_date=str(day))
        return Outcome(job, key, day, state, claim.attempts, {**detail, **extra})

    def extend_leases(self) -> None:
        """Heartbeat: extend the lease of every run in progress here."""
        with self._state_lock:
            claims = list(self._active.values())
        for claim in claims:
            if not runs.heartbeat(self.ledger, claim, self.wall(), self.lease):
                self.log.warning("scheduler_run_lease_lost", key=claim.job, run_id=claim.run_id)

    # -- catch-up -------------------------------------------------------------------

    def _guarded(self, what: Callable[[], Outcome | None], job: str) -> Outcome | None:
        try:
            return what()
        except Exception as exc:  # a database hiccup must not end the scheduler
            error = f"{type(exc).__name__}: {redact_text(str(exc))}"
            self.alert("scheduler_job_error", job=job, error=error)
            self.note(job, {"event": "scheduler_job_error", "error": error})
            return None

    def catch_up(self, now: datetime | None = None) -> list[Outcome]:
        """Resume crashed runs, then run each enabled job's latest due fire that has
        not succeeded. Only the leader does anything."""
        if not self._leads():
            return []
        now = now or self.clock()
        wall = self.wall()
        outcomes: list[Outcome | None] = []
        for run in runs.expired(self.ledger, wall):
            job = run.job.partition("@")[0]
            if not self._leads():
                break  # lost on the way (the heartbeat said so): the new leader goes on
            if job not in self.triggers:
                continue
            if run.attempts >= self.settings.max_attempts:
                if runs.abandon(self.ledger, run, wall, "out of attempts after crashes"):
                    self.alert(
                        "scheduler_job_abandoned", job=job, key=run.job, attempts=run.attempts
                    )
                continue
            detail = {"job": job, "fire_time": run.detail.get("fire_time"), "reason": "resume"}
            resume = partial(self._run, job, run.job, run.business_date, detail, now)
            outcomes.append(self._guarded(resume, job))
        retry_after = timedelta(seconds=self.settings.retry_failed_seconds)
        for job, trigger in self.triggers.items():
            fire_time = cron.latest_fire(trigger, now)
            if fire_time is None:
                continue
            key, day = self.run_key(job, fire_time)
            existing = runs.find(self.ledger, key, day)
            if existing is not None and (
                existing.state == runs.SUCCEEDED
                or (existing.state == runs.RUNNING and existing.lease_until >= wall)
                or existing.attempts >= self.settings.max_attempts
                or (
                    existing.state == runs.FAILED
                    and existing.finished_at is not None
                    and existing.finished_at + retry_after > wall
                )
            ):
                continue
            due = partial(self.fire, job, fire_time, now=now, reason="catch_up")
            outcomes.append(self._guarded(due, job))
        return [o for o in outcomes if o is not None]
