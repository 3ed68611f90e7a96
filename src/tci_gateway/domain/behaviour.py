"""Payment behaviour: DSO (countback and simple), best possible DSO, average days
delinquent, days beyond terms, ageing buckets, the share paid on time and disputes.

Pure arithmetic on dates and exact decimals. The figures are computed from additive
:class:`Sums` (one set per group of items in one currency): the service sums them in SQL
per buyer, tier, policy or the whole portfolio, converts each currency's sums to the
reporting currency and hands them to :func:`behaviour_from`. :func:`behaviour_of` is the
same computation from the items themselves, item by item: the reference the SQL is tested
against. docs/credit.md explains each figure with the worked example of the tests.

Conservative choices (figures shown to a risk team err on the side of risk):

- an invoice without a due date is due on its document date;
- an item's settled date is the business date the ledger first saw it settled, up to one
  import later than the real payment (more days beyond terms, never fewer);
- early payment counts 0 days beyond terms, never negative (it cannot offset a late one);
- the receivables on a past date count an item settled since at its full amount (the
  ledger does not keep the history of partial payments: the upper bound);
- a buyer in credit (net receivables below zero) has 0 days of sales outstanding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from tci_gateway.domain.credit import Behaviour, Buckets, MonthSales
from tci_gateway.domain.exposure import Converter
from tci_gateway.domain.money import Money, minor_units
from tci_gateway.domain.months import add_months as add_months

ZERO = Decimal(0)
DAYS_PLACES = Decimal("0.01")
SHARE_PLACES = Decimal("0.0001")
BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")
INVOICE, CREDIT_NOTE = "INVOICE", "CREDIT_NOTE"


# -- formulas -------------------------------------------------------------------------


def months_back(day: date, count: int) -> list[tuple[date, date, int]]:
    """The ``count`` months counted back from ``day``, newest first, as (first day, last
    day counted, days): ``day``'s own month up to ``day`` (``day.day`` days), then whole
    calendar months."""
    return list(_months_back(day, count))


@lru_cache(maxsize=64)
def _months_back(day: date, count: int) -> tuple[tuple[date, date, int], ...]:
    months: list[tuple[date, date, int]] = []
    last = day
    for _ in range(count):
        first = last.replace(day=1)
        months.append((first, last, (last - first).days + 1))
        last = first - timedelta(days=1)
    return tuple(months)


def countback_dso(
    receivables: Decimal, months: Sequence[MonthSales]
) -> tuple[Decimal | None, bool]:
    """DSO by the countback method: take each month's credit sales from the receivables,
    newest month first, adding the month's days, until what is left is smaller than a
    month's sales; that month adds its share (rest / sales x days).

    Returns (days unrounded, complete): ``complete`` is false when the receivables
    outran every month given (the DSO is then "over" the days returned). ``None`` when
    receivables are positive but no month has sales. Receivables of zero or less: 0 days.

    Worked example: receivables 250,000; March 120,000 (31 days), February 90,000 (28),
    January 100,000 (31): 31 + 28 + 40,000 / 100,000 x 31 = 71.4 days.
    """
    if receivables <= 0:
        return ZERO, True
    if not any(m.sales > 0 for m in months):
        return None, False
    rest, days = receivables, ZERO
    for month in months:
        if rest < month.sales:
            return days + rest / month.sales * month.days, True
        rest -= month.sales
        days += month.days
        if rest <= 0:  # used up exactly: earlier months (even without sales) add nothing
            return days, True
    return days, False


def _ratio_days(amount: Decimal, months: Sequence[MonthSales]) -> Decimal | None:
    sales = sum((m.sales for m in months), ZERO)
    if sales <= 0:
        return None
    days = sum(m.days for m in months)
    return max(amount, ZERO) / sales * days


def simple_dso(receivables: Decimal, months: Sequence[MonthSales]) -> Decimal | None:
    """DSO by the simple ratio: receivables / the months' credit sales x their days
    (``None`` without sales). Example: 250,000 / 310,000 x 90 = 72.6 days."""
    return _ratio_days(receivables, months)


def best_possible_dso(current: Decimal, months: Sequence[MonthSales]) -> Decimal | None:
    """Best possible DSO: the receivables not yet due / the same sales x days, what the
    DSO would be if every customer paid on the due date. Example: 150,000 / 310,000 x 90
    = 43.5 days."""
    return _ratio_days(current, months)


def days_beyond_terms(due: date, settled_or_day: date) -> int:
    """Days paid (or, for an open invoice, outstanding on the day) beyond the due date;
    never negative: paying early is 0, it does not offset another invoice's delay."""
    return max(0, (settled_or_day - due).days)


