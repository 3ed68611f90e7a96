from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy, PolicyTerms

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def make_policy(key: str = "main", insurer: str = "atradius", currency: str = "EUR") -> Policy:
    zero = Money(Decimal(0), currency)
    terms = PolicyTerms(
        currency=currency,
        insured_percentage=Decimal(90),
        max_credit_period_days=120,
        max_extension_days=60,
        overdue_notification_days=90,
        waiting_days=180,
        claim_filing_days=360,
        discretionary_limit=zero,
        claim_threshold=zero,
        deductible=zero,
        timezone="Europe/Paris",
    )
    return Policy(
        key=key, insurer=insurer, terms=terms, external_ref={"customer_id": "1", "policy_id": "2"}
    )


@pytest.fixture
def policies() -> dict[str, Policy]:
    return {"main": make_policy()}
