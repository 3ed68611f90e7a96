"""The insurer contract suite: what every insurer adapter passes, against its own sandbox.

Collected by the pytest plugin :mod:`tci_gateway.adapters.contract_suite` beside each
``conftest.py`` that defines the fixture ``insurer_plugin``, once per plugin it names.
Nothing here knows which insurer it runs against: the sandbox seeds its own data and describes it
(:class:`~tci_gateway.adapters.contract_testing.ContractFixture`), and faults are
injected through the generic :class:`~tci_gateway.adapters.contract_testing.Fault`.
Some checks run twice: in-process (``httpx.MockTransport``) and over loopback HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import tenacity

from tci_gateway.adapters.contract import (
    AdapterContext,
    AdapterPlugin,
    Capabilities,
    CoverAction,
    CoverHistory,
    CoverRequest,
    InsurerAdapter,
    OverdueFiling,
    OverdueInvoice,
    OverdueKind,
    OverdueNotice,
    PortfolioEntry,
)
from tci_gateway.adapters.contract_suite import refused_with_known, resolve_plugin
from tci_gateway.adapters.contract_testing import ContractFixture, ContractSandbox, Fault
from tci_gateway.adapters.loopback import LoopbackServer, serve_on_loopback
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.money import Money
from tci_gateway.errors import (
    AmbiguousOutcomeError,
    AuthError,
    ConfigError,
    ProtocolError,
    RateLimitedError,
    RecordError,
    TransientError,
)
from tci_gateway.http.client import Timeouts
from tci_gateway.http.retry import RetryPolicy


@dataclass
class Harness:
    plugin: AdapterPlugin
    sandbox: ContractSandbox
    fixture: ContractFixture
    adapter: InsurerAdapter
    sleeps: list[float]
    base_url: str
    transport: httpx.BaseTransport | None

    def make_adapter(self, credentials: dict[str, str]) -> InsurerAdapter:
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
        assert isinstance(adapter, InsurerAdapter)
        return adapter

    def posts(self) -> int:
        """POSTs that may change state: searches an API sends as POST only read."""
        reads: frozenset[tuple[str, str]] = getattr(self.sandbox, "read_only_requests", frozenset())
        return sum(
            n
            for (method, path), n in self.sandbox.received.items()
            if method == "POST" and (method, path) not in reads
        )

    def auth_requests(self) -> int:
        assert self.fixture.auth_request is not None
        return self.sandbox.received[self.fixture.auth_request]


def _harness(plugin: AdapterPlugin, server: LoopbackServer | None) -> Harness:
    assert plugin.create_sandbox is not None, f"{plugin.name} has no sandbox"
    sandbox = plugin.create_sandbox({})
    assert isinstance(sandbox, ContractSandbox), f"{plugin.name}'s sandbox lacks the contract API"
    fixture = sandbox.seed_contract_fixture()
    sleeps: list[float] = []
    harness = Harness(
        plugin=plugin,
        sandbox=sandbox,
        fixture=fixture,
        adapter=None,  # type: ignore[arg-type]
        sleeps=sleeps,
        base_url=server.url if server else plugin.sandbox_base_url,
        transport=None if server else httpx.MockTransport(sandbox.handle),
    )
    harness.adapter = harness.make_adapter(dict(sandbox.credentials))
    return harness


@pytest.fixture
def plugin(insurer_plugin: object) -> AdapterPlugin:
    """The plugin under test, as the ``insurer_plugin`` fixture names it."""
    return resolve_plugin(insurer_plugin, "insurer")


@pytest.fixture
def harness(plugin: AdapterPlugin) -> Iterator[Harness]:
    h = _harness(plugin, None)
    yield h
    h.adapter.close()


@pytest.fixture(params=["in-process", "loopback"])
def any_harness(plugin: AdapterPlugin, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The harness in-process and over a loopback server."""
    if request.param == "in-process":
        h = _harness(plugin, None)
        yield h
        h.adapter.close()
        return
    assert plugin.create_sandbox is not None
    # The server needs the sandbox first: build it, then serve it.
    probe = _harness(plugin, None)
    with serve_on_loopback(probe.sandbox, hang_seconds=1.0) as server:
        probe.base_url = server.url
        probe.transport = None
        probe.adapter.close()
        probe.adapter = probe.make_adapter(dict(probe.sandbox.credentials))
        yield probe
        probe.adapter.close()


def test_plugin_registration(plugin: AdapterPlugin) -> None:
    assert plugin.kind == "insurer"
    assert plugin.create_sandbox is not None
    assert plugin.credential_names


def test_capabilities(harness: Harness) -> None:
    assert isinstance(harness.adapter.capabilities, Capabilities)
    assert harness.adapter.name == harness.plugin.name


