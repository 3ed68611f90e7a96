"""Webhooks to the ERP: subscriptions, signatures, and the relay that sends deliveries.

**Signature.** Each POST carries ``X-TCI-Timestamp: <unix seconds>`` and
``X-TCI-Signature: t=<unix seconds>,v1=<hex>``, where ``v1`` is
``HMAC-SHA256(secret, "<t>." + raw body)`` (Stripe's scheme). A receiver recomputes the
HMAC over the raw bytes it received, compares it in constant time with every ``v1`` of
the header, and refuses a timestamp further than its replay window (:data:`TOLERANCE`,
5 minutes, by default) from its own clock; :func:`verify` does all of that. Each delivery
also carries ``X-TCI-Event-Id`` (stable across retries: the receiver's deduplication
key), ``X-TCI-Event-Type`` and ``X-TCI-Delivery-Attempt``.

**Relay.** :func:`relay` sends the due deliveries one at a time, oldest first, each the
head of its (subscription, buyer) queue so a buyer's events arrive in order. On
PostgreSQL the delivery is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and the
outcome is recorded in the transaction that holds the claim, so another process never
sends it at the same time, and a process killed mid-send (the transaction rolls back when
its connection drops) leaves it pending for the next one. SQLite is one instance: a named
lock keeps one relay at a time, and the outcome is recorded in a short transaction after
the call. Either way an event is delivered at least once and recorded delivered exactly
once; a receiver that deduplicates by event id processes it exactly once (a crash between
the receiver's answer and the commit is the one case that sends it again).

A failed attempt (no 2xx answer, a timeout, a refused connection) is retried after a
capped, jittered backoff (:func:`backoff`); every attempt is recorded. A delivery failing
``max_attempts`` times is given up; a subscription failing ``max_consecutive_failures``
times in a row is disabled, its pending deliveries given up, and a ``webhook_disabled``
alert raised. Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from tci_gateway import __version__
from tci_gateway.crashpoints import crash_point
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.ledger import webhooks as sql
from tci_gateway.ledger.api_tables import (
    DeliveryState,
    SubscriptionRow,
    SubscriptionState,
    WebhookDeliveryRow,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.locks import NamedLock
from tci_gateway.ledger.runs import add_alert
from tci_gateway.logs import get_logger, redact_text
from tci_gateway.services.webhook_events import EVENT_TYPES, start_sources

TOLERANCE = 300
"""The replay window a receiver should allow (seconds either side of its clock)."""
SIGNATURE_HEADER = "X-TCI-Signature"
TIMESTAMP_HEADER = "X-TCI-Timestamp"
EVENT_ID_HEADER = "X-TCI-Event-Id"
EVENT_TYPE_HEADER = "X-TCI-Event-Type"
ATTEMPT_HEADER = "X-TCI-Delivery-Attempt"


class SubscriptionError(ValueError):
    """A subscription cannot be created as asked (the message names the field)."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class SignatureError(ValueError):
    """A signature header that does not verify (the message says why)."""


# --- signatures ----------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-TCI-Signature`` value: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = TOLERANCE
) -> int:
    """Check a ``X-TCI-Signature`` header against the raw ``body``: answers its timestamp,
    or raises :class:`SignatureError` (malformed, outside the replay window, or no ``v1``
    that matches)."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed signature header")
        if name == "t":
            if not value.isdigit():
                raise SignatureError("malformed timestamp")
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("the header has no timestamp or no v1 signature")
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance:
        raise SignatureError("the timestamp is outside the replay window")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no signature matches")
    return timestamp


def backoff(attempt: int, initial: float, cap: float, rand: float) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): half of
    ``min(cap, initial * 2**(attempt-1))`` plus up to as much again, by ``rand`` in [0, 1]."""
    base = min(cap, initial * 2.0 ** min(attempt - 1, 62))
    return base / 2 + base / 2 * min(max(rand, 0.0), 1.0)


# --- subscriptions ---------------------------------------------------------------------


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise SubscriptionError("events", "name at least one event")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise SubscriptionError(
            "events", f"unknown event(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
        )
    return sorted(set(events), key=EVENT_TYPES.index)


