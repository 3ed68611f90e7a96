"""The Atradius sandbox's behaviour: referrals decided later, amendments, refusals,
injected unknown codes, and the plugin's sandbox factory."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tci_adapters.atradius.client import AtradiusAdapter
from tci_adapters.atradius.plugin import PLUGIN
from tci_adapters.atradius.sandbox import AtradiusSandbox
from tci_adapters.atradius.wire import BUYERS_PATH, COVERS_PATH
from tci_gateway.adapters.contract import CoverAction, CoverRequest, PolicyRef, PortfolioEntry
from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.money import Money
from tci_gateway.errors import RejectedError

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "atradius"
CREDENTIALS = {"client_id": "cid-123", "client_secret": "s3cret-value", "app_key": "app-key-789"}
POLICY = PolicyRef(
    key="fr-main", currency="EUR", external_ref={"customer_id": "1000123", "policy_id": "5550001"}
)


def new_cover(
    reference: str, buyer: str, amount: int, action: CoverAction = CoverAction.NEW
) -> CoverRequest:
    return CoverRequest(reference, POLICY, buyer, action, Money(Decimal(amount), "EUR"))


def test_unknown_query_parameter(adapter: AtradiusAdapter) -> None:
    with pytest.raises(RejectedError) as caught:
        adapter.client.request("GET", BUYERS_PATH, params={"country": "FRA", "name": "x"})
    assert (caught.value.status, caught.value.code) == (400, "name")
    assert caught.value.message == "Unknown query parameter"


def test_referred_then_decided_later(adapter: AtradiusAdapter, sandbox: AtradiusSandbox) -> None:
    quick = adapter.request_cover(new_cover("ref-small", "20012", 25000))
    assert not quick.pending and quick.decision is not None
    assert quick.decision.status is CoverStatus.APPROVED
    assert sandbox.received[("POST", COVERS_PATH)] == 1
    with pytest.raises(RejectedError, match="already exists"):
        adapter.request_cover(new_cover("ref-again", "20012", 5000))
    with pytest.raises(RejectedError) as caught:
        adapter.request_cover(new_cover("ref-odd", "20007", 1500))
    assert caught.value.code == "creditLimitAmount"
    slow = adapter.request_cover(new_cover("ref-big", "20006", 151000))
    assert slow.pending and slow.insurer_request_ref is not None
    sandbox.advance(60)
    [entry] = [
        e
        for e in adapter.fetch_portfolio(POLICY)
        if isinstance(e, PortfolioEntry) and e.insurer_buyer_id == "20006"
    ]
    assert entry.decision.status is CoverStatus.PARTIALLY_APPROVED
    assert entry.decision.granted_amount == Money(Decimal(75000), "EUR")
    assert entry.decision.insurer_cover_ref == slow.insurer_request_ref
    found = adapter.find_request(POLICY, "ref-big")
    assert found is not None and found.insurer_request_ref == slow.insurer_request_ref


def test_increase_refused_keeps_the_existing_cover(
    adapter: AtradiusAdapter, sandbox: AtradiusSandbox
) -> None:
    result = adapter.request_cover(new_cover("ref-inc", "20001", 120000, CoverAction.INCREASE))
    assert result.pending
    sandbox.advance(61)
    entries = {e.insurer_buyer_id: e for e in adapter.fetch_portfolio(POLICY)}
    decision = entries["20001"].decision  # type: ignore[union-attr]
    assert decision.raw_codes["decisionCode"] == "DC05"
    assert decision.granted_amount == Money(Decimal("100000.00"), "EUR")


def test_reduce_and_cancel(adapter: AtradiusAdapter) -> None:
    reduced = adapter.request_cover(new_cover("ref-red", "20001", 60000, CoverAction.REDUCE))
    assert reduced.decision is not None and reduced.decision.status is CoverStatus.REDUCED
    cancel = CoverRequest("ref-can", POLICY, "20001", CoverAction.CANCEL)
    cancelled = adapter.request_cover(cancel)
    assert cancelled.decision is not None
    assert cancelled.decision.status is CoverStatus.WITHDRAWN
    assert cancelled.decision.raw_codes["historicCode"] == "CCLD"


def test_requests_refused_before_sending(
    adapter: AtradiusAdapter, sandbox: AtradiusSandbox
) -> None:
    with pytest.raises(RejectedError, match="renew"):
        adapter.request_cover(new_cover("r1", "20001", 1000, CoverAction.RENEW))
    with pytest.raises(RejectedError, match="whole"):
        adapter.request_cover(
            CoverRequest("r2", POLICY, "20012", CoverAction.NEW, Money(Decimal("1000.50"), "EUR"))
        )
    with pytest.raises(RejectedError, match="GRADE"):
        adapter.request_cover(
            CoverRequest(
                "r3", POLICY, "20012", CoverAction.NEW, Money(Decimal(1000), "EUR"), "GRADE"
            )
        )
    assert sandbox.received[("POST", COVERS_PATH)] == 0


def test_unknown_code_fault_reaches_the_portfolio(
    adapter: AtradiusAdapter, sandbox: AtradiusSandbox
) -> None:
    sandbox.inject(Fault(unknown_code="DC99"))
    entries = [e for e in adapter.fetch_portfolio(POLICY) if isinstance(e, PortfolioEntry)]
    flagged = [e for e in entries if e.decision.unknown_codes == ("DC99",)]
    assert flagged and all(e.decision.status is CoverStatus.PENDING for e in flagged)
    again = [e for e in adapter.fetch_portfolio(POLICY) if isinstance(e, PortfolioEntry)]
    assert not any(e.decision.unknown_codes for e in again)


def test_sandbox_from_plugin_options() -> None:
    sandbox = PLUGIN.create_sandbox(  # type: ignore[misc]
        {"seed": str(FIXTURES / "seed.json"), "credentials": CREDENTIALS, "auto_approve_up_to": 0}
    )
    assert isinstance(sandbox, AtradiusSandbox)
    assert sandbox.credentials == CREDENTIALS
    assert 20001 in sandbox.buyers
    generated = PLUGIN.create_sandbox({})  # type: ignore[misc]
    assert set(generated.credentials) == {"client_id", "client_secret", "app_key"}
