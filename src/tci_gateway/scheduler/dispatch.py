"""Running fires: the one code path every run takes, whatever started it.

A fire is ``(job, fire time)``. :meth:`Dispatcher.fire` runs it only on the leader:
it derives the run's key (the job id, plus the fire's local time for intra-day jobs)
and business date (the fire time's date in the job's time zone), waits for the jobs
that come before it on that business date (:data:`RUNS_AFTER`), claims the run in
``job_runs`` (a duplicate fire is a no-op; a failed run is retried only once
``retry_failed_seconds`` have passed, whatever fired it), runs the job, and finishes
the run with its outcome. Cron fires from APScheduler, the catch-up after downtime and
the simulated ticks all end up here. One job runs at a time in a process.

A job is judged by its report: ``"ok"`` in the summary it returns (the report's
``.ok``). A run that is not ok, or raised, is ``FAILED`` with its ``error`` (what
``tci scheduler status`` shows), raises a ``scheduler_job_failed`` alert in the ledger
(``tci alerts``, and the business date's digest) and is retried as configured. A run
whose lease was taken over meanwhile records nothing.

:meth:`Dispatcher.catch_up` scans the database, not the scheduler's memory: it resumes
runs whose owner died mid-job (``RUNNING``, lease expired), and for each enabled job
runs the most recent scheduled fire at or before now when its run has not succeeded.

Two clocks: ``clock`` gives the business "now" (fire times, what services are told);
``wall`` gives real time for leases. They differ only in simulations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from tci_gateway.adapters.contract import BureauAdapter, InsurerAdapter
from tci_gateway.config import SchedulerSettings
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import ConfigError
from tci_gateway.ledger import jobs as runs
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.job_state import JobState
from tci_gateway.logs import get_logger, redact_text
from tci_gateway.scheduler import cron
from tci_gateway.scheduler.jobs import (
    JOBS,
    JobContext,
    JobFunction,
    JobSpec,
    resolve,
)
from tci_gateway.scheduler.leader import Clock, Leader, wall_clock
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.nightly import NightlyOptions

RUNS_AFTER: dict[str, tuple[str, ...]] = {
    "claims_run": ("limit_sync",),
    "credit_review": ("limit_sync", "claims_run"),
    "alert_digest": ("limit_sync", "claims_run", "credit_review"),
}
"""The day's order: a job waits, per business date, for these (when they are enabled
and fire that day) to succeed or to have failed for good."""

_ERROR_CHARS = 500


@dataclass(frozen=True)
class Outcome:
    """What one run did. ``recorded`` is False when the run was taken over while the
    job ran: its outcome was not written."""

    job: str
    key: str
    business_date: date
    state: JobState
    attempts: int
    detail: dict[str, Any]
    recorded: bool = True

    @property
    def ok(self) -> bool:
        """The run succeeded and said so in ``job_runs``."""
        return self.recorded and self.state is JobState.SUCCEEDED


def error_of(result: Mapping[str, Any]) -> str | None:
    """The one-line error of a job's summary when it is not ok, else ``None``."""
    if result.get("ok") is True:
        return None
    errors = [str(e) for e in result.get("errors") or () if e]
    if not errors and result.get("error"):
        errors = [str(result["error"])]
    failed = result.get("failed")
    if not errors and failed:
        errors = [f"failed: {', '.join(str(f) for f in failed)}"]
    text = "; ".join(errors) or "the job's report is not ok"
    return redact_text(" ".join(text.split()))[:_ERROR_CHARS]


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
        order: Mapping[str, tuple[str, ...]] = RUNS_AFTER,
        options: Callable[[], NightlyOptions] = NightlyOptions,
        bureaus: Mapping[str, BureauAdapter] | None = None,
        credit: Callable[[], CreditOptions] | None = None,
    ) -> None:
        self.settings = settings
        self.options = options  # the nightly cycle's, built per run (the day's FX rates)
        self.bureaus = dict(bureaus or {})  # the credit review's (by bureau name)
        self.credit = credit  # the credit workflow's options, built per run
        self.ledger, self.adapters, self.policies = ledger, adapters, policies
        self.leader, self.owner = leader, leader.owner
        self.clock, self.wall = clock, wall
        self.order = order
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.retry_after = timedelta(seconds=settings.retry_failed_seconds)
        self.specs: dict[str, JobSpec] = {}
        self.triggers: dict[str, cron.Schedule] = {}
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

    # -- the day's order --------------------------------------------------------------

    def waiting_for(self, job: str, day: date, now: datetime) -> list[str]:
        """The jobs ``job`` still waits for on business date ``day``: enabled jobs
        before it (:data:`RUNS_AFTER`) that fire that day and whose run of the day has
        neither succeeded nor failed for good."""
        waiting = []
        for before in self.order.get(job, ()):
            schedule = self.triggers.get(before)
            if schedule is None or self.specs[before].per_fire:
                continue
            zone = self.settings.job_timezone(before)
            midnight = datetime.combine(day, time(), ZoneInfo(zone))
            if cron.business_date(cron.next_fire(schedule, midnight), zone) != day:
                continue  # it does not run that day
            if cron.business_date(cron.latest_fire(schedule, now), zone) > day:
                continue  # its day has passed: its run of the day will not happen now
            run = runs.find(self.ledger, before, day)
            if run is None or run.state is JobState.RUNNING:
                waiting.append(before)
            elif (
                run.state is JobState.FAILED and run.attempts < self.settings.max_attempts
            ):  # a retry is to come
                waiting.append(before)
        return waiting

    # -- running --------------------------------------------------------------------

    def fire(
        self, job: str, fire_time: datetime, *, now: datetime | None = None, reason: str = "cron"
    ) -> Outcome | None:
        """Run one fire of ``job`` if this instance leads and the run is not done,
        held elsewhere, waiting for the day's earlier jobs or for its retry delay;
        ``None`` when there was nothing to do."""
        if not self._leads():
            self.log.debug("scheduler_fire_skipped", job=job, reason="not the leader")
            return None
        key, day = self.run_key(job, fire_time)
        detail = {"job": job, "fire_time": fire_time.isoformat(), "reason": reason}
        return self._run(job, key, day, detail, now)

    def fire_due(self, job: str) -> Outcome | None:
        """Run the job's most recent scheduled fire (what a cron fire means)."""
        now = self.clock()
        return self.fire(job, cron.latest_fire(self.triggers[job], now), now=now, reason="cron")

    def _run(
        self, job: str, key: str, day: date, detail: dict[str, Any], now: datetime | None
    ) -> Outcome | None:
        with self._run_lock:
            if not self._leads():  # lost (or could not renew) while waiting for our turn
                return None
            now = now or self.clock()
            waiting = self.waiting_for(job, day, now)
            if waiting:
                self.log.debug("scheduler_job_waiting", job=job, key=key, waiting_for=waiting)
                return None
            claim = runs.claim(
                self.ledger,
                key,
                day,
                self.owner,
                self.wall(),
                self.lease,
                detail=detail,
                max_attempts=self.settings.max_attempts,
                retry_after=self.retry_after,
            )
            if claim is None:
                return None
            with self._state_lock:
                self._active[claim.run_id] = claim
            try:
                return self._execute(job, claim, now)
            finally:
                with self._state_lock:
                    self._active.pop(claim.run_id, None)

    def _execute(self, job: str, claim: runs.Claim, now: datetime) -> Outcome:
        key, day = claim.job, claim.business_date
        log = self.log.bind(job=job, key=key, business_date=str(day), attempts=claim.attempts)
        log.info("scheduler_job_started", resumed=claim.resumed, reason=claim.detail["reason"])
        context = JobContext(
            self.ledger,
            self.adapters,
            self.policies,
            now,
            day,
            job,
            self.options,
            self.bureaus,
            self.credit,
        )
        extra: dict[str, Any]
        try:
            result = self.functions[job](context)
            error = error_of(result)
            extra = {"result": result}
        except Exception as exc:  # the run fails, the scheduler goes on
            error = f"{type(exc).__name__}: {redact_text(str(exc))}"[:_ERROR_CHARS]
            extra = {}
            self.alert("scheduler_job_error", job=job, key=key, error=error)
        if error is not None:
            extra["error"] = error
        events = self._take_notes(job)
        if events:
            extra["events"] = events
        ok = error is None
        finished = runs.finish(self.ledger, claim, succeeded=ok, now=self.wall(), detail=extra)
        state = JobState.SUCCEEDED if ok else JobState.FAILED
        if not finished:
            log.warning("scheduler_run_taken_over", state=state)
        elif ok:
            log.info("scheduler_job_succeeded")
        else:
            self.alert(
                "scheduler_job_failed", job=job, key=key, business_date=str(day), error=error
            )
            try:
                runs.record_failure(self.ledger, claim, error or "", self.wall())
            except Exception as exc:  # the run's own record stands
                self.log.warning("scheduler_alert_failed", job=job, error=str(exc))
        return Outcome(job, key, day, state, claim.attempts, {**claim.detail, **extra}, finished)

    def extend_leases(self) -> None:
        """Heartbeat: extend the lease of every run in progress here."""
        with self._state_lock:
            claims = list(self._active.values())
        for claim in claims:
            if not runs.heartbeat(self.ledger, claim, self.wall(), self.lease):
                self.log.warning("scheduler_run_lease_lost", key=claim.job, run_id=claim.run_id)

    # -- catch-up -------------------------------------------------------------------

    def _guarded(self, job: str, what: Callable[[], Outcome | None]) -> Outcome | None:
        try:
            return what()
        except Exception as exc:  # a database hiccup must not end the scheduler
            error = f"{type(exc).__name__}: {redact_text(str(exc))}"
            self.alert("scheduler_job_error", job=job, error=error)
            self.note(job, {"event": "scheduler_job_error", "error": error})
            return None

    def catch_up(self, now: datetime | None = None) -> list[Outcome]:
        """Resume crashed runs, then run each enabled job's latest due fire that has
        not succeeded, in the day's order. Only the leader does anything."""
        if not self._leads():
            return []
        now = now or self.clock()
        wall = self.wall()
        outcomes: list[Outcome | None] = []
        for run in runs.expired(self.ledger, wall):
            job = run.job.partition("@")[0]
            if not self._leads():
                break  # lost on the way (the heartbeat said so): the new leader goes on
            with self._state_lock:
                ours = run.id in self._active  # our heartbeat lagged: it is still running
            if job not in self.triggers or ours:
                continue
            if run.attempts >= self.settings.max_attempts:
                reason = "out of attempts after crashes"
                if runs.abandon(self.ledger, run, wall, reason):
                    self.alert(
                        "scheduler_job_abandoned", job=job, key=run.job, attempts=run.attempts
                    )
                    try:
                        runs.record_failure(self.ledger, run, reason, wall)
                    except Exception as exc:  # the run's own record stands
                        self.log.warning("scheduler_alert_failed", job=job, error=str(exc))
                continue
            detail = {"job": job, "fire_time": run.detail.get("fire_time"), "reason": "resume"}
            resume = partial(self._run, job, run.job, run.business_date, detail, now)
            outcomes.append(self._guarded(job, resume))
        for job in self._in_order():
            fire_time = cron.latest_fire(self.triggers[job], now)
            key, day = self.run_key(job, fire_time)
            existing = runs.find(self.ledger, key, day)
            if existing is not None and (
                existing.state is JobState.SUCCEEDED
                or (existing.state is JobState.RUNNING and existing.lease_until >= wall)
                or existing.attempts >= self.settings.max_attempts
                or (
                    existing.state is JobState.FAILED
                    and not existing.retry_due(wall, self.retry_after)
                )
            ):
                continue
            due = partial(self.fire, job, fire_time, now=now, reason="catch_up")
            outcomes.append(self._guarded(job, due))
        return [o for o in outcomes if o is not None]

    def _in_order(self) -> list[str]:
        """The enabled jobs, each after the jobs it runs after."""
        placed: list[str] = []
        seen: set[str] = set()

        def place(job: str) -> None:
            if job in seen or job not in self.triggers:
                return
            seen.add(job)  # first: a cycle in the order cannot loop
            for before in self.order.get(job, ()):
                place(before)
            placed.append(job)

        for job in self.triggers:
            place(job)
        return placed