def test_buyer_search(any_harness: Harness) -> None:
    fx = any_harness.fixture
    matches = any_harness.adapter.search_buyers(fx.known_buyer)
    assert [m.insurer_buyer_id for m in matches] == [fx.known_buyer_id]
    assert matches[0].insurer == any_harness.plugin.name
    assert matches[0].country == fx.known_buyer.country
    assert any_harness.adapter.search_buyers(fx.unknown_buyer) == []


def _check_entry(entry: PortfolioEntry, currency: str) -> None:
    decision = entry.decision
    assert entry.insurer_buyer_id
    assert isinstance(entry.raw, str) and entry.raw
    assert decision.currency == currency
    assert isinstance(decision.granted_amount.amount, Decimal)
    assert decision.granted_amount.currency == currency
    if decision.requested_amount is not None:
        assert isinstance(decision.requested_amount.amount, Decimal)
        assert decision.requested_amount.currency == currency
    for tranche in decision.tranches:
        assert isinstance(tranche.amount.amount, Decimal)
        assert tranche.amount.currency == currency
    for moment in (decision.decided_at, decision.last_changed_at):
        assert moment is None or (isinstance(moment, datetime) and moment.utcoffset() is not None)


def test_portfolio(any_harness: Harness) -> None:
    fx = any_harness.fixture
    items = list(any_harness.adapter.fetch_portfolio(fx.policy))
    errors = [item for item in items if isinstance(item, RecordError)]
    assert errors == []
    assert len(items) == fx.portfolio_size
    for item in items:
        assert isinstance(item, PortfolioEntry)
        _check_entry(item, fx.policy.currency)
    _check_versions([item for item in items if isinstance(item, PortfolioEntry)])


def _check_versions(entries: list[PortfolioEntry]) -> None:
    """Several entries of one buyer are versions: each starts on its own date or is
    another of the insurer's covers."""
    by_buyer: dict[str, list[PortfolioEntry]] = {}
    for entry in entries:
        by_buyer.setdefault(entry.insurer_buyer_id, []).append(entry)
    for versions in by_buyer.values():
        keys = [(e.decision.insurer_cover_ref, e.decision.effective_from) for e in versions]
        assert len(set(keys)) == len(keys)


def test_cover_history_where_the_api_offers_it(harness: Harness) -> None:
    adapter = harness.adapter
    if not adapter.capabilities.cover_history:
        assert not isinstance(adapter, CoverHistory)
        return
    assert isinstance(adapter, CoverHistory)
    fx = harness.fixture
    items = list(adapter.fetch_cover_history(fx.policy))
    assert [item for item in items if isinstance(item, RecordError)] == []
    entries = [item for item in items if isinstance(item, PortfolioEntry)]
    assert len(entries) == fx.history_size
    for entry in entries:
        _check_entry(entry, fx.policy.currency)
    _check_versions(entries)
    current = {
        (e.insurer_buyer_id, e.decision.insurer_cover_ref, e.decision.effective_from)
        for e in adapter.fetch_portfolio(fx.policy)
        if isinstance(e, PortfolioEntry)
    }
    past = {
        (e.insurer_buyer_id, e.decision.insurer_cover_ref, e.decision.effective_from)
        for e in entries
    }
    assert current < past  # the history holds the portfolio and versions before it


def _new_request(fx: ContractFixture, reference: str, amount: Money | None = None) -> CoverRequest:
    return CoverRequest(
        client_reference=reference,
        policy=fx.policy,
        insurer_buyer_id=fx.uncovered_buyer_id,
        action=CoverAction.NEW,
        amount=amount or fx.small_amount,
    )


def test_request_cover_small_amount(harness: Harness) -> None:
    fx = harness.fixture
    request = _new_request(fx, "contract-ref-0001")
    result = harness.adapter.request_cover(request)
    assert result.client_reference == request.client_reference
    assert result.pending or result.decision is not None
    if result.decision is not None:
        assert result.decision.currency == fx.policy.currency


def test_expired_token_is_refreshed(harness: Harness) -> None:
    fx = harness.fixture
    if fx.token_lifetime is None:
        pytest.skip(f"{harness.plugin.name} tokens do not expire")
    assert harness.adapter.search_buyers(fx.known_buyer)
    before = harness.auth_requests()
    harness.sandbox.advance(fx.token_lifetime + 1)
    assert harness.adapter.search_buyers(fx.known_buyer)
    assert harness.auth_requests() == before + 1


def test_bad_credentials_are_an_auth_error(harness: Harness) -> None:
    wrong = {name: f"wrong-{value}" for name, value in harness.sandbox.credentials.items()}
    adapter = harness.make_adapter(wrong)
    with pytest.raises(AuthError):
        adapter.search_buyers(harness.fixture.known_buyer)
    adapter.close()