def age_bucket(due: date, day: date) -> str:
    """The ageing bucket of an open invoice due on ``due``, on ``day``."""
    late = (day - due).days
    if late <= 0:
        return "current"
    if late <= 30:
        return "days_1_30"
    if late <= 60:
        return "days_31_60"
    if late <= 90:
        return "days_61_90"
    return "days_over_90"


def rounded_days(value: Decimal | None) -> Decimal | None:
    """Days to 2 places, half up (as stored)."""
    return None if value is None else value.quantize(DAYS_PLACES, ROUND_HALF_UP)


# -- sums -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What behaviour reads of one open item (amounts positive, in ``currency``)."""

    kind: str
    currency: str
    amount: Decimal
    open_amount: Decimal
    document_date: date
    due_date: date | None = None
    settled_on: date | None = None
    disputed: bool = False
    disputed_since: date | None = None


InvoiceFacts = ItemFacts


@dataclass(slots=True)
class Sums:
    """The additive sums every figure is computed from, for one group of items in one
    currency (or, once converted, the reporting currency). ``sales`` follows
    :func:`months_back` (newest first). Treated as immutable (not frozen: a million of
    them are built, and a frozen dataclass's constructor costs three times as much)."""

    receivables: Decimal = ZERO
    unapplied: Decimal = ZERO
    current: Decimal = ZERO
    days_1_30: Decimal = ZERO
    days_31_60: Decimal = ZERO
    days_61_90: Decimal = ZERO
    days_over_90: Decimal = ZERO
    settled_amount: Decimal = ZERO
    on_time_amount: Decimal = ZERO
    dbt_amount: Decimal = ZERO
    dbt_amount_days: Decimal = ZERO
    disputed_amount: Decimal = ZERO
    sales: tuple[Decimal, ...] = ()
    invoices_settled: int = 0
    invoices_overdue: int = 0
    dbt_count: int = 0
    dbt_days: int = 0
    disputed_count: int = 0
    disputed_since: date | None = None
    disputed_unknown: int = 0
    settled_unknown: int = 0
    items: int = 0
    unconverted: tuple[tuple[str, int], ...] = ()
    """(currency, items) left out: no FX rate to the reporting currency."""

    def __add__(self, other: Sums) -> Sums:
        return add_sums(self, other)


MONEY_FIELDS = tuple(f.name for f in fields(Sums))[:12]
"""The amount fields of :class:`Sums` (converted between currencies), in order."""
COUNT_FIELDS = (
    "invoices_settled",
    "invoices_overdue",
    "dbt_count",
    "dbt_days",
    "disputed_count",
    "disputed_unknown",
    "settled_unknown",
    "items",
)


