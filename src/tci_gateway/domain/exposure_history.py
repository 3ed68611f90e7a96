"""Exposure over time, reconstructed from what the ledger keeps of each open item.

The ledger keeps each ERP item's current state only: its original amount, its open
amount now, its document date and the date it last changed (``settled_on`` below: the
day a complete import closed it, else the day of the import that last changed it). So
the exposure on a past day ``d`` is reconstructed as far as that allows:

* an invoice counts from its document date at its original amount; from ``settled_on``
  on (when its open amount is below the original) at its open amount now (0 once paid
  or closed). A partial payment thus shows on the day the ledger learned of it;
* an open credit note or unapplied payment subtracts its open amount from its document
  date on; one that is fully applied counts nothing (its effect is already in the open
  amount of the invoice it was applied to);
* each amount is converted to the policy currency at its document date, as
  :func:`tci_gateway.domain.exposure.compute_exposure` converts it, so the last point
  is today's exposure of that function.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tci_gateway.domain.exposure import Converter, same_currency_only
from tci_gateway.domain.money import Money
from tci_gateway.domain.receivables import ItemKind, OpenItem

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ExposureSteps:
    """The exposure from each date on (``points``, dates ascending, each a change) and
    the document numbers that could not be converted (left out)."""

    currency: str
    points: list[tuple[date, Money]]
    unconverted: tuple[str, ...]

    def on(self, day: date) -> Money:
        """The exposure on ``day`` (0 before the first item)."""
        value = Money.zero(self.currency)
        for start, amount in self.points:
            if start > day:
                break
            value = amount
        return value


def exposure_over_time(
    items: Iterable[tuple[OpenItem, date | None]],
    currency: str,
    convert: Converter = same_currency_only,
) -> ExposureSteps:
    """Exposure in ``currency`` as a step function of the date, from ``(item,
    settled_on)`` pairs (see the module's rules)."""
    deltas: dict[date, Decimal] = {}  # summed as Decimals: one Money per point only
    unconverted: list[str] = []

    def add(day: date, amount: Decimal) -> None:
        deltas[day] = deltas.get(day, _ZERO) + amount

    for item, settled_on in items:
        on = item.document_date
        if item.kind is ItemKind.INVOICE:
            full = convert(item.amount, currency, on)
            rest = convert(item.open_amount, currency, on)
            if full is None or rest is None:
                unconverted.append(item.document_number)
                continue
            if settled_on is not None and item.open_amount < item.amount and settled_on > on:
                add(on, full.amount)
                add(settled_on, rest.amount - full.amount)
            else:
                add(on, rest.amount)
        elif not item.open_amount.is_zero():
            credit = convert(item.open_amount, currency, on)
            if credit is None:
                unconverted.append(item.document_number)
                continue
            add(on, -credit.amount)
    points: list[tuple[date, Money]] = []
    running = _ZERO
    for day in sorted(deltas):
        if not deltas[day]:
            continue
        running += deltas[day]
        points.append((day, Money(running, currency)))
    return ExposureSteps(currency, points, tuple(unconverted))
