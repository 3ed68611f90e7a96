"""The due date in force: an extension moves it only when the policy says so, and only
later; the clock and the open item count from it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.deadlines import deadline_clock, effective_due_date
from tci_gateway.domain.money import Money
from tci_gateway.domain.receivables import ItemKind, OpenItem

from .policy_terms import atradius_terms

dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


@given(due=dates, extended=st.none() | dates, moves=st.booleans())
def test_an_extension_moves_the_due_date_only_later_and_only_when_the_policy_says(
    due: date, extended: date | None, moves: bool
) -> None:
    result = effective_due_date(due, extended, extension_moves_deadlines=moves)
    assert result >= due
    assert result in (due, extended)
    if not moves or extended is None or extended <= due:
        assert result == due
    else:
        assert result == extended
    # The clock and the open item count from the same date.
    terms = atradius_terms(extension_moves_deadlines=moves)
    clock = deadline_clock(terms, due, extended)
    assert clock.due_date == result
    assert clock.claim_by == result + timedelta(days=terms.claim_filing_days)
    eur = Money(Decimal(1), "EUR")
    item = OpenItem("A", "N", ItemKind.INVOICE, eur, eur, due, due, due, extended_due_date=extended)
    assert item.due_date_in_force(moves) == result
    assert item.due_date == due  # the ERP's date is kept as it came


def test_no_due_date_stays_none() -> None:
    assert effective_due_date(None, date(2027, 1, 1), extension_moves_deadlines=True) is None