@pytest.mark.parametrize(("retry_after", "expected"), [("2", 2.0), ("1000", 10.0)])
def test_429_with_retry_after_then_success(
    harness: Harness, retry_after: str, expected: float
) -> None:
    fx = harness.fixture
    harness.adapter.search_buyers(fx.known_buyer)  # token in hand
    harness.sandbox.inject(Fault(status=429, retry_after=retry_after))
    items = list(harness.adapter.fetch_portfolio(fx.policy))
    assert len(items) == fx.portfolio_size
    # Retry-After honoured, capped by RetryPolicy.retry_after_max (10 s here).
    assert harness.sleeps == [expected]


def test_post_answered_503_is_ambiguous_and_not_resent(harness: Harness) -> None:
    fx = harness.fixture
    harness.adapter.search_buyers(fx.known_buyer)  # token in hand
    posts = harness.posts()
    harness.sandbox.inject(Fault(status=503, method="POST"))
    request = _new_request(fx, "contract-ref-0503")
    with pytest.raises(AmbiguousOutcomeError) as caught:
        harness.adapter.request_cover(request)
    assert caught.value.client_reference == "contract-ref-0503"
    assert harness.posts() == posts + 1
    assert harness.sleeps == []


def test_loopback_server_serves_the_sandbox(plugin: AdapterPlugin) -> None:
    """The loopback server answers as the in-process sandbox does (timeouts apply)."""
    h = _harness(plugin, None)
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
        assert isinstance(adapter, InsurerAdapter)
        assert adapter.search_buyers(h.fixture.known_buyer)
        adapter.close()


# -- exactly-once support: status polling and look-up by client reference ---------------


def test_request_status_follows_a_referred_request_to_its_decision(harness: Harness) -> None:
    fx = harness.fixture
    if fx.referred_amount is None or fx.decision_delay is None:
        pytest.skip(f"{harness.plugin.name} decides every request at once")
    result = harness.adapter.request_cover(
        _new_request(fx, "contract-ref-ref1", fx.referred_amount)
    )
    assert result.pending and result.insurer_request_ref
    now = harness.adapter.request_status(fx.policy, result.insurer_request_ref)
    assert now is not None and now.pending
    harness.sandbox.advance(fx.decision_delay + 1)
    later = harness.adapter.request_status(fx.policy, result.insurer_request_ref)
    assert later is not None and not later.pending
    assert later.decision is not None and later.decision.currency == fx.policy.currency
    assert harness.adapter.request_status(fx.policy, "no-such-request-404") is None


def test_applied_then_ambiguous_post_is_found_by_reference(harness: Harness) -> None:
    fx = harness.fixture
    harness.adapter.search_buyers(fx.known_buyer)  # token in hand
    assert harness.adapter.find_request(fx.policy, "contract-ref-amb1") is None
    posts = harness.posts()
    harness.sandbox.inject(Fault(status=503, method="POST", after_processing=True))
    with pytest.raises(AmbiguousOutcomeError):
        harness.adapter.request_cover(_new_request(fx, "contract-ref-amb1"))
    found = harness.adapter.find_request(fx.policy, "contract-ref-amb1")
    assert found is not None and found.client_reference == "contract-ref-amb1"
    assert found.insurer_request_ref
    assert harness.posts() == posts + 1  # looked up, never re-sent


def test_timeout_before_processing_is_not_found_so_it_is_safe_to_send(harness: Harness) -> None:
    fx = harness.fixture
    harness.adapter.search_buyers(fx.known_buyer)
    harness.sandbox.inject(Fault(raise_exc=httpx.ReadTimeout, method="POST"))
    with pytest.raises(AmbiguousOutcomeError):
        harness.adapter.request_cover(_new_request(fx, "contract-ref-amb2"))
    assert harness.adapter.find_request(fx.policy, "contract-ref-amb2") is None
    sent = harness.adapter.request_cover(_new_request(fx, "contract-ref-amb2"))
    assert sent.client_reference == "contract-ref-amb2"


# -- faults: the retry table and clear errors, never a crash ---------------------------


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
def test_transient_faults_on_reads_are_retried(harness: Harness, fault: Fault) -> None:
    fx = harness.fixture
    harness.adapter.search_buyers(fx.known_buyer)
    harness.sandbox.inject(fault, fault)  # a burst of two
    items = list(harness.adapter.fetch_portfolio(fx.policy))
    assert len(items) == fx.portfolio_size
    assert len(harness.sleeps) == 2


def test_429_storm_gives_up_with_rate_limited_error(harness: Harness) -> None:
    fx = harness.fixture
    harness.adapter.search_buyers(fx.known_buyer)
    harness.sandbox.inject(*[Fault(status=429, retry_after="1") for _ in range(20)])
    with pytest.raises(RateLimitedError) as caught:
        list(harness.adapter.fetch_portfolio(fx.policy))
    assert caught.value.status == 429 and caught.value.retry_after == 1.0
    assert 1 < len(harness.sleeps) < 20


