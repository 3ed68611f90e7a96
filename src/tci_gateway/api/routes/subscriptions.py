"""ERP webhook subscriptions and their deliveries.

An ERP that prefers push over polling registers a URL and the events it wants
(``limit.changed``, ``alert.raised``, ``case.deadline_near``); the answer shows the
signing secret once. Every ``tci serve`` process produces the events and relays the
deliveries (:func:`background_tasks`); :mod:`tci_gateway.services.webhooks` documents the
signature (``X-TCI-Signature: t=...,v1=...``) and how a receiver verifies it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tci_gateway.api.audit import record
from tci_gateway.api.background import PeriodicTask
from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.idempotency import IdempotencyKey, idempotent
from tci_gateway.api.problems import COMMON_PROBLEMS, FieldError, Problem, problem_responses
from tci_gateway.api.security import require
from tci_gateway.errors import ConfigError
from tci_gateway.http.addresses import is_loopback
from tci_gateway.ledger import webhooks as sql
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.ledger.api_tables import SubscriptionRow, WebhookDeliveryRow
from tci_gateway.logs import get_logger
from tci_gateway.services import webhook_events, webhooks

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS, tags=["webhooks"])

EVENTS_TASK = "webhook_events"
RELAY_TASK = "webhook_relay"
_ID = Annotated[int, Path(ge=1, le=2**31 - 1)]
_CURSOR = Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,9}$")]
EventType = Literal["limit.changed", "alert.raised", "case.deadline_near"]


class SubscriptionBody(BaseModel):
    """Where to post which events."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://erp.example.com/hooks/tci",
                    "events": ["limit.changed", "alert.raised"],
                }
            ]
        },
    )

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="https (plain http only to a loopback host); redirects are not followed",
    )
    events: list[EventType] = Field(min_length=1, max_length=3)


class SubscriptionOut(BaseModel):
    """A subscription (never its secret)."""

    id: int
    url: str
    events: list[str]
    state: Literal["active", "disabled"]
    consecutive_failures: int = Field(description="Failed deliveries in a row")
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    """The new subscription with its signing secret, shown this once."""

    secret: str = Field(description="HMAC-SHA256 key of the X-TCI-Signature header")


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status: int | None = Field(None, description="The receiver's HTTP status, if it answered")
    error: str | None = None
    duration_ms: int


class DeliveryOut(BaseModel):
    """One event for the subscription, with every attempt to post it."""

    id: int
    event_id: str = Field(description="Stable across retries (X-TCI-Event-Id)")
    event_type: str
    ordering_key: str = Field(description="Events of one key are delivered in order")
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime
    last_status: int | None = None
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    payload: dict[str, Any] = Field(description="The JSON body posted")
    history: list[AttemptOut]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")


