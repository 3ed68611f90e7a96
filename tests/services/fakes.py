"""A fake insurer for service tests: the adapter contract, no HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from tci_gateway.adapters.contract import (
    BuyerMatch,
    BuyerQuery,
    Capabilities,
    CoverRequest,
    CoverRequestResult,
    PolicyRef,
    PortfolioEntry,
    PortfolioItem,
)
from tci_gateway.domain.cover import CoverDecision, CoverStatus, PendingAction, Tranche
from tci_gateway.domain.money import Money
from tci_gateway.errors import AdapterError
from tci_gateway.ledger.staging import decision_to_json


def decision(
    amount: str,
    *,
    status: CoverStatus = CoverStatus.APPROVED,
    ref: str = "C1",
    start: date = date(2026, 1, 1),
    changed: datetime | None = None,
    pending: PendingAction | None = None,
    unknown: tuple[str, ...] = (),
) -> CoverDecision:
    money = Money(Decimal(amount), "EUR")
    return CoverDecision(
        insurer_cover_ref=ref,
        status=status,
        currency="EUR",
        granted_amount=money,
        effective_from=start,
        tranches=(Tranche(money, start),) if money.amount else (),
        pending_action=pending,
        raw_codes={"decisionCode": "DC01"},
        unknown_codes=unknown,
        decided_at=changed or datetime(2026, 1, 1, tzinfo=UTC),
        last_changed_at=changed or datetime(2026, 1, 1, tzinfo=UTC),
    )


@dataclass
class FakeInsurer:
    """Serves ``items``; raises ``fail_with`` after ``fail_after`` entries."""

    name: str = "atradius"
    items: list[PortfolioItem] = field(default_factory=list)
    fail_after: int | None = None
    fail_with: AdapterError | None = None
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(portfolio=True))

    def search_buyers(self, query: BuyerQuery) -> list[BuyerMatch]:
        return []

    def fetch_portfolio(self, policy: PolicyRef) -> Iterator[PortfolioItem]:
        for n, item in enumerate(self.items):
            if self.fail_after is not None and n >= self.fail_after:
                assert self.fail_with is not None
                raise self.fail_with
            yield item

    def request_cover(self, request: CoverRequest) -> CoverRequestResult:
        raise NotImplementedError

    def request_status(
        self, policy: PolicyRef, insurer_request_ref: str
    ) -> CoverRequestResult | None:
        return None

    def find_request(self, policy: PolicyRef, client_reference: str) -> CoverRequestResult | None:
        return None

    def close(self) -> None:
        pass


def entry(buyer_id: str, d: CoverDecision, name: str = "") -> PortfolioEntry:
    # the raw record differs when the decision does, as an insurer's does
    return PortfolioEntry(buyer_id, name or f"Buyer {buyer_id}", "DE", d, decision_to_json(d))