def _min_date(a: date | None, b: date | None) -> date | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def add_sums(a: Sums, b: Sums) -> Sums:
    """Two groups' sums together (sales month by month)."""
    sa, sb = a.sales, b.sales
    if len(sa) != len(sb):
        width = max(len(sa), len(sb))
        sa, sb = sa + (ZERO,) * (width - len(sa)), sb + (ZERO,) * (width - len(sb))
    unconverted = a.unconverted
    if b.unconverted:
        merged: dict[str, int] = dict(a.unconverted)
        for currency, n in b.unconverted:
            merged[currency] = merged.get(currency, 0) + n
        unconverted = tuple(sorted(merged.items()))
    return Sums(
        a.receivables + b.receivables,
        a.unapplied + b.unapplied,
        a.current + b.current,
        a.days_1_30 + b.days_1_30,
        a.days_31_60 + b.days_31_60,
        a.days_61_90 + b.days_61_90,
        a.days_over_90 + b.days_over_90,
        a.settled_amount + b.settled_amount,
        a.on_time_amount + b.on_time_amount,
        a.dbt_amount + b.dbt_amount,
        a.dbt_amount_days + b.dbt_amount_days,
        a.disputed_amount + b.disputed_amount,
        tuple([x + y for x, y in zip(sa, sb, strict=True)]),
        a.invoices_settled + b.invoices_settled,
        a.invoices_overdue + b.invoices_overdue,
        a.dbt_count + b.dbt_count,
        a.dbt_days + b.dbt_days,
        a.disputed_count + b.disputed_count,
        _min_date(a.disputed_since, b.disputed_since),
        a.disputed_unknown + b.disputed_unknown,
        a.settled_unknown + b.settled_unknown,
        a.items + b.items,
        unconverted,
    )


PROBE = Decimal(10) ** 12
Rates = dict[tuple[str, str, date], Decimal | None]


def probe_rate(convert: Converter, currency: str, target: str, on: date) -> Decimal | None:
    """The rate of ``convert`` from ``currency`` to ``target`` on ``on``, read by
    converting 10^12 units (a converter rounds to the target's minor units: the rate so
    keeps 12 more places than that); ``None`` when it has none."""
    found = convert(Money(PROBE, currency), target, on)
    return None if found is None else found.amount / PROBE


def convert_sums(
    sums: Sums,
    currency: str,
    target: str,
    convert: Converter,
    on: date,
    *,
    rates: Rates | None = None,
) -> Sums:
    """``sums`` of items in ``currency`` in the ``target`` currency at the rate of ``on``
    (each amount times the rate, rounded half-even to the target's minor units, as the
    ledger's converter does); without a rate, empty sums naming the items left out.
    ``rates`` keeps the rates read, across calls."""
    if currency == target:
        return sums
    key = (currency, target, on)
    if rates is not None and key in rates:
        rate = rates[key]
    else:
        rate = probe_rate(convert, currency, target, on)
        if rates is not None:
            rates[key] = rate
    if rate is None:
        return Sums(sales=(ZERO,) * len(sums.sales), unconverted=((currency, sums.items),))
    places = Decimal(1).scaleb(-minor_units(target))

    def one(value: Decimal) -> Decimal:
        return (value * rate).quantize(places, ROUND_HALF_EVEN) if value else ZERO

    changed: dict[str, object] = {f: one(getattr(sums, f)) for f in MONEY_FIELDS}
    return replace(sums, sales=tuple([one(v) for v in sums.sales]), **changed)  # type: ignore[arg-type]


