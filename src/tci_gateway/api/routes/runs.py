"""Sync runs and scheduler jobs; running a job now (operators).

``POST /v1/jobs/{job}/run`` runs a job in a thread of this serving process with the
scheduler's bookkeeping (:mod:`tci_gateway.scheduler.manual`): it claims the run the
scheduler would run at that moment, so the two never run it twice; 409 while it (or a
job it runs after) is running anywhere. The run is followed at
``GET /v1/runs/jobs/{run_id}``.
"""

from __future__ import annotations

import os
import secrets
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from tci_gateway.adapters.contract import InsurerAdapter
from tci_gateway.api.audit import audit
from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.idempotency import IdempotencyKey, idempotent
from tci_gateway.api.problems import COMMON_PROBLEMS, Problem, problem_responses
from tci_gateway.api.routes.case_models import decode_position, encode_position
from tci_gateway.api.routes.run_models import (
    JobOut,
    JobRunOut,
    JobRunsPage,
    JobsOut,
    LeaderOut,
    SyncRunOut,
    SyncRunsPage,
)
from tci_gateway.api.security import check_policy, require
from tci_gateway.domain.sync import SyncStatus
from tci_gateway.ledger import run_pages
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.ledger.job_state import JobState
from tci_gateway.scheduler.leader import leader_status
from tci_gateway.scheduler.manual import JobBusyError, ManualRunner, UnknownJobError, schedule

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS, tags=["runs"])

MAX_ID = 2**31 - 1
NAME = r"^[^\x00-\x1f\x7f]+$"
"""A policy, insurer or job name: printable (a NUL never reaches PostgreSQL)."""
Reading = Annotated[ApiKey, Depends(require("buyers:read"))]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="the run id")]
Limit = Annotated[int, Query(ge=1, le=500, description="at most this many items")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]


def _runner(request: Request, ctx: ApiContext) -> ManualRunner:
    """This process's :class:`ManualRunner`, made on first use."""
    with ctx.locked():
        runner = getattr(request.app.state, "manual_runs", None)
        if isinstance(runner, ManualRunner):
            return runner
        settings = ctx.settings
        policies = settings.domain_policies()
        insurers = sorted({p.insurer for p in policies.values()})

        def adapters() -> dict[str, InsurerAdapter]:
            with ctx.locked():  # the adapters are the process's own, built once
                return {name: ctx.wiring.insurer(name).adapter for name in insurers}

        runner = ManualRunner(
            settings.scheduler,
            ctx.ledger,
            adapters,
            policies,
            owner=f"api:{ctx.instance or os.getpid()}:{secrets.token_hex(3)}"[-128:],
            options=lambda: ctx.wiring.nightly_options(ctx.ledger),
            bureaus=ctx.bureaus,
            credit=ctx.credit_options,
        )
        request.app.state.manual_runs = runner
        return runner


