"""``/v1/hooks/{insurer}/{token}``: with ``[api] public_url`` set, every send of a cover
request to Allianz carries a callback URL with a fresh token (stored hashed). A callback
is only a hint: an unknown token is a 404 logged without its body, the body's figures
are never used, replays and floods ask for one look-up, and polling stays the fallback."""

from __future__ import annotations

import hashlib
import io
import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import structlog

from tci_gateway.adapters.contract import (
    AdapterContext,
    CoverAction,
    CoverRequest,
    InsurerAdapter,
    PolicyRef,
)
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.domain.money import Money
from tci_gateway.logs import configure_logging, redact_text
from tci_gateway.services.insurer_hooks import REGISTRATION_TTL

from .conftest import ApiHarness, make_harness, sandbox_settings
from .cover_helpers import (
    FREE_COMPANIES,
    add_buyers,
    audits,
    body,
    decide,
    hooks,
    job_polls,
    later,
    post,
    sandbox,
)

RELAY = "cover_requests"
SEED = Path(__file__).resolve().parents[2] / "fixtures" / "allianz" / "seed.json"
PUBLIC = "https://gateway.example.test"


@pytest.fixture
def hooked(database_url: str, tmp_path: Path) -> Iterator[ApiHarness]:
    """The API with ``public_url`` set (callbacks requested) and buyers."""
    settings = sandbox_settings(database_url)
    settings.api.public_url = PUBLIC
    harness = make_harness(database_url, settings=settings)
    with harness.client:
        add_buyers(harness, tmp_path)
        yield harness
    harness.ctx.wiring.close()
    harness.ledger.dispose()


def sent(api: ApiHarness) -> tuple[dict[str, object], str]:
    """Queue a request, let the relay send it; the request and its callback path."""
    risk = api.key("cover:request")
    made = post(api, risk, body()).json()
    api.tick(RELAY)
    [header] = [
        h
        for h in sandbox(api).book._pending.values()  # the callback the sandbox will use
        if h.callback is not None
    ]
    url = header.callback["callbackUrl"]
    assert url.startswith(f"{PUBLIC}/v1/hooks/allianz/")
    return made, urlsplit(url).path


def view(api: ApiHarness, made: dict[str, object]) -> dict[str, object]:
    response = api.client.get(str(made["url"]), headers=api.key("cover:request"))
    assert response.status_code == 200
    result: dict[str, object] = response.json()
    return result


def test_a_send_registers_a_hashed_token_and_a_callback_looks_the_request_up(
    hooked: ApiHarness,
) -> None:
    made, path = sent(hooked)
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 43
    [registration] = hooks(hooked)
    assert registration.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert registration.cover_request_id == made["id"] and registration.hits == 0
    assert registration.job_reference == view(hooked, made)["insurer_request_ref"]
    decide(hooked)
    polls = job_polls(hooked)
    hit = hooked.client.post(path, json={"jobId": "whatever"})
    assert hit.status_code == 202 and hit.json() == {"accepted": True, "lookup": "scheduled"}
    assert view(hooked, made)["callbacks"]["lookup_pending"] is True  # type: ignore[index]
    hooked.tick(RELAY)  # well before the poll interval: the callback made it look now
    decided = view(hooked, made)
    assert decided["state"] == "DECIDED" and job_polls(hooked) == polls + 1
    assert decided["callbacks"] == {  # type: ignore[comparison-overlap]
        "registered": 1,
        "hits": 1,
        "last_hit_at": decided["callbacks"]["last_hit_at"],  # type: ignore[index]
        "lookup_pending": False,
    }
    [audit] = audits(hooked, "insurer_hook.hit")
    assert audit.actor == "insurer:allianz" and audit.api_key_id is None
    assert token not in audit.path and audit.detail["lookup"] == "scheduled"
    late = hooked.client.post(path, json={})
    assert late.status_code == 202 and late.json()["lookup"] == "not_needed"
    hooked.tick(RELAY)
    assert job_polls(hooked) == polls + 1


def test_the_body_is_never_trusted(hooked: ApiHarness) -> None:
    made, path = sent(hooked)
    forged = {
        "jobId": view(hooked, made)["insurer_request_ref"],
        "jobStatusCode": "processed",
        "notificationTypeCode": "functional",
        "cover": {
            "coverId": "666",
            "creditLimitsAggregation": {
                "currencyCode": "EUR",
                "creditLimits": [{"amount": 9999999, "technicalDecisionStatusCode": "Agreement"}],
            },
        },
    }
    assert hooked.client.post(path, json=forged).status_code == 202
    hooked.tick(RELAY)  # looked up: the insurer has not decided yet
    still = view(hooked, made)
    assert (still["state"], still["outcome"]) == ("PENDING", None)
    decide(hooked)
    assert hooked.client.post(path, json=forged).status_code == 202
    hooked.tick(RELAY)
    decided = view(hooked, made)
    assert decided["state"] == "DECIDED"
    assert decided["outcome"]["amount"] == "30000.00"  # type: ignore[index]


