"""Scheduled job runs and the scheduler's leader note: the scheduler's tables.

``job_runs`` has one row per ``(job, business_date)`` (a UNIQUE constraint): each job
runs once per business date, whoever fires it and however often. A run is *claimed*
before the job starts:

* no row: one is inserted ``RUNNING`` (``INSERT ... ON CONFLICT DO NOTHING RETURNING``),
  so of two concurrent fires exactly one gets it;
* ``SUCCEEDED``: nothing to do;
* ``RUNNING`` with a live lease: someone is on it, nothing to do;
* ``RUNNING`` with an expired lease: its owner died; taken over (``attempts + 1``);
* ``FAILED``: retried (``attempts + 1``) once ``retry_after`` has passed since it
  finished and while attempts remain, whatever fired it.

Takeovers and retries are a compare-and-set on ``(id, state, attempts)``, so two
instances can never both take the same run over. The owner extends its lease with
:func:`heartbeat` while the job runs and ends the run with :func:`finish`, which only
succeeds while the run is still its own: a run taken over never records its outcome.
Nothing here relies on ``rowcount``: each write says whether it happened through
``RETURNING``.

``scheduler_leases`` holds the leader's name for ``tci scheduler status`` (information
only: the leader's lock decides, see :mod:`tci_gateway.scheduler.leader`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.job_state import JobState
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.tables import JobRunRow, SchedulerLeaseRow


@dataclass(frozen=True)
class Claim:
    """A run this owner holds: pass it to :func:`heartbeat` and :func:`finish`."""

    run_id: int
    job: str
    business_date: date
    owner: str
    attempts: int
    previous_state: JobState | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def resumed(self) -> bool:
        """True when this claim took over a crashed run or retries a failed one."""
        return self.previous_state is not None


@dataclass(frozen=True)
class JobRun:
    """A ``job_runs`` row, read-only."""

    id: int
    job: str
    business_date: date
    state: JobState
    owner: str
    attempts: int
    started_at: datetime
    lease_until: datetime
    finished_at: datetime | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: JobRunRow) -> JobRun:
        """The read-only view of a row."""
        return cls(
            row.id,
            row.job,
            row.business_date,
            JobState(row.state),
            row.owner,
            row.attempts,
            row.started_at,
            row.lease_until,
            row.finished_at,
            dict(row.detail or {}),
        )

    def retry_due(self, now: datetime, retry_after: timedelta) -> bool:
        """A ``FAILED`` run may be retried at ``now``."""
        return self.state is JobState.FAILED and (
            self.finished_at is None or self.finished_at + retry_after <= now
        )


def claim(
    ledger: Ledger,
    job: str,
    business_date: date,
    owner: str,
    now: datetime,
    lease: timedelta,
    *,
    detail: dict[str, Any] | None = None,
    max_attempts: int | None = None,
    retry_after: timedelta = timedelta(0),
) -> Claim | None:
    """Claim the run of ``job`` for ``business_date``; ``None`` when there is nothing
    to do (done, running elsewhere, failed too recently, or out of attempts). See the
    module docstring."""
    detail = dict(detail or {})
    with ledger.unit_of_work() as session:
        found = _insert_or_read(session, job, business_date, owner, now, lease, detail)
        if not isinstance(found, JobRun):
            return found
        run = found
        if run.state is JobState.SUCCEEDED or (
            run.state is JobState.RUNNING and run.lease_until >= now
        ):
            return None
        if run.state is JobState.FAILED and not run.retry_due(now, retry_after):
            return None
        if max_attempts is not None and run.attempts >= max_attempts:
            return None
        # re-checked on the row as it is now, not as it was read
        free = (JobRunRow.state == JobState.FAILED) | (JobRunRow.lease_until < now)
        if not _take(session, run, owner, now, lease, detail, free):
            return None
    return Claim(run.id, job, business_date, owner, run.attempts + 1, run.state, detail)


def claim_now(
    ledger: Ledger,
    job: str,
    business_date: date,
    owner: str,
    now: datetime,
    lease: timedelta,
    *,
    detail: dict[str, Any] | None = None,
) -> Claim | None:
    """Claim the run of ``job`` for ``business_date`` to run it now, on demand (an
    operator's ``POST /v1/jobs/{id}/run``): as :func:`claim`, except that a run that
    succeeded or failed is run again at once, whatever its attempts or retry delay.
    ``None`` only while the run is held (``RUNNING`` with a live lease): the same row
    and compare-and-set as :func:`claim`, so it never runs beside the scheduler's."""
    detail = dict(detail or {})
    with ledger.unit_of_work() as session:
        found = _insert_or_read(session, job, business_date, owner, now, lease, detail)
        if not isinstance(found, JobRun):
            return found
        run = found
        if run.state is JobState.RUNNING and run.lease_until >= now:
            return None
        free = (JobRunRow.state != JobState.RUNNING) | (JobRunRow.lease_until < now)
        if not _take(session, run, owner, now, lease, detail, free):
            return None
    return Claim(run.id, job, business_date, owner, run.attempts + 1, run.state, detail)


def _insert_or_read(
    session: Session,
    job: str,
    business_date: date,
    owner: str,
    now: datetime,
    lease: timedelta,
    detail: dict[str, Any],
) -> Claim | JobRun | None:
    """A new run row claimed at once (a :class:`Claim`), else the existing run as it
    is (``None`` when it vanished in between: the next fire inserts it)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = session.execute(
        insert(JobRunRow)
        .values(
            job=job,
            business_date=business_date,
            state=JobState.RUNNING,
            owner=owner,
            attempts=1,
            started_at=now,
            lease_until=now + lease,
            finished_at=None,
            detail=detail,
        )
        .on_conflict_do_nothing(index_elements=["job", "business_date"])
        .returning(JobRunRow.id)
    ).first()
    if inserted is not None:
        return Claim(inserted[0], job, business_date, owner, 1, None, detail)
    row = session.scalars(
        select(JobRunRow).where(JobRunRow.job == job, JobRunRow.business_date == business_date)
    ).one_or_none()
    return None if row is None else JobRun.of(row)


def _take(
    session: Session,
    run: JobRun,
    owner: str,
    now: datetime,
    lease: timedelta,
    detail: dict[str, Any],
    free: Any,
) -> bool:
    """Compare-and-set ``run`` to RUNNING for ``owner`` if it is still as read and
    ``free`` holds on the row as it is now."""
    taken = session.execute(
        update(JobRunRow)
        .where(
            JobRunRow.id == run.id,
            JobRunRow.state == run.state,
            JobRunRow.attempts == run.attempts,
            free,
        )
        .values(
            state=JobState.RUNNING,
            owner=owner,
            attempts=run.attempts + 1,
            started_at=now,
            lease_until=now + lease,
            finished_at=None,
            detail=detail,
        )
        .returning(JobRunRow.id)
    ).first()
    return taken is not None


def _own(claim: Claim) -> Any:
    return (
        (JobRunRow.id == claim.run_id)
        & (JobRunRow.owner == claim.owner)
        & (JobRunRow.attempts == claim.attempts)
        & (JobRunRow.state == JobState.RUNNING)
    )


def heartbeat(ledger: Ledger, claim: Claim, now: datetime, lease: timedelta) -> bool:
    """Extend the lease of a run still held; False when it was taken over."""
    with ledger.unit_of_work() as session:
        row = session.execute(
            update(JobRunRow)
            .where(_own(claim))
            .values(lease_until=now + lease)
            .returning(JobRunRow.id)
        ).first()
    return row is not None


def finish(
    ledger: Ledger,
    claim: Claim,
    *,
    succeeded: bool,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Mark the run ``SUCCEEDED`` or ``FAILED`` with ``detail`` (merged over the
    claim's); False when the run is no longer this claim's (it was taken over)."""
    with ledger.unit_of_work() as session:
        row = session.execute(
            update(JobRunRow)
            .where(_own(claim))
            .values(
                state=JobState.SUCCEEDED if succeeded else JobState.FAILED,
                finished_at=now,
                lease_until=now,
                detail={**claim.detail, **(detail or {})},
            )
            .returning(JobRunRow.id)
        ).first()
    return row is not None


def abandon(ledger: Ledger, run: JobRun, now: datetime, reason: str) -> bool:
    """Mark a crashed run (``RUNNING``, lease expired) ``FAILED`` without running it
    again, e.g. when it is out of attempts. False when its state moved meanwhile."""
    with ledger.unit_of_work() as session:
        row = session.execute(
            update(JobRunRow)
            .where(
                JobRunRow.id == run.id,
                JobRunRow.state == JobState.RUNNING,
                JobRunRow.attempts == run.attempts,
                JobRunRow.lease_until < now,
            )
            .values(
                state=JobState.FAILED,
                finished_at=now,
                lease_until=now,
                detail={**run.detail, "error": reason},
            )
            .returning(JobRunRow.id)
        ).first()
    return row is not None


def find(ledger: Ledger, job: str, business_date: date) -> JobRun | None:
    """The run of ``job`` for ``business_date``, if any."""
    with ledger.unit_of_work() as session:
        row = session.scalars(
            select(JobRunRow).where(JobRunRow.job == job, JobRunRow.business_date == business_date)
        ).one_or_none()
        return JobRun.of(row) if row is not None else None


def expired(ledger: Ledger, now: datetime) -> list[JobRun]:
    """Runs left ``RUNNING`` whose lease has expired: their owner died mid-job."""
    with ledger.unit_of_work() as session:
        rows = session.scalars(
            select(JobRunRow)
            .where(JobRunRow.state == JobState.RUNNING, JobRunRow.lease_until < now)
            .order_by(JobRunRow.business_date, JobRunRow.id)
        ).all()
        return [JobRun.of(r) for r in rows]


def latest(ledger: Ledger, *, limit: int = 20, job: str | None = None) -> list[JobRun]:
    """The most recent runs, newest business date first."""
    with ledger.unit_of_work() as session:
        stmt = select(JobRunRow).order_by(JobRunRow.business_date.desc(), JobRunRow.id.desc())
        if job is not None:
            stmt = stmt.where(JobRunRow.job == job)
        return [JobRun.of(r) for r in session.scalars(stmt.limit(limit))]


def record_failure(ledger: Ledger, run: Claim | JobRun, error: str, now: datetime) -> bool:
    """Raise the ``scheduler_job_failed`` alert of a failed attempt of a run: ``tci
    alerts`` lists it and the business date's digest counts it. One alert per job,
    business date and attempt number, so an intra-day poll failing all day alerts once
    per attempt number, not once per fire."""
    job = run.job.partition("@")[0]
    with ledger.unit_of_work() as session:
        return add_alert(
            session,
            kind=AlertKind.SCHEDULER_JOB_FAILED,
            message=f"{run.job} failed (attempt {run.attempts}): {error}",
            business_date=run.business_date,
            dedupe_key=f"job:{job}:{run.business_date}:{run.attempts}",
            now=now,
            details={"job": run.job, "attempts": run.attempts, "error": error},
        )


# -- the leader note --------------------------------------------------------------------


@dataclass(frozen=True)
class LeaderNote:
    """Who last said it leads (``scheduler_leases``) and until when it said so."""

    owner: str
    lease_until: datetime


def note_leader(ledger: Ledger, name: str, owner: str, now: datetime, lease: timedelta) -> None:
    """Write (or refresh) ``owner`` as the leader ``name``."""
    with ledger.unit_of_work() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(SchedulerLeaseRow).values(
            name=name, owner=owner, lease_until=now + lease, updated_at=now
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"owner": owner, "lease_until": now + lease, "updated_at": now},
            )
        )


def clear_leader(ledger: Ledger, name: str, owner: str) -> None:
    """Remove the note of ``name`` when ``owner`` wrote it."""
    with ledger.unit_of_work() as session:
        session.execute(
            delete(SchedulerLeaseRow).where(
                SchedulerLeaseRow.name == name, SchedulerLeaseRow.owner == owner
            )
        )


def leader_note(ledger: Ledger, name: str) -> LeaderNote | None:
    """The note of the leader ``name``, if any."""
    with ledger.unit_of_work() as session:
        row = session.get(SchedulerLeaseRow, name)
        return LeaderNote(row.owner, row.lease_until) if row is not None else None
