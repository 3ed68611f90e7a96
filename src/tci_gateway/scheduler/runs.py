"""Job runs: each job runs once per business date, whoever fires it and however often.

``job_runs`` has one row per ``(job, business_date)`` (a UNIQUE constraint). A run is
*claimed* before the job starts:

* no row: one is inserted ``RUNNING`` (``INSERT ... ON CONFLICT DO NOTHING RETURNING``),
  so of two concurrent fires exactly one gets it;
* ``SUCCEEDED``: nothing to do;
* ``RUNNING`` with a live lease: someone is on it, nothing to do;
* ``RUNNING`` with an expired lease: its owner died; taken over (``attempts + 1``);
* ``FAILED``: retried (``attempts + 1``).

Takeovers and retries are a compare-and-set on ``(id, state, attempts)``, so two
instances can never both take the same run over. The owner extends its lease with
:func:`heartbeat` while the job runs and ends the run with :func:`finish`, which only
succeeds while the run is still its own. Nothing here relies on ``rowcount``: each
write says whether it happened through ``RETURNING``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import JobRunRow

RUNNING, SUCCEEDED, FAILED = "RUNNING", "SUCCEEDED", "FAILED"


@dataclass(frozen=True)
class Claim:
    """A run this owner holds: pass it to :func:`heartbeat` and :func:`finish`."""

    run_id: int
    job: str
    business_date: date
    owner: str
    attempts: int
    previous_state: str | None = None
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
    state: str
    owner: str
    attempts: int
    started_at: datetime
    lease_until: datetime
    finished_at: datetime | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: JobRunRow) -> JobRun:
        return cls(
            row.id,
            row.job,
            row.business_date,
            row.state,
            row.owner,
            row.attempts,
            row.started_at,
            row.lease_until,
            row.finished_at,
            dict(row.detail or {}),
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
) -> Claim | None:
    """Claim the run of ``job`` for ``business_date``; ``None`` when there is nothing
    to do (done, running elsewhere, or out of attempts). See the module docstring."""
    detail = dict(detail or {})
    with ledger.unit_of_work() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        inserted = session.execute(
            insert(JobRunRow)
            .values(
                job=job,
                business_date=business_date,
                state=RUNNING,
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
        existing = session.execute(
            select(JobRunRow.id, JobRunRow.state, JobRunRow.attempts, JobRunRow.lease_until).where(
                JobRunRow.job == job, JobRunRow.business_date == business_date
            )
        ).one_or_none()
        if existing is None:  # deleted in between: let the next fire insert it
            return None
        run_id, state, attempts, lease_until = existing
        if state == SUCCEEDED or (state == RUNNING and lease_until >= now):
            return None
        if max_attempts is not None and attempts >= max_attempts:
            return None
        taken = session.execute(
            update(JobRunRow)
            .where(
                JobRunRow.id == run_id,
                JobRunRow.state == state,
                JobRunRow.attempts == attempts,
                # re-checked on the row as it is now, not as it was read
                (JobRunRow.state == FAILED) | (JobRunRow.lease_until < now),
            )
            .values(
                state=RUNNING,
                owner=owner,
                attempts=attempts + 1,
                started_at=now,
                lease_until=now + lease,
                finished_at=None,
                detail=detail,
            )
            .returning(JobRunRow.id)
        ).first()
    if taken is None:
        return None
    return Claim(run_id, job, business_date, owner, attempts + 1, state, detail)


def _own(claim: Claim) -> Any:
    return (
        (JobRunRow.id == claim.run_id)
        & (JobRunRow.owner == claim.owner)
        & (JobRunRow.attempts == claim.attempts)
        & (JobRunRow.state == RUNNING)
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
                state=SUCCEEDED if succeeded else FAILED,
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
                JobRunRow.state == RUNNING,
                JobRunRow.attempts == run.attempts,
                JobRunRow.lease_until < now,
            )
            .values(
                state=FAILED,
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
            .where(JobRunRow.state == RUNNING, JobRunRow.lease_until < now)
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
