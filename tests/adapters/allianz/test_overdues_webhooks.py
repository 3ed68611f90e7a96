"""Allianz payment overdues (OVD / EXP / RES bodies, look-up by reference) and the
callback header and notifications (technical and functional), over fixture payloads."""

from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal

import pytest

from tci_adapters.allianz.overdues import OVERDUE_STATUSES, overdue_status
from tci_adapters.allianz.webhooks import (
    build_callback_header,
    decode_callback_header,
    parse_webhook,
)
from tci_gateway.adapters.contract import OverdueInvoice, OverdueKind, OverdueNotice
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.money import Money
from tci_gateway.errors import AmbiguousOutcomeError, ConfigError, ProtocolError, RejectedError
from tci_gateway.http.jsonexact import loads
from tci_gateway.http.retry import RetryPolicy

from .conftest import POLICY, FixtureServer, body_of, fixture_bytes, make_adapter

OVERDUES = "/payment-overdues/v1/overdues"
OVERDUES_SEARCH = "/payment-overdues/v1/overdues/search"


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def invoice(number: str, new_due: date | None = None, currency: str = "EUR") -> OverdueInvoice:
    return OverdueInvoice(
        number=number,
        issue_date=date(2024, 1, 1),
        original_due_date=date(2024, 2, 29),
        amount=Money(Decimal("1500.00"), currency),
        outstanding=Money(Decimal("1200.50"), currency),
        new_due_date=new_due,
    )


def notice(kind: OverdueKind, *invoices: OverdueInvoice) -> OverdueNotice:
    return OverdueNotice(
        client_reference="tci-ovd-0001",
        policy=POLICY,
        insurer_buyer_id="400000001",
        kind=kind,
        invoices=invoices or (invoice("F-1"), invoice("F-2")),
        first_default_date=date(2024, 3, 1),
    )


@pytest.mark.parametrize(
    ("kind", "category", "new_due"),
    [
        (OverdueKind.OVERDUE, "OVD", None),
        (OverdueKind.EXTENSION_REQUEST, "EXP", date(2024, 4, 30)),
        (OverdueKind.RESCHEDULE, "RES", date(2024, 6, 30)),
    ],
)
def test_overdue_bodies(
    retry: RetryPolicy, kind: OverdueKind, category: str, new_due: date | None
) -> None:
    server = FixtureServer({("POST", OVERDUES): (201, "overdue_created.json")})
    result = make_adapter(server, retry).submit_overdue(
        notice(kind, invoice("F-1", new_due), invoice("F-2", new_due))
    )
    assert (result.insurer_reference, result.status, result.raw_status) == (
        "8000101",
        "SUBMITTED",
        "Submitted",
    )
    assert result.client_reference == "tci-ovd-0001"
    [call] = server.calls("POST", OVERDUES)
    assert b'"totalOutstandingAmount":2401.00' in call.content
    due = new_due.isoformat() if new_due else None
    line = {
        "invoiceDate": "2024-01-01",
        "originalDueDate": "2024-02-29",
        "newDueDate": due,
        "invoiceAmount": Decimal("1500.00"),
        "outstandingAmount": Decimal("1200.50"),
        "currencyCode": "EUR",
    }
    assert body_of(call) == {
        "overdueCategoryTypeCode": category,
        "policy": {"businessUnitCode": "ACI", "policyId": "5550001"},
        "companyId": "400000001",
        "customerReference": "tci-ovd-0001",
        "firstDefaultDate": "2024-03-01",
        "currencyCode": "EUR",
        "totalOutstandingAmount": Decimal("2401.00"),
        "invoices": [{"invoiceNumber": "F-1", **line}, {"invoiceNumber": "F-2", **line}],
    }


def test_overdues_refused_before_sending(retry: RetryPolicy) -> None:
    server = FixtureServer()
    adapter = make_adapter(server, retry)
    with pytest.raises(RejectedError, match=r"new due date on invoice\(s\) \['F-1'\]"):
        adapter.submit_overdue(notice(OverdueKind.EXTENSION_REQUEST, invoice("F-1")))
    with pytest.raises(RejectedError, match="several currencies"):
        adapter.submit_overdue(
            notice(OverdueKind.OVERDUE, invoice("F-1"), invoice("F-2", None, "USD"))
        )
    empty = OverdueNotice("r", POLICY, "1", OverdueKind.OVERDUE, (), date(2024, 3, 1))
    with pytest.raises(RejectedError, match="at least one invoice"):
        adapter.submit_overdue(empty)
    assert server.requests == []


