"""Liveness and readiness: ``/healthz`` says the process answers, ``/readyz`` that the
ledger is reachable and at the current schema (a load balancer sends traffic only then)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tci_gateway.api.context import Ctx
from tci_gateway.api.problems import Problem, problem_responses
from tci_gateway.ledger.engine import db_cause
from tci_gateway.ledger.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    schema_revision: str | None
    instance: str


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up (it answers without touching the ledger)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, responses=problem_responses(503))
def readyz(ctx: Ctx) -> Ready | JSONResponse:
    """The ledger answers and is at the current schema; else 503 saying what is wrong."""
    try:
        revision = current_revision(ctx.ledger.engine)
    except Exception as exc:  # any driver error: the ledger does not answer
        raise Problem(503, f"the ledger does not answer: {db_cause(exc)}") from None
    if revision != head_revision():
        raise Problem(
            503,
            f"the ledger is at schema {revision or 'none'}, not {head_revision()}: "
            "run `tci db upgrade`",
        )
    return Ready(status="ready", schema_revision=revision, instance=ctx.instance)
