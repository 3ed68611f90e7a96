"""The events of a subscription from a real ledger (the demo imported and synced): one
``limit.changed`` per change of the limits in force, one ``case.deadline_near`` per
deadline within a lead time (as ``tci claims deadlines`` finds them), never twice."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from tci_gateway.domain.deadlines import Deadline
from tci_gateway.ledger.api_tables import WebhookDeliveryRow
from tci_gateway.ledger.tables import LimitChangeRow
from tci_gateway.services import webhooks
from tci_gateway.services.deadlines import OverdueBuyer, scan

from .conftest import ApiHarness
from .risk_seed import seed_demo


def _deliveries(api: ApiHarness, event_type: str) -> list[WebhookDeliveryRow]:
    with api.ledger.reading() as session:
        rows = list(
            session.scalars(
                select(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.event_type == event_type)
                .order_by(WebhookDeliveryRow.id)
            )
        )
        session.expunge_all()
        return rows


def _scan(api: ApiHarness) -> list[OverdueBuyer]:
    settings = api.ctx.settings
    return list(
        scan(
            api.ledger,
            settings.domain_policies(),
            settings.escalation_paths(),
            default_tier=settings.escalation.default_tier,
            now=api.ctx.now(),
            lead_days=tuple(settings.alerts.deadline_lead_days),
        )
    )


def test_limit_changes_and_near_deadlines_become_events_once(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    monkeypatch.setattr(
        webhooks,
        "make_client",
        lambda timeout: httpx.Client(transport=httpx.MockTransport(receive), timeout=timeout),
    )
    h = api.key("webhooks:manage")
    created = api.client.post(
        "/v1/subscriptions",
        json={"url": "https://erp.example/h", "events": ["limit.changed", "case.deadline_near"]},
        headers=h,
    )
    assert created.status_code == 201
    seed_demo(api)
    api.tick("webhook_events")
    api.tick("webhook_events")

    limits = _deliveries(api, "limit.changed")
    with api.ledger.reading() as session:
        changes = session.scalar(select(func.count()).select_from(LimitChangeRow))
    assert changes and len(limits) == changes
    assert all(d.ordering_key == f"buyer:{d.payload['data']['buyer']['id']}" for d in limits)

    # five days before the next deadline of an overdue buyer: a new day, scanned again
    today = api.ctx.now().date()
    coming = min(ob.clock.on(d) for ob in _scan(api) for d in Deadline if ob.clock.on(d) > today)
    api.ctx.as_of = datetime.combine(coming - timedelta(days=5), time(12), UTC)
    api.tick("webhook_events")
    expected = {
        (ob.buyer_id, w.deadline.value, w.on.isoformat(), w.lead_days)
        for ob in _scan(api)
        for w in ob.warnings
    }
    near = _deliveries(api, "case.deadline_near")
    found = {
        (
            d.payload["data"]["buyer"]["id"],
            d.payload["data"]["deadline"],
            d.payload["data"]["date"],
            d.payload["data"]["lead_days"],
        )
        for d in near
    }
    assert expected and found == expected and len(near) == len(expected)

    # the next scan (a later hour, then the next day) sends no deadline twice
    api.ctx.as_of = api.ctx.now() + timedelta(hours=2)
    api.tick("webhook_events")
    assert len(_deliveries(api, "case.deadline_near")) == len(expected)
    api.tick("webhook_relay")
    assert len(received) == len(limits) + len(near)
    assert len({r.headers["X-TCI-Event-Id"] for r in received}) == len(received)