def test_an_overdue_post_without_an_answer_is_ambiguous(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", OVERDUES): (504, "error_plain.json")})
    with pytest.raises(AmbiguousOutcomeError) as caught:
        make_adapter(server, retry).submit_overdue(notice(OverdueKind.OVERDUE))
    assert caught.value.client_reference == "tci-ovd-0001"
    assert len(server.calls("POST", OVERDUES)) == 1


def test_find_overdue_by_reference(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", OVERDUES_SEARCH): (200, "overdues_search.json")})
    adapter = make_adapter(server, retry)
    found = adapter.find_overdue(POLICY, "tci-ovd-0001")
    assert found is not None
    assert (found.insurer_reference, found.status, found.raw_status) == (
        "8000101",
        "ACKNOWLEDGED",
        "Received",
    )
    assert adapter.find_overdue(POLICY, "tci-ovd-9999") is None
    assert body_of(server.calls("POST", OVERDUES_SEARCH)[0])["customerReference"] == "tci-ovd-0001"


@pytest.mark.parametrize(
    ("raw", "status"), [*OVERDUE_STATUSES.items(), ("Weird", "SUBMITTED"), (None, "SUBMITTED")]
)
def test_overdue_statuses(raw: str | None, status: str) -> None:
    assert overdue_status(raw) == status
    if raw is not None:
        assert overdue_status(raw.upper()) == status


# -- webhooks -----------------------------------------------------------------------------


def test_callback_header_is_base64_of_the_json_object() -> None:
    value = build_callback_header(
        "https://hooks.example.invalid/allianz", time_to_live_hours=6, extended_notification=False
    )
    assert json.loads(base64.b64decode(value)) == {
        "callbackUrl": "https://hooks.example.invalid/allianz",
        "timeToLive": 6,
        "extendedNotification": False,
    }
    assert decode_callback_header(value)["timeToLive"] == 6


@pytest.mark.parametrize(
    ("url", "ttl"),
    [("http://hooks.example.invalid/x", 24), ("hooks.example.invalid/x", 24), ("https://h/x", 0)],
)
def test_callback_header_refusals(url: str, ttl: int) -> None:
    with pytest.raises(ConfigError):
        build_callback_header(url, time_to_live_hours=ttl)


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        base64.b64encode(b"[1]").decode(),
        base64.b64encode(b'{"timeToLive": 1}').decode(),
        base64.b64encode(b'{"callbackUrl": "http://x.invalid", "timeToLive": 1}').decode(),
        base64.b64encode(b'{"callbackUrl": "https://x.invalid", "timeToLive": 1.5}').decode(),
        base64.b64encode(
            b'{"callbackUrl": "https://x.invalid", "timeToLive": 1, "extendedNotification": 1}'
        ).decode(),
    ],
)
def test_bad_callback_headers(value: str) -> None:
    with pytest.raises(ValueError):
        decode_callback_header(value)


def test_technical_notification_is_pending_to_poll() -> None:
    result = parse_webhook({}, fixture_bytes("webhook_technical.json"))
    assert result.pending and result.decision is None
    assert result.insurer_request_ref == "5b0c2f9e-8d1a-4c3e-9f6b-0a1b2c3d4e5f"
    assert result.client_reference == ""


def test_functional_notification_carries_the_decision(retry: RetryPolicy) -> None:
    body = fixture_bytes("webhook_functional.json")
    result = parse_webhook({"Content-Type": "application/json"}, body)
    assert not result.pending and result.client_reference == "tci-cr-0009"
    assert result.decision is not None
    assert result.decision.status is CoverStatus.PARTIALLY_APPROVED
    assert result.decision.granted_amount == eur("75000.00")
    assert result.decision.insurer_cover_ref == "8000009"
    # Through the adapter, with its overrides, as text and as a mapping.
    adapter = make_adapter(
        FixtureServer(), retry, options={"status_overrides": {"PartialAgreement": "APPROVED"}}
    )
    via_adapter = adapter.parse_webhook({}, body.decode(), currency="EUR")
    assert via_adapter.decision is not None
    assert via_adapter.decision.status is CoverStatus.APPROVED
    assert adapter.parse_webhook({}, loads(body)).decision is not None
    with pytest.raises(ProtocolError):  # a float amount (stdlib json) is refused
        adapter.parse_webhook({}, json.loads(body))
    # A technical header wins over the body: poll instead.
    technical = parse_webhook({"x-notification-type": "Technical"}, body)
    assert technical.pending and technical.decision is None


def test_unreadable_notifications() -> None:
    with pytest.raises(ProtocolError, match="unreadable callback"):
        parse_webhook({}, b"{not json")
    with pytest.raises(ProtocolError, match="unreadable callback"):
        parse_webhook({}, b'{"jobStatusCode": "processed"}')
    functional = loads(fixture_bytes("webhook_functional.json"))
    with pytest.raises(ProtocolError, match="cover is in EUR"):
        parse_webhook({}, functional, currency="GBP")
    del functional["cover"]["creditLimitsAggregation"]["currencyCode"]
    del functional["cover"]["creditLimitsAggregation"]["creditLimits"][0]["currencyCode"]
    with pytest.raises(ProtocolError, match="currency="):
        parse_webhook({}, functional)
    assert parse_webhook({}, functional, currency="EUR").decision is not None
