"""The Coface sandbox's behaviour through the adapter: orders decided at once or later,
updates, cancellations, refusals, portfolio paging, overdues, injected faults, the
contract-number header, configurable paths, and the plugin's sandbox factory."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from tci_adapters.coface.client import CofaceAdapter
from tci_adapters.coface.plugin import PLUGIN, create_adapter
from tci_adapters.coface.sandbox import CofaceSandbox
from tci_gateway.adapters.contract import (
    AdapterContext,
    BuyerQuery,
    CoverAction,
    CoverRequest,
    OverdueInvoice,
    OverdueKind,
    OverdueNotice,
    PolicyRef,
    PortfolioEntry,
)
from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.adapters.loopback import serve_on_loopback
from tci_gateway.domain.cover import CoverStatus, covered_limit
from tci_gateway.domain.money import Money
from tci_gateway.errors import (
    AmbiguousOutcomeError,
    AuthError,
    InProgressError,
    NotFoundError,
    RejectedError,
)
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.client import Timeouts
from tci_gateway.http.retry import RetryPolicy

from .helpers import CREDENTIALS, POLICY, SEED, make_adapter

ORDERS = "/products/credit-limits"
PORTFOLIO = "/policies/1234567/credit-limits"


def eur(amount: str | int) -> Money:
    return Money(Decimal(amount), "EUR")


def order(
    reference: str, buyer: str, amount: int | None, action: CoverAction = CoverAction.NEW
) -> CoverRequest:
    return CoverRequest(reference, POLICY, buyer, action, eur(amount) if amount else None)


def portfolio(adapter: CofaceAdapter) -> dict[str, PortfolioEntry]:
    return {
        e.insurer_buyer_id: e
        for e in adapter.fetch_portfolio(POLICY)
        if isinstance(e, PortfolioEntry)
    }


def test_portfolio_pages_of_twenty_with_paging_headers(
    adapter: CofaceAdapter, sandbox: CofaceSandbox
) -> None:
    seen: list[httpx.Response] = []

    def spy(request: httpx.Request) -> httpx.Response:
        response = sandbox.handle(request)
        if request.url.path == PORTFOLIO:
            seen.append(response)
        return response

    spying = make_adapter(spy, adapter.client.retry, options={"policy_number": "1234567"})
    entries = portfolio(spying)
    assert len(entries) == 25
    assert [r.headers["Content-Range"] for r in seen] == ["items 0-19/25", "items 20-24/25"]
    assert {r.headers["X-Total-Count"] for r in seen} == {"25"}
    assert entries["71234567"].decision.tranches[0].expires_on == date(2025, 1, 15)


def test_limit_above_the_maximum_is_refused(adapter: CofaceAdapter) -> None:
    with pytest.raises(RejectedError) as caught:
        adapter.client.request(
            "GET", PORTFOLIO, params={"offset": "0", "limit": "21"}, policy_number="1234567"
        )
    assert (caught.value.status, caught.value.code) == (400, "INVALID_PARAMETER")
    assert caught.value.details == ["between 1 and 20 (field limit)"]


def test_unknown_contract_portfolio_is_not_read_as_empty(adapter: CofaceAdapter) -> None:
    unknown = PolicyRef(key="x", currency="EUR", external_ref={"policy_number": "1111111"})
    with pytest.raises(AuthError):  # the contract-number header names an unknown contract
        adapter.fetch_portfolio(unknown)
    with pytest.raises(NotFoundError):
        adapter.client.request("GET", "/policies/1111111/credit-limits")


def test_order_decided_at_once_then_refused_twice(
    adapter: CofaceAdapter, sandbox: CofaceSandbox
) -> None:
    quick = adapter.request_cover(order("ref-small", "71234568", 25000))
    assert not quick.pending and quick.decision is not None
    assert quick.decision.status is CoverStatus.APPROVED
    with pytest.raises(RejectedError) as caught:
        adapter.request_cover(order("ref-again", "71234568", 5000))
    assert (caught.value.status, caught.value.code) == (409, "CREDIT_LIMIT_EXISTS")
    with pytest.raises(InProgressError) as caught:  # the reference is taken: look it up
        adapter.request_cover(order("ref-small", "71234571", 5000))
    assert caught.value.code == "DUPLICATE_REFERENCE"
    with pytest.raises(RejectedError) as caught:
        adapter.request_cover(order("ref-nobody", "99999999", 5000))
    assert caught.value.code == "UNKNOWN_EASY_NUMBER"


def test_referred_order_decided_later(adapter: CofaceAdapter, sandbox: CofaceSandbox) -> None:
    slow = adapter.request_cover(order("ref-big", "71234568", 151000))
    assert slow.pending and slow.insurer_request_ref is not None
    assert "71234568" in portfolio(adapter)  # the order in progress stands for the buyer
    sandbox.advance(59)
    still = adapter.request_status(POLICY, slow.insurer_request_ref)
    assert still is not None and still.pending
    sandbox.advance(1)
    entry = portfolio(adapter)["71234568"]
    assert entry.decision.status is CoverStatus.PARTIALLY_APPROVED
    assert entry.decision.granted_amount == eur(75500)
    assert entry.decision.requested_amount == eur(151000)
    assert entry.decision.insurer_cover_ref == slow.insurer_request_ref
    found = adapter.find_request(POLICY, "ref-big")
    assert found is not None and not found.pending
    assert found.insurer_request_ref == slow.insurer_request_ref


def test_update_reduce_increase_and_cancel(adapter: CofaceAdapter, sandbox: CofaceSandbox) -> None:
    reduced = adapter.request_cover(order("ref-red", "71234567", 60000, CoverAction.REDUCE))
    assert reduced.decision is not None and reduced.decision.status is CoverStatus.REDUCED
    increase = adapter.request_cover(order("ref-inc", "71234567", 110000, CoverAction.INCREASE))
    assert increase.pending
    with pytest.raises(InProgressError, match="in progress"):  # may be ours: never refused
        adapter.request_cover(order("ref-inc2", "71234567", 90000, CoverAction.INCREASE))
    sandbox.advance(61)
    refused = portfolio(adapter)["71234567"].decision  # 55000 offered <= 60000 in force
    assert refused.status is CoverStatus.REFUSED
    assert covered_limit(refused, date(2024, 5, 1)) == eur(60000)
    cancelled = adapter.request_cover(order("ref-can", "71234567", None, CoverAction.CANCEL))
    assert cancelled.decision is not None
    assert cancelled.decision.status is CoverStatus.WITHDRAWN
    assert cancelled.decision.effective_to == date(2024, 4, 10)
    assert portfolio(adapter)["71234567"].decision.status is CoverStatus.WITHDRAWN
    with pytest.raises(RejectedError) as caught:
        adapter.request_cover(order("ref-can2", "71234567", None, CoverAction.CANCEL))
    assert caught.value.code == "NO_CREDIT_LIMIT"


def test_cancelling_an_order_in_progress(adapter: CofaceAdapter, sandbox: CofaceSandbox) -> None:
    slow = adapter.request_cover(order("ref-slow", "71234571", 90000))
    assert slow.pending and slow.insurer_request_ref
    adapter.request_cover(order("ref-stop", "71234571", None, CoverAction.CANCEL))
    sandbox.advance(120)
    status = adapter.request_status(POLICY, slow.insurer_request_ref)
    assert status is not None and not status.pending
    assert status.decision is not None and status.decision.raw_codes["decisionCode"] == "CANCELLED"


def test_amount_and_currency_checks(adapter: CofaceAdapter) -> None:
    usd = CoverRequest("ref-usd", POLICY, "71234571", CoverAction.NEW, Money(Decimal(10), "USD"))
    with pytest.raises(RejectedError) as caught:
        adapter.request_cover(usd)
    assert caught.value.code == "INVALID_CURRENCY"
    cents = CoverRequest("ref-c", POLICY, "71234571", CoverAction.NEW, eur("10.505"))
    with pytest.raises(RejectedError) as caught:
        adapter.request_cover(cents)
    assert caught.value.code == "INVALID_AMOUNT"
    exact = adapter.request_cover(
        CoverRequest("ref-e", POLICY, "71234571", CoverAction.NEW, eur("10000.50"))
    )
    assert exact.decision is not None and exact.decision.granted_amount == eur("10000.50")


def test_orders_need_the_contract_number_header(sandbox: CofaceSandbox, retry: RetryPolicy) -> None:
    adapter = make_adapter(sandbox.handle, retry, base_url=PLUGIN.sandbox_base_url)
    with pytest.raises(RejectedError) as caught:  # no policy_number option, no policy given
        adapter.client.request("GET", ORDERS, params={"customerReference": "x"})
    assert caught.value.code == "MISSING_POLICY_NUMBER"


def test_unknown_code_fault_reaches_the_next_portfolio_only(
    adapter: CofaceAdapter, sandbox: CofaceSandbox
) -> None:
    sandbox.inject(Fault(unknown_code="ZZ99"))
    assert adapter.search_buyers(BuyerQuery(country="FR", name="Exemple"))
    assert sandbox.pending_faults  # not taken by a company search
    entries = portfolio(adapter)
    flagged = [e for e in entries.values() if e.decision.unknown_codes == ("ZZ99",)]
    assert len(flagged) == 20  # the next portfolio answer: its first page
    assert all(e.decision.status is CoverStatus.PENDING for e in flagged)
    assert all(e.decision.raw_codes["decisionCode"] == "ZZ99" for e in flagged)
    assert not any(e.decision.unknown_codes for e in portfolio(adapter).values())


def notice(reference: str, kind: OverdueKind = OverdueKind.OVERDUE) -> OverdueNotice:
    invoice = OverdueInvoice("INV-9", date(2024, 1, 2), date(2024, 3, 1), eur(8000), eur(7999))
    return OverdueNotice(reference, POLICY, "71234572", kind, (invoice,), date(2024, 3, 1))


def test_overdue_declared_found_and_registered_later(
    adapter: CofaceAdapter, sandbox: CofaceSandbox
) -> None:
    result = adapter.submit_overdue(notice("ovd-1"))
    assert (result.status, result.raw_status) == ("SUBMITTED", "RECEIVED")
    assert result.insurer_reference is not None
    with pytest.raises(RejectedError) as caught:
        adapter.submit_overdue(notice("ovd-1"))
    assert caught.value.code == "DUPLICATE_REFERENCE"
    sandbox.advance(60)
    found = adapter.find_overdue(POLICY, "ovd-1")
    assert found is not None and (found.status, found.raw_status) == ("ACKNOWLEDGED", "REGISTERED")
    polled = adapter.overdue_status(POLICY, result.insurer_reference)
    assert polled is not None and polled.client_reference == "ovd-1"
    seeded = adapter.find_overdue(POLICY, "tci-ovd-seeded")
    assert seeded is not None and seeded.status == "ACCEPTED"
    assert adapter.overdue_status(POLICY, "OVD-0") is None
    assert adapter.find_overdue(POLICY, "ovd-unknown") is None


def test_overdue_types_the_sandbox_does_not_take_are_refused(
    sandbox: CofaceSandbox, retry: RetryPolicy
) -> None:
    options = {"overdue_types": {"RESCHEDULE": "RESCHEDULE"}}
    adapter = make_adapter(sandbox.handle, retry, base_url=PLUGIN.sandbox_base_url, options=options)
    with pytest.raises(RejectedError) as caught:
        adapter.submit_overdue(notice("ovd-res", OverdueKind.RESCHEDULE))
    assert caught.value.code == "UNSUPPORTED_TYPE"


def test_applied_then_ambiguous_overdue_is_found(
    adapter: CofaceAdapter, sandbox: CofaceSandbox
) -> None:
    sandbox.inject(Fault(status=503, method="POST", path_prefix="/overdues", after_processing=True))
    with pytest.raises(AmbiguousOutcomeError) as caught:
        adapter.submit_overdue(notice("ovd-amb"))
    assert caught.value.client_reference == "ovd-amb"
    assert sandbox.received[("POST", "/overdues")] == 1
    assert adapter.find_overdue(POLICY, "ovd-amb") is not None


def test_paths_are_configurable_on_both_sides(retry: RetryPolicy) -> None:
    paths = {
        "token": "/auth/v2/login",
        "portfolio": "/notification/v1/contracts/{policy_number}/decisions",
        "orders": "/product/v1/orders",
    }
    sandbox = PLUGIN.create_sandbox(  # type: ignore[misc]
        {"seed": str(SEED), "credentials": CREDENTIALS, "paths": paths}
    )
    assert isinstance(sandbox, CofaceSandbox)
    adapter = make_adapter(
        sandbox.handle, retry, base_url=PLUGIN.sandbox_base_url, options={"paths": paths}
    )
    assert len(portfolio(adapter)) == 25
    assert adapter.request_cover(order("ref-p", "71234571", 1000)).decision is not None
    assert sandbox.received[("POST", "/auth/v2/login")] == 1
    assert sandbox.received[("POST", "/product/v1/orders")] == 1
    assert sandbox.received[("GET", "/notification/v1/contracts/1234567/decisions")] == 2


def test_sandbox_from_plugin_options() -> None:
    sandbox = PLUGIN.create_sandbox(  # type: ignore[misc]
        {"seed": str(SEED), "credentials": CREDENTIALS, "auto_approve_up_to": 0, "token_ttl": 60}
    )
    assert isinstance(sandbox, CofaceSandbox)
    assert sandbox.credentials == CREDENTIALS
    assert "71234567" in sandbox.companies and sandbox.token_ttl == 60
    generated = PLUGIN.create_sandbox({})  # type: ignore[misc]
    assert set(generated.credentials) == {"username", "password", "api_key"}
    with pytest.raises(ValueError, match="policy"):
        generated.seed({"creditLimits": [{"policyNumber": "nope", "easyNumber": "1"}]})


def test_faults_on_the_wire_over_loopback(sandbox: CofaceSandbox, retry: RetryPolicy) -> None:
    with serve_on_loopback(sandbox, hang_seconds=5.0) as server:
        context = AdapterContext(
            name="coface",
            base_url=server.url,
            environment="sandbox",
            credentials=CREDENTIALS,
            options={"policy_number": "1234567"},
            retry=retry,
            timeouts=Timeouts(connect=2.0, read=0.3, deadline=20.0),
        )
        adapter = create_adapter(context, token_cache=TokenCache())
        sandbox.inject(Fault(raise_exc=httpx.ReadTimeout, method="GET"))
        assert len(portfolio(adapter)) == 25
        assert sandbox.received[("GET", PORTFOLIO)] == 3  # one lost answer, two pages
        sandbox.inject(Fault(raise_exc=httpx.RemoteProtocolError, method="POST"))
        with pytest.raises(AmbiguousOutcomeError):
            adapter.request_cover(order("ref-wire", "71234571", 25000))
        assert sandbox.received[("POST", ORDERS)] == 1
        assert adapter.find_request(POLICY, "ref-wire") is None  # dropped before processing
        adapter.close()