def create_subscription(
    session: Session, url: str, events: list[str], *, now: datetime, api_key_id: int | None
) -> tuple[SubscriptionRow, str]:
    """A new active subscription and its signing secret (shown once). It receives the
    events that happen from now on (and the deadlines near at the next scan). ``url`` is
    checked by the caller (the API's ``check_url``: https, or http to a loopback host)."""
    row = SubscriptionRow(
        url=url,
        events=check_events(events),
        secret="whsec_" + secrets.token_urlsafe(32),
        state=SubscriptionState.ACTIVE,
        consecutive_failures=0,
        api_key_id=api_key_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    start_sources(session, row.events, now)
    return row, row.secret


# --- the relay ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayOptions:
    """How the relay sends (from ``[webhooks]``)."""

    timeout: float = 10.0
    max_consecutive_failures: int = 10
    max_attempts: int = 15
    backoff_initial: float = 10.0
    backoff_max: float = 3600.0
    batch: int = 100
    instance: str = ""


@dataclass
class RelayReport:
    delivered: int = 0
    failed: int = 0
    disabled: list[int] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.delivered + self.failed


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None
    ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def body_of(row: WebhookDeliveryRow) -> bytes:
    """The bytes posted for a delivery (the same on every attempt)."""
    return json.dumps(row.payload, sort_keys=True, separators=(",", ":")).encode()


def make_client(timeout: float) -> httpx.Client:
    """The relay's HTTP client: a timeout on every phase, no redirects, no environment
    proxies."""
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False)


def post(
    client: httpx.Client, url: str, secret: str, row: WebhookDeliveryRow, wall: float
) -> Outcome:
    """One attempt: sign and POST the delivery; what came of it."""
    body = body_of(row)
    stamp = int(wall)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"tci-gateway-webhooks/{__version__}",
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: signature_header(secret, stamp, body),
        EVENT_ID_HEADER: row.event_id,
        EVENT_TYPE_HEADER: row.event_type,
        ATTEMPT_HEADER: str(row.attempts + 1),
    }
    started = time.perf_counter()
    try:
        response = client.post(url, content=body, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        ms = int((time.perf_counter() - started) * 1000)
        return Outcome(None, f"{type(exc).__name__}: {redact_text(str(exc))}"[:500], ms)
    ms = int((time.perf_counter() - started) * 1000)
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None, ms)
    error = f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        error += " (redirects are not followed)"
    return Outcome(response.status_code, error, ms)


def relay(
    ledger: Ledger,
    client: httpx.Client,
    *,
    now: Callable[[], datetime],
    options: RelayOptions,
    wall: Callable[[], float] = time.time,
    rand: Callable[[], float] = random.random,
) -> RelayReport:
    """Send due deliveries, up to ``options.batch``, and record each outcome."""
    report = RelayReport()
    with _turn(ledger) as mine:
        if not mine:
            return report
        with ledger.reading() as session:
            queue = deque(sql.due_heads(session, now(), options.batch))
        # Round robin over the queues: a delivered head's successor joins the end.
        while queue and report.sent < options.batch:
            after = _relay_one(ledger, client, queue.popleft(), now(), options, wall, rand, report)
            if after is not None:
                queue.append(after)
    return report


@contextmanager
def _turn(ledger: Ledger) -> Iterator[bool]:
    """PostgreSQL: always (row claims); SQLite: one relay at a time."""
    if ledger.engine.url.get_backend_name() == "postgresql":
        yield True
        return
    lock = NamedLock(ledger, "webhook-relay")
    held = lock.try_acquire()
    try:
        yield held
    finally:
        if held:
            lock.release()


