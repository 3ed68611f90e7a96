"""The response models of the runs and jobs endpoints: sync runs, scheduler job runs (as
``tci scheduler status`` shows them), the jobs and the scheduler's leader."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from tci_gateway.domain.sync import SyncStatus
from tci_gateway.ledger.job_state import JobState
from tci_gateway.ledger.jobs import JobRun
from tci_gateway.ledger.run_pages import SyncRunView, job_error
from tci_gateway.logs import redact_text
from tci_gateway.scheduler.manual import JobInfo

MAX_ERRORS = 20


class SyncRunOut(BaseModel):
    """One limit sync of a policy from its insurer."""

    id: int
    insurer: str
    policy: str
    business_date: date
    status: SyncStatus = Field(description="running, succeeded, partial or failed")
    started_at: datetime
    finished_at: datetime | None
    fetched: int
    written: int
    unchanged: int
    stale: int
    errors: list[str] = Field(description=f"the first {MAX_ERRORS} errors")
    error_count: int

    @classmethod
    def of(cls, run: SyncRunView) -> SyncRunOut:
        return cls(
            id=run.id,
            insurer=run.insurer,
            policy=run.policy,
            business_date=run.business_date,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            fetched=run.fetched,
            written=run.written,
            unchanged=run.unchanged,
            stale=run.stale,
            errors=[redact_text(e) for e in run.errors[:MAX_ERRORS]],
            error_count=len(run.errors),
        )


class SyncRunsPage(BaseModel):
    items: list[SyncRunOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class JobRunOut(BaseModel):
    """One run of a scheduler job for one business date (an intra-day job: one fire)."""

    id: int
    job: str = Field(description="the job id")
    key: str = Field(description="the run's key: the job id, `job@HHMM` for an intra-day fire")
    business_date: date
    state: JobState
    owner: str = Field(description="the scheduler instance or serving process that ran it")
    attempts: int
    reason: str | None = Field(
        description="what started it: cron, catch_up, resume, or api (POST /v1/jobs/{id}/run)"
    )
    requested_by: str | None = Field(description="the API key that started it (reason api)")
    started_at: datetime
    lease_until: datetime
    finished_at: datetime | None
    error: str | None
    result: dict[str, Any] | None = Field(
        description="the job's summary (what it did); null while it runs, and for a key "
        "restricted to policies (a job runs for every policy)"
    )

    @classmethod
    def of(cls, run: JobRun, *, with_result: bool = True) -> JobRunOut:
        detail = run.detail
        result = detail.get("result")
        error = job_error(run)
        return cls(
            id=run.id,
            job=run.job.partition("@")[0],
            key=run.job,
            business_date=run.business_date,
            state=run.state,
            owner=run.owner,
            attempts=run.attempts,
            reason=_text(detail.get("reason")),
            requested_by=_text(detail.get("requested_by")),
            started_at=run.started_at,
            lease_until=run.lease_until,
            finished_at=run.finished_at,
            error=redact_text(error) if error else None,
            result=result if with_result and isinstance(result, dict) else None,
        )


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


class JobRunsPage(BaseModel):
    items: list[JobRunOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class JobOut(BaseModel):
    job: str
    description: str
    cron: str | None
    timezone: str
    enabled: bool
    per_fire: bool = Field(description="runs once per fire (intra-day), not once a day")
    next_fire: datetime | None

    @classmethod
    def of(cls, info: JobInfo) -> JobOut:
        return cls(
            job=info.job,
            description=info.description,
            cron=info.cron,
            timezone=info.timezone,
            enabled=info.enabled,
            per_fire=info.per_fire,
            next_fire=info.next_fire,
        )


class LeaderOut(BaseModel):
    backend: str
    held: bool = Field(description="a scheduler holds the leader's lock")
    leader: str | None
    lease_until: datetime | None


class JobsOut(BaseModel):
    """The scheduler as `tci scheduler status` shows it: its leader and its jobs (the
    runs are in `GET /v1/runs/jobs`)."""

    leader: LeaderOut
    jobs: list[JobOut]
