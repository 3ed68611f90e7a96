"""Fixtures for the Allianz Trade tests: a sandbox seeded from fixtures/allianz/seed.json
on a fixed clock, and an adapter talking to it in-process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tci_adapters.allianz.client import AllianzAdapter
from tci_adapters.allianz.plugin import PLUGIN, create_adapter
from tci_adapters.allianz.sandbox import AllianzSandbox
from tci_gateway.adapters.contract import AdapterContext, PolicyRef
from tci_gateway.adapters.contract_testing import SandboxClock
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.jsonexact import loads
from tci_gateway.http.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "allianz"
SEED = FIXTURES / "seed.json"
API_KEY = "allianz-canary-key-0123456789"
CREDENTIALS = {"api_key": API_KEY}
POLICY = PolicyRef(
    key="eu-main",
    currency="EUR",
    external_ref={"business_unit_code": "ACI", "policy_id": "5550001"},
)
START = datetime(2024, 4, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> AllianzSandbox:
    """The seeded sandbox, its clock frozen at 2024-04-10 09:00 UTC (advance it)."""
    return AllianzSandbox.from_seed(SEED, credentials=CREDENTIALS, clock=SandboxClock(START))


def sandbox_adapter(
    sandbox: AllianzSandbox, retry: RetryPolicy, **options: object
) -> AllianzAdapter:
    """An adapter on ``sandbox`` (MockTransport) with its own token cache, observing
    the portfolio at the sandbox's time."""
    context = AdapterContext(
        name="allianz",
        base_url=PLUGIN.sandbox_base_url,
        environment="sandbox",
        credentials=CREDENTIALS,
        options=options,
        retry=retry,
        transport=httpx.MockTransport(sandbox.handle),
    )
    made = create_adapter(context, token_cache=TokenCache())
    made.clock = sandbox.clock
    return made


@pytest.fixture
def adapter(sandbox: AllianzSandbox, retry: RetryPolicy) -> Iterator[AllianzAdapter]:
    """An adapter on the seeded sandbox."""
    made = sandbox_adapter(sandbox, retry)
    yield made
    made.close()


BASE = "https://api.allianz-trade.invalid"

Route = tuple[int, str] | Callable[[httpx.Request], tuple[int, str]]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def body_of(request: httpx.Request) -> Any:
    """The JSON body of a recorded request, numbers as Decimal."""
    return loads(request.content)


class FixtureServer:
    """A MockTransport handler answering routes with fixture files (a route may be a
    function of the request, e.g. by page number); records every request."""

    def __init__(self, routes: dict[tuple[str, str], Route] | None = None) -> None:
        self.routes: dict[tuple[str, str], Route] = {
            ("POST", "/v1/idp/oauth2/authorize"): (200, "token.json"),
            **(routes or {}),
        }
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        with self._lock:
            self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, json={"message": "Resource not found"})
        status, name = route(request) if callable(route) else route
        return httpx.Response(
            status, headers={"Content-Type": "application/json"}, content=fixture_bytes(name)
        )

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


def make_adapter(
    handler: Callable[[httpx.Request], httpx.Response],
    retry: RetryPolicy,
    *,
    options: dict[str, Any] | None = None,
    credentials: dict[str, str] | None = None,
    cache: TokenCache | None = None,
    base_url: str = BASE,
) -> AllianzAdapter:
    """An adapter on ``handler`` (MockTransport), environment ``uat``."""
    context = AdapterContext(
        name="allianz",
        base_url=base_url,
        environment="uat",
        credentials=credentials or CREDENTIALS,
        options=options or {},
        retry=retry,
        transport=httpx.MockTransport(handler),
    )
    return create_adapter(context, token_cache=cache or TokenCache())
