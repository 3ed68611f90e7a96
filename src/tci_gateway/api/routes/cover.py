"""Cover requests: POST to ask an insurer, GET to follow its decision.

``POST /v1/cover-requests`` only queues the request in the outbox (with the checks and
words of ``tci cover request``) and answers 202 with its URL; the relay, a background
task of every ``tci serve`` process (:func:`background_tasks`), sends it, polls it, and
looks it up at once when the insurer calls back (:mod:`.hooks`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tci_gateway.adapters.contract import InsurerAdapter
from tci_gateway.api.audit import audit
from tci_gateway.api.background import PeriodicTask
from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.idempotency import idempotent
from tci_gateway.api.problems import COMMON_PROBLEMS, Problem, problem_responses
from tci_gateway.api.security import check_policy, require
from tci_gateway.domain.cover import CoverAction, CoverRequestState, CoverStatus
from tci_gateway.domain.money import Money
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.logs import get_logger
from tci_gateway.services import cover_relay, cover_views, insurer_hooks

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS, tags=["cover requests"])

RELAY_TASK = "cover_requests"
RELAY_INTERVAL = 2.0
"""Seconds between two passes of the relay in one process."""
_PRUNE_EVERY = timedelta(hours=1)
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
RequiredIdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Required: a unique key per cover request; a replay returns the "
        "stored response and queues nothing.",
    ),
]


class CoverRequestBody(BaseModel):
    """A request for cover on one buyer under one policy."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "policy": "allianz-aci",
                    "buyer": "C1001",
                    "action": "new",
                    "amount": "50000.00",
                    "currency": "EUR",
                    "urgent": False,
                }
            ]
        },
    )

    policy: str = Field(min_length=1, max_length=64, pattern=_PRINTABLE, description="Policy key")
    buyer: str = Field(
        min_length=1,
        max_length=64,
        pattern=_PRINTABLE,
        description="ERP account or ledger buyer id",
    )
    action: Literal["new", "increase", "reduce", "cancel"]
    amount: str | None = Field(
        None,
        max_length=32,
        description="The limit asked for (the new total), a decimal string in the policy "
        "currency; required except for cancel, which takes none",
    )
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    urgent: bool = False


class CoverOutcome(BaseModel):
    """The insurer's decision on the request."""

    status: CoverStatus
    amount: str | None = Field(None, description="Granted amount, a decimal string")
    currency: str | None = None
    raw_codes: dict[str, str] = Field(
        default_factory=dict, description="The insurer's own codes behind the status"
    )


class CallbackInfo(BaseModel):
    """The insurer's callbacks on this request (only hints: each asks for a look-up)."""

    registered: int = Field(description="Callback URLs given to the insurer")
    hits: int
    last_hit_at: datetime | None = None
    lookup_pending: bool


class CoverRequestOut(BaseModel):
    """A cover request and what the insurer made of it so far."""

    id: int
    url: str
    client_reference: str = Field(description="Our reference, sent to the insurer")
    policy: str
    insurer: str
    buyer_id: int
    buyer_name: str
    action: Literal["new", "increase", "reduce", "cancel", "renew"]
    amount: str | None = None
    currency: str | None = None
    urgent: bool
    state: CoverRequestState = Field(
        description="QUEUED not (known to be) sent; AMBIGUOUS sent, outcome unknown; "
        "PENDING the insurer has it; DECIDED; REJECTED the insurer refused the request"
    )
    insurer_request_ref: str | None = None
    outcome: CoverOutcome | None = None
    attempts: int
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    callbacks: CallbackInfo


class CoverRequestPage(BaseModel):
    items: list[CoverRequestOut]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")


def _text(amount: Decimal | None, currency: str | None) -> str | None:
    if amount is None:
        return None
    if currency is None:
        return str(amount)
    return str(Money(amount, currency).rounded().amount)


def _out(d: cover_views.CoverRequestDetail) -> CoverRequestOut:
    outcome = None
    if d.outcome_status is not None:
        outcome = CoverOutcome(
            status=d.outcome_status,
            amount=_text(d.outcome_amount, d.policy_currency),
            currency=d.policy_currency if d.outcome_amount is not None else None,
            raw_codes={str(k): str(v) for k, v in d.outcome_raw_codes.items()},
        )
    hooks = d.callbacks
    return CoverRequestOut(
        id=d.id,
        url=f"/v1/cover-requests/{d.id}",
        client_reference=d.client_reference,
        policy=d.policy,
        insurer=d.insurer,
        buyer_id=d.buyer_id,
        buyer_name=d.buyer_name,
        action=d.action.value.lower(),
        amount=_text(d.amount, d.currency),
        currency=d.currency,
        urgent=d.urgent,
        state=d.state,
        insurer_request_ref=d.insurer_request_ref,
        outcome=outcome,
        attempts=d.attempts,
        last_error=d.last_error,
        created_at=d.created_at,
        updated_at=d.updated_at,
        callbacks=CallbackInfo(
            registered=hooks.registrations,
            hits=hooks.hits,
            last_hit_at=hooks.last_hit_at,
            lookup_pending=hooks.lookup_pending,
        ),
    )


