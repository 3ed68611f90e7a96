"""Alerts about a limit itself: expiring, renewal due, inactive insured buyer."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import CoverDecision, CoverStatus, Tranche
from tci_gateway.domain.exposure import LimitWatch, limit_alerts
from tci_gateway.domain.money import Money

ON = date(2026, 11, 29)
DEFAULT = LimitWatch()


def decision(
    *,
    expires: date | None = None,
    to: date | None = None,
    decided: date = date(2026, 3, 1),
    amount: str = "50000",
    status: CoverStatus = CoverStatus.APPROVED,
) -> CoverDecision:
    money = Money(Decimal(amount), "EUR")
    return CoverDecision(
        insurer_cover_ref="C",
        status=status,
        currency="EUR",
        granted_amount=money,
        effective_from=date(2026, 1, 1),
        tranches=(Tranche(money, date(2026, 1, 1), expires),),
        effective_to=to,
        decided_at=datetime(decided.year, decided.month, decided.day, tzinfo=UTC),
    )


def alerts(
    d: CoverDecision | None,
    watch: LimitWatch = DEFAULT,
    *,
    items: bool = True,
    last_sale: date | None = ON,
) -> list[AlertKind]:
    return limit_alerts(d, ON, watch, has_open_items=items, last_sale=last_sale)


def test_expiring_tranche_or_withdrawal_within_the_horizon() -> None:
    assert alerts(decision(expires=ON + timedelta(days=30))) == [AlertKind.LIMIT_EXPIRING]
    assert alerts(decision(expires=ON + timedelta(days=31))) == []
    assert alerts(decision(to=ON + timedelta(days=10))) == [AlertKind.LIMIT_EXPIRING]
    assert alerts(decision(to=ON + timedelta(days=10)), LimitWatch(expiring_within_days=5)) == []


def test_renewal_due_after_the_policy_renewal_period() -> None:
    yearly = LimitWatch(renewal_months=12)
    assert alerts(decision(decided=date(2025, 11, 29)), yearly) == [AlertKind.RENEWAL_DUE]
    assert alerts(decision(decided=date(2025, 11, 30)), yearly) == []
    assert alerts(decision(decided=date(2020, 1, 1))) == []  # no renewal period configured


def test_inactive_insured_buyer() -> None:
    assert alerts(decision(), items=False, last_sale=None) == [AlertKind.INACTIVE_BUYER]
    assert alerts(decision(), items=False, last_sale=ON - timedelta(days=180)) == [
        AlertKind.INACTIVE_BUYER
    ]
    assert alerts(decision(), items=False, last_sale=ON - timedelta(days=179)) == []
    assert alerts(decision(), items=True, last_sale=None) == []


def test_no_limit_no_limit_alerts() -> None:
    assert alerts(None, items=False, last_sale=None) == []
    assert (
        alerts(decision(amount="0", status=CoverStatus.REFUSED), items=False, last_sale=None) == []
    )
    assert alerts(decision(status=CoverStatus.WITHDRAWN), items=False, last_sale=None) == []


@given(
    st.integers(min_value=1, max_value=36),
    st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 11, 29)),
)
def test_renewal_is_due_exactly_from_the_anniversary(months: int, decided: date) -> None:
    due = AlertKind.RENEWAL_DUE in alerts(
        decision(decided=decided), LimitWatch(renewal_months=months)
    )
    month = decided.month - 1 + months
    year, month = decided.year + month // 12, month % 12 + 1
    anniversary = date(year, month, min(decided.day, calendar.monthrange(year, month)[1]))
    assert due == (anniversary <= ON)