def _relay_one(
    ledger: Ledger,
    client: httpx.Client,
    delivery_id: int,
    at: datetime,
    options: RelayOptions,
    wall: Callable[[], float],
    rand: Callable[[], float],
    report: RelayReport,
) -> int | None:
    """Claim and send one delivery; the next of its queue once it is delivered."""
    if ledger.engine.url.get_backend_name() == "postgresql":
        with ledger.unit_of_work() as session:
            row = sql.claim(session, delivery_id, at, skip_locked=True)
            if row is None:  # sent, claimed elsewhere, or no head any more
                return None
            sub = session.get_one(SubscriptionRow, row.subscription_id)
            crash_point("webhook_before_send")
            outcome = post(client, sub.url, sub.secret, row, wall())
            crash_point("webhook_after_response")
            queue = (row.subscription_id, row.ordering_key)
            _apply(session, sub, row, outcome, at, options, rand, report)
    else:
        with ledger.reading() as session:
            row = sql.claim(session, delivery_id, at, skip_locked=False)
            if row is None:
                return None
            attempts = row.attempts
            queue = (row.subscription_id, row.ordering_key)
            sub = session.get_one(SubscriptionRow, row.subscription_id)
            url, secret = sub.url, sub.secret
            crash_point("webhook_before_send")
            outcome = post(client, url, secret, row, wall())
        crash_point("webhook_after_response")
        with ledger.unit_of_work() as session:
            fresh = session.get(WebhookDeliveryRow, delivery_id)
            if fresh is None or fresh.state != DeliveryState.PENDING or fresh.attempts != attempts:
                return None  # deleted meanwhile (its subscription removed)
            sub = session.get_one(SubscriptionRow, fresh.subscription_id)
            _apply(session, sub, fresh, outcome, at, options, rand, report)
    if not outcome.ok:
        return None
    with ledger.reading() as session:
        return sql.next_in_queue(session, *queue)


def _apply(
    session: Session,
    sub: SubscriptionRow,
    row: WebhookDeliveryRow,
    outcome: Outcome,
    at: datetime,
    options: RelayOptions,
    rand: Callable[[], float],
    report: RelayReport,
) -> None:
    log = get_logger(subscription=sub.id, event_id=row.event_id)
    row.attempts += 1
    row.last_status, row.last_error = outcome.status, outcome.error
    sql.add_attempt(
        session,
        delivery_id=row.id,
        attempt=row.attempts,
        at=at,
        status=outcome.status,
        error=outcome.error,
        duration_ms=outcome.ms,
        instance=options.instance[:64],
    )
    if outcome.ok:
        row.state, row.delivered_at = DeliveryState.DELIVERED, at
        sql.reset_failures(session, sub.id)
        report.delivered += 1
        log.info("webhook_delivered", attempts=row.attempts, status=outcome.status)
        return
    report.failed += 1
    failures = sql.count_failure(session, sub.id)
    log.warning("webhook_failed", attempts=row.attempts, error=outcome.error)
    if row.attempts >= options.max_attempts:
        row.state = DeliveryState.FAILED
    else:
        wait = backoff(row.attempts, options.backoff_initial, options.backoff_max, rand())
        row.next_attempt_at = at + timedelta(seconds=wait)
    if failures >= options.max_consecutive_failures:
        reason = f"{failures} consecutive failed deliveries (last: {outcome.error})"
        if _disable(session, sub.id, reason, at):
            report.disabled.append(sub.id)


def _disable(session: Session, sub_id: int, reason: str, at: datetime) -> bool:
    session.flush()
    if not sql.disable(session, sub_id, reason, at):
        return False
    given_up = sql.fail_pending(session, sub_id, "the subscription was disabled")
    add_alert(
        session,
        kind=AlertKind.WEBHOOK_DISABLED,
        message=f"webhook subscription {sub_id} disabled: {reason}; "
        f"{given_up} pending deliveries given up",
        business_date=at.date(),
        dedupe_key=f"webhook_disabled:{sub_id}:{at.isoformat()}",
        now=at,
        details={"subscription_id": sub_id, "given_up": given_up},
    )
    get_logger(subscription=sub_id).error("webhook_subscription_disabled", reason=reason)
    return True


def describe(row: SubscriptionRow) -> dict[str, Any]:
    """A subscription as shown (never its secret)."""
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "state": str(row.state),
        "consecutive_failures": row.consecutive_failures,
        "disabled_at": row.disabled_at,
        "disabled_reason": row.disabled_reason,
        "created_at": row.created_at,
    }
