"""Who may call: keys, scopes, revocation, expiry, the rate limit, the body limit, and
the request id every answer carries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import APIRouter, Depends, Request

from tci_gateway.api.security import RateLimiter, require
from tci_gateway.ledger import api_keys
from tci_gateway.ledger.api_keys import ApiKey

from .conftest import ApiHarness, make_harness


def _mount_probe(api: ApiHarness) -> None:
    """A route needing ``items:write`` that echoes the key's name and the body size."""
    router = APIRouter()

    @router.post("/v1/_probe")
    async def probe(request: Request, key: ApiKey = Depends(require("items:write"))) -> dict:  # noqa: B008
        body = await request.body()
        return {"key": key.name, "bytes": len(body)}

    api.client.app.include_router(router)  # type: ignore[attr-defined]


def test_no_key_is_401_problem(api: ApiHarness) -> None:
    _mount_probe(api)
    response = api.client.post("/v1/_probe", content=b"{}")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and "API key is required" in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    "header",
    ["Bearer tci_nothing", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer tci_abc_def"],
)
def test_unknown_or_malformed_key_is_401(api: ApiHarness, header: str) -> None:
    _mount_probe(api)
    response = api.client.post("/v1/_probe", headers={"Authorization": header})
    assert response.status_code == 401
    assert header.split()[-1] not in response.text  # the presented secret is never echoed


def test_wrong_secret_of_a_real_key_is_401(api: ApiHarness) -> None:
    _mount_probe(api)
    token = api.key("items:write")["Authorization"].removeprefix("Bearer ")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = api.client.post("/v1/_probe", headers={"Authorization": f"Bearer {tampered}"})
    assert response.status_code == 401


def test_scope_is_required_and_admin_has_every_scope(api: ApiHarness) -> None:
    _mount_probe(api)
    reader = api.key("limits:read", name="reader")
    response = api.client.post("/v1/_probe", headers=reader)
    assert response.status_code == 403
    assert "lacks the scope 'items:write'" in response.json()["detail"]
    assert api.client.post("/v1/_probe", headers=api.key("items:write")).status_code == 200
    assert api.client.post("/v1/_probe", headers=api.key("admin")).status_code == 200


def test_revoked_and_expired_keys_are_refused(api: ApiHarness) -> None:
    _mount_probe(api)
    headers = api.key("items:write", name="erp")
    assert api.client.post("/v1/_probe", headers=headers).status_code == 200
    with api.ledger.unit_of_work() as session:
        api_keys.revoke_key(session, "erp", api.ctx.now())
    response = api.client.post("/v1/_probe", headers=headers)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]

    with api.ledger.unit_of_work() as session:
        _, token = api_keys.create_key(
            session,
            "short",
            ["items:write"],
            now=api.ctx.now() - timedelta(days=2),
            expires_at=api.ctx.now() - timedelta(seconds=1),
        )
    response = api.client.post("/v1/_probe", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_a_key_records_when_it_was_last_used(api: ApiHarness) -> None:
    _mount_probe(api)
    headers = api.key("items:write", name="erp")
    api.client.post("/v1/_probe", headers=headers)
    with api.ledger.reading() as session:
        (key,) = api_keys.list_keys(session)
    assert key.last_used_at == api.ctx.now()


def test_rate_limit_answers_429_with_retry_after(database_url: str) -> None:
    harness = make_harness(database_url)
    harness.ctx.settings.api.rate_limit_per_minute = 3
    with harness.client:
        _mount_probe(harness)
        headers = harness.key("items:write")
        statuses = [
            harness.client.post("/v1/_probe", headers=headers).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = harness.client.post("/v1/_probe", headers=headers)
        assert int(refused.headers["retry-after"]) >= 1
        assert "rate limit of 3 requests a minute" in refused.json()["detail"]
        # the limit is per key: another key is not held back
        assert harness.client.post("/v1/_probe", headers=harness.key("admin")).status_code == 200
    harness.ledger.dispose()


def test_token_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one a second, bursts of 60
    assert all(limiter.take(1) == 0 for _ in range(60))
    assert limiter.take(1) == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.take(1) == 0
    assert limiter.take(1) > 0


def test_body_above_the_limit_is_413_before_it_is_read(database_url: str) -> None:
    harness = make_harness(database_url)
    harness.ctx.settings.api.max_body_bytes = 2048
    harness = make_harness(database_url, settings=harness.ctx.settings)
    with harness.client:
        _mount_probe(harness)
        headers = harness.key("items:write")
        ok = harness.client.post("/v1/_probe", headers=headers, content=b"x" * 2048)
        assert ok.status_code == 200 and ok.json()["bytes"] == 2048
        big = harness.client.post("/v1/_probe", headers=headers, content=b"x" * 2049)
        assert big.status_code == 413
        assert big.headers["content-type"] == "application/problem+json"
        assert "larger than 2048 bytes" in big.json()["detail"]

        def chunks():  # no Content-Length: counted as it streams
            for _ in range(5):
                yield b"y" * 1000

        streamed = harness.client.post("/v1/_probe", headers=headers, content=chunks())
        assert streamed.status_code == 413
    harness.ledger.dispose()


def test_request_id_is_echoed_or_made(api: ApiHarness) -> None:
    given = api.client.get("/healthz", headers={"X-Request-ID": "erp-run-42.7"})
    assert given.headers["x-request-id"] == "erp-run-42.7"
    made = api.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


def test_unknown_route_is_a_problem_document(api: ApiHarness) -> None:
    response = api.client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["instance"] == "/v1/nothing-here"


def test_cors_is_off_unless_configured(database_url: str) -> None:
    harness = make_harness(database_url)
    with harness.client:
        plain = harness.client.options(
            "/healthz",
            headers={"Origin": "https://erp.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in plain.headers
    harness.ledger.dispose()
    settings = harness.ctx.settings
    settings.api.cors_origins = ["https://erp.example"]
    harness = make_harness(database_url, settings=settings)
    with harness.client:
        allowed = harness.client.options(
            "/healthz",
            headers={"Origin": "https://erp.example", "Access-Control-Request-Method": "GET"},
        )
        assert allowed.headers["access-control-allow-origin"] == "https://erp.example"
    harness.ledger.dispose()


def test_readyz_says_when_the_ledger_is_not_migrated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tci_gateway.api.app import create_app
    from tci_gateway.api.context import ApiContext
    from tci_gateway.ledger.engine import Ledger
    from tci_gateway.wiring import Wiring

    from .conftest import SANDBOX_CONFIG, sandbox_settings

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    settings = sandbox_settings(url)
    ledger = Ledger.open(url, create=True)
    ctx = ApiContext(wiring=Wiring(settings, SANDBOX_CONFIG.parent), ledger=ledger)
    from fastapi.testclient import TestClient

    with TestClient(create_app(ctx, background=False)) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "run `tci db upgrade`" in response.json()["detail"]
    ledger.dispose()
