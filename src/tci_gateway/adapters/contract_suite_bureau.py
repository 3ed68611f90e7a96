"""The bureau contract suite: what every bureau adapter passes, against its own sandbox.

Collected by the pytest plugin :mod:`tci_gateway.adapters.contract_suite` beside each
``conftest.py`` that defines the fixture ``bureau_plugin``, once per plugin it names.
Nothing here knows which bureau it runs against: the sandbox seeds its own data and describes it
(:class:`~tci_gateway.adapters.contract_testing.BureauContractFixture`), and faults are
injected through the generic :class:`~tci_gateway.adapters.contract_testing.Fault`.
Some checks run twice: in-process (``httpx.MockTransport``) and over loopback HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import tenacity

from tci_gateway.adapters.contract import (
    AdapterContext,
    AdapterPlugin,
    BureauAdapter,
    BureauCapabilities,
    CompanyCandidate,
)
from tci_gateway.adapters.contract_suite import refused_with_known, resolve_plugin
from tci_gateway.adapters.contract_testing import (
    BureauContractFixture,
    BureauContractSandbox,
    Fault,
)
from tci_gateway.adapters.loopback import serve_on_loopback
from tci_gateway.domain.identifiers import parse_identifier
from tci_gateway.domain.money import is_currency
from tci_gateway.errors import (
    AuthError,
    ConfigError,
    ProtocolError,
    RateLimitedError,
    TransientError,
)
from tci_gateway.http.client import Timeouts
from tci_gateway.http.retry import RetryPolicy


@dataclass
class Harness:
    plugin: AdapterPlugin
    sandbox: BureauContractSandbox
    fixture: BureauContractFixture
    adapter: BureauAdapter
    sleeps: list[float]
    base_url: str
    transport: httpx.BaseTransport | None

    def make_adapter(self, credentials: dict[str, str]) -> BureauAdapter:
        adapter = self.plugin.create(
            AdapterContext(
                name=self.plugin.name,
                base_url=self.base_url,
                environment="sandbox",
                credentials=credentials,
                retry=RetryPolicy(
                    wait=tenacity.wait_none(), sleep=self.sleeps.append, retry_after_max=10.0
                ),
                transport=self.transport,
            )
        )
        assert isinstance(adapter, BureauAdapter)
        return adapter

    def find_known(self) -> list[CompanyCandidate]:
        return self.adapter.search_companies(self.fixture.known_company)

    def auth_requests(self) -> int:
        assert self.fixture.auth_request is not None
        return self.sandbox.received[self.fixture.auth_request]


def _harness(plugin: AdapterPlugin, base_url: str | None = None) -> Harness:
    assert plugin.create_sandbox is not None, f"{plugin.name} has no sandbox"
    sandbox = plugin.create_sandbox({})
    assert isinstance(sandbox, BureauContractSandbox), f"{plugin.name}'s sandbox lacks the API"
    fixture = sandbox.seed_bureau_fixture()
    harness = Harness(
        plugin=plugin,
        sandbox=sandbox,
        fixture=fixture,
        adapter=None,  # type: ignore[arg-type]
        sleeps=[],
        base_url=base_url or plugin.sandbox_base_url,
        transport=None if base_url else httpx.MockTransport(sandbox.handle),
    )
    harness.adapter = harness.make_adapter(dict(sandbox.credentials))
    return harness


@pytest.fixture
def plugin(bureau_plugin: object) -> AdapterPlugin:
    """The plugin under test, as the ``bureau_plugin`` fixture names it."""
    return resolve_plugin(bureau_plugin, "bureau")


@pytest.fixture
def harness(plugin: AdapterPlugin) -> Iterator[Harness]:
    h = _harness(plugin)
    yield h
    h.adapter.close()


@pytest.fixture(params=["in-process", "loopback"])
def any_harness(plugin: AdapterPlugin, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The harness in-process and over a loopback server."""
    h = _harness(plugin)
    if request.param == "in-process":
        yield h
        h.adapter.close()
        return
    with serve_on_loopback(h.sandbox, hang_seconds=1.0) as server:
        h.adapter.close()
        h.base_url, h.transport = server.url, None
        h.adapter = h.make_adapter(dict(h.sandbox.credentials))
        yield h
        h.adapter.close()