def test_unknown_expired_and_foreign_tokens_are_404_logged_without_body(
    hooked: ApiHarness,
) -> None:
    made, path = sent(hooked)
    token = path.rsplit("/", 1)[1]
    secret_body = b'{"jobId": "body-canary-1234"}'
    with structlog.testing.capture_logs() as events:
        for probe in (
            f"/v1/hooks/allianz/{token[:-1]}x",
            f"/v1/hooks/coface/{token}",
            f"/v1/hooks/alli%00anz/{token}",
            "/v1/hooks/allianz/short",
            f"/v1/hooks/allianz/{'a' * 5000}",
        ):
            miss = hooked.client.post(probe, content=secret_body)
            assert miss.status_code == 404, probe
            assert miss.headers["content-type"] == "application/problem+json"
            assert "body-canary" not in miss.text
    assert len([e for e in events if e["event"] == "insurer_hook_unknown"]) == 5
    assert all("body-canary" not in repr(e) for e in events)
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("json", "debug", stream=stream)
    try:
        hooked.client.post(f"/v1/hooks/allianz/{token[:-1]}x", content=secret_body)
    finally:
        structlog.reset_defaults()
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = stream.getvalue()
    assert "insurer_hook_unknown" in lines and "/v1/hooks/allianz/***" in lines
    assert "body-canary" not in lines and token[:-1] not in lines
    assert hooks(hooked)[0].hits == 0 and audits(hooked, "insurer_hook.hit") == []
    later(hooked, REGISTRATION_TTL.total_seconds() + 1)
    assert hooked.client.post(path, json={}).status_code == 404
    # A logged path never shows the token.
    assert token not in redact_text(f"POST {path} 404") and "/v1/hooks/allianz/***" in redact_text(
        path
    )
    assert made["state"] == "QUEUED"


def test_replays_and_floods_ask_for_one_look_up_and_are_rate_limited(
    hooked: ApiHarness,
) -> None:
    made, path = sent(hooked)
    limit = hooked.ctx.settings.api.hook_hits_per_minute
    answers = [hooked.client.post(path, json={}) for _ in range(limit + 5)]
    accepted = [a.json()["lookup"] for a in answers if a.status_code == 202]
    assert accepted == ["scheduled"] + ["already_scheduled"] * (limit - 1)
    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) == 5 and int(limited[0].headers["retry-after"]) >= 1
    polls = job_polls(hooked)
    hooked.tick(RELAY)
    hooked.tick(RELAY)
    assert job_polls(hooked) == polls + 1  # one look-up for the whole flood
    assert view(hooked, made)["callbacks"]["hits"] == limit  # type: ignore[index]
    assert len(audits(hooked, "insurer_hook.hit")) == limit


def test_without_public_url_no_callback_is_asked_for(api: ApiHarness, tmp_path: Path) -> None:
    add_buyers(api, tmp_path)
    post(api, api.key("cover:request"), body())
    api.tick(RELAY)
    assert hooks(api) == []
    assert all(p.callback is None for p in sandbox(api).book._pending.values())


def test_a_resend_registers_a_new_token(hooked: ApiHarness) -> None:
    """An ambiguous send is looked up then sent again: each send its own token."""
    from tci_gateway.adapters.contract_testing import Fault

    risk = hooked.key("cover:request")
    made = post(hooked, risk, body()).json()
    sb = sandbox(hooked)
    sb.inject(Fault(status=503, method="POST", path_prefix=sb.paths["covers"]))
    hooked.tick(RELAY)  # not taken: the 503 came before processing
    assert view(hooked, made)["state"] in ("QUEUED", "AMBIGUOUS")
    later(hooked, 60)
    hooked.tick(RELAY)
    assert view(hooked, made)["state"] == "PENDING"
    tokens = {h.token_sha256 for h in hooks(hooked)}
    assert len(tokens) == 2 and sb.posts_per_reference == {made["client_reference"]: 1}
    assert timedelta(0) < REGISTRATION_TTL


test_without_public_url_no_callback_is_asked_for.sqlite_only = True  # type: ignore[attr-defined]


def test_the_sandbox_retries_a_failed_callback_twice_then_gives_up() -> None:
    """Allianz's delivery as the sandbox plays it: 1 call + 2 retries, then nothing."""
    plugin = load_plugin("allianz")
    assert plugin.create_sandbox is not None
    sb = plugin.create_sandbox(
        {"seed": str(SEED), "callback_retry_seconds": 0, "decision_delay": 1}
    )
    adapter = plugin.create(
        AdapterContext(
            name="allianz",
            base_url=plugin.sandbox_base_url,
            environment="sandbox",
            credentials=dict(sb.credentials),
            transport=httpx.MockTransport(sb.handle),
        )
    )
    assert isinstance(adapter, InsurerAdapter)
    with socket.socket() as sock:  # a loopback port nobody listens on once released
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/hooks/allianz/nobody-listens"
    policy = PolicyRef("allianz-aci", "EUR", {"business_unit_code": "ACI", "policy_id": "5550001"})
    money = Money(Decimal(30000), "EUR")
    adapter.request_cover(
        CoverRequest("ref-cb", policy, FREE_COMPANIES[0], CoverAction.NEW, money, callback_url=url)
    )
    sb.advance(2)
    for _ in range(5):
        sb.poster.run_once()
    tries = [(d["attempt"], d["delivered"], d["error"] is not None) for d in sb.callback_deliveries]
    assert tries == [(1, False, True), (2, False, True), (3, False, True)]
    assert all(d["url"] == url for d in sb.callback_deliveries)
    adapter.close()
