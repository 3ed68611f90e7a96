"""The indemnity where the cover history starts after a delivery: the limit at that
delivery is unknown, said so, and the indemnity is a lower bound (never a silent 0.00)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tci_gateway.domain.cover import CoverDecision, CoverStatus, DecisionVersion
from tci_gateway.domain.indemnity import compute_indemnity, history_start
from tci_gateway.domain.money import Money

from .test_indemnity import JAN1, JUN1, eur, invoice, line, steps, terms

REDUCED_ONLY = steps((JUN1, 40_000))  # what a ledger holding only the June version knows
ITEMS = [invoice("A", 70_000, date(2026, 5, 10)), invoice("B", 30_000, date(2026, 6, 15))]


def version(start: date, amount: int, sequence: int = 1) -> DecisionVersion:
    return DecisionVersion(
        CoverDecision(
            insurer_cover_ref=f"C{sequence}",
            status=CoverStatus.APPROVED,
            currency="EUR",
            granted_amount=eur(amount),
            effective_from=start,
        ),
        sequence,
    )


def test_a_delivery_before_the_history_has_an_unknown_limit() -> None:
    result = compute_indemnity(ITEMS, terms(), REDUCED_ONLY, history_starts=JUN1)
    a, b = line(result, "A"), line(result, "B")
    assert (a.limit_known, a.limit_at_delivery, a.insured) == (False, eur(0), eur(0))
    assert (b.limit_known, b.limit_at_delivery, b.insured) == (True, eur(40_000), eur(30_000))
    assert result.indemnity == eur("27000.00")  # 90 % of 30,000: at least this much
    assert result.lower_bound
    assert result.history_starts == JUN1
    assert result.note == "limit at delivery unknown: cover history starts on 2026-06-01"


def test_with_the_whole_history_the_figure_is_exact_and_nothing_is_said() -> None:
    full = steps((JAN1, 100_000), (JUN1, 40_000))
    result = compute_indemnity(ITEMS, terms(), full, history_starts=JAN1)
    assert result.indemnity == eur("63000.00")
    assert not result.lower_bound and result.note is None
    assert all(x.limit_known for x in result.lines)


def test_a_delivery_on_the_first_day_of_the_history_is_known() -> None:
    items = [invoice("A", 10_000, JUN1)]
    result = compute_indemnity(items, terms(), REDUCED_ONLY, history_starts=JUN1)
    assert line(result, "A").limit_known and result.note is None
    assert result.indemnity == eur("9000.00")


def test_an_excluded_invoice_before_the_history_does_not_make_a_lower_bound() -> None:
    items = [
        invoice("A", 70_000, date(2026, 5, 10), disputed=True),
        invoice("B", 30_000, date(2026, 6, 15)),
    ]
    result = compute_indemnity(items, terms(), REDUCED_ONLY, history_starts=JUN1)
    assert not line(result, "A").limit_known
    assert not result.lower_bound and result.note is None


def test_history_start_is_the_earliest_version() -> None:
    assert history_start([]) is None
    assert history_start([version(JUN1, 40_000, 2), version(JAN1, 100_000, 1)]) == JAN1


DAY0 = date(2026, 1, 1)


@settings(max_examples=200, deadline=None)
@given(
    invoices=st.lists(
        st.tuples(st.integers(0, 300), st.integers(1, 80_000)), min_size=1, max_size=8
    ),
    steps_=st.lists(
        st.tuples(st.integers(0, 300), st.integers(0, 150_000)), min_size=1, max_size=4
    ),
    start=st.integers(0, 300),
    pct=st.sampled_from([Decimal(90), Decimal("72.5"), Decimal(100)]),
)
def test_the_unknown_limit_indemnity_is_never_above_the_true_one(
    invoices: list[tuple[int, int]],
    steps_: list[tuple[int, int]],
    start: int,
    pct: Decimal,
) -> None:
    """Whatever the limit really was before the history starts, the figure computed
    without it is a lower bound of the true indemnity."""
    items = [
        invoice(f"I{n}", amount, DAY0 + timedelta(days=day))
        for n, (day, amount) in enumerate(invoices)
    ]
    true_limit = steps(*((DAY0 + timedelta(days=d), a) for d, a in steps_))
    starts = DAY0 + timedelta(days=start)
    t = terms(insured_percentage=pct, deductible=Money.of("1000", "EUR"))
    true = compute_indemnity(items, t, true_limit)
    bound = compute_indemnity(items, t, true_limit, history_starts=starts)
    assert bound.indemnity <= true.indemnity
    assert bound.insured_total <= true.insured_total
    if all(DAY0 + timedelta(days=day) >= starts for day, _ in invoices):
        assert bound == true.__class__(**{**_fields(true), "history_starts": starts})
        assert not bound.lower_bound


def _fields(result: object) -> dict[str, object]:
    return {name: getattr(result, name) for name in result.__slots__}  # type: ignore[attr-defined]
