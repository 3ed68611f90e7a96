"""The scheduler process: APScheduler for punctual fires, the database for the truth.

:func:`build_scheduler` pins APScheduler 3.x down: a :class:`MemoryJobStore` of its own
(job stores are never shared between schedulers, and nothing is pickled), the configured
time zone, explicit job ids with ``replace_existing=True``, ``coalesce=True``,
``max_instances=1``, an explicit ``misfire_grace_time``, one worker thread, and
croniter's fire times (:class:`~tci_gateway.scheduler.cron.CrontabTrigger`). Each job
calls this runner's dispatcher with the job id (no module-global state). Listeners turn
``EVENT_JOB_MISSED`` and ``EVENT_JOB_ERROR`` into ``scheduler_job_missed`` /
``scheduler_job_error`` alerts (noted in the job's next run detail) and wake the
catch-up, so a missed fire still runs.

:class:`SchedulerRunner` adds leader election and the heartbeat: every
``heartbeat_seconds`` a thread renews the leadership (or tries to take it) and the
lease of the run in progress. The control loop runs the database catch-up at start,
on becoming leader, after a missed fire, and every heartbeat (which also resumes runs
whose owner died once their lease expires). Only the leader runs anything; every
instance keeps a scheduler so any of them can take over.

A :class:`SimulatedClock` replaces the wall clock for tests and demos: simulated time
advances one step per tick interval, from an epoch shared by all the processes given
it, and the same control loop fires each enabled job once per simulated business date.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from tci_gateway.config import SchedulerSettings
from tci_gateway.errors import ConfigError
from tci_gateway.logs import get_logger
from tci_gateway.scheduler import cron
from tci_gateway.scheduler.dispatch import Dispatcher, Outcome
from tci_gateway.scheduler.leader import Leader


def build_scheduler(
    settings: SchedulerSettings,
    fire: Callable[[str], object],
    *,
    on_missed: Callable[[Any], None] | None = None,
    on_error: Callable[[Any], None] | None = None,
) -> BackgroundScheduler:
    """A configured, not yet started APScheduler with one job per enabled job id, each
    calling ``fire(job_id)`` (the dispatcher's :meth:`~Dispatcher.fire_due`)."""
    grace = settings.misfire_grace_seconds
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        timezone=ZoneInfo(settings.timezone),
    )
    for job, job_settings in sorted(settings.jobs.items()):
        if not job_settings.enabled:
            continue
        scheduler.add_job(
            fire,
            trigger=cron.CrontabTrigger(
                cron.trigger(job_settings.cron, settings.job_timezone(job))
            ),
            args=[job],
            id=job,
            name=job,
            jobstore="default",
            executor="default",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=grace,
        )
    if on_missed is not None:
        scheduler.add_listener(on_missed, EVENT_JOB_MISSED)
    if on_error is not None:
        scheduler.add_listener(on_error, EVENT_JOB_ERROR)
    return scheduler


def check_jobs(
    scheduler: BackgroundScheduler, settings: SchedulerSettings, fire: Callable[[str], object]
) -> None:
    """Startup self-check: every enabled job is in the store, calling ``fire`` with its
    own id and nothing else."""
    expected = {job for job, s in settings.jobs.items() if s.enabled}
    found = {job.id: job for job in scheduler.get_jobs()}
    missing = sorted(expected - set(found))
    wrong = sorted(
        job_id
        for job_id, job in found.items()
        if job.func != fire or list(job.args) != [job_id] or job.kwargs
    )
    if missing or wrong:
        get_logger().error("scheduler_job_missing", missing=missing, wrong=wrong)
        raise ConfigError(f"scheduler self-check failed: missing {missing}, wrong {wrong}")


@dataclass(frozen=True)
class SimulatedClock:
    """Simulated time: ``start`` at the wall-clock ``epoch`` (UNIX seconds), then one
    ``step`` per ``interval`` seconds of real time. Processes given the same values
    agree on simulated time, as they would on the real one."""

    start: datetime
    step: timedelta
    interval: float
    epoch: float

    def index(self, wall: float | None = None) -> int:
        """The current tick (0 before the epoch)."""
        elapsed = (time.time() if wall is None else wall) - self.epoch
        return max(0, math.floor(elapsed / self.interval))

    def now(self) -> datetime:
        """The simulated now."""
        return self.start + self.index() * self.step

    def seconds_to_next_tick(self) -> float:
        """Real seconds until the next tick begins."""
        return max(0.0, self.epoch + (self.index() + 1) * self.interval - time.time())


