"""``/v1/cover-requests``: queued with an Idempotency-Key (202 + Location), checked with
the CLI's words, followed to the insurer's decision by the relay, listed with keyset
paging, within the key's scope and policies; every write audited."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tci_gateway.domain.cover import CoverRequestState

from .conftest import ApiHarness
from .cover_helpers import (
    add_buyers,
    audits,
    body,
    decide,
    job_polls,
    later,
    post,
    rows,
    sandbox,
)

RELAY = "cover_requests"


@pytest.fixture
def risk(api: ApiHarness, tmp_path: Path) -> dict[str, str]:
    """Buyers in the ledger and a key with ``cover:request``."""
    add_buyers(api, tmp_path)
    return api.key("cover:request", name="risk-desk")


def test_post_queues_and_answers_202_with_location(api: ApiHarness, risk: dict[str, str]) -> None:
    response = post(api, risk, body(urgent=True))
    assert response.status_code == 202, response.text
    out = response.json()
    assert response.headers["location"] == f"/v1/cover-requests/{out['id']}" == out["url"]
    assert (out["state"], out["action"], out["amount"], out["currency"]) == (
        "QUEUED",
        "new",
        "30000.00",
        "EUR",
    )
    assert out["urgent"] is True and out["policy"] == "allianz-aci" and out["insurer"] == "allianz"
    assert out["client_reference"].startswith("tci-") and out["outcome"] is None
    assert out["callbacks"] == {
        "registered": 0,
        "hits": 0,
        "last_hit_at": None,
        "lookup_pending": False,
    }
    assert sandbox(api).posts_per_reference == {}  # queued only: the relay sends
    got = api.client.get(response.headers["location"], headers=risk)
    assert got.status_code == 200 and got.json() == out
    [row] = audits(api, "cover_request.queue")
    assert (row.actor, row.status, row.detail["cover_request_id"]) == ("risk-desk", 202, out["id"])
    assert row.detail["amount"] == "30000.00"


def test_idempotency_key_is_required_and_replays(api: ApiHarness, risk: dict[str, str]) -> None:
    missing = api.client.post("/v1/cover-requests", json=body(), headers=risk)
    assert missing.status_code == 422
    assert "Idempotency-Key" in missing.json()["errors"][0]["field"]
    first = post(api, risk, body(), key="k-1")
    again = post(api, risk, body(), key="k-1")
    assert first.status_code == again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    other = post(api, risk, body(amount="40000.00"), key="k-1")
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    assert len(rows(api)) == 1 and len(audits(api, "cover_request.queue")) == 1


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        (body(amount=None), "amount", "a NEW request needs an amount"),
        (body(currency="USD"), "amount", "the policy is in EUR, not USD"),
        (body(amount="1,000.00"), "amount", "thousands separator"),
        (body(amount="10.001"), "amount", "3 decimal places"),
        (body(amount="0"), "amount", "the amount must be positive"),
        (body(amount="1000000000000000"), "amount", "too large"),
        (body(buyer="NOPE"), "buyer", "no ERP account or buyer id 'NOPE' in the ledger"),
        (body(policy="nope"), "policy", "unknown policy 'nope'"),
        (body(action="cancel"), "amount", "a CANCEL request takes no amount"),
        (body(currency=None), "currency", "an amount needs its currency"),
    ],
)
def test_bad_requests_are_422_with_the_cli_words_and_write_nothing(
    api: ApiHarness, risk: dict[str, str], payload: dict[str, object], field: str, words: str
) -> None:
    if payload.get("currency") is None:
        payload = {k: v for k, v in payload.items() if k != "currency"}
    key = api.key("admin") if payload["policy"] == "nope" else risk
    response = post(api, key, payload)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    [error] = problem["errors"]
    assert error["field"] == field and words in error["reason"], error
    assert rows(api) == [] and audits(api, "cover_request.queue") == []


# The checks are the service's, whatever the ledger: once is enough.
test_bad_requests_are_422_with_the_cli_words_and_write_nothing.sqlite_only = True  # type: ignore[attr-defined]


def test_schema_violations_are_422(api: ApiHarness, risk: dict[str, str]) -> None:
    for payload in (
        body(action="grant"),
        body(extra=1),
        {"policy": "allianz-aci"},
        body(buyer="B\x009"),
        body(amount=30000),
    ):
        assert post(api, risk, payload).status_code == 422
    assert rows(api) == []


def test_a_buyer_without_an_insurer_id_is_refused_in_the_cli_words(
    api: ApiHarness, risk: dict[str, str]
) -> None:
    response = post(api, api.key("admin"), body(buyer="A1"))
    assert response.status_code == 422
    assert "has no allianz buyer id yet" in response.json()["errors"][0]["reason"]


def test_scope_and_policy_restrictions(api: ApiHarness, risk: dict[str, str]) -> None:
    reader = api.key("limits:read")
    assert post(api, reader, body()).status_code == 403
    assert api.client.get("/v1/cover-requests", headers=reader).status_code == 403
    assert api.client.post("/v1/cover-requests", json=body()).status_code == 401
    atradius_only = api.key("cover:request", policies=["atradius-main"])
    refused = post(api, atradius_only, body())
    assert refused.status_code == 403 and "not allowed policy 'allianz-aci'" in refused.text
    assert rows(api) == []
    made = post(api, risk, body()).json()
    assert api.client.get(made["url"], headers=atradius_only).status_code == 404
    listed = api.client.get("/v1/cover-requests", headers=atradius_only).json()
    assert listed == {"items": [], "next_cursor": None}
    allianz_only = api.key("cover:request", policies=["allianz-aci"])
    assert api.client.get(made["url"], headers=allianz_only).status_code == 200
    assert api.client.get("/v1/cover-requests/999999", headers=risk).status_code == 404


def test_the_relay_sends_then_polls_to_the_decision(api: ApiHarness, risk: dict[str, str]) -> None:
    made = post(api, risk, body()).json()
    api.tick(RELAY)
    sent = api.client.get(made["url"], headers=risk).json()
    assert (sent["state"], sent["attempts"]) == ("PENDING", 1)
    assert sent["insurer_request_ref"] and sent["callbacks"]["registered"] == 0
    assert sandbox(api).posts_per_reference == {made["client_reference"]: 1}
    decide(api)
    polls = job_polls(api)
    api.tick(RELAY)  # the poll interval has not passed: not asked again
    assert job_polls(api) == polls
    later(api, api.ctx.settings.api.cover_poll_seconds)
    api.tick(RELAY)
    decided = api.client.get(made["url"], headers=risk).json()
    assert decided["state"] == "DECIDED" and job_polls(api) == polls + 1
    assert decided["outcome"] == {
        "status": "APPROVED",
        "amount": "30000.00",
        "currency": "EUR",
        "raw_codes": decided["outcome"]["raw_codes"],
    }
    assert "Agreement" in decided["outcome"]["raw_codes"].values()
    api.tick(RELAY)  # settled: never asked about again
    assert job_polls(api) == polls + 1
    assert sandbox(api).posts_per_reference == {made["client_reference"]: 1}


def test_a_cancel_carries_no_amount(api: ApiHarness, risk: dict[str, str]) -> None:
    response = post(api, risk, body(amount=None, action="cancel"))
    assert response.status_code == 202
    assert (response.json()["action"], response.json()["amount"]) == ("cancel", None)


def test_list_is_keyset_paged_and_filtered(api: ApiHarness, risk: dict[str, str]) -> None:
    ids = [post(api, risk, body(buyer=b)).json()["id"] for b in ("B9", "B10", "B12")]
    first = api.client.get("/v1/cover-requests?limit=2", headers=risk).json()
    assert [i["id"] for i in first["items"]] == ids[::-1][:2] and first["next_cursor"]
    second = api.client.get(
        f"/v1/cover-requests?limit=2&cursor={first['next_cursor']}", headers=risk
    ).json()
    assert [i["id"] for i in second["items"]] == [ids[0]] and second["next_cursor"] is None
    api.tick(RELAY)  # all three sent: PENDING
    pending = api.client.get("/v1/cover-requests?state=PENDING", headers=risk).json()
    assert len(pending["items"]) == 3
    queued = api.client.get("/v1/cover-requests?state=QUEUED", headers=risk).json()
    assert queued["items"] == []
    b9 = api.client.get(
        f"/v1/cover-requests?buyer_id={first['items'][1]['buyer_id']}", headers=risk
    )
    assert [i["id"] for i in b9.json()["items"]] == [ids[1]]
    for bad in ("cursor=abc", "limit=0", "limit=501", "state=LOST"):
        assert api.client.get(f"/v1/cover-requests?{bad}", headers=risk).status_code == 422


def test_concurrent_relays_send_each_request_once(api: ApiHarness, risk: dict[str, str]) -> None:
    made = [post(api, risk, body(buyer=b)).json() for b in ("B9", "B10", "B12")]
    errors: list[BaseException] = []

    def relay() -> None:
        try:
            api.tick(RELAY)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sandbox(api).posts_per_reference == {m["client_reference"]: 1 for m in made}
    assert {r.state for r in rows(api)} == {CoverRequestState.PENDING}
    assert [r.attempts for r in rows(api)] == [1, 1, 1]


# Checks and queries that read the same on both ledgers: SQLite only (CI time).
for _test in (
    test_schema_violations_are_422,
    test_a_buyer_without_an_insurer_id_is_refused_in_the_cli_words,
    test_a_cancel_carries_no_amount,
    test_list_is_keyset_paged_and_filtered,
    test_scope_and_policy_restrictions,
):
    _test.sqlite_only = True  # type: ignore[attr-defined]