def _needs_tokens(harness: Harness) -> None:
    if harness.fixture.auth_request is None:
        pytest.skip(f"{harness.plugin.name} has no token call")


# -- registration -----------------------------------------------------------------------


def test_plugin_registration(plugin: AdapterPlugin) -> None:
    assert plugin.kind == "bureau"
    assert plugin.description
    assert plugin.create_sandbox is not None
    assert plugin.sandbox_base_url == f"https://sandbox.{plugin.name}.invalid"
    sandbox = plugin.create_sandbox({})
    assert set(sandbox.credentials) == set(plugin.credential_names)


def test_capabilities(harness: Harness) -> None:
    capabilities = harness.adapter.capabilities
    assert isinstance(capabilities, BureauCapabilities)
    assert capabilities.search
    assert harness.adapter.name == harness.plugin.name


# -- search, company, assessment --------------------------------------------------------


def test_known_company_is_found(any_harness: Harness) -> None:
    fx = any_harness.fixture
    found = any_harness.find_known()
    assert [c.provider_id for c in found] == [fx.known_provider_id]
    candidate = found[0]
    assert candidate.provider == any_harness.plugin.name
    assert candidate.country == fx.known_company.country
    assert candidate.name
    assert set(fx.expected_identifiers) <= set(candidate.identifiers)
    for ident in candidate.identifiers:  # every identifier came through validation
        assert parse_identifier(ident.scheme, ident.value, ident.issuer) == ident
    assert not candidate.is_site


def test_unknown_company_finds_nothing(any_harness: Harness) -> None:
    assert any_harness.adapter.search_companies(any_harness.fixture.unknown_company) == []


def test_get_company(any_harness: Harness) -> None:
    fx = any_harness.fixture
    company = any_harness.adapter.get_company(fx.known_provider_id)
    assert company is not None
    assert company.provider_id == fx.known_provider_id
    assert company.provider == any_harness.plugin.name
    assert set(fx.expected_identifiers) <= set(company.identifiers)


def test_assessment(any_harness: Harness) -> None:
    fx = any_harness.fixture
    adapter = any_harness.adapter
    result = adapter.assess(fx.known_provider_id)
    if not adapter.capabilities.assessment:
        assert result is None
        return
    assert fx.has_assessment, "a bureau with assessments seeds an assessed company"
    assert result is not None
    assert (result.provider, result.provider_id) == (adapter.name, fx.known_provider_id)
    assert result.scale
    if result.recommended_limit is not None:
        assert isinstance(result.recommended_limit.amount, Decimal)
        assert is_currency(result.recommended_limit.currency)
    else:
        assert result.missing


# -- auth -------------------------------------------------------------------------------


def test_expired_token_is_refreshed(harness: Harness) -> None:
    _needs_tokens(harness)
    fx = harness.fixture
    assert fx.token_lifetime is not None
    assert harness.find_known()
    before = harness.auth_requests()
    harness.sandbox.advance(fx.token_lifetime + 1)
    assert harness.find_known()
    assert harness.auth_requests() == before + 1


def test_bad_credentials_are_an_auth_error(harness: Harness) -> None:
    if not harness.plugin.credential_names:
        pytest.skip(f"{harness.plugin.name} takes no credentials")
    wrong = {name: f"wrong-{value}" for name, value in harness.sandbox.credentials.items()}
    adapter = harness.make_adapter(wrong)
    with pytest.raises(AuthError) as caught:
        adapter.search_companies(harness.fixture.known_company)
    assert caught.value.adapter == harness.plugin.name
    for secret in wrong.values():
        assert secret not in str(caught.value)
    adapter.close()


def test_token_endpoint_unavailable_is_retried(harness: Harness) -> None:
    _needs_tokens(harness)
    harness.sandbox.inject(Fault(status=503, target="auth"))
    assert harness.find_known()
    assert harness.auth_requests() == 2


# -- faults: the retry table and clear errors, never a crash ---------------------------


