"""The credit endpoints end to end over the bureau sandboxes (tests/api/credit_setup.py):
an application within the DCL granted at once with its scorecard and no insurer call,
one above it sent to the insurer with exactly one cover request (a replay files none),
a referred one decided by a person, the list and one application, statistics, tiers
pinned and unpinned (audited), a buyer's credit position, scopes and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tci_gateway.ledger.api_tables import AuditRow
from tci_gateway.ledger.tables import CoverRequestRow

from .conftest import ApiHarness
from .credit_setup import credit_api, seed_buyers

__all__ = ["credit_api"]  # the fixture, imported for the tests below
SQLITE_ONLY = True
"""The services behind these routes have PostgreSQL tests of their own."""

APPLY = "/v1/credit/applications"


@pytest.fixture
def buyers(credit_api: ApiHarness, tmp_path: Path) -> dict[str, int]:
    return seed_buyers(credit_api, tmp_path)


def _apply(api: ApiHarness, headers: dict[str, str], idem: str, buyer: str, amount: str) -> Any:
    return api.client.post(
        APPLY,
        headers={**headers, "Idempotency-Key": idem},
        json={"buyer": buyer, "amount": amount, "currency": "EUR"},
    )


def _cover_requests(api: ApiHarness) -> int:
    with api.ledger.reading() as session:
        return int(session.scalar(select(func.count()).select_from(CoverRequestRow)) or 0)


def _audits(api: ApiHarness, action: str) -> list[dict[str, Any]]:
    with api.ledger.reading() as session:
        return list(session.scalars(select(AuditRow.detail).where(AuditRow.action == action)))


def test_within_the_dcl_granted_at_once_with_its_scorecard(
    credit_api: ApiHarness, buyers: dict[str, int]
) -> None:
    api = credit_api
    risk = api.key("cover:request", "buyers:read")
    answer = _apply(api, risk, "k-1", "D1", "20000.00")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert answer.headers["Location"] == body["url"] == f"{APPLY}/{body['reference']}"
    assert body["state"] == "granted" and body["route"] == "dcl"
    assert body["granted_amount"] == "20000.00" and body["currency"] == "EUR"
    assert body["cover_request_id"] is None
    card = body["scorecard"]
    assert card["score"] == "79.49" and card["passed"] is True and card["missing"] == []
    assert [(f["input"], f["value"]) for f in card["factors"]] == [
        ("bureau.creditsafe.score", "64"),
        ("bureau.dnb.failure_score", "81"),
    ]
    assert all(c["passed"] for c in body["conditions"])
    assert {c["name"] for c in body["conditions"]} >= {"within_dcl", "evidence", "score"}
    steps = [e["step"] for e in body["events"]]
    assert steps[0] == "received" and "granted_dcl" in steps
    assert {"assessment:creditsafe", "assessment:dnb", "scored", "screened"} <= set(steps)
    assert body["hours_to_decision"] is not None
    assert _cover_requests(api) == 0  # no insurer call within the DCL
    (audit,) = _audits(api, "credit_application.apply")
    assert audit["reference"] == body["reference"] and audit["route"] == "dcl"

    shown = api.client.get(body["url"], headers=risk)
    assert shown.status_code == 200
    assert shown.json()["reference"] == body["reference"]
    assert shown.json()["events"] == body["events"]

    credit = api.client.get(f"/v1/buyers/{buyers['D1']}/credit", headers=risk).json()
    (line,) = credit["lines"]
    assert line["policy"] == "atradius-main" and line["dcl"] == "20000.00"
    assert line["insurer_limit"] is None and line["total"] == "20000.00"


def test_above_the_dcl_one_cover_request_and_a_replay_files_nothing(
    credit_api: ApiHarness, buyers: dict[str, int]
) -> None:
    api = credit_api
    risk = api.key("cover:request")
    answer = _apply(api, risk, "k-above", "D1", "50000.00")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["state"] == "with_insurer" and body["route"] == "insurer"
    assert body["cover_request_id"] is not None and body["granted_amount"] in (None, "0.00")
    failed = [c["name"] for c in body["conditions"] if not c["passed"]]
    assert failed == ["within_dcl"]
    assert _cover_requests(api) == 1

    again = _apply(api, risk, "k-above", "D1", "50000.00")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["reference"] == body["reference"]
    assert _cover_requests(api) == 1
    assert len(_audits(api, "credit_application.apply")) == 1
    other = _apply(api, risk, "k-above", "D1", "60000.00")
    assert other.status_code == 422  # the same key for another request
    missing = api.client.post(
        APPLY, headers=risk, json={"buyer": "D1", "amount": "1.00", "currency": "EUR"}
    )
    assert missing.status_code == 422  # the Idempotency-Key is required to apply


def test_a_referred_application_is_decided_by_a_person(
    credit_api: ApiHarness, buyers: dict[str, int]
) -> None:
    api = credit_api
    risk = api.key("cover:request", "buyers:read")
    referred = _apply(api, risk, "k-n1", "N1", "5000.00").json()
    assert referred["state"] == "referred" and referred["route"] == "person"
    assert referred["reason"] and "A person decides" in referred["reason"]
    assert referred["scorecard"]["missing"]  # missing inputs named, never zero
    url = referred["url"]

    wrong = api.client.post(
        f"{url}/decision",
        headers={**risk, "Idempotency-Key": "d-0"},
        json={"decision": "refuse", "amount": "10.00", "reason": "x"},
    )
    assert wrong.status_code == 422  # only a grant takes an amount
    decided = api.client.post(
        f"{url}/decision",
        headers={**risk, "Idempotency-Key": "d-1"},
        json={"decision": "grant", "amount": "4000.00", "reason": "known for years"},
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["state"] == "granted" and body["granted_amount"] == "4000.00"
    assert body["decided_by"] and body["events"][-1]["step"] == "person_decided"
    replay = api.client.post(
        f"{url}/decision",
        headers={**risk, "Idempotency-Key": "d-1"},
        json={"decision": "grant", "amount": "4000.00", "reason": "known for years"},
    )
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    twice = api.client.post(
        f"{url}/decision",
        headers={**risk, "Idempotency-Key": "d-2"},
        json={"decision": "refuse", "reason": "changed my mind"},
    )
    assert twice.status_code == 409
    (audit,) = _audits(api, "credit_application.decide")
    assert audit["decision"] == "grant" and audit["reason"] == "known for years"

    credit = api.client.get(f"/v1/buyers/{buyers['N1']}/credit", headers=risk).json()
    (line,) = credit["lines"]
    assert line["internal"] == "4000.00" and line["insured"] == "0.00"  # no evidence: uninsured

    unknown = api.client.post(
        f"{APPLY}/CA-20261201-999999/decision",
        headers={**risk, "Idempotency-Key": "d-3"},
        json={"decision": "refuse", "reason": "x"},
    )
    assert unknown.status_code == 404


def test_list_pages_and_filters(credit_api: ApiHarness, buyers: dict[str, int]) -> None:
    api = credit_api
    risk = api.key("cover:request", "buyers:read")
    refs = [
        _apply(api, risk, f"k-{n}", buyer, amount).json()["reference"]
        for n, (buyer, amount) in enumerate(
            [("D1", "10000.00"), ("N1", "1000.00"), ("N1", "2000.00")]
        )
    ]
    first = api.client.get(APPLY, headers=risk, params={"limit": 2}).json()
    assert [a["reference"] for a in first["items"]] == [refs[2], refs[1]]
    assert first["items"][0]["events"] == []  # a list leaves the steps out
    rest = api.client.get(
        APPLY, headers=risk, params={"limit": 2, "before": first["next_cursor"]}
    ).json()
    assert [a["reference"] for a in rest["items"]] == [refs[0]]
    assert rest["next_cursor"] is None
    referred = api.client.get(APPLY, headers=risk, params={"state": "referred"}).json()
    assert {a["reference"] for a in referred["items"]} == {refs[1], refs[2]}
    by_buyer = api.client.get(APPLY, headers=risk, params={"buyer": buyers["D1"]}).json()
    assert [a["reference"] for a in by_buyer["items"]] == [refs[0]]
    assert api.client.get(APPLY, headers=risk, params={"state": "nope"}).status_code == 422
    assert api.client.get(f"{APPLY}/CA-20261201-999999", headers=risk).status_code == 404
    assert api.client.get(f"{APPLY}/not-a-reference", headers=risk).status_code == 422

    stats = api.client.get("/v1/credit/stats", headers=risk).json()
    rows = {(r["tier"], r["route"]): r for r in stats["rows"]}
    assert rows[("growth", "dcl")]["count"] == 1 and rows[("growth", "dcl")]["decided"] == 1
    assert rows[("growth", "person")]["pending"] == 2
    assert stats["total"]["count"] == 3
    later = api.client.get("/v1/credit/stats", headers=risk, params={"since": "2026-12-01"})
    assert later.json()["total"]["count"] == 3
    future = api.client.get("/v1/credit/stats", headers=risk, params={"since": "2027-01-01"})
    assert future.status_code == 422


def test_bad_input_and_unknown_buyer(credit_api: ApiHarness, buyers: dict[str, int]) -> None:
    api = credit_api
    risk = api.key("cover:request")
    assert _apply(api, risk, "b-1", "NOPE", "1000.00").status_code == 404
    assert _apply(api, risk, "b-2", "99999999999999999999", "1000.00").status_code == 404
    assert _apply(api, risk, "b-3", "D1", "0").status_code == 422
    assert _apply(api, risk, "b-4", "D1", "1,000").status_code == 422
    usd = api.client.post(
        APPLY,
        headers={**risk, "Idempotency-Key": "b-5"},
        json={"buyer": "D1", "amount": "1000.00", "currency": "USD"},
    )
    assert usd.status_code == 422 and "EUR" in usd.json()["detail"] + str(usd.json()["errors"])
    unknown = api.client.post(
        APPLY,
        headers={**risk, "Idempotency-Key": "b-7"},
        json={"buyer": "D1", "amount": "1000.00", "currency": "WAV"},
    )
    assert unknown.status_code == 422  # not an ISO 4217 code
    policy = api.client.post(
        APPLY,
        headers={**risk, "Idempotency-Key": "b-6"},
        json={"buyer": "D1", "amount": "1000.00", "currency": "EUR", "policy": "nope"},
    )
    assert policy.status_code == 422
    assert policy.headers["content-type"] == "application/problem+json"


def test_scopes(credit_api: ApiHarness, buyers: dict[str, int]) -> None:
    api = credit_api
    reader = api.key("buyers:read")
    assert _apply(api, reader, "s-1", "D1", "1000.00").status_code == 403
    assert api.client.get(APPLY, headers=api.key("limits:read")).status_code == 403
    assert api.client.get(APPLY).status_code == 401
    risk = api.key("cover:request")
    pin = api.client.put(
        f"/v1/buyers/{buyers['D1']}/tier", headers=risk, json={"tier": "watch", "reason": "x"}
    )
    assert pin.status_code == 403  # a risk manager's call: admin
    assert api.client.delete(f"/v1/buyers/{buyers['D1']}/tier", headers=risk).status_code == 403
    other = api.key("cover:request", "buyers:read", policies=["coface-main"])
    refused = api.client.post(
        APPLY,
        headers={**other, "Idempotency-Key": "s-2"},
        json={"buyer": "D1", "amount": "1000.00", "currency": "EUR", "policy": "atradius-main"},
    )
    assert refused.status_code == 403
    mine = _apply(api, risk, "s-3", "D1", "1000.00").json()["url"]
    assert api.client.get(mine, headers=other).status_code == 404  # another policy's
    assert api.client.get(APPLY, headers=other).json()["items"] == []
    assert api.client.get(f"/v1/buyers/{buyers['D1']}/credit", headers=other).status_code == 404


def test_pin_and_unpin_a_tier(credit_api: ApiHarness, buyers: dict[str, int]) -> None:
    api = credit_api
    admin = api.key("admin", name="risk-manager")
    url = f"/v1/buyers/{buyers['D1']}/tier"
    bad = api.client.put(url, headers=admin, json={"tier": "platinum", "reason": "x"})
    assert bad.status_code == 422
    assert (
        api.client.put(
            "/v1/buyers/999999/tier", headers=admin, json={"tier": "watch", "reason": "x"}
        ).status_code
        == 404
    )
    pinned = api.client.put(url, headers=admin, json={"tier": "watch", "reason": "profit warning"})
    assert pinned.status_code == 200, pinned.text
    body = pinned.json()
    assert body["tier"] == "watch" and body["pinned"] is True
    assert body["change"]["source"] == "pin" and body["change"]["changed_by"] == "risk-manager"
    assert body["change"]["reason"] == "profit warning"
    (audit,) = _audits(api, "buyer.tier_pin")
    assert audit == {"buyer_id": buyers["D1"], "tier": "watch", "reason": "profit warning"}

    credit = api.client.get(f"/v1/buyers/{buyers['D1']}/credit", headers=admin).json()
    assert credit["tier"] == "watch" and credit["pinned"] is True and credit["tier_set"] is True
    assert credit["tier_history"][0]["new_tier"] == "watch"

    # a watch buyer's application goes to a person (the tier's pre-screen is off)
    watched = _apply(api, admin, "p-1", "D1", "1000.00").json()
    assert watched["route"] == "person" and watched["tier"] == "watch"

    unpinned = api.client.delete(url, headers=admin)
    assert unpinned.status_code == 200
    assert unpinned.json()["pinned"] is False and unpinned.json()["tier"] == "watch"
    assert unpinned.json()["change"]["source"] == "unpin"
    again = api.client.delete(url, headers=admin).json()
    assert again["change"] is None
    assert [a["changed"] for a in _audits(api, "buyer.tier_unpin")] == [True, False]
    history = api.client.get(f"/v1/buyers/{buyers['D1']}/credit", headers=admin).json()
    assert [c["source"] for c in history["tier_history"]] == ["unpin", "pin"]