def check_url(url: str) -> str:
    """A subscription URL: https with a host, or plain http to a loopback host; no
    credentials and no fragment. Raises :class:`webhooks.SubscriptionError`."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise webhooks.SubscriptionError("url", "not a URL: it holds spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
        httpx.URL(url)  # what the relay will post to
    except (ValueError, httpx.InvalidURL) as exc:
        raise webhooks.SubscriptionError("url", f"not a URL: {exc}") from None
    if parts.username or parts.password:
        raise webhooks.SubscriptionError("url", "credentials do not belong in the URL")
    if parts.fragment:
        raise webhooks.SubscriptionError("url", "a webhook URL has no fragment")
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host and is_loopback(host):
        return url
    raise webhooks.SubscriptionError("url", "must be https (plain http only to a loopback host)")


def _out(row: SubscriptionRow) -> SubscriptionOut:
    return SubscriptionOut.model_validate(webhooks.describe(row))


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    responses={
        201: {
            "description": "Created; the secret is shown this once",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **problem_responses(409),
    },
    summary="Subscribe a URL to events",
)
async def create_subscription(
    request: Request,
    body: SubscriptionBody,
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("webhooks:manage"))],
    idem_key: IdempotencyKey = None,
) -> Response:
    """Register ``url`` for ``events``. The answer holds the signing secret, never shown
    again; with an ``Idempotency-Key`` a replay answers the same subscription."""
    raw = await request.body()

    def handler() -> Response:
        try:
            with ctx.ledger.unit_of_work() as session:
                row, secret = webhooks.create_subscription(
                    session,
                    check_url(body.url),
                    list(body.events),
                    now=ctx.now(),
                    api_key_id=key.id,
                )
                out = SubscriptionCreated(**_out(row).model_dump(), secret=secret)
                detail = {"subscription_id": row.id, "url": row.url, "events": row.events}
                record(session, ctx, request, key, "subscription.create", detail, status=201)
        except webhooks.SubscriptionError as exc:
            raise Problem(
                422, str(exc), errors=[FieldError(field=exc.field, reason=exc.reason)]
            ) from None
        return JSONResponse(
            out.model_dump(mode="json"),
            status_code=201,
            headers={"Location": f"/v1/subscriptions/{out.id}"},
        )

    return await run_in_threadpool(idempotent, ctx, request, key, idem_key, raw, handler)


@router.get("/subscriptions", response_model=SubscriptionPage, summary="Subscriptions")
def list_subscriptions(
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("webhooks:manage"))],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: _CURSOR = None,
) -> SubscriptionPage:
    """Every subscription in creation order, keyset-paged (``next_cursor``)."""
    with ctx.ledger.reading() as session:
        rows = sql.subscriptions_page(session, int(cursor) if cursor else None, limit + 1)
        items = [_out(r) for r in rows[:limit]]
    more = len(rows) > limit
    return SubscriptionPage(items=items, next_cursor=str(items[-1].id) if more else None)


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=problem_responses(404),
    summary="One subscription",
)
def get_subscription(
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("webhooks:manage"))],
    subscription_id: _ID,
) -> SubscriptionOut:
    """Its state and failures in a row (never the secret)."""
    with ctx.ledger.reading() as session:
        row = session.get(SubscriptionRow, subscription_id)
        if row is None:
            raise Problem(404, f"no subscription {subscription_id}")
        return _out(row)


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Removed"}, **problem_responses(404, 409)},
    summary="Remove a subscription",
)
async def delete_subscription(
    request: Request,
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("webhooks:manage"))],
    subscription_id: _ID,
    idem_key: IdempotencyKey = None,
) -> Response:
    """Remove the subscription with its deliveries: nothing more is sent to it."""
    raw = await request.body()

    def handler() -> Response:
        with ctx.ledger.unit_of_work() as session:
            if not sql.delete_subscription(session, subscription_id):
                raise Problem(404, f"no subscription {subscription_id}")
            detail = {"subscription_id": subscription_id}
            record(session, ctx, request, key, "subscription.delete", detail, status=204)
        return Response(status_code=204)

    return await run_in_threadpool(idempotent, ctx, request, key, idem_key, raw, handler)


def _delivery(row: WebhookDeliveryRow, history: list[AttemptOut]) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        ordering_key=row.ordering_key,
        state=str(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        payload=row.payload,
        history=history,
    )


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    response_model=DeliveryPage,
    responses=problem_responses(404),
    summary="A subscription's deliveries, newest first",
)
def list_deliveries(
    ctx: Ctx,
    key: Annotated[ApiKey, Depends(require("webhooks:manage"))],
    subscription_id: _ID,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: _CURSOR = None,
) -> DeliveryPage:
    """Each delivery with its state and every attempt (status or error), keyset-paged."""
    with ctx.ledger.reading() as session:
        if session.get(SubscriptionRow, subscription_id) is None:
            raise Problem(404, f"no subscription {subscription_id}")
        rows = sql.deliveries_page(
            session, subscription_id, int(cursor) if cursor else None, limit + 1
        )
        page = rows[:limit]
        attempts = sql.attempts_of(session, [r.id for r in page])
        items = [
            _delivery(
                r,
                [
                    AttemptOut(
                        attempt=a.attempt,
                        at=a.at,
                        status=a.status,
                        error=a.error,
                        duration_ms=a.duration_ms,
                    )
                    for a in attempts[r.id]
                ],
            )
            for r in page
        ]
    more = len(rows) > limit
    return DeliveryPage(items=items, next_cursor=str(items[-1].id) if more else None)


# -- the producer and the relay ------------------------------------------------------------


def background_tasks(ctx: ApiContext) -> list[PeriodicTask]:
    """This process's webhook producer and relay (registered in ``BACKGROUND``)."""
    settings = ctx.wiring.settings
    conf = settings.webhooks
    options = webhooks.RelayOptions(
        timeout=conf.timeout_seconds,
        max_consecutive_failures=conf.max_consecutive_failures,
        max_attempts=conf.max_attempts,
        backoff_initial=conf.backoff_initial_seconds,
        backoff_max=conf.backoff_max_seconds,
        instance=ctx.instance,
    )
    state: dict[str, Any] = {}

    def deadlines() -> webhook_events.DeadlineOptions | None:
        """The deadline scan's options; ``None`` (limits and alerts still go out) when the
        policies or tiers are misconfigured, said once in the log."""
        if "deadlines" not in state:
            try:
                state["deadlines"] = webhook_events.DeadlineOptions(
                    policies=settings.domain_policies(),
                    paths=settings.escalation_paths(),
                    default_tier=settings.escalation.default_tier,
                    lead_days=tuple(settings.alerts.deadline_lead_days),
                    scan_minutes=conf.deadline_scan_minutes,
                )
            except ConfigError as exc:
                get_logger(task=EVENTS_TASK).error("webhook_deadlines_unavailable", error=str(exc))
                state["deadlines"] = None
        found: webhook_events.DeadlineOptions | None = state["deadlines"]
        return found

    def produce() -> None:
        report = webhook_events.produce(ctx.ledger, now=ctx.now(), deadlines=deadlines())
        if any(report.inserted.values()):
            get_logger(task=EVENTS_TASK).info("webhook_events_produced", **report.inserted)

    def send() -> None:
        client = state.get("client")
        if not isinstance(client, httpx.Client):
            client = state["client"] = webhooks.make_client(conf.timeout_seconds)
        report = webhooks.relay(ctx.ledger, client, now=ctx.now, options=options)
        if report.sent:
            get_logger(task=RELAY_TASK).info(
                "webhook_relay_pass",
                delivered=report.delivered,
                failed=report.failed,
                disabled=report.disabled,
            )

    tasks = [PeriodicTask(EVENTS_TASK, conf.interval_seconds, produce)]
    if conf.relay:
        tasks.append(PeriodicTask(RELAY_TASK, conf.interval_seconds, send))
    return tasks