def item_sums(
    items: Iterable[ItemFacts], day: date, *, months: int, dbt_window_months: int
) -> Sums:
    """The sums of ``items`` (one currency) on ``day``, item by item: the definition the
    SQL aggregates follow (docs/credit.md, "Definitions")."""
    periods = months_back(day, months)
    window_start = add_months(day, -dbt_window_months)
    acc: dict[str, Decimal] = {f: ZERO for f in MONEY_FIELDS}
    counts: dict[str, int] = {f: 0 for f in COUNT_FIELDS}
    sales = [ZERO] * months
    since: date | None = None
    for it in items:
        if it.document_date > day:
            continue
        counts["items"] += 1
        invoice = it.kind == INVOICE
        due = it.due_date or it.document_date
        for i, (first, last, _) in enumerate(periods):
            if first <= it.document_date <= last and it.kind in (INVOICE, CREDIT_NOTE):
                sales[i] += it.amount if invoice else -it.amount
        known = it.settled_on is not None
        open_on_day = (known and it.settled_on > day) or (  # type: ignore[operator]
            not known and it.open_amount > 0
        )
        ar_amount = it.amount if known else it.open_amount
        if invoice and not known and it.open_amount == 0:
            counts["settled_unknown"] += 1
        if open_on_day:
            if invoice:
                acc["receivables"] += ar_amount
                acc[age_bucket(due, day)] += ar_amount
                if due < day:
                    late = (day - due).days
                    counts["invoices_overdue"] += 1
                    counts["dbt_count"] += 1
                    counts["dbt_days"] += late
                    acc["dbt_amount"] += it.amount
                    acc["dbt_amount_days"] += it.amount * late
                if it.disputed and (it.disputed_since is None or it.disputed_since <= day):
                    acc["disputed_amount"] += ar_amount
                    counts["disputed_count"] += 1
                    if it.disputed_since is None:
                        counts["disputed_unknown"] += 1
                    since = _min_date(since, it.disputed_since)
            else:
                acc["receivables"] -= ar_amount
                acc["unapplied"] += ar_amount
        elif invoice and known and window_start < it.settled_on <= day:  # type: ignore[operator]
            assert it.settled_on is not None
            late = days_beyond_terms(due, it.settled_on)
            counts["invoices_settled"] += 1
            acc["settled_amount"] += it.amount
            if it.settled_on <= due:
                acc["on_time_amount"] += it.amount
            counts["dbt_count"] += 1
            counts["dbt_days"] += late
            acc["dbt_amount"] += it.amount
            acc["dbt_amount_days"] += it.amount * late
    return Sums(**acc, **counts, sales=tuple(sales), disputed_since=since)  # type: ignore[arg-type]


# -- figures ----------------------------------------------------------------------------


def weighted_dbt(sums: Sums) -> Decimal | None:
    """Days beyond terms weighted by amount, unrounded: sum(amount x days) / sum(amount)
    over the invoices of the window (``None`` when there are none)."""
    return sums.dbt_amount_days / sums.dbt_amount if sums.dbt_amount > 0 else None


def behaviour_from(sums: Sums, day: date, currency: str, *, dso_months: int = 3) -> Behaviour:
    """The figures of ``sums`` (already in ``currency``) on ``day``: DSO and DBT to 2
    places, the on-time share to 4 (half up); ADD from the unrounded DSOs."""
    periods = _months_back(day, len(sums.sales))
    sales = tuple(
        [
            _no_sales(first, days) if not amount else _month_sales(first, days, amount)
            for (first, _, days), amount in zip(periods, sums.sales, strict=True)
        ]
    )
    buckets = Buckets(
        sums.current, sums.days_1_30, sums.days_31_60, sums.days_61_90, sums.days_over_90
    )
    countback, complete = countback_dso(sums.receivables, sales)
    head = sales[:dso_months]
    head_sales = sum([m.sales for m in head], ZERO)
    head_days = sum([m.days for m in head])
    simple = best = None
    if head_sales > 0:  # simple_dso and best_possible_dso, the sums taken once
        simple = max(sums.receivables, ZERO) / head_sales * head_days
        best = max(sums.current, ZERO) / head_sales * head_days
    add = simple - best if simple is not None and best is not None else None
    dbt_average = Decimal(sums.dbt_days) / sums.dbt_count if sums.dbt_count else None
    dbt_weighted = weighted_dbt(sums)
    on_time = (
        (sums.on_time_amount / sums.settled_amount).quantize(SHARE_PLACES, ROUND_HALF_UP)
        if sums.invoices_settled and sums.settled_amount > 0
        else None
    )
    oldest = (day - sums.disputed_since).days if sums.disputed_since is not None else None
    return Behaviour(
        day=day,
        currency=currency,
        receivables=sums.receivables,
        buckets=buckets,
        sales=sales,
        dso_countback=rounded_days(countback),
        dso_countback_exhausted=complete,
        dso_simple=rounded_days(simple),
        best_possible_dso=rounded_days(best),
        average_days_delinquent=rounded_days(add),
        dbt_average=rounded_days(dbt_average),
        dbt_weighted=rounded_days(dbt_weighted),
        paid_on_time_share=on_time,
        invoices_settled=sums.invoices_settled,
        invoices_overdue=sums.invoices_overdue,
        disputed_amount=sums.disputed_amount,
        disputed_count=sums.disputed_count,
        disputed_oldest_days=oldest,
        unapplied_credits=sums.unapplied,
        notes=notes_of(sums, day, currency),
    )


