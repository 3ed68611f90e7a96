"""The review queue: list (paged), accept (merges the buyers), reject; idempotent by
nature and by Idempotency-Key, audited, scoped."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tci_gateway.ledger.tables import AuditRow, BuyerRow

from .conftest import ApiHarness
from .risk_seed import add_review, buyer_of, import_csv

ACCOUNTS = """erp_account,name,country,policy,duns
R1,Acme Trading GmbH,DE,atradius-main,
R2,ACME Trading,DE,atradius-main,
R3,Beta Handel GmbH,DE,atradius-main,150483782
R4,Beta Handel,DE,atradius-main,123456789
R5,Gamma SARL,FR,coface-main,
R6,Gamma,FR,coface-main,
"""


def audits(api: ApiHarness) -> list[AuditRow]:
    with api.ledger.unit_of_work() as session:  # kept loaded after the commit
        return list(session.scalars(select(AuditRow).order_by(AuditRow.id)))


def buyers(api: ApiHarness) -> set[int]:
    with api.ledger.reading() as session:
        return set(session.scalars(select(BuyerRow.id)))


def test_list_is_paged_and_filtered_by_state(api: ApiHarness, tmp_path: Path) -> None:
    import_csv(api, tmp_path, ACCOUNTS)
    ids = [add_review(api, "R1", "R2"), add_review(api, "R3", "R4"), add_review(api, "R5", "R6")]
    key = api.key("buyers:read")
    seen, cursor = [], None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        body = api.client.get(f"/v1/review?limit=2{suffix}", headers=key).json()
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [i["id"] for i in seen] == ids
    first = seen[0]
    assert first["state"] == "PENDING" and first["score"] == "92.50"
    assert first["reason"] == "similar names" and first["decided_at"] is None
    assert first["account_a"] == {
        "account": "R1",
        "name": "Acme Trading GmbH",
        "buyer_id": buyer_of(api, "R1"),
        "policy": "atradius-main",
    }
    one = api.client.get(f"/v1/review/{ids[1]}", headers=key)
    assert one.status_code == 200 and one.json()["account_b"]["account"] == "R4"
    assert api.client.get("/v1/review/9999", headers=key).status_code == 404
    # a key restricted to a policy sees the items of its accounts only
    coface = api.key("buyers:read", policies=["coface-main"])
    body = api.client.get("/v1/review", headers=coface).json()
    assert [i["id"] for i in body["items"]] == [ids[2]]
    assert api.client.get(f"/v1/review/{ids[0]}", headers=coface).status_code == 404
    decider = api.key("review:decide")
    assert api.client.post(f"/v1/review/{ids[2]}/reject", headers=decider).status_code == 200
    pending = api.client.get("/v1/review", headers=key).json()["items"]
    assert [i["id"] for i in pending] == ids[:2]
    rejected = api.client.get("/v1/review?state=REJECTED", headers=key).json()["items"]
    assert [i["id"] for i in rejected] == [ids[2]]
    every = api.client.get("/v1/review?all=true", headers=key).json()["items"]
    assert [i["id"] for i in every] == ids


def test_accept_merges_the_two_buyers_once_and_is_audited(api: ApiHarness, tmp_path: Path) -> None:
    import_csv(api, tmp_path, ACCOUNTS)
    item = add_review(api, "R1", "R2")
    r1, r2 = buyer_of(api, "R1"), buyer_of(api, "R2")
    assert r1 != r2
    reader = api.key("buyers:read")
    assert api.client.post(f"/v1/review/{item}/accept", headers=reader).status_code == 403
    assert audits(api) == []
    key = api.key("review:decide", name="risk-desk")
    first = api.client.post(f"/v1/review/{item}/accept", headers=key)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["buyer_id"] == min(r1, r2)
    assert body["item"]["state"] == "ACCEPTED"
    assert body["item"]["decided_at"] == "2026-12-01T12:00:00Z"
    assert body["item"]["account_a"]["buyer_id"] == body["item"]["account_b"]["buyer_id"]
    assert buyer_of(api, "R1") == buyer_of(api, "R2") == min(r1, r2)
    assert max(r1, r2) not in buyers(api)
    (row,) = audits(api)
    assert (row.action, row.actor, row.method, row.status) == (
        "review.accepted",
        "risk-desk",
        "POST",
        200,
    )
    assert row.path == f"/v1/review/{item}/accept"
    assert row.detail == {
        "review_id": item,
        "accounts": ["R1", "R2"],
        "buyer_id": min(r1, r2),
        "merged_buyer_id": max(r1, r2),
    }
    # accepting again answers the same result and changes nothing
    again = api.client.post(f"/v1/review/{item}/accept", headers=key)
    assert again.status_code == 200 and again.json() == body
    assert len(audits(api)) == 1
    # the opposite decision is a conflict
    conflict = api.client.post(f"/v1/review/{item}/reject", headers=key)
    assert conflict.status_code == 409
    assert "accepted already" in conflict.json()["detail"]
    assert len(audits(api)) == 1
    assert api.client.post("/v1/review/4711/accept", headers=key).status_code == 404


def test_reject_then_accept_is_a_conflict(api: ApiHarness, tmp_path: Path) -> None:
    import_csv(api, tmp_path, ACCOUNTS)
    item = add_review(api, "R1", "R2")
    key = api.key("review:decide")
    rejected = api.client.post(f"/v1/review/{item}/reject", headers=key)
    assert rejected.status_code == 200
    assert rejected.json()["buyer_id"] is None and rejected.json()["item"]["state"] == "REJECTED"
    assert api.client.post(f"/v1/review/{item}/reject", headers=key).json() == rejected.json()
    accept = api.client.post(f"/v1/review/{item}/accept", headers=key)
    assert accept.status_code == 409
    assert accept.json()["detail"] == (
        f"review item {item} was rejected already (on 2026-12-01): it cannot be accepted now"
    )
    assert buyer_of(api, "R1") != buyer_of(api, "R2")
    assert [a.action for a in audits(api)] == ["review.rejected"]


def test_contradicting_identifiers_refuse_the_merge(api: ApiHarness, tmp_path: Path) -> None:
    import_csv(api, tmp_path, ACCOUNTS)
    item = add_review(api, "R3", "R4")
    key = api.key("review:decide")
    response = api.client.post(f"/v1/review/{item}/accept", headers=key)
    assert response.status_code == 409
    assert response.json()["detail"].startswith("identifiers contradict (DUNS:")
    assert response.json()["detail"].endswith("): correct them first")
    assert buyer_of(api, "R3") != buyer_of(api, "R4")
    reader = api.key("buyers:read")
    state = api.client.get(f"/v1/review/{item}", headers=reader).json()["state"]
    assert state == "PENDING"  # nothing was written
    assert audits(api) == []


def test_idempotency_key_replays_the_stored_answer(api: ApiHarness, tmp_path: Path) -> None:
    import_csv(api, tmp_path, ACCOUNTS)
    first_item, second_item = add_review(api, "R1", "R2"), add_review(api, "R5", "R6")
    key = api.key("review:decide") | {"Idempotency-Key": "decision-1"}
    first = api.client.post(f"/v1/review/{first_item}/accept", headers=key)
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    replay = api.client.post(f"/v1/review/{first_item}/accept", headers=key)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    other = api.client.post(f"/v1/review/{second_item}/accept", headers=key)
    assert other.status_code == 422  # the same key for another request
    assert len(audits(api)) == 1
    # a refused decision releases its key: the client may retry it
    retry_key = api.key("review:decide") | {"Idempotency-Key": "decision-2"}
    assert api.client.post("/v1/review/999/accept", headers=retry_key).status_code == 404
    again = api.client.post(f"/v1/review/{second_item}/reject", headers=retry_key)
    assert again.status_code == 200


def test_a_restricted_key_decides_only_its_policies(api: ApiHarness, tmp_path: Path) -> None:
    import_csv(api, tmp_path, ACCOUNTS)
    atradius_item, coface_item = add_review(api, "R1", "R2"), add_review(api, "R5", "R6")
    key = api.key("review:decide", policies=["coface-main"])
    assert api.client.post(f"/v1/review/{atradius_item}/accept", headers=key).status_code == 404
    assert api.client.post(f"/v1/review/{coface_item}/accept", headers=key).status_code == 200
    assert buyer_of(api, "R5") == buyer_of(api, "R6")
    assert buyer_of(api, "R1") != buyer_of(api, "R2")


def test_concurrent_accepts_merge_once(api: ApiHarness, tmp_path: Path) -> None:
    import_csv(api, tmp_path, ACCOUNTS)
    item = add_review(api, "R1", "R2")
    key = api.key("review:decide")
    barrier = threading.Barrier(4)

    def accept() -> tuple[int, Any]:
        barrier.wait()
        response = api.client.post(f"/v1/review/{item}/accept", headers=key)
        return response.status_code, response.json()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: accept(), range(4)))
    assert {status for status, _ in answers} == {200}
    assert len({json.dumps(body, sort_keys=True) for _, body in answers}) == 1
    assert [a.action for a in audits(api)] == ["review.accepted"]