def _currencies(ctx: ApiContext) -> dict[str, str]:
    return {key: p.terms.currency for key, p in ctx.settings.domain_policies().items()}


def _visible(key: ApiKey) -> list[str] | None:
    return None if key.policies is None else sorted(key.policies)


@router.post(
    "/cover-requests",
    status_code=202,
    response_model=CoverRequestOut,
    responses={
        202: {
            "description": "Queued: the relay sends it; follow it at the Location",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **problem_responses(409),
    },
    summary="Request, increase, reduce or cancel cover",
)
async def create_cover_request(
    request: Request,
    body: CoverRequestBody,
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("cover:request"))],
    idem_key: RequiredIdempotencyKey,
) -> Response:
    """Queue a cover request for the insurer of ``policy`` (checked as ``tci cover
    request`` checks it; nothing is sent before this answers). An ``Idempotency-Key``
    is required: a replay answers the stored response and queues nothing."""
    check_policy(key, body.policy)
    raw = await request.body()

    def handler() -> Response:
        request_id = cover_views.queue(
            ctx.ledger,
            ctx.settings.domain_policies(),
            policy=body.policy,
            buyer=body.buyer,
            action=CoverAction(body.action.upper()),
            amount=body.amount,
            currency=body.currency,
            urgent=body.urgent,
            now=ctx.now(),
        )
        detail = cover_views.get(ctx.ledger, request_id, currencies=_currencies(ctx))
        assert detail is not None  # just written
        out = _out(detail)
        audit(
            ctx,
            request,
            key,
            "cover_request.queue",
            {
                "cover_request_id": request_id,
                "client_reference": out.client_reference,
                "policy": out.policy,
                "buyer_id": out.buyer_id,
                "action": out.action,
                "amount": out.amount,
                "currency": out.currency,
                "urgent": out.urgent,
            },
            status=202,
        )
        return JSONResponse(
            out.model_dump(mode="json"), status_code=202, headers={"Location": out.url}
        )

    return await run_in_threadpool(idempotent, ctx, request, key, idem_key, raw, handler)


@router.get(
    "/cover-requests/{request_id}",
    response_model=CoverRequestOut,
    responses=problem_responses(404),
    summary="One cover request and the insurer's decision",
)
def get_cover_request(
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("cover:request"))],
    request_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> CoverRequestOut:
    """The request's state, the insurer's reference, its decision (status, granted
    amount and the insurer's raw codes) and the callbacks received. A request under a
    policy the key may not see is not found."""
    found = cover_views.get(
        ctx.ledger, request_id, currencies=_currencies(ctx), policies=_visible(key)
    )
    if found is None:
        raise Problem(404, f"no cover request {request_id}")
    return _out(found)


@router.get(
    "/cover-requests",
    response_model=CoverRequestPage,
    summary="Cover requests, newest first",
)
def list_cover_requests(
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("cover:request"))],
    state: CoverRequestState | None = None,
    policy: Annotated[str | None, Query(max_length=64, pattern=_PRINTABLE)] = None,
    buyer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,9}$")] = None,
) -> CoverRequestPage:
    """Keyset-paged (``next_cursor``), filtered by state, policy and buyer; only the
    policies the key may see."""
    items, next_id = cover_views.page(
        ctx.ledger,
        currencies=_currencies(ctx),
        limit=limit,
        before=int(cursor) if cursor is not None else None,
        state=state,
        policy=policy,
        buyer_id=buyer_id,
        policies=_visible(key),
    )
    return CoverRequestPage(
        items=[_out(d) for d in items],
        next_cursor=str(next_id) if next_id is not None else None,
    )


# -- the relay ---------------------------------------------------------------------------


def background_tasks(ctx: ApiContext) -> list[PeriodicTask]:
    """The cover-request relay of this process (registered in ``BACKGROUND``)."""
    api = ctx.settings.api
    poll_every = timedelta(seconds=api.cover_poll_seconds)
    options = cover_relay.RelayOptions(
        poll_every=poll_every,
        retry_every=min(cover_relay.RelayOptions.retry_every, poll_every),
        public_url=api.public_url,
    )
    pruned: dict[str, datetime] = {}

    def adapter_for(name: str) -> InsurerAdapter:
        with ctx.locked():
            return ctx.wiring.insurer(name).adapter

    def run() -> None:
        now = ctx.now()
        report = cover_relay.relay(
            ctx.ledger, adapter_for, ctx.settings.domain_policies(), now=now, options=options
        )
        if report.advanced or report.errors:
            get_logger(task=RELAY_TASK).info(
                "cover_relay_pass",
                advanced=report.advanced,
                claimed_elsewhere=report.claimed_elsewhere,
                hook_lookups=report.hook_lookups,
                errors=len(report.errors),
            )
        last = pruned.get("at")
        if last is None or now - last >= _PRUNE_EVERY:
            insurer_hooks.prune(ctx.ledger, now)
            pruned["at"] = now

    return [PeriodicTask(RELAY_TASK, RELAY_INTERVAL, run)]
