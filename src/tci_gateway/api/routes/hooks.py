"""Insurer callbacks: a hint that a job changed, never trusted for figures.

``POST /v1/hooks/{insurer}/{token}`` takes no API key: the token in the path, given to
the insurer with one send of one cover request, is the only credential
(:mod:`tci_gateway.services.insurer_hooks`). An unknown, expired or another insurer's
token is a 404, logged without the body (and the token is redacted from every log
line). A known one records the hit and, while the request is open, asks the relay for
one look-up of the request with the gateway's own credentials; the body is never read.
Hits are rate-limited per token (``[api] hook_hits_per_minute``, per process).
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from tci_gateway.api.audit import record
from tci_gateway.api.context import Ctx
from tci_gateway.api.problems import Problem, problem_responses
from tci_gateway.api.security import RateLimiter
from tci_gateway.logs import REDACTED, get_logger
from tci_gateway.services import insurer_hooks
from tci_gateway.services.insurer_hooks import HitOutcome

router = APIRouter(
    prefix="/v1", responses=problem_responses(404, 413, 429, 503), tags=["insurer callbacks"]
)


class HookAccepted(BaseModel):
    """The callback was taken as a hint."""

    accepted: bool = True
    lookup: HitOutcome = Field(
        description="scheduled: the request will be looked up at the insurer now; "
        "already_scheduled: a look-up is pending; not_needed: the request is settled"
    )


def _limiter(request: Request, per_minute: int) -> RateLimiter:
    limiter = getattr(request.app.state, "hook_limiter", None)
    if not isinstance(limiter, RateLimiter):
        limiter = RateLimiter(per_minute)
        request.app.state.hook_limiter = limiter
    return limiter


@router.post(
    "/hooks/{insurer}/{token}",
    status_code=202,
    response_model=HookAccepted,
    summary="An insurer's callback on a cover request",
)
def insurer_callback(
    request: Request,
    ctx: Ctx,
    insurer: Annotated[str, Path(description="The insurer's name in the configuration")],
    token: Annotated[str, Path(description="The callback's token (given to the insurer)")],
) -> HookAccepted:
    """Accept an insurer's callback as a hint: the request it was registered for is
    looked up at the insurer with the gateway's own credentials; nothing in the body
    is used."""
    now = ctx.now()
    log = get_logger(insurer=insurer[:32])
    with ctx.ledger.reading() as session:
        found = insurer_hooks.find(session, insurer, token, now)
    if found is None:
        log.warning("insurer_hook_unknown", client=request.client.host if request.client else None)
        raise Problem(404, "no such callback")
    wait = _limiter(request, ctx.settings.api.hook_hits_per_minute).take(found.id)
    if wait > 0:
        log.warning("insurer_hook_rate_limited", registration=found.id)
        raise Problem(
            429,
            "too many callbacks on this URL; the request is looked up anyway",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    with ctx.ledger.unit_of_work() as session:
        hit = insurer_hooks.record_hit(session, found.id, now)
        record(
            session,
            ctx,
            request,
            None,
            "insurer_hook.hit",
            {
                "insurer": found.insurer,
                "registration_id": found.id,
                "cover_request_id": hit.cover_request_id,
                "lookup": hit.outcome.value,
                "hits": hit.hits,
            },
            status=202,
            actor=f"insurer:{found.insurer}"[:64],
            path=f"/v1/hooks/{found.insurer}/{REDACTED}",
        )
    log.info(
        "insurer_hook_hit",
        registration=found.id,
        cover_request_id=hit.cover_request_id,
        lookup=hit.outcome.value,
    )
    return HookAccepted(lookup=hit.outcome)
