"""Runs (``/runs``): the last limit syncs and scheduler job runs, failures first (then
newest), with their status, times, counts and the error in one line; the scheduler's
jobs and its leader, as ``GET /v1/runs/syncs``, ``GET /v1/runs/jobs`` and
``GET /v1/jobs`` (and ``tci scheduler status``) show them.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tci_gateway.api.context import Ctx
from tci_gateway.api.routes.run_models import JobOut, JobRunOut, SyncRunOut
from tci_gateway.domain.sync import SyncStatus
from tci_gateway.ledger import run_pages
from tci_gateway.ledger.job_state import JobState
from tci_gateway.scheduler.leader import leader_status
from tci_gateway.scheduler.manual import schedule
from tci_gateway.web.render import page
from tci_gateway.web.session import Viewer

router = APIRouter()

LAST = 50
"""How many of the newest runs of each kind the page shows."""
_SYNC_RANK = {SyncStatus.FAILED: 0, SyncStatus.PARTIAL: 1}


def one_line(text: str | None, width: int = 160) -> str:
    """An error on one line, cut at ``width`` characters (the full text is the API's)."""
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def failures_first_syncs(runs: list[SyncRunOut]) -> list[SyncRunOut]:
    """Failed, then partial, then the others; each newest first."""
    return sorted(runs, key=lambda r: (_SYNC_RANK.get(r.status, 2), -r.id))


def failures_first_jobs(runs: list[JobRunOut]) -> list[JobRunOut]:
    """Failed first, then the others; each newest (business date, id) first."""
    by_newest = sorted(runs, key=lambda r: (r.business_date, r.id), reverse=True)
    return sorted(by_newest, key=lambda r: r.state != JobState.FAILED)


@router.get("/runs", response_class=HTMLResponse)
def runs(request: Request, ctx: Ctx, me: Viewer) -> HTMLResponse:
    """The last syncs and job runs, failures first; the jobs and the leader."""
    with ctx.ledger.reading() as session:
        syncs = [SyncRunOut.of(r) for r in run_pages.sync_runs(session, limit=LAST)]
        job_runs = [JobRunOut.of(r) for r in run_pages.job_runs(session, limit=LAST)]
    status = leader_status(ctx.ledger)
    until = status["lease_until"]
    scheduler = ctx.settings.scheduler
    return page(
        request,
        "runs.html",
        me,
        title="Runs",
        syncs=failures_first_syncs(syncs),
        job_runs=failures_first_jobs(job_runs),
        failed_syncs=sum(1 for r in syncs if r.status in _SYNC_RANK),
        failed_jobs=sum(1 for r in job_runs if r.state == JobState.FAILED),
        jobs=[JobOut.of(info) for info in schedule(scheduler, ctx.now())],
        leader={
            "backend": str(status["backend"]),
            "held": bool(status["held"]),
            "name": str(status["leader"]) if status["leader"] is not None else None,
            "lease_until": datetime.fromisoformat(until) if isinstance(until, str) else None,
        },
        zone=scheduler.timezone,
        last=LAST,
        one_line=one_line,
    )