@router.get("/runs/syncs", response_model=SyncRunsPage, summary="Limit syncs, newest first")
def sync_runs(
    ctx: Ctx,
    key: Reading,
    policy: Annotated[
        str | None, Query(max_length=64, pattern=NAME, description="this policy only")
    ] = None,
    insurer: Annotated[
        str | None, Query(max_length=64, pattern=NAME, description="this insurer only")
    ] = None,
    status: Annotated[SyncStatus | None, Query(description="this outcome only")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SyncRunsPage:
    """Each limit sync of a policy from its insurer with its outcome (succeeded, partial,
    failed, or running) and counts. A key restricted to policies sees theirs."""
    if policy is not None:
        check_policy(key, policy)
    before = decode_position(cursor, int)[0] if cursor is not None else None
    with ctx.ledger.reading() as session:
        found = run_pages.sync_runs(
            session,
            policies=key.policies,
            policy=policy,
            insurer=insurer,
            status=status,
            before=before,
            limit=limit + 1,
        )
    page = found[:limit]
    return SyncRunsPage(
        items=[SyncRunOut.of(r) for r in page],
        next_cursor=encode_position(page[-1].id) if len(found) > limit else None,
    )


@router.get(
    "/runs/syncs/{run_id}",
    response_model=SyncRunOut,
    summary="One limit sync",
    responses=problem_responses(404),
)
def sync_run(ctx: Ctx, key: Reading, run_id: RunId) -> SyncRunOut:
    """A limit sync with its outcome and errors."""
    with ctx.ledger.reading() as session:
        found = run_pages.sync_runs(session, run_id=run_id, limit=1)
    if not found:
        raise Problem(404, f"no sync run {run_id}")
    check_policy(key, found[0].policy)
    return SyncRunOut.of(found[0])


@router.get("/runs/jobs", response_model=JobRunsPage, summary="Scheduler job runs, newest first")
def job_runs(
    ctx: Ctx,
    key: Reading,
    job: Annotated[
        str | None, Query(max_length=64, pattern=NAME, description="this job id only")
    ] = None,
    state: Annotated[JobState | None, Query(description="this state only")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> JobRunsPage:
    """The scheduler's job runs as `tci scheduler status` lists them (newest business
    date first), whoever started them: the scheduler (cron, catch-up, resume) or an
    operator (`POST /v1/jobs/{id}/run`)."""
    before = decode_position(cursor, date, int) if cursor is not None else None
    with ctx.ledger.reading() as session:
        found = run_pages.job_runs(
            session,
            job=job,
            state=state,
            before=(before[0], before[1]) if before is not None else None,
            limit=limit + 1,
        )
    page = found[:limit]
    last = page[-1] if page else None
    return JobRunsPage(
        items=[JobRunOut.of(r, with_result=key.policies is None) for r in page],
        next_cursor=(
            encode_position(last.business_date.isoformat(), last.id)
            if last is not None and len(found) > limit
            else None
        ),
    )


@router.get(
    "/runs/jobs/{run_id}",
    response_model=JobRunOut,
    summary="One scheduler job run",
    responses=problem_responses(404),
)
def job_run(ctx: Ctx, key: Reading, run_id: RunId) -> JobRunOut:
    """A job run: RUNNING until it finishes, then SUCCEEDED or FAILED with its error and
    the job's summary."""
    with ctx.ledger.reading() as session:
        run = run_pages.job_run(session, run_id)
    if run is None:
        raise Problem(404, f"no job run {run_id}")
    return JobRunOut.of(run, with_result=key.policies is None)


@router.get("/jobs", response_model=JobsOut, summary="The scheduler's jobs and leader")
def jobs(ctx: Ctx, key: Reading) -> JobsOut:
    """Each job with its schedule, time zone and next fire, and the scheduler's leader,
    as `tci scheduler status` shows them."""
    status = leader_status(ctx.ledger)
    until = status["lease_until"]
    return JobsOut(
        leader=LeaderOut(
            backend=str(status["backend"]),
            held=bool(status["held"]),
            leader=str(status["leader"]) if status["leader"] is not None else None,
            lease_until=datetime.fromisoformat(until) if isinstance(until, str) else None,
        ),
        jobs=[JobOut.of(info) for info in schedule(ctx.settings.scheduler, ctx.now())],
    )


@router.post(
    "/jobs/{job}/run",
    status_code=202,
    response_model=JobRunOut,
    summary="Run a scheduler job now",
    responses={
        202: {
            "description": "Started: follow it at the URL in `Location`",
            "headers": {
                "Location": {
                    "description": "GET /v1/runs/jobs/{run_id}",
                    "schema": {"type": "string"},
                }
            },
        },
        **problem_responses(404, 409),
    },
)
def run_job(
    ctx: Ctx,
    request: Request,
    key: Annotated[ApiKey, Depends(require("jobs:run"))],
    job: Annotated[
        str, Path(max_length=64, pattern=NAME, description="the job id, e.g. limit_sync")
    ],
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Run `job` now in this serving process, as the scheduler would run it at this
    moment (its run key and business date, its lease and heartbeat, its outcome and
    failure alert): 202 with the run's URL; 409 while that run, another run of the job,
    or a job it runs after is running (on any instance). A key restricted to policies
    may not: a job runs for every policy. Audited."""
    if key.policies is not None:
        raise Problem(
            403,
            f"the API key {key.name!r} is restricted to policies: a scheduler job runs "
            "for every policy",
        )

    def handler() -> Response:
        try:
            run = _runner(request, ctx).start(job, ctx.now(), requested_by=key.name)
        except UnknownJobError as exc:
            raise Problem(404, str(exc)) from None
        except JobBusyError as exc:
            raise Problem(409, str(exc), headers={"Retry-After": "30"}) from None
        url = f"/v1/runs/jobs/{run.id}"
        audit(
            ctx,
            request,
            key,
            "job.run",
            {"job": job, "run_id": run.id, "key": run.job, "business_date": str(run.business_date)},
            status=202,
        )
        body = JobRunOut.of(run).model_dump(mode="json")
        return JSONResponse(body, status_code=202, headers={"Location": url})

    return idempotent(ctx, request, key, idempotency_key, b"", handler)
