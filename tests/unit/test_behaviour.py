"""Payment-behaviour formulas: golden values computed by hand (the worked example of
docs/credit.md and a published countback cross-check) and properties (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tci_gateway.domain.behaviour import (
    ItemFacts,
    add_months,
    age_bucket,
    behaviour_of,
    best_possible_dso,
    countback_dso,
    days_beyond_terms,
    months_back,
    rounded_days,
    simple_dso,
)
from tci_gateway.domain.credit import MonthSales
from tci_gateway.domain.money import Money

D = Decimal
MARCH = [
    MonthSales(date(2026, 3, 1), 31, D(120_000)),
    MonthSales(date(2026, 2, 1), 28, D(90_000)),
    MonthSales(date(2026, 1, 1), 31, D(100_000)),
]


def one_decimal(value: Decimal | None) -> Decimal:
    assert value is not None
    return value.quantize(D("0.1"))


# -- golden ------------------------------------------------------------------------------


def test_worked_example_countback() -> None:
    # 250,000 - 120,000 (31 d) - 90,000 (28 d) = 40,000; 40,000 / 100,000 x 31 = 12.4
    days, complete = countback_dso(D(250_000), MARCH)
    assert complete
    assert days == D("71.4")


def test_worked_example_simple_best_possible_and_add() -> None:
    simple = simple_dso(D(250_000), MARCH)  # 250,000 / 310,000 x 90
    best = best_possible_dso(D(150_000), MARCH)  # 150,000 / 310,000 x 90
    assert one_decimal(simple) == D("72.6")
    assert one_decimal(best) == D("43.5")
    assert simple is not None and best is not None
    assert one_decimal(simple - best) == D("29.0")
    assert rounded_days(simple) == D("72.58") and rounded_days(best) == D("43.55")


def test_benjipays_countback_cross_check() -> None:
    # Sales 70k / 80k / 100k (oldest first) with 30-day months, receivables 212k:
    # 30 + 30 + 32,000 / 70,000 x 30 = 73.7 days (the published figure).
    months = [
        MonthSales(date(2026, 3, 1), 30, D(100_000)),
        MonthSales(date(2026, 2, 1), 30, D(80_000)),
        MonthSales(date(2026, 1, 1), 30, D(70_000)),
    ]
    days, complete = countback_dso(D(212_000), months)
    assert complete and one_decimal(days) == D("73.7")


def test_weighted_days_beyond_terms_example() -> None:
    # 10,000 paid on time, 25,000 paid 12 days late, 5,000 paid 40 days late:
    # (0 + 300,000 + 200,000) / 40,000 = 12.5 days; the plain average is 17.33.
    day = date(2026, 3, 31)
    due = date(2026, 2, 1)
    items = [
        ItemFacts("INVOICE", "EUR", D(10_000), D(0), date(2026, 1, 1), due, due - timedelta(3)),
        ItemFacts("INVOICE", "EUR", D(25_000), D(0), date(2026, 1, 1), due, due + timedelta(12)),
        ItemFacts("INVOICE", "EUR", D(5_000), D(0), date(2026, 1, 1), due, due + timedelta(40)),
    ]
    b = behaviour_of(items, day, "EUR")
    assert b.dbt_weighted == D("12.50")
    assert b.dbt_average == D("17.33")
    assert b.paid_on_time_share == D("0.2500")
    assert b.invoices_settled == 3 and b.receivables == 0


def test_worked_example_from_items() -> None:
    # The worked example as a ledger on 31 March: sales March 120,000, February 90,000
    # (30,000 still open, 60,000 paid 8 days late), January 100,000 (60,000 and 40,000
    # open, 16 and 40 days overdue); 250,000 open, 150,000 of it not yet due.
    day = date(2026, 3, 31)

    def inv(amount: int, document: date, due: date, settled: date | None = None) -> ItemFacts:
        open_amount = D(0) if settled else D(amount)
        return ItemFacts("INVOICE", "EUR", D(amount), open_amount, document, due, settled)

    items = [
        inv(120_000, date(2026, 3, 10), date(2026, 4, 30)),
        inv(30_000, date(2026, 2, 20), date(2026, 4, 20)),
        inv(60_000, date(2026, 2, 10), date(2026, 3, 12), settled=date(2026, 3, 20)),
        inv(60_000, date(2026, 1, 15), date(2026, 3, 15)),
        inv(40_000, date(2026, 1, 20), date(2026, 2, 19)),
    ]
    b = behaviour_of(items, day, "EUR", countback_max_months=3)
    assert b.receivables == D(250_000)
    assert [(m.month, m.days, m.sales) for m in b.sales] == [
        (date(2026, 3, 1), 31, D(120_000)),
        (date(2026, 2, 1), 28, D(90_000)),
        (date(2026, 1, 1), 31, D(100_000)),
    ]
    assert b.buckets.current == D(150_000)
    assert (b.buckets.days_1_30, b.buckets.days_31_60) == (D(60_000), D(40_000))
    assert (b.dso_countback, b.dso_countback_exhausted) == (D("71.40"), True)
    assert b.dso_simple == D("72.58")
    assert b.best_possible_dso == D("43.55")
    assert b.average_days_delinquent == D("29.03")  # from the unrounded DSOs
    # (16 + 40 + 8) / 3 and (60,000 x 16 + 40,000 x 40 + 60,000 x 8) / 160,000
    assert (b.dbt_average, b.dbt_weighted) == (D("21.33"), D("19.00"))
    assert b.paid_on_time_share == D(0)
    assert (b.invoices_settled, b.invoices_overdue) == (1, 2)


def test_notes_name_what_was_left_out() -> None:
    day = date(2026, 3, 31)
    items = [
        ItemFacts("INVOICE", "USD", D(100), D(100), date(2026, 3, 1), None),
        ItemFacts("INVOICE", "EUR", D(100), D(0), date(2026, 3, 1), None),  # settled, no date
        ItemFacts("INVOICE", "EUR", D(50), D(50), date(2026, 3, 1), None, disputed=True),
    ]
    b = behaviour_of(items, day, "EUR")
    assert b.receivables == D(50)
    assert b.disputed_amount == D(50) and b.disputed_count == 1
    assert b.disputed_oldest_days is None
    assert b.notes == (
        "1 item in USD left out: no USD to EUR rate on 2026-03-31",
        "1 settled invoice without a known settlement date (settled before the ledger "
        "recorded it) left out of days beyond terms and the on-time share",
        "1 disputed invoice without a known dispute date: left out of the dispute age",
    )

    def usd(amount: Money, currency: str, on: date) -> Money | None:
        rate = D(1) if amount.currency == currency else D("0.5")
        return Money((amount.amount * rate).quantize(D("0.01")), currency)

    assert behaviour_of(items, day, "EUR", convert=usd).receivables == D(100)


def test_months_back_and_buckets() -> None:
    assert months_back(date(2026, 3, 15), 3) == [
        (date(2026, 3, 1), date(2026, 3, 15), 15),
        (date(2026, 2, 1), date(2026, 2, 28), 28),
        (date(2026, 1, 1), date(2026, 1, 31), 31),
    ]
    day = date(2026, 6, 30)
    assert age_bucket(day, day) == "current"
    assert age_bucket(day - timedelta(1), day) == "days_1_30"
    assert age_bucket(day - timedelta(30), day) == "days_1_30"
    assert age_bucket(day - timedelta(31), day) == "days_31_60"
    assert age_bucket(day - timedelta(61), day) == "days_61_90"
    assert age_bucket(day - timedelta(91), day) == "days_over_90"
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)


def test_countback_runs_out_of_months() -> None:
    days, complete = countback_dso(D(500_000), MARCH)
    assert (days, complete) == (D(90), False)
    assert countback_dso(D(100), []) == (None, False)
    assert countback_dso(D(-5), MARCH) == (D(0), True)
    assert simple_dso(D(100), [MonthSales(date(2026, 3, 1), 31, D(0))]) is None


# -- properties --------------------------------------------------------------------------

_money = st.integers(0, 10**9).map(lambda c: D(c) / 100)
_months = st.lists(
    st.tuples(st.integers(1, 31), st.integers(-(10**6), 10**8).map(lambda c: D(c) / 100)),
    min_size=1,
    max_size=12,
).map(lambda ms: [MonthSales(date(2026, 1, 1), d, s) for d, s in ms])


@settings(max_examples=200)
@given(_money, _money, _months)
def test_countback_is_monotone_in_receivables(
    a: Decimal, b: Decimal, months: list[MonthSales]
) -> None:
    low, high = sorted((a, b))
    d_low, _ = countback_dso(low, months)
    d_high, _ = countback_dso(high, months)
    if d_low is not None and d_high is not None:
        assert d_low <= d_high
    assert (d_low is None) <= (d_high is None) or low <= 0


@settings(max_examples=200)
@given(_money, _months)
def test_simple_dso_is_receivables_over_sales_times_days(
    ar: Decimal, months: list[MonthSales]
) -> None:
    sales = sum((m.sales for m in months), D(0))
    days = sum(m.days for m in months)
    result = simple_dso(ar, months)
    if sales <= 0:
        assert result is None
    else:
        assert result == ar / sales * days


_day = st.dates(date(2025, 1, 1), date(2027, 12, 31))


@settings(max_examples=200)
@given(_day, _day)
def test_days_beyond_terms_is_never_negative(due: date, settled: date) -> None:
    dbt = days_beyond_terms(due, settled)
    assert dbt >= 0
    assert dbt == max(0, (settled - due).days)


@st.composite
def _items(draw: st.DrawFn) -> ItemFacts:
    document = draw(_day)
    amount = draw(st.integers(1, 10**6).map(lambda c: D(c) / 100))
    settled = draw(st.one_of(st.none(), _day.filter(lambda d: d >= document)))
    open_amount = D(0) if settled is not None else draw(st.sampled_from([amount, amount / 2, D(0)]))
    return ItemFacts(
        kind=draw(st.sampled_from(["INVOICE", "INVOICE", "CREDIT_NOTE", "PAYMENT"])),
        currency="EUR",
        amount=amount,
        open_amount=open_amount,
        document_date=document,
        due_date=draw(st.one_of(st.none(), st.just(document + timedelta(30)))),
        settled_on=settled,
    )


@settings(max_examples=100)
@given(st.lists(_items(), max_size=25), _day)
def test_buckets_sum_to_the_open_invoices(items: list[ItemFacts], day: date) -> None:
    b = behaviour_of(items, day, "EUR")
    open_invoices = sum(
        (
            (i.amount if i.settled_on is not None else i.open_amount)
            for i in items
            if i.kind == "INVOICE"
            and i.document_date <= day
            and (i.settled_on is None or i.settled_on > day)
        ),
        D(0),
    )
    assert b.buckets.total == open_invoices
    assert b.receivables == open_invoices - b.unapplied_credits
    assert b.dbt_average is None or b.dbt_average >= 0
    assert b.dbt_weighted is None or b.dbt_weighted >= 0


def test_countback_stops_when_the_receivables_are_used_up_exactly() -> None:
    # A new buyer: 7,500 open, all of it November's sales; December (6 days so far) and
    # the months before November sold nothing. 6 + 30 days, not every month counted back.
    months = [
        MonthSales(date(2026, 12, 1), 6, Decimal(0)),
        MonthSales(date(2026, 11, 1), 30, Decimal(7500)),
        MonthSales(date(2026, 10, 1), 31, Decimal(0)),
        MonthSales(date(2026, 9, 1), 30, Decimal(0)),
    ]
    assert countback_dso(Decimal(7500), months) == (Decimal(36), True)
