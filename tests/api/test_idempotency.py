"""``Idempotency-Key``: one effect per key, the stored answer to replays, a different
request under a used key refused, a failed request releasing its key."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from tci_gateway.api.audit import record
from tci_gateway.api.context import get_context
from tci_gateway.api.idempotency import STALE_AFTER, IdempotencyKey, RawBody, idempotent
from tci_gateway.api.problems import Problem
from tci_gateway.api.security import require
from tci_gateway.ledger.api_keys import ApiKey
from tci_gateway.ledger.api_tables import AuditRow, IdempotencyRow

from .conftest import ApiHarness


def _mount_effect(api: ApiHarness, pause: threading.Event | None = None) -> None:
    """``POST /v1/_effect``: one audit row per effect; a body of ``fail`` is refused
    with 400 (the key must be released)."""
    router = APIRouter()

    @router.post("/v1/_effect")
    def effect(
        request: Request,
        body: RawBody,
        idem_key: IdempotencyKey = None,
        key: ApiKey = Depends(require("items:write")),  # noqa: B008
    ) -> Response:
        ctx = get_context(request)

        def handler() -> Response:
            if body == b"fail":
                raise Problem(400, "refused on purpose")
            if pause is not None:
                pause.wait(5)
            with ctx.ledger.unit_of_work() as session:
                record(session, ctx, request, key, "effect", {"body": body.decode()})
                count = session.scalar(select(func.count()).select_from(AuditRow))
            return JSONResponse(
                {"effects": count}, status_code=201, headers={"Location": f"/v1/x/{count}"}
            )

        return idempotent(ctx, request, key, idem_key, body, handler)

    api.client.app.include_router(router)  # type: ignore[attr-defined]


def _effects(api: ApiHarness) -> int:
    with api.ledger.reading() as session:
        return int(session.scalar(select(func.count()).select_from(AuditRow)) or 0)


def test_replay_returns_the_stored_response_without_a_second_effect(api: ApiHarness) -> None:
    _mount_effect(api)
    headers = {**api.key("items:write"), "Idempotency-Key": "batch-1"}
    first = api.client.post("/v1/_effect", headers=headers, content=b"a")
    assert first.status_code == 201 and first.json() == {"effects": 1}
    again = api.client.post("/v1/_effect", headers=headers, content=b"a")
    assert again.status_code == 201 and again.json() == {"effects": 1}
    assert again.headers["location"] == "/v1/x/1"
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _effects(api) == 1
    # without a key every call is an effect of its own
    plain = {k: v for k, v in headers.items() if k != "Idempotency-Key"}
    api.client.post("/v1/_effect", headers=plain, content=b"a")
    assert _effects(api) == 2


def test_same_key_with_another_body_is_refused(api: ApiHarness) -> None:
    _mount_effect(api)
    headers = {**api.key("items:write"), "Idempotency-Key": "batch-1"}
    api.client.post("/v1/_effect", headers=headers, content=b"a")
    other = api.client.post("/v1/_effect", headers=headers, content=b"b")
    assert other.status_code == 422
    assert "used with a different request" in other.json()["detail"]
    assert _effects(api) == 1


def test_keys_belong_to_their_api_key(api: ApiHarness) -> None:
    _mount_effect(api)
    one = {**api.key("items:write"), "Idempotency-Key": "k"}
    two = {**api.key("items:write"), "Idempotency-Key": "k"}
    api.client.post("/v1/_effect", headers=one, content=b"a")
    assert api.client.post("/v1/_effect", headers=two, content=b"b").status_code == 201
    assert _effects(api) == 2


def test_a_refused_request_releases_its_key(api: ApiHarness) -> None:
    _mount_effect(api)
    headers = {**api.key("items:write"), "Idempotency-Key": "k"}
    assert api.client.post("/v1/_effect", headers=headers, content=b"fail").status_code == 400
    # the same key may now carry the corrected request
    assert api.client.post("/v1/_effect", headers=headers, content=b"a").status_code == 201
    with api.ledger.reading() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRow)) == 1


def test_in_flight_key_is_409_and_a_stale_one_is_taken_over(api: ApiHarness) -> None:
    _mount_effect(api)
    headers = {**api.key("items:write"), "Idempotency-Key": "k"}
    assert api.client.post("/v1/_effect", headers=headers, content=b"a").status_code == 201
    with api.ledger.unit_of_work() as session:  # as a process killed mid-request leaves it
        row = session.scalars(select(IdempotencyRow)).one()
        row.status = None
        row.body = None
        row.created_at = api.ctx.now() - timedelta(seconds=5)
    busy = api.client.post("/v1/_effect", headers=headers, content=b"a")
    assert busy.status_code == 409 and busy.headers["retry-after"] == "2"
    with api.ledger.unit_of_work() as session:
        session.scalars(select(IdempotencyRow)).one().created_at = (
            api.ctx.now() - STALE_AFTER - timedelta(seconds=1)
        )
    taken = api.client.post("/v1/_effect", headers=headers, content=b"a")
    assert taken.status_code == 201
    assert "idempotent-replayed" not in taken.headers


def test_expired_records_are_forgotten(api: ApiHarness) -> None:
    _mount_effect(api)
    headers = {**api.key("items:write"), "Idempotency-Key": "k"}
    api.client.post("/v1/_effect", headers=headers, content=b"a")
    hours = api.ctx.settings.api.idempotency_hours
    with api.ledger.unit_of_work() as session:
        session.scalars(select(IdempotencyRow)).one().created_at = api.ctx.now() - timedelta(
            hours=hours, seconds=1
        )
    again = api.client.post("/v1/_effect", headers=headers, content=b"a")
    assert "idempotent-replayed" not in again.headers
    assert _effects(api) == 2


def test_concurrent_requests_with_one_key_make_one_effect(api: ApiHarness) -> None:
    pause = threading.Event()
    _mount_effect(api, pause)
    headers = {**api.key("items:write"), "Idempotency-Key": "same"}
    statuses: list[int] = []

    def send() -> None:
        statuses.append(api.client.post("/v1/_effect", headers=headers, content=b"a").status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    # three of four find the first in flight (409) while it waits on `pause`
    for _ in range(200):
        if len(statuses) >= 3:
            break
        threading.Event().wait(0.05)
    pause.set()
    for thread in threads:
        thread.join(10)
    assert sorted(statuses) == [201, 409, 409, 409]
    assert _effects(api) == 1
