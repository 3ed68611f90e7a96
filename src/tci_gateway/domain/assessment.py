"""A credit assessment of a buyer, as one bureau or register gave it.

A bureau adapter produces it (``BureauAdapter.assess`` in
:mod:`tci_gateway.adapters.contract`, which re-exports it); the identity service stores it
in the ledger beside the buyer (docs/domain.md, section 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tci_gateway.domain.money import Money


@dataclass(frozen=True)
class Assessment:
    """One provider's credit assessment, stored as given, never averaged with another.
    ``missing`` lists the blocks or fields that were absent or unreadable (a text where a
    number was expected) instead of failing the whole answer."""

    provider: str
    provider_id: str
    provider_reference: str | None
    scale: str
    score_raw: str | None = None
    band: str | None = None
    failure_score: str | None = None
    paydex: int | None = None
    recommended_limit: Money | None = None
    as_of: date | None = None
    missing: tuple[str, ...] = ()