@pytest.mark.parametrize(("retry_after", "expected"), [("2", 2.0), ("1000", 10.0)])
def test_429_with_retry_after_then_success(
    harness: Harness, retry_after: str, expected: float
) -> None:
    harness.find_known()  # token in hand, if any
    harness.sandbox.inject(Fault(status=429, retry_after=retry_after))
    assert [c.provider_id for c in harness.find_known()] == [harness.fixture.known_provider_id]
    # Retry-After honoured, capped by RetryPolicy.retry_after_max (10 s here).
    assert harness.sleeps == [expected]


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=503),
        Fault(status=502),
        Fault(status=504),
        Fault(raise_exc=httpx.ReadTimeout),
        Fault(raise_exc=httpx.ConnectError),
        Fault(raise_exc=httpx.RemoteProtocolError),
    ],
    ids=["503", "502", "504", "read-timeout", "connect-error", "reset"],
)
def test_transient_burst_is_retried(harness: Harness, fault: Fault) -> None:
    harness.find_known()
    harness.sandbox.inject(fault, fault)  # a burst of two
    assert [c.provider_id for c in harness.find_known()] == [harness.fixture.known_provider_id]
    assert len(harness.sleeps) == 2


def test_429_storm_gives_up_with_rate_limited_error(harness: Harness) -> None:
    harness.find_known()
    harness.sandbox.inject(*[Fault(status=429, retry_after="1") for _ in range(20)])
    with pytest.raises(RateLimitedError) as caught:
        harness.find_known()
    assert caught.value.status == 429 and caught.value.retry_after == 1.0
    assert 1 < len(harness.sleeps) < 20


@pytest.mark.parametrize(
    "fault",
    [Fault(html=True, status=200), Fault(malformed_json=True)],
    ids=["html-200", "malformed-json"],
)
def test_unreadable_answers_are_protocol_errors(harness: Harness, fault: Fault) -> None:
    harness.find_known()
    harness.sandbox.inject(fault)
    with pytest.raises(ProtocolError) as caught:
        harness.find_known()
    assert caught.value.adapter == harness.plugin.name
    assert caught.value.status == 200
    assert harness.sleeps == []  # never retried


def test_html_error_page_is_retried_then_reported(harness: Harness) -> None:
    harness.find_known()
    harness.sandbox.inject(*[Fault(html=True) for _ in range(10)])
    with pytest.raises((ProtocolError, TransientError)) as caught:
        harness.find_known()
    assert caught.value.adapter == harness.plugin.name
    assert caught.value.status == 502


def test_loopback_server_serves_the_sandbox(plugin: AdapterPlugin) -> None:
    """The loopback server answers as the in-process sandbox does (real timeouts)."""
    h = _harness(plugin)
    h.adapter.close()
    with serve_on_loopback(h.sandbox) as server:
        adapter = plugin.create(
            AdapterContext(
                name=plugin.name,
                base_url=server.url,
                environment="sandbox",
                credentials=dict(h.sandbox.credentials),
                timeouts=Timeouts(connect=2.0, read=5.0, deadline=20.0),
            )
        )
        assert isinstance(adapter, BureauAdapter)
        found = adapter.search_companies(h.fixture.known_company)
        assert [c.provider_id for c in found] == [h.fixture.known_provider_id]
        adapter.close()


def test_unknown_option_is_refused_with_the_known_ones_named(harness: Harness) -> None:
    """A typo in a bureau's options is refused, never silently ignored."""

    def build() -> object:
        return harness.plugin.create(
            AdapterContext(
                name=harness.plugin.name,
                base_url=harness.base_url,
                environment="sandbox",
                credentials=dict(harness.sandbox.credentials),
                options={"page_sise": 5},
                transport=harness.transport,
            )
        )

    assert refused_with_known(build, "page_sise")
    assert not any(harness.sandbox.received.values())  # refused before any call


def test_unknown_sandbox_option_is_refused_with_the_known_ones_named(
    plugin: AdapterPlugin,
) -> None:
    assert plugin.create_sandbox is not None
    create_sandbox = plugin.create_sandbox
    known = refused_with_known(lambda: create_sandbox({"clok": None}), "clok")
    assert {"seed", "clock"} <= known


def test_missing_sandbox_seed_file_is_a_config_error(plugin: AdapterPlugin, tmp_path: Path) -> None:
    assert plugin.create_sandbox is not None
    with pytest.raises(ConfigError, match=r"no-such-seed\.json"):
        plugin.create_sandbox({"seed": str(tmp_path / "no-such-seed.json")})