class SchedulerRunner:
    """A scheduler instance: leader election, heartbeat, catch-up and APScheduler."""

    def __init__(self, dispatcher: Dispatcher, leader: Leader) -> None:
        self.dispatcher, self.leader = dispatcher, leader
        self.settings = dispatcher.settings
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.log = get_logger(owner=leader.owner)
        self._lead_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None

    def request_stop(self) -> None:
        """Ask the loops to end (signal handlers call this)."""
        self.stop.set()
        self.wake.set()

    def maintain_leadership(self) -> bool:
        """Renew the leadership, or try to take it; True when this instance leads."""
        with self._lead_lock:
            was = self.leader.is_leader
            try:
                leads = self.leader.renew() if was else self.leader.acquire()
            except Exception as exc:  # the database is away: try again next beat
                self.log.warning("scheduler_leader_check_failed", error=str(exc))
                leads = self.leader.is_leader
            if leads and not was:
                self.log.info("scheduler_leader_acquired")
                self.wake.set()  # catch up what the previous leader left
            elif was and not leads:
                self.dispatcher.alert("scheduler_leadership_lost", owner=self.leader.owner)
            return leads

    def _beat(self) -> None:
        while not self.stop.wait(self.settings.heartbeat_seconds):
            self.maintain_leadership()
            try:
                self.dispatcher.extend_leases()
            except Exception as exc:
                self.log.warning("scheduler_heartbeat_failed", error=str(exc))

    def _start_heartbeat(self) -> None:
        self._heartbeat = threading.Thread(target=self._beat, name="tci-heartbeat", daemon=True)
        self._heartbeat.start()

    def _shutdown(self) -> None:
        self.request_stop()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=10)
        with self._lead_lock:
            try:
                self.leader.release()
            except Exception as exc:
                self.log.warning("scheduler_release_failed", error=str(exc))
        self.log.info("scheduler_stopped")

    def _on_missed(self, event: Any) -> None:
        scheduled = getattr(event, "scheduled_run_time", None)
        when = scheduled.isoformat() if scheduled is not None else None
        self.dispatcher.alert("scheduler_job_missed", job=event.job_id, scheduled=when)
        self.dispatcher.note(event.job_id, {"event": "scheduler_job_missed", "scheduled": when})
        self.wake.set()

    def _on_error(self, event: Any) -> None:
        error = f"{type(event.exception).__name__}: {event.exception}"
        self.dispatcher.alert("scheduler_job_error", job=event.job_id, error=error)
        self.dispatcher.note(event.job_id, {"event": "scheduler_job_error", "error": error})
        self.wake.set()

    def _loop(self, until: Callable[[], bool], timeout: Callable[[], float]) -> None:
        while not self.stop.is_set() and not until():
            if not self.leader.is_leader:
                self.maintain_leadership()
            try:
                self.dispatcher.catch_up()
            except Exception as exc:  # the database is away: try again next beat
                self.log.warning("scheduler_catch_up_failed", error=str(exc))
            self.wake.wait(timeout())
            self.wake.clear()

    def run_forever(self) -> None:
        """Run on the wall clock until :meth:`request_stop`."""
        aps_log = logging.getLogger("apscheduler")
        if not aps_log.isEnabledFor(logging.DEBUG):  # our own events say what matters
            aps_log.setLevel(logging.WARNING)
        fire = self.dispatcher.fire_due
        scheduler = build_scheduler(
            self.settings, fire, on_missed=self._on_missed, on_error=self._on_error
        )
        scheduler.start(paused=True)
        try:
            check_jobs(scheduler, self.settings, fire)
            self._start_heartbeat()
            scheduler.resume()
            self.log.info("scheduler_started", jobs=sorted(self.dispatcher.triggers))
            self._loop(lambda: False, lambda: self.settings.heartbeat_seconds)
        finally:
            scheduler.shutdown(wait=True)
            self._shutdown()

    def simulate(self, clock: SimulatedClock, ticks: int) -> None:
        """Run the control loop on simulated time for ``ticks`` ticks (the dispatcher
        must have been built with ``clock=clock.now``)."""
        self._start_heartbeat()
        self.log.info("scheduler_started", jobs=sorted(self.dispatcher.triggers), simulated=True)
        try:
            self._loop(
                lambda: clock.index() >= ticks,
                lambda: min(self.settings.heartbeat_seconds, clock.seconds_to_next_tick()),
            )
        finally:
            self._shutdown()

    def run_once(self, now: datetime | None = None) -> list[Outcome]:
        """One catch-up pass, as the leader (or nothing when another instance leads)."""
        try:
            if not self.maintain_leadership():
                self.log.info("scheduler_not_leader", detail="another instance leads")
                return []
            self._start_heartbeat()
            return self.dispatcher.catch_up(now)
        finally:
            self._shutdown()
