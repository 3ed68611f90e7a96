"""Atradius cover history: every decision record of a buyer is a version (a superseded
decision keeps the status of its decision code), and the sandbox's ``covers/historic``
serves what a reduction replaced and the seed's history."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from tci_adapters.atradius.client import AtradiusAdapter
from tci_adapters.atradius.portfolio import cover_versions
from tci_adapters.atradius.sandbox import AtradiusSandbox
from tci_adapters.atradius.wire import COVERS_PATH, HISTORIC_COVERS_PATH
from tci_gateway.adapters.contract import CoverAction, CoverRequest, PolicyRef, PortfolioEntry
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.money import Money

POLICY = PolicyRef(
    key="fr-main", currency="EUR", external_ref={"customer_id": "1000123", "policy_id": "5550001"}
)


def record(cover_id: int, code: str, amount: int, start: str, **extra: Any) -> dict[str, Any]:
    return {
        "coverId": cover_id,
        "policyId": "5550001",
        "buyerId": 20001,
        "buyerName": "Exemple Industries SAS",
        "coverType": "credit-limit",
        "coverStatus": "DECISION",
        "decisionCode": code,
        "totalDecision": {"decisionAmtInPolicyCurrency": Decimal(amount)},
        "decisionDate": f"{start}T09:00:00Z",
        "effectFromDate": start,
        **extra,
    }


def versions(records: list[dict[str, Any]]) -> list[tuple[str, CoverStatus, date, Decimal]]:
    out = []
    for item in cover_versions(records, "EUR"):
        assert isinstance(item, PortfolioEntry), item
        d = item.decision
        out.append((d.insurer_cover_ref, d.status, d.effective_from, d.granted_amount.amount))
    return out


def test_a_decision_and_the_reduction_that_replaced_it_are_two_versions() -> None:
    first = record(1, "DC01", 100000, "2026-01-01", historicCode="SCLD")
    reduction = record(2, "DC09", 40000, "2026-06-01")
    expected = [
        ("2", CoverStatus.REDUCED, date(2026, 6, 1), Decimal(40000)),  # the newest first
        ("1", CoverStatus.APPROVED, date(2026, 1, 1), Decimal(100000)),  # counted until June
    ]
    assert versions([first, reduction]) == expected
    assert versions([reduction, first]) == expected


def test_a_superseded_decision_without_a_later_one_stays_ended() -> None:
    alone = record(1, "DC01", 100000, "2026-01-01", historicCode="SCLD")
    assert versions([alone]) == [("1", CoverStatus.SUPERSEDED, date(2026, 1, 1), Decimal(100000))]
    withdrawn = record(3, "DC01", 50000, "2026-02-01", historicCode="WCLD")
    later = record(4, "DC01", 60000, "2026-03-01")
    assert [v[1] for v in versions([withdrawn, later])] == [
        CoverStatus.APPROVED,
        CoverStatus.WITHDRAWN,  # only SCLD ends a version; WCLD ends the cover
    ]


def test_the_same_record_listed_twice_counts_once() -> None:
    reduction = record(2, "DC09", 40000, "2026-06-01")
    assert len(versions([reduction, dict(reduction)])) == 1


def test_the_history_serves_what_a_reduction_replaced(
    adapter: AtradiusAdapter, sandbox: AtradiusSandbox
) -> None:
    before = [e for e in adapter.fetch_cover_history(POLICY) if isinstance(e, PortfolioEntry)]
    reduce = CoverRequest(
        "ref-red", POLICY, "20001", CoverAction.REDUCE, Money(Decimal(60000), "EUR")
    )
    reduced = adapter.request_cover(reduce)
    assert reduced.decision is not None and reduced.decision.status is CoverStatus.REDUCED
    portfolio = [e for e in adapter.fetch_portfolio(POLICY) if isinstance(e, PortfolioEntry)]
    amounts = [e.decision.granted_amount.amount for e in portfolio if e.insurer_buyer_id == "20001"]
    assert amounts == [Decimal(60000)]  # the replaced decision left the portfolio
    history = [e for e in adapter.fetch_cover_history(POLICY) if isinstance(e, PortfolioEntry)]
    buyer = [e.decision for e in history if e.insurer_buyer_id == "20001"]
    assert [(d.status, d.granted_amount.amount) for d in buyer] == [
        (CoverStatus.REDUCED, Decimal(60000)),
        (CoverStatus.APPROVED, Decimal(100000)),  # superseded, kept as the earlier version
    ]
    assert len(history) == len(before) + 1
    assert sandbox.received[("GET", HISTORIC_COVERS_PATH)] == 2
    assert sandbox.received[("GET", COVERS_PATH)] >= 3


def test_the_seed_history_is_served_by_historic_only() -> None:
    sandbox = AtradiusSandbox()
    sandbox.seed_contract_fixture()
    listed = sandbox.book.listing("CONTRACT-C1", "CONTRACT-P1")
    historic = sandbox.book.listing("CONTRACT-C1", "CONTRACT-P1", kind="historic")
    assert 880000 not in {r["coverId"] for r in listed}
    assert {r["coverId"] for r in historic} == {880000, 880001}  # and the ACLD-ended one
