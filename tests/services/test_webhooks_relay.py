"""The webhook producer and relay on both backends, against a fake receiver
(``httpx.MockTransport``): signatures, order per buyer, once per event id, retries with
backoff, attempts recorded, a failing subscription disabled with an alert."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tci_gateway.config import load_settings
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import LimitChangeReason
from tci_gateway.ledger.api_tables import (
    DeliveryState,
    SubscriptionRow,
    SubscriptionState,
    WebhookAttemptRow,
    WebhookDeliveryRow,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.tables import AlertRow, BuyerRow, LimitChangeRow
from tci_gateway.services import webhook_events, webhooks

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SANDBOX = Path(__file__).resolve().parents[2] / "config" / "sandbox.toml"


@dataclass
class Receiver:
    """A fake ERP endpoint: verifies each signature, answers ``answer(request)``."""

    secrets: dict[str, str] = field(default_factory=dict)
    received: list[tuple[str, dict[str, str], dict[str, object]]] = field(default_factory=list)
    answer: Callable[[httpx.Request], httpx.Response] = lambda _r: httpx.Response(204)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        secret = self.secrets[str(request.url)]
        webhooks.verify(secret, request.headers["X-TCI-Signature"], body)
        assert request.headers["X-TCI-Timestamp"] == (
            request.headers["X-TCI-Signature"].split(",")[0].removeprefix("t=")
        )
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.received.append((str(request.url), dict(request.headers), json.loads(body)))
        return self.answer(request)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle), follow_redirects=False)

    def event_ids(self, url: str | None = None) -> list[str]:
        return [h["x-tci-event-id"] for u, h, _ in self.received if url in (None, u)]


def _setup(ledger: Ledger, buyers: int = 2) -> tuple[int, list[int]]:
    policies = load_settings(SANDBOX).domain_policies()
    with ledger.unit_of_work() as session:
        ids = upsert_policies(session, {"atradius-main": policies["atradius-main"]}, NOW)
        rows = [
            BuyerRow(name=f"Buyer {i}", country="DE", created_at=NOW, updated_at=NOW)
            for i in range(buyers)
        ]
        session.add_all(rows)
        session.flush()
        return ids["atradius-main"], [r.id for r in rows]


def _subscribe(ledger: Ledger, receiver: Receiver, url: str, events: list[str]) -> int:
    with ledger.unit_of_work() as session:
        row, secret = webhooks.create_subscription(session, url, events, now=NOW, api_key_id=None)
        receiver.secrets[url] = secret
        return row.id


def _alert(ledger: Ledger, buyer: int | None, n: int, at: datetime = NOW) -> None:
    with ledger.unit_of_work() as session:
        add_alert(
            session,
            kind=AlertKind.OVER_LIMIT,
            message=f"over limit {n}",
            business_date=at.date(),
            dedupe_key=f"test:{buyer}:{n}",
            now=at,
            buyer_id=buyer,
        )


def _limit_change(ledger: Ledger, policy: int, buyer: int, amount: str) -> None:
    with ledger.unit_of_work() as session:
        session.add(
            LimitChangeRow(
                policy_id=policy,
                buyer_id=buyer,
                business_date=date(2026, 12, 1),
                amount=Decimal(amount),
                currency="EUR",
                reason=LimitChangeReason.SYNC,
                created_at=NOW,
            )
        )


def _options(**kw: object) -> webhooks.RelayOptions:
    base: dict[str, object] = {"backoff_initial": 10, "backoff_max": 60, "instance": "test"}
    base.update(kw)
    return webhooks.RelayOptions(**base)  # type: ignore[arg-type]


def _produce(ledger: Ledger, at: datetime = NOW) -> dict[str, int]:
    return webhook_events.produce(ledger, now=at, deadlines=None).inserted


def _relay(
    ledger: Ledger, receiver: Receiver, at: datetime = NOW, **kw: object
) -> webhooks.RelayReport:
    with receiver.client() as client:
        return webhooks.relay(ledger, client, now=lambda: at, options=_options(**kw))


def _deliveries(ledger: Ledger) -> list[WebhookDeliveryRow]:
    with ledger.reading() as session:
        rows = list(session.scalars(select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id)))
        session.expunge_all()  # plain values once the read-only transaction ends
        return rows


def test_events_are_signed_and_sent_once_in_order_per_buyer(ledger: Ledger) -> None:
    policy, (a, b) = _setup(ledger)
    receiver = Receiver()
    _alert(ledger, a, 0)  # before the subscription: never sent to it
    url = "https://erp.example/hooks"
    sub = _subscribe(ledger, receiver, url, ["alert.raised", "limit.changed"])
    for n in range(1, 4):
        _alert(ledger, a, n)
        _alert(ledger, b, n)
    _limit_change(ledger, policy, a, "50000.00")
    _alert(ledger, None, 9)

    assert _produce(ledger) == {"limit.changed": 1, "alert.raised": 7}
    assert _produce(ledger) == {"limit.changed": 0, "alert.raised": 0}  # nothing twice
    report = _relay(ledger, receiver)
    assert (report.delivered, report.failed) == (8, 0)
    assert _relay(ledger, receiver).sent == 0

    ids = receiver.event_ids()
    assert len(ids) == len(set(ids)) == 8
    by_buyer: dict[object, list[int]] = {}
    for _url, headers, body in receiver.received:
        assert headers["x-tci-event-type"] == body["type"]
        assert headers["x-tci-event-id"] == body["id"]
        assert headers["x-tci-delivery-attempt"] == "1"
        assert headers["content-type"] == "application/json"
        data = body["data"]
        assert isinstance(data, dict)
        buyer = data["buyer"]["id"] if data["buyer"] else None
        by_buyer.setdefault(buyer, []).append(data.get("alert_id") or 0)
    assert by_buyer[b] == sorted(by_buyer[b]) and len(by_buyer[b]) == 3
    change = next(body for _u, _h, body in receiver.received if body["type"] == "limit.changed")
    assert change["data"]["limit"] == {"amount": "50000.00", "currency": "EUR"}
    assert change["data"]["policy"] == "atradius-main"
    with ledger.reading() as session:
        assert session.scalar(select(func.count()).select_from(WebhookAttemptRow)) == 8
        first = session.scalar(select(AlertRow.id).order_by(AlertRow.id).limit(1))
    assert f"alert.raised.{first}" not in ids
    rows = _deliveries(ledger)
    assert {r.state for r in rows} == {DeliveryState.DELIVERED}
    assert all(r.subscription_id == sub and r.attempts == 1 for r in rows)


def test_a_failed_delivery_is_retried_after_backoff_and_holds_its_buyer(ledger: Ledger) -> None:
    _policy, (a, b) = _setup(ledger)
    receiver = Receiver()
    url = "https://erp.example/hooks"
    _subscribe(ledger, receiver, url, ["alert.raised"])
    _alert(ledger, a, 1)
    _alert(ledger, a, 2)
    _alert(ledger, b, 1)
    _produce(ledger)
    failing = {"on": True}

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if (
            failing["on"]
            and body["data"]["message"] == "over limit 1"
            and (body["data"]["buyer"]["id"] == a)
        ):
            return httpx.Response(500)
        return httpx.Response(200)

    receiver.answer = answer
    report = _relay(ledger, receiver)
    # a's first alert failed: a's second waits behind it; b's went through
    assert (report.delivered, report.failed) == (1, 1)
    first, second, third = _deliveries(ledger)
    assert first.state == DeliveryState.PENDING and first.attempts == 1
    assert first.last_status == 500 and first.last_error == "HTTP 500"
    assert NOW + timedelta(seconds=5) <= first.next_attempt_at <= NOW + timedelta(seconds=10)
    assert second.state == DeliveryState.PENDING and second.attempts == 0
    assert third.state == DeliveryState.DELIVERED

    assert _relay(ledger, receiver, NOW + timedelta(seconds=4)).sent == 0  # not due yet
    failing["on"] = False
    assert _relay(ledger, receiver, NOW + timedelta(seconds=11)).delivered == 2
    sent = [body["data"]["message"] for _u, _h, body in receiver.received]
    assert sent == ["over limit 1", "over limit 1", "over limit 1", "over limit 2"]
    attempts = [h["x-tci-delivery-attempt"] for _u, h, _b in receiver.received]
    assert attempts == ["1", "1", "2", "1"]
    with ledger.reading() as session:
        history = session.scalars(
            select(WebhookAttemptRow)
            .where(WebhookAttemptRow.delivery_id == first.id)
            .order_by(WebhookAttemptRow.id)
        ).all()
        assert [(h.attempt, h.status, h.error) for h in history] == [
            (1, 500, "HTTP 500"),
            (2, 200, None),
        ]
        assert session.get_one(SubscriptionRow, first.subscription_id).consecutive_failures == 0


def test_a_subscription_that_keeps_failing_is_disabled_with_an_alert(ledger: Ledger) -> None:
    _policy, (a, b) = _setup(ledger)
    receiver = Receiver(answer=lambda _r: httpx.Response(503))
    bad = _subscribe(ledger, receiver, "https://down.example/h", ["alert.raised"])
    good_receiver_url = "https://up.example/h"
    _subscribe(ledger, receiver, good_receiver_url, ["alert.raised"])
    receiver.answer = lambda r: httpx.Response(200 if str(r.url) == good_receiver_url else 503)
    for n in range(3):
        _alert(ledger, a if n % 2 else b, n)
    _produce(ledger)
    at = NOW
    for _ in range(3):
        _relay(ledger, receiver, at, max_consecutive_failures=3)
        at += timedelta(hours=1)
    with ledger.reading() as session:
        sub = session.get_one(SubscriptionRow, bad)
        assert sub.state == SubscriptionState.DISABLED
        assert sub.consecutive_failures == 3
        assert sub.disabled_reason is not None and "HTTP 503" in sub.disabled_reason
        states = session.scalars(
            select(WebhookDeliveryRow.state).where(WebhookDeliveryRow.subscription_id == bad)
        ).all()
        assert set(states) == {DeliveryState.FAILED}
        alert = session.scalars(
            select(AlertRow).where(AlertRow.kind == AlertKind.WEBHOOK_DISABLED.value)
        ).one()
        assert alert.severity == "critical" and f"subscription {bad}" in alert.message
    # the alert is an event for the subscription still active, never for the disabled one
    _produce(ledger, at)
    before = len(receiver.received)
    _relay(ledger, receiver, at)
    new = receiver.received[before:]
    assert [body["data"]["kind"] for _u, _h, body in new] == ["webhook_disabled"]
    assert {u for u, _h, _b in new} == {good_receiver_url}
    assert sorted(receiver.event_ids(good_receiver_url)) == sorted(
        set(receiver.event_ids(good_receiver_url))
    )


def test_a_delivery_out_of_attempts_is_given_up_and_the_next_goes(ledger: Ledger) -> None:
    _policy, (a, _b) = _setup(ledger)
    receiver = Receiver()
    _subscribe(ledger, receiver, "https://erp.example/h", ["alert.raised"])
    _alert(ledger, a, 1)
    _alert(ledger, a, 2)
    _produce(ledger)
    receiver.answer = lambda r: httpx.Response(
        400 if json.loads(r.content)["data"]["message"] == "over limit 1" else 200
    )
    at = NOW
    for _ in range(3):
        _relay(ledger, receiver, at, max_attempts=2)
        at += timedelta(hours=1)
    first, second = _deliveries(ledger)
    assert (first.state, first.attempts) == (DeliveryState.FAILED, 2)
    assert (second.state, second.attempts) == (DeliveryState.DELIVERED, 1)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda _r: httpx.Response(302, headers={"Location": "https://x"}), "redirects"),
        ("connect", "ConnectError"),
        ("timeout", "ReadTimeout"),
    ],
)
def test_failures_of_the_call_are_recorded(ledger: Ledger, answer: object, error: str) -> None:
    _policy, (a, _b) = _setup(ledger)
    receiver = Receiver()
    _subscribe(ledger, receiver, "https://erp.example/h", ["alert.raised"])
    _alert(ledger, a, 1)
    _produce(ledger)

    def fail(request: httpx.Request) -> httpx.Response:
        if answer == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if answer == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        assert callable(answer)
        response: httpx.Response = answer(request)
        return response

    receiver.answer = fail
    assert _relay(ledger, receiver).failed == 1
    (row,) = _deliveries(ledger)
    assert row.state == DeliveryState.PENDING and row.last_error is not None
    assert error in row.last_error


def test_concurrent_relays_send_each_event_once_in_order(ledger: Ledger) -> None:
    _policy, buyers = _setup(ledger, buyers=3)
    receiver = Receiver(delay=0.01)
    _subscribe(ledger, receiver, "https://erp.example/h", ["alert.raised"])
    for n in range(8):
        for buyer in buyers:
            _alert(ledger, buyer, n)
    _produce(ledger)
    reports: list[webhooks.RelayReport] = []

    def work() -> None:
        with receiver.client() as client:
            while True:
                report = webhooks.relay(ledger, client, now=lambda: NOW, options=_options())
                reports.append(report)
                if not report.sent and all(
                    r.state != DeliveryState.PENDING for r in _deliveries(ledger)
                ):
                    return

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = receiver.event_ids()
    assert len(ids) == len(set(ids)) == 24
    per_buyer: dict[int, list[str]] = {}
    for _u, _h, body in receiver.received:
        per_buyer.setdefault(body["data"]["buyer"]["id"], []).append(body["data"]["message"])
    for messages in per_buyer.values():
        assert messages == [f"over limit {n}" for n in range(8)]
    assert sum(r.delivered for r in reports) == 24


def test_an_alert_committed_late_below_seen_ids_is_still_produced(
    ledger: Ledger, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite commits ids in order (one writer)")
    _policy, (a, b) = _setup(ledger)
    receiver = Receiver()
    _subscribe(ledger, receiver, "https://erp.example/h", ["alert.raised"])
    with ledger.unit_of_work() as slow:
        add_alert(
            slow,
            kind=AlertKind.OVER_LIMIT,
            message="late",
            business_date=NOW.date(),
            dedupe_key="late",
            now=NOW,
            buyer_id=a,
        )  # takes the lower id, commits last
        _alert(ledger, b, 1)
        assert _produce(ledger)["alert.raised"] == 1
    # the slow transaction has committed: its alert, below the one seen, comes next
    assert _produce(ledger)["alert.raised"] == 1
    assert _produce(ledger)["alert.raised"] == 0
    _relay(ledger, receiver)
    assert sorted(body["data"]["message"] for _u, _h, body in receiver.received) == [
        "late",
        "over limit 1",
    ]


def test_nobody_listening_moves_the_cursor_on(ledger: Ledger) -> None:
    _policy, (a, _b) = _setup(ledger)
    _alert(ledger, a, 1)
    assert _produce(ledger)["alert.raised"] == 0
    receiver = Receiver()
    _subscribe(ledger, receiver, "https://erp.example/h", ["limit.changed"])
    _alert(ledger, a, 2)
    assert _produce(ledger)["alert.raised"] == 0  # the subscription wants limits only
    assert _deliveries(ledger) == []