def _fast_month_sales() -> Callable[[date, int, Decimal], MonthSales]:
    """A :class:`MonthSales` built through its slots (half the cost of the frozen
    dataclass's ``__init__``; twelve per buyer, a hundred thousand buyers); the plain
    constructor if its fields ever change."""
    if [f.name for f in fields(MonthSales)] != ["month", "days", "sales"]:
        return MonthSales
    new = object.__new__
    slots: dict[str, Any] = dict(vars(MonthSales))  # the slots' member descriptors
    set_month, set_days = slots["month"].__set__, slots["days"].__set__
    set_sales = slots["sales"].__set__

    def build(month: date, days: int, sales: Decimal) -> MonthSales:
        made = new(MonthSales)
        set_month(made, month)
        set_days(made, days)
        set_sales(made, sales)
        return made

    return build


_month_sales = _fast_month_sales()


@lru_cache(maxsize=256)
def _no_sales(first: date, days: int) -> MonthSales:
    """A month without sales (shared: most buyers have many)."""
    return MonthSales(first, days, ZERO)


def notes_of(sums: Sums, day: date, currency: str) -> tuple[str, ...]:
    """What the figures left out, named."""
    notes = [
        f"{n} item{'s' if n != 1 else ''} in {cur} left out: no {cur} to {currency} rate "
        f"on {day.isoformat()}"
        for cur, n in sums.unconverted
    ]
    if sums.settled_unknown:
        n = sums.settled_unknown
        notes.append(
            f"{n} settled invoice{'s' if n != 1 else ''} without a known settlement date "
            "(settled before the ledger recorded it) left out of days beyond terms and "
            "the on-time share"
        )
    if sums.disputed_unknown:
        n = sums.disputed_unknown
        notes.append(
            f"{n} disputed invoice{'s' if n != 1 else ''} without a known dispute date: "
            "left out of the dispute age"
        )
    return tuple(notes)


def behaviour_of(
    items: Iterable[ItemFacts],
    day: date,
    currency: str,
    *,
    convert: Converter | None = None,
    dso_months: int = 3,
    countback_max_months: int = 12,
    dbt_window_months: int = 12,
) -> Behaviour:
    """The behaviour of ``items`` on ``day`` in ``currency``, item by item: each
    currency's sums converted at ``day`` (``convert``; without one only ``currency``'s
    items count) and added. The reference for the SQL path."""
    by_currency: dict[str, list[ItemFacts]] = {}
    for item in items:
        by_currency.setdefault(item.currency, []).append(item)
    total = Sums(sales=(ZERO,) * countback_max_months)
    converter: Converter = convert or _same_only
    rates: Rates = {}
    for cur in sorted(by_currency):
        sums = item_sums(
            by_currency[cur], day, months=countback_max_months, dbt_window_months=dbt_window_months
        )
        if sums.items:  # items dated after ``day`` are not there at all
            total = total + convert_sums(sums, cur, currency, converter, day, rates=rates)
    return behaviour_from(total, day, currency, dso_months=dso_months)


def _same_only(amount: Money, currency: str, on: date) -> Money | None:
    return amount if amount.currency == currency else None
