"""Running a scheduler job now, on demand (the operators' ``POST /v1/jobs/{id}/run``),
with the scheduler's own bookkeeping, so it never runs beside the scheduler's run.

A run on demand takes the run key the scheduler would use at that moment (the job id and
the business date in the job's time zone; ``job@HHMM`` for intra-day jobs, see
:meth:`~tci_gateway.scheduler.dispatch.Dispatcher.run_key`) and claims that
``job_runs`` row with :func:`~tci_gateway.ledger.jobs.claim_now`: refused while the row
is held (``RUNNING`` with a live lease, whoever holds it), else run again even when it
succeeded or failed earlier. It is also refused while another run of the same job, or
of a job it runs after (:data:`~tci_gateway.scheduler.dispatch.RUNS_AFTER`), is held.
Once claimed, the job runs in a thread of this process that extends the run's lease
every ``heartbeat_seconds`` and finishes it with its outcome exactly as the dispatcher
does (a run that is not ok is ``FAILED`` with its error and raises the
``scheduler_job_failed`` alert); the scheduler, finding the row held or succeeded,
does not start it again. A process killed mid-run leaves the row ``RUNNING``: once its
lease expires the scheduler's catch-up resumes it (an enabled job), or the next run on
demand takes it over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tci_gateway.adapters.contract import BureauAdapter, InsurerAdapter
from tci_gateway.config import SchedulerSettings
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger import jobs as runs
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.run_pages import held_runs
from tci_gateway.logs import get_logger, redact_text
from tci_gateway.scheduler import cron
from tci_gateway.scheduler.dispatch import RUNS_AFTER, error_of
from tci_gateway.scheduler.jobs import JOBS, JobContext, JobSpec, resolve
from tci_gateway.scheduler.leader import Clock, wall_clock
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.nightly import NightlyOptions

_ERROR_CHARS = 500


class UnknownJobError(LookupError):
    """No job of that id."""


class JobBusyError(Exception):
    """The run cannot start now: it, or a run it must not overlap, is held."""

    def __init__(self, message: str, held: runs.JobRun | None) -> None:
        super().__init__(message)
        self.held = held


@dataclass(frozen=True)
class JobInfo:
    """A job as ``tci scheduler status`` lists it."""

    job: str
    description: str
    cron: str | None
    timezone: str
    enabled: bool
    per_fire: bool
    next_fire: datetime | None


def schedule(
    settings: SchedulerSettings, now: datetime, jobs: Mapping[str, JobSpec] = JOBS
) -> list[JobInfo]:
    """Every known job with its schedule and next fire after ``now`` (none when it is
    disabled), in id order."""
    found = []
    for job, spec in sorted(jobs.items()):
        job_settings = settings.jobs.get(job)
        zone = settings.job_timezone(job) if job_settings is not None else settings.timezone
        enabled = job_settings is not None and job_settings.enabled
        next_fire = (
            cron.next_fire(cron.trigger(job_settings.cron, zone), now)
            if job_settings is not None and enabled
            else None
        )
        found.append(
            JobInfo(
                job,
                spec.description,
                job_settings.cron if job_settings is not None else None,
                zone,
                enabled,
                spec.per_fire,
                next_fire,
            )
        )
    return found


@dataclass
class ManualRunner:
    """Starts runs on demand for one process (see the module docstring). ``clock``
    gives the business now (what the job is told), ``wall`` real time for leases."""

    settings: SchedulerSettings
    ledger: Ledger
    adapters: Callable[[], Mapping[str, InsurerAdapter]]
    policies: Mapping[str, Policy]
    owner: str
    options: Callable[[], NightlyOptions] = NightlyOptions
    wall: Clock = wall_clock
    bureaus: Callable[[], Mapping[str, BureauAdapter]] = dict
    credit: Callable[[], CreditOptions] | None = None
    jobs: Mapping[str, JobSpec] = field(default_factory=lambda: dict(JOBS))
    order: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(RUNS_AFTER))
    _threads: dict[int, threading.Thread] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)

    def run_key(self, job: str, now: datetime) -> tuple[str, date]:
        """The ``job_runs`` key and business date the scheduler would give a fire of
        ``job`` at ``now``."""
        zone = (
            self.settings.job_timezone(job) if job in self.settings.jobs else self.settings.timezone
        )
        day = cron.business_date(now, zone)
        if self.jobs[job].per_fire:
            return f"{job}@{now.astimezone(ZoneInfo(zone)):%H%M}", day
        return job, day

    def start(self, job: str, now: datetime, *, requested_by: str) -> runs.JobRun:
        """Claim the run of ``job`` at ``now`` and start it in a thread; the claimed run
        (``RUNNING``). :class:`UnknownJobError` for an unknown job, :class:`JobBusyError`
        while it (or a run it must not overlap) is held."""
        spec = self.jobs.get(job)
        if spec is None:
            known = ", ".join(sorted(self.jobs))
            raise UnknownJobError(f"no scheduler job {job!r} (known: {known})")
        function = resolve(spec.ref)
        key, day = self.run_key(job, now)
        wall = self.wall()
        with self.ledger.reading() as session:
            held = held_runs(session, [job, *self.order.get(job, ())], wall)
        if held:
            run = held[0]
            what = "is running" if run.job.partition("@")[0] == job else "runs before it"
            raise JobBusyError(
                f"{run.job} {run.business_date} {what} (run {run.id}, {run.owner}, attempt "
                f"{run.attempts}): try again once it has finished",
                run,
            )
        detail: dict[str, Any] = {
            "job": job,
            "fire_time": now.isoformat(),
            "reason": "api",
            "requested_by": requested_by,
        }
        claim = runs.claim_now(self.ledger, key, day, self.owner, wall, self.lease, detail=detail)
        if claim is None:
            holder = runs.find(self.ledger, key, day)
            raise JobBusyError(f"{key} {day} is running: try again once it has finished", holder)
        thread = threading.Thread(
            target=self._execute,
            args=(job, function, claim, now),
            name=f"tci-job-{claim.run_id}",
            daemon=True,
        )
        with self._lock:
            self._threads[claim.run_id] = thread
        thread.start()
        started = runs.find(self.ledger, key, day)
        assert started is not None  # claimed a moment ago; a run row is never deleted
        return started

    def _execute(
        self,
        job: str,
        function: Callable[[JobContext], dict[str, Any]],
        claim: runs.Claim,
        now: datetime,
    ) -> None:
        log = get_logger(owner=self.owner).bind(
            job=job, key=claim.job, business_date=str(claim.business_date), run_id=claim.run_id
        )
        log.info("scheduler_job_started", reason="api", resumed=claim.resumed)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(claim, stop), daemon=True)
        beat.start()
        extra: dict[str, Any] = {}
        try:
            context = JobContext(
                self.ledger,
                self.adapters(),
                self.policies,
                now,
                claim.business_date,
                job,
                self.options,
                self.bureaus(),
                self.credit,
            )
            result = function(context)
            error = error_of(result)
            extra["result"] = result
        except Exception as exc:  # the run fails; the process goes on
            error = f"{type(exc).__name__}: {redact_text(str(exc))}"[:_ERROR_CHARS]
            log.error("scheduler_job_error", error=error)
        finally:
            stop.set()
            beat.join()
        if error is not None:
            extra["error"] = error
        if claim.previous_state is not None:
            extra["previous_state"] = claim.previous_state.value
        try:
            finished = runs.finish(
                self.ledger, claim, succeeded=error is None, now=self.wall(), detail=extra
            )
            if not finished:
                log.warning("scheduler_run_taken_over")
            elif error is None:
                log.info("scheduler_job_succeeded")
            else:
                log.error("scheduler_job_failed", error=error)
                runs.record_failure(self.ledger, claim, error, self.wall())
        except Exception as exc:  # the lease expires and the run is resumed or retaken
            log.error("scheduler_finish_failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._threads.pop(claim.run_id, None)

    def _beat(self, claim: runs.Claim, stop: threading.Event) -> None:
        while not stop.wait(self.settings.heartbeat_seconds):
            try:
                if not runs.heartbeat(self.ledger, claim, self.wall(), self.lease):
                    get_logger(owner=self.owner).warning(
                        "scheduler_run_lease_lost", key=claim.job, run_id=claim.run_id
                    )
                    return
            except Exception as exc:  # the database is away: try again next beat
                get_logger(owner=self.owner).warning(
                    "scheduler_heartbeat_failed", error=redact_text(str(exc))
                )

    def running(self) -> list[int]:
        """The ids of the runs this process is running now."""
        with self._lock:
            return sorted(self._threads)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the runs in progress here to end (shutdown, tests); True when none
        is left."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)
        return not self.running()
