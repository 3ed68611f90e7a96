"""What an insurer's portfolio holds for one buyer, as the gateway keeps it.

An adapter reads it from the insurer's API (``InsurerAdapter.fetch_portfolio`` in
:mod:`tci_gateway.adapters.contract`, which re-exports it); the sync stages it in the
ledger and reconciles it into cover versions (docs/architecture.md, section 2).
"""

from __future__ import annotations

from dataclasses import dataclass

from tci_gateway.domain.cover import CoverDecision


@dataclass(frozen=True)
class PortfolioEntry:
    """One version of a buyer's decision from an insurer's portfolio, normalised, with
    the raw record kept for provenance. A portfolio may hold several per buyer (a decision
    and the reduction that followed it): the sync keeps each as its own version."""

    insurer_buyer_id: str
    buyer_name: str
    buyer_country: str | None
    decision: CoverDecision
    raw: str
