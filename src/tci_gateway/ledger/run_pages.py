"""Sync runs and scheduler job runs, a page at a time, newest first (the HTTP API's
``GET /v1/runs/syncs`` and ``GET /v1/runs/jobs``; ``tci scheduler status`` reads the
same job runs through :func:`tci_gateway.ledger.jobs.latest`).

Keyset paging, never OFFSET: sync runs by id, job runs by (business date, id) as
``tci scheduler status`` orders them. Read-only: pass a session of
:meth:`~tci_gateway.ledger.engine.Ledger.reading`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from tci_gateway.domain.sync import SyncStatus
from tci_gateway.ledger.job_state import JobState
from tci_gateway.ledger.jobs import JobRun
from tci_gateway.ledger.tables import JobRunRow, PolicyRow, SyncRunRow


@dataclass(frozen=True)
class SyncRunView:
    """A ``sync_runs`` row with its policy's key."""

    id: int
    insurer: str
    policy: str
    business_date: date
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None
    fetched: int
    written: int
    unchanged: int
    stale: int
    errors: list[str]


def sync_runs(
    session: Session,
    *,
    policies: Collection[str] | None = None,
    policy: str | None = None,
    insurer: str | None = None,
    status: SyncStatus | None = None,
    run_id: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[SyncRunView]:
    """Sync runs, newest first: ``policies`` restricts them to those policy keys (an API
    key's), the others filter; ``before`` pages (the runs with a smaller id)."""
    stmt = (
        select(SyncRunRow, PolicyRow.key)
        .join(PolicyRow, PolicyRow.id == SyncRunRow.policy_id)
        .order_by(SyncRunRow.id.desc())
        .limit(limit)
    )
    if policies is not None:
        stmt = stmt.where(PolicyRow.key.in_(sorted(policies)))
    if policy is not None:
        stmt = stmt.where(PolicyRow.key == policy)
    if insurer is not None:
        stmt = stmt.where(SyncRunRow.insurer == insurer)
    if status is not None:
        stmt = stmt.where(SyncRunRow.status == status)
    if run_id is not None:
        stmt = stmt.where(SyncRunRow.id == run_id)
    if before is not None:
        stmt = stmt.where(SyncRunRow.id < before)
    return [
        SyncRunView(
            r.id,
            r.insurer,
            key,
            r.business_date,
            SyncStatus(r.status),
            r.started_at,
            r.finished_at,
            r.fetched,
            r.written,
            r.unchanged,
            r.stale,
            [str(e) for e in r.errors or ()],
        )
        for r, key in session.execute(stmt)
    ]


def job_runs(
    session: Session,
    *,
    job: str | None = None,
    state: JobState | None = None,
    before: tuple[date, int] | None = None,
    limit: int = 50,
) -> list[JobRun]:
    """Scheduler job runs, newest business date first (then newest id): ``job`` is a job
    id (its intra-day runs ``job@HHMM`` included); ``before`` pages (the runs after the
    position (business date, id) in that order)."""
    stmt = (
        select(JobRunRow).order_by(JobRunRow.business_date.desc(), JobRunRow.id.desc()).limit(limit)
    )
    if job is not None:
        stmt = stmt.where(
            or_(JobRunRow.job == job, JobRunRow.job.startswith(f"{job}@", autoescape=True))
        )
    if state is not None:
        stmt = stmt.where(JobRunRow.state == state)
    if before is not None:
        day, run_id = before
        stmt = stmt.where(
            or_(
                JobRunRow.business_date < day,
                and_(JobRunRow.business_date == day, JobRunRow.id < run_id),
            )
        )
    return [JobRun.of(r) for r in session.scalars(stmt)]


def job_run(session: Session, run_id: int) -> JobRun | None:
    """One job run by id."""
    row = session.get(JobRunRow, run_id)
    return JobRun.of(row) if row is not None else None


def job_error(run: JobRun) -> str | None:
    """A run's error as ``tci scheduler status`` shows it."""
    error: Any = run.detail.get("error")
    if error:
        return str(error)
    return "failed without a recorded error" if run.state is JobState.FAILED else None


def held_runs(session: Session, jobs: Collection[str], now: datetime) -> list[JobRun]:
    """The runs of these job ids (their intra-day runs ``job@HHMM`` included) that are
    ``RUNNING`` with a live lease at ``now`` (wall clock): someone is on them."""
    if not jobs:
        return []
    named = [
        or_(JobRunRow.job == job, JobRunRow.job.startswith(f"{job}@", autoescape=True))
        for job in sorted(jobs)
    ]
    stmt = (
        select(JobRunRow)
        .where(JobRunRow.state == JobState.RUNNING, JobRunRow.lease_until >= now, or_(*named))
        .order_by(JobRunRow.id)
    )
    return [JobRun.of(r) for r in session.scalars(stmt)]