@pytest.mark.parametrize(
    "fault",
    [Fault(html=True), Fault(html=True, status=200), Fault(malformed_json=True)],
    ids=["html-502", "html-200", "malformed-json"],
)
def test_unreadable_answers_are_protocol_errors(harness: Harness, fault: Fault) -> None:
    fx = harness.fixture
    harness.adapter.search_buyers(fx.known_buyer)
    harness.sandbox.inject(*[fault for _ in range(10)])
    with pytest.raises((ProtocolError, TransientError)) as caught:
        list(harness.adapter.fetch_portfolio(fx.policy))
    assert caught.value.adapter == harness.plugin.name
    assert caught.value.status is not None


def test_unknown_status_code_is_pending_with_the_code_kept(harness: Harness) -> None:
    fx = harness.fixture
    harness.adapter.search_buyers(fx.known_buyer)
    harness.sandbox.inject(Fault(unknown_code="ZZ99"))
    items = [i for i in harness.adapter.fetch_portfolio(fx.policy) if isinstance(i, PortfolioEntry)]
    flagged = [i for i in items if any("ZZ99" in code for code in i.decision.unknown_codes)]
    assert flagged  # records without a status code (pending applications) may carry none
    for item in flagged:
        assert item.decision.status is CoverStatus.PENDING
        assert "ZZ99" in " ".join(item.decision.raw_codes.values())


def test_token_endpoint_unavailable_is_retried(harness: Harness) -> None:
    fx = harness.fixture
    if fx.auth_request is None:
        pytest.skip(f"{harness.plugin.name} has no token call")
    harness.sandbox.inject(Fault(status=503, target="auth"))
    assert harness.adapter.search_buyers(fx.known_buyer)
    assert harness.auth_requests() == 2


# -- overdue notices, where the insurer takes them by API -----------------------------


def test_overdue_notice_is_filed_once_and_found_by_reference(harness: Harness) -> None:
    if not harness.adapter.capabilities.overdue_api:
        pytest.skip(f"{harness.plugin.name} has no overdue API")
    adapter = harness.adapter
    assert isinstance(adapter, OverdueFiling)
    fx = harness.fixture
    currency = fx.policy.currency
    notice = OverdueNotice(
        client_reference="contract-ovd-0001",
        policy=fx.policy,
        insurer_buyer_id=fx.known_buyer_id,
        kind=OverdueKind.OVERDUE,
        invoices=(
            OverdueInvoice(
                number="INV-CT-1",
                issue_date=date(2026, 8, 1),
                original_due_date=date(2026, 9, 30),
                amount=Money.of("12500.00", currency),
                outstanding=Money.of("12500.00", currency),
            ),
        ),
        first_default_date=date(2026, 10, 1),
    )
    harness.adapter.search_buyers(fx.known_buyer)  # token in hand
    assert adapter.find_overdue(fx.policy, notice.client_reference) is None
    posts = harness.posts()
    harness.sandbox.inject(Fault(status=503, method="POST", after_processing=True))
    with pytest.raises(AmbiguousOutcomeError):
        adapter.submit_overdue(notice)
    found = adapter.find_overdue(fx.policy, notice.client_reference)
    assert found is not None and found.client_reference == notice.client_reference
    assert found.insurer_reference
    assert harness.posts() == posts + 1


def test_unknown_option_is_refused_with_the_known_ones_named(harness: Harness) -> None:
    """A typo (``status_overides``) must never leave the defaults silently in place."""
    typo = {"status_overides": {"XX01": "GRANTED"}}

    def build() -> object:
        return harness.plugin.create(
            AdapterContext(
                name=harness.plugin.name,
                base_url=harness.base_url,
                environment="sandbox",
                credentials=dict(harness.sandbox.credentials),
                options=typo,
                transport=harness.transport,
            )
        )

    known = refused_with_known(build, "status_overides")
    assert "status_overrides" in known  # every insurer maps raw codes it does not know
    assert not any(harness.sandbox.received.values())  # refused before any call


def test_unknown_sandbox_option_is_refused_with_the_known_ones_named(
    plugin: AdapterPlugin,
) -> None:
    assert plugin.create_sandbox is not None
    create_sandbox = plugin.create_sandbox
    known = refused_with_known(lambda: create_sandbox({"token_tll": 60}), "token_tll")
    assert {"seed", "token_ttl"} <= known


def test_missing_sandbox_seed_file_is_a_config_error(plugin: AdapterPlugin, tmp_path: Path) -> None:
    assert plugin.create_sandbox is not None
    missing = tmp_path / "no-such-seed.json"
    with pytest.raises(ConfigError, match=r"no-such-seed\.json"):
        plugin.create_sandbox({"seed": str(missing)})
