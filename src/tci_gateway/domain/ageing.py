"""Ageing of open invoices by due date: how long past due each open amount is.

An invoice is past due from the day after its due date in force (as
:func:`tci_gateway.domain.deadlines.is_overdue` says), counted on the policy's business
date; one without a due date is never past due (it ages as current). Buckets: current
(not past due), 1-30, 31-60, 61-90 and over 90 days past due. Totals are per currency:
amounts of different currencies are never added up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from tci_gateway.domain.money import Money


class Bucket(StrEnum):
    CURRENT = "current"
    DAYS_1_30 = "1-30"
    DAYS_31_60 = "31-60"
    DAYS_61_90 = "61-90"
    OVER_90 = "90+"


BUCKETS: tuple[Bucket, ...] = tuple(Bucket)
"""In ageing order, youngest first."""


def days_past_due(due: date | None, today: date) -> int:
    """Calendar days past ``due`` on ``today`` (0 when not yet past due or no due date)."""
    if due is None or due >= today:
        return 0
    return (today - due).days


def bucket_of(days: int) -> Bucket:
    """The bucket of an invoice ``days`` past due."""
    if days <= 0:
        return Bucket.CURRENT
    if days <= 30:
        return Bucket.DAYS_1_30
    if days <= 60:
        return Bucket.DAYS_31_60
    if days <= 90:
        return Bucket.DAYS_61_90
    return Bucket.OVER_90


@dataclass(frozen=True, slots=True)
class Aged:
    """One open invoice to age: its due date in force, open amount and dispute flag."""

    due: date | None
    open_amount: Money
    disputed: bool = False


@dataclass
class AgeingTotals:
    """Open amounts per bucket (and the disputed part of each) in one currency."""

    currency: str
    amounts: dict[Bucket, Money] = field(default_factory=dict)
    disputed: dict[Bucket, Money] = field(default_factory=dict)
    counts: dict[Bucket, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for b in BUCKETS:
            self.amounts.setdefault(b, Money.zero(self.currency))
            self.disputed.setdefault(b, Money.zero(self.currency))
            self.counts.setdefault(b, 0)

    @property
    def total(self) -> Money:
        out = Money.zero(self.currency)
        for b in BUCKETS:
            out = out + self.amounts[b]
        return out

    @property
    def past_due(self) -> Money:
        return self.total - self.amounts[Bucket.CURRENT]


def age(items: Iterable[Aged], today: date) -> dict[str, AgeingTotals]:
    """Totals per bucket on ``today``, per currency (in the order first met)."""
    sums: dict[str, dict[Bucket, list[Decimal]]] = {}  # amount, disputed, count
    for item in items:
        cur = item.open_amount.currency
        per = sums.get(cur)
        if per is None:
            per = sums[cur] = {b: [Decimal(0), Decimal(0), Decimal(0)] for b in BUCKETS}
        cell = per[bucket_of(days_past_due(item.due, today))]
        cell[0] += item.open_amount.amount
        cell[2] += 1
        if item.disputed:
            cell[1] += item.open_amount.amount
    return {
        cur: AgeingTotals(
            cur,
            amounts={b: Money(c[0], cur) for b, c in per.items()},
            disputed={b: Money(c[1], cur) for b, c in per.items()},
            counts={b: int(c[2]) for b, c in per.items()},
        )
        for cur, per in sums.items()
    }
