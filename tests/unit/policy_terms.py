"""Policy terms for unit tests: the published Atradius policy's shape (D+60 cover stop,
D+90 notify, D+180 loss, D+360 claim), any field overridable."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import PolicyTerms


def atradius_terms(**changes: Any) -> PolicyTerms:
    base: dict[str, Any] = {
        "currency": "EUR",
        "insured_percentage": Decimal("90"),
        "max_credit_period_days": 120,
        "max_extension_days": 60,
        "overdue_notification_days": 90,
        "waiting_days": 180,
        "claim_filing_days": 360,
        "discretionary_limit": Money.of("20000", "EUR"),
        "claim_threshold": Money.of("500", "EUR"),
        "deductible": Money.of("0", "EUR"),
        "timezone": "Europe/Paris",
    }
    base.update(changes)
    return PolicyTerms(**base)
