"""``/v1/subscriptions``: create (the secret shown once), list, get, delete, deliveries;
URL and event checks, scopes, idempotency keys and the audit trail; the background
producer and relay deliver to a fake receiver."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.tables import BuyerRow
from tci_gateway.services import webhooks

from .conftest import ApiHarness

URL = "https://erp.example.com/hooks/tci"


def _create(api: ApiHarness, headers: dict[str, str], **body: Any) -> httpx.Response:
    payload = {"url": URL, "events": ["alert.raised"], **body}
    return api.client.post("/v1/subscriptions", json=payload, headers=headers)


def test_create_shows_the_secret_once(api: ApiHarness) -> None:
    h = api.key("webhooks:manage")
    created = _create(api, h, events=["limit.changed", "alert.raised"])
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["state"] == "active" and body["consecutive_failures"] == 0
    assert body["events"] == ["limit.changed", "alert.raised"]
    assert created.headers["Location"] == f"/v1/subscriptions/{body['id']}"
    one = api.client.get(created.headers["Location"], headers=h)
    assert one.status_code == 200 and "secret" not in one.json()
    assert body["secret"] not in one.text
    listed = api.client.get("/v1/subscriptions", headers=h)
    assert [s["id"] for s in listed.json()["items"]] == [body["id"]]
    assert body["secret"] not in listed.text
    with api.ledger.reading() as session:
        audit = session.scalars(select(AuditRow)).all()
        assert [(a.action, a.status) for a in audit] == [("subscription.create", 201)]
        assert body["secret"] not in json.dumps(audit[0].detail)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://erp.example.com/h", True),
        ("http://127.0.0.1:9000/h", True),
        ("http://localhost/h", True),
        ("http://[::1]:8000/h", True),
        ("http://erp.example.com/h", False),
        ("https://user:pw@erp.example.com/h", False),
        ("https://erp.example.com/h#frag", False),
        ("ftp://erp.example.com/h", False),
        ("https:///nohost", False),
        ("http://10.0.0.1/h", False),
        ("https://erp.example.com:99999/h", False),
        ("https://erp.example.com/a b", False),
        ("https://erp.example.com/\x00", False),
        ("https://[::1/h", False),
    ],
)
def test_urls_are_https_except_loopback(api: ApiHarness, url: str, ok: bool) -> None:
    response = _create(api, api.key("webhooks:manage"), url=url)
    assert response.status_code == (201 if ok else 422), response.text
    if not ok:
        problem = response.json()
        assert problem["errors"][0]["field"] == "url"
        assert response.headers["content-type"].startswith("application/problem+json")


def test_unknown_or_no_events_are_refused(api: ApiHarness) -> None:
    h = api.key("webhooks:manage")
    assert _create(api, h, events=["limit.deleted"]).status_code == 422
    assert _create(api, h, events=[]).status_code == 422
    dup = _create(api, h, events=["alert.raised", "alert.raised"])
    assert dup.status_code == 201 and dup.json()["events"] == ["alert.raised"]


def test_scope_is_required(api: ApiHarness) -> None:
    h = api.key("limits:read")
    assert _create(api, h).status_code == 403
    assert api.client.get("/v1/subscriptions", headers=h).status_code == 403
    assert api.client.get("/v1/subscriptions").status_code == 401
    assert _create(api, api.key("admin")).status_code == 201


def test_an_idempotency_key_replays_the_same_subscription(api: ApiHarness) -> None:
    h = {**api.key("webhooks:manage"), "Idempotency-Key": "sub-1"}
    first = _create(api, h)
    again = _create(api, h)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(api.client.get("/v1/subscriptions", headers=h).json()["items"]) == 1
    assert _create(api, h, url="https://other.example/h").status_code == 422


def test_delete_and_paging(api: ApiHarness) -> None:
    h = api.key("webhooks:manage")
    ids = [_create(api, h).json()["id"] for _ in range(5)]
    page = api.client.get("/v1/subscriptions?limit=2", headers=h).json()
    seen = [s["id"] for s in page["items"]]
    while page["next_cursor"]:
        page = api.client.get(
            f"/v1/subscriptions?limit=2&cursor={page['next_cursor']}", headers=h
        ).json()
        seen += [s["id"] for s in page["items"]]
    assert seen == ids
    gone = api.client.delete(f"/v1/subscriptions/{ids[0]}", headers=h)
    assert gone.status_code == 204
    assert api.client.get(f"/v1/subscriptions/{ids[0]}", headers=h).status_code == 404
    assert api.client.delete(f"/v1/subscriptions/{ids[0]}", headers=h).status_code == 404
    assert api.client.get(f"/v1/subscriptions/{ids[0]}/deliveries", headers=h).status_code == 404
    assert api.client.get("/v1/subscriptions?cursor=abc", headers=h).status_code == 422
    with api.ledger.reading() as session:
        actions = session.scalars(select(AuditRow.action).order_by(AuditRow.id)).all()
    assert actions[-1] == "subscription.delete" and actions.count("subscription.delete") == 1


def test_the_background_tasks_deliver_and_record(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[httpx.Request] = []
    secret: dict[str, str] = {}

    def receive(request: httpx.Request) -> httpx.Response:
        body = request.read()
        webhooks.verify(secret["s"], request.headers["X-TCI-Signature"], body)
        received.append(request)
        return httpx.Response(500 if len(received) == 1 else 200)

    monkeypatch.setattr(
        webhooks,
        "make_client",
        lambda timeout: httpx.Client(transport=httpx.MockTransport(receive), timeout=timeout),
    )
    h = api.key("webhooks:manage")
    created = _create(api, h).json()
    secret["s"] = created["secret"]
    now = api.ctx.now()
    with api.ledger.unit_of_work() as session:
        buyer = BuyerRow(name="Acme GmbH", country="DE", created_at=now, updated_at=now)
        session.add(buyer)
        session.flush()
        for n in range(3):
            add_alert(
                session,
                kind=AlertKind.OVER_LIMIT,
                message=f"over {n}",
                business_date=now.date(),
                dedupe_key=f"t{n}",
                now=now,
                buyer_id=buyer.id,
            )
    api.tick("webhook_events")
    api.tick("webhook_relay")
    assert len(received) == 1  # the first failed: the buyer's others wait behind it
    sub = api.client.get(f"/v1/subscriptions/{created['id']}", headers=h).json()
    assert sub["consecutive_failures"] == 1
    page = api.client.get(f"/v1/subscriptions/{created['id']}/deliveries?limit=2", headers=h).json()
    assert [d["state"] for d in page["items"]] == ["pending", "pending"]
    rest = api.client.get(
        f"/v1/subscriptions/{created['id']}/deliveries?cursor={page['next_cursor']}", headers=h
    ).json()
    assert rest["next_cursor"] is None
    (first,) = rest["items"]
    assert first["attempts"] == 1 and first["last_status"] == 500
    assert first["history"][0]["status"] == 500 and first["history"][0]["error"] == "HTTP 500"
    assert first["payload"]["data"]["message"] == "over 0"
    assert first["ordering_key"] == f"buyer:{first['payload']['data']['buyer']['id']}"


# Checks of the request alone: the ledger plays no part, SQLite is enough.
for _test in (
    test_urls_are_https_except_loopback,
    test_unknown_or_no_events_are_refused,
    test_scope_is_required,
):
    _test.sqlite_only = True  # type: ignore[attr-defined]


def test_a_process_with_relay_off_queues_but_sends_nothing(tmp_path: Any) -> None:
    from tci_gateway.ledger.migrate import upgrade

    from .conftest import make_harness, sandbox_settings

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    settings = sandbox_settings(url)
    settings.webhooks.relay = False
    from tci_gateway.ledger.engine import make_engine

    upgrade(make_engine(url))
    harness = make_harness(url, settings=settings)
    with harness.client:
        harness.tick("webhook_events")  # the producer still runs
        with pytest.raises(LookupError, match="webhook_relay"):
            harness.tick("webhook_relay")
    harness.ledger.dispose()
