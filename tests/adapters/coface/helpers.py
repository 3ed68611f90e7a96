"""Helpers for the Coface tests: fixture files, a fixture-file server, an adapter
factory on any MockTransport handler."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tci_adapters.coface.client import CofaceAdapter
from tci_adapters.coface.plugin import create_adapter
from tci_gateway.adapters.contract import AdapterContext, PolicyRef
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "coface"
SEED = FIXTURES / "seed.json"
BASE = "https://cofaserve-api.coface.invalid"
CREDENTIALS = {"username": "broker-user", "password": "s3cret-value", "api_key": "api-key-789"}
POLICY = PolicyRef(key="fr-main", currency="EUR", external_ref={"policy_number": "1234567"})
TOKEN_PATH = "/authentication/v1/token"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FixtureServer:
    """A MockTransport handler answering (method, path) with fixture files (status,
    file, extra headers); records every request."""

    def __init__(
        self, routes: dict[tuple[str, str], tuple[int, str] | tuple[int, str, dict[str, str]]]
    ) -> None:
        self.routes = {("POST", TOKEN_PATH): (200, "token.json"), **routes}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(403, json={"message": "Missing Authentication Token"})
        status, name, *rest = route
        headers = {"Content-Type": "application/json", **(rest[0] if rest else {})}
        return httpx.Response(status, headers=headers, content=fixture_bytes(name))

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)]


def make_adapter(
    handler: Callable[[httpx.Request], httpx.Response],
    retry: RetryPolicy,
    *,
    base_url: str = BASE,
    credentials: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
    cache: TokenCache | None = None,
    name: str = "coface",
) -> CofaceAdapter:
    context = AdapterContext(
        name=name,
        base_url=base_url,
        environment="uat",
        credentials=credentials or CREDENTIALS,
        options=options or {},
        retry=retry,
        transport=httpx.MockTransport(handler),
    )
    return create_adapter(context, token_cache=cache or TokenCache())
