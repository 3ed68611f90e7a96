"""Credentials an insurer refused are not sent again in the same run (accounts lock)."""

from __future__ import annotations

import httpx
import pytest
import tenacity

from tci_gateway.adapters.contract import AdapterContext, InsurerAdapter
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.errors import AuthError
from tci_gateway.http.retry import RetryPolicy


def make(sandbox: object, credentials: dict[str, str]) -> InsurerAdapter:
    plugin = load_plugin("atradius")
    adapter = plugin.create(
        AdapterContext(
            name="atradius",
            base_url=plugin.sandbox_base_url,
            environment="sandbox",
            credentials=credentials,
            retry=RetryPolicy(wait=tenacity.wait_none(), sleep=lambda s: None),
            transport=httpx.MockTransport(sandbox.handle),  # type: ignore[attr-defined]
        )
    )
    assert isinstance(adapter, InsurerAdapter)
    return adapter


def test_a_refused_login_is_not_repeated_but_good_credentials_still_work() -> None:
    plugin = load_plugin("atradius")
    assert plugin.create_sandbox is not None
    sandbox = plugin.create_sandbox({})
    fixture = sandbox.seed_contract_fixture()  # type: ignore[attr-defined]
    good = dict(sandbox.credentials)
    bad = {**good, "client_secret": "not-the-secret-9f3a"}
    token_calls = lambda: sandbox.received[fixture.auth_request]  # type: ignore[attr-defined]  # noqa: E731
    wrong = make(sandbox, bad)
    with pytest.raises(AuthError):
        wrong.search_buyers(fixture.known_buyer)
    assert token_calls() == 1
    for _ in range(5):
        with pytest.raises(AuthError, match="not sent again"):
            wrong.search_buyers(fixture.known_buyer)
    assert token_calls() == 1  # five more calls, no more login attempts
    right = make(sandbox, good)
    assert right.search_buyers(fixture.known_buyer)
    assert token_calls() == 2
