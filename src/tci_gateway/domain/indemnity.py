"""Insured amount and indemnity of a claim, per buyer and policy (docs/domain.md, section 7).

Cover follows the delivery: a reduction or withdrawal of the limit applies to deliveries
after its effective date, while what was delivered before stays covered up to the earlier
limit. So the open invoices are taken in delivery order and each one's insured part is what
fits under the limit in force on its delivery date after the insured parts of the earlier
open invoices::

    insured_i = max(0, min(net_i, limit(delivery_i) - sum(insured_j, j < i)))

all in the policy currency, each invoice converted at its delivery date. ``net_i`` is the
invoice's open amount less the credit notes and payments applied to it: a credit naming an
invoice goes to that invoice first, the rest (and every unassigned credit) to the oldest
undisputed invoices. Disputed invoices, invoices delivered on or after the cover-stop date
of an earlier overdue invoice of the buyer and invoices with no FX rate are listed but not
insured, and they take no room under the limit.

Indemnity = insured percentage x the sum of the insured parts, nil when that sum does not
exceed the policy's claim threshold, then less the deductible (never below zero).

Where the ledger's cover history starts after a delivery date (``history_starts``), the
limit at that delivery is unknown: it is not taken as a known zero. The line is marked
(:attr:`InvoiceLine.limit_known` false), the computation counts no room for it, and the
result says so (:attr:`IndemnityResult.note`, "limit at delivery unknown: cover history
starts on DATE") with the indemnity marked as a lower bound: the true figure is never
less, because more room for an earlier invoice never lowers the sum of the insured parts
(each later part loses at most what the earlier one gained).

Worked example (docs/domain.md, section 7): limit 100,000 from 1 January, reduced to
40,000 on 1 June; invoice A of 70,000 delivered 10 May, invoice B of 30,000 delivered
15 June, both unpaid:
A is insured 70,000 (limit 100,000), B is insured 0 (40,000 - 70,000 < 0); at 90% the
indemnity is 63,000. Had A been paid down to 20,000: A 20,000, B min(30,000,
40,000 - 20,000) = 20,000, indemnity 90% x 40,000 = 36,000.

Pure: no I/O. Amounts are exact ``Decimal`` throughout; rounding happens only where stated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from tci_gateway.domain.cover import DecisionVersion
from tci_gateway.domain.exposure import Converter, same_currency_only
from tci_gateway.domain.money import Money, total
from tci_gateway.domain.policy import PolicyTerms
from tci_gateway.domain.receivables import ItemKind, OpenItem


class Exclusion(StrEnum):
    """Why an open invoice is listed in a claim but not insured."""

    DISPUTED = "DISPUTED"
    """Disputed: counts in exposure, never claimed until the dispute is resolved."""
    DELIVERED_AFTER_COVER_STOP = "DELIVERED_AFTER_COVER_STOP"
    """Delivered on or after the cover-stop date of an earlier overdue invoice."""
    NO_FX_RATE = "NO_FX_RATE"
    """No FX rate into the policy currency on the delivery date."""


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One open invoice of the claim, itemised; amounts other than ``open_amount`` are in
    the policy currency."""

    number: str
    delivery_date: date
    due_date: date | None
    open_amount: Money
    open_in_policy: Money | None
    credits_applied: Money
    net: Money
    limit_at_delivery: Money
    insured: Money
    excluded: Exclusion | None
    limit_known: bool = True
    """False when the delivery predates the cover history: ``limit_at_delivery`` is then
    the zero counted for it, not a known limit."""


@dataclass(frozen=True, slots=True)
class IndemnityResult:
    """The claim computation of one buyer under one policy, line by line."""

    currency: str
    lines: tuple[InvoiceLine, ...]
    unapplied_credits: Money
    insured_total: Money
    insured_percentage: Decimal
    gross_indemnity: Money
    claim_threshold: Money
    below_threshold: bool
    deductible: Money
    indemnity: Money
    unconverted_credits: tuple[str, ...]
    history_starts: date | None = None
    """The first day of the cover history the limits were read from (``None``: none)."""

    @property
    def disputed(self) -> tuple[InvoiceLine, ...]:
        """The lines excluded because the invoice is disputed."""
        return tuple(line for line in self.lines if line.excluded is Exclusion.DISPUTED)

    @property
    def lower_bound(self) -> bool:
        """True when an insured line's limit at delivery is unknown (delivered before the
        cover history starts): the indemnity is then at least what is shown."""
        return any(not line.limit_known and line.excluded is None for line in self.lines)

    @property
    def note(self) -> str | None:
        """What a person must be told about the limits used, or ``None``."""
        if not self.lower_bound or self.history_starts is None:
            return None
        return f"limit at delivery unknown: cover history starts on {self.history_starts}"


def history_start(versions: Sequence[DecisionVersion]) -> date | None:
    """The first day a buyer's cover history (its stored versions under one policy) says
    anything about: the earliest ``effective_from``; ``None`` without history."""
    return min((v.decision.effective_from for v in versions), default=None)


@dataclass(slots=True)
class _Work:
    """An invoice while credits are being applied (mutable; frozen into InvoiceLine)."""

    item: OpenItem
    delivery: date
    converted: Money | None
    excluded: Exclusion | None
    applied: Money
    net: Money


@dataclass(frozen=True, slots=True)
class _Credit:
    number: str
    document_date: date
    applies_to: str | None
    amount: Money


def _exclusion(
    item: OpenItem, delivery: date, converted: Money | None, cover_stop: date | None
) -> Exclusion | None:
    if item.disputed:
        return Exclusion.DISPUTED
    if cover_stop is not None and delivery >= cover_stop:
        return Exclusion.DELIVERED_AFTER_COVER_STOP
    if converted is None:
        return Exclusion.NO_FX_RATE
    return None


def _apply(credit: Money, work: _Work) -> Money:
    """Apply up to ``work.net`` of ``credit`` to one invoice; return what is left."""
    used = credit.min(work.net)
    work.applied = work.applied + used
    work.net = work.net - used
    return credit - used


def compute_indemnity(
    items: Iterable[OpenItem],
    terms: PolicyTerms,
    limit_on: Callable[[date], Money],
    *,
    convert: Converter = same_currency_only,
    cover_stop: date | None = None,
    history_starts: date | None = None,
) -> IndemnityResult:
    """Insured parts and indemnity of one buyer's open items under ``terms``.

    ``items`` are the buyer's open ERP items: each invoice with an open amount above zero
    becomes a line (delivery date, else document date); each credit note or payment with
    an open amount above zero is a credit. ``limit_on(day)`` is the covered limit in force
    on ``day`` in the policy currency (zero when none). ``cover_stop`` is the earliest
    cover-stop date of the buyer's overdue invoices: invoices delivered on or after it
    are uninsured. ``history_starts`` is the first day of the cover history
    ``limit_on`` reads (:func:`history_start`): for a delivery before it the limit is
    unknown, counted as no room and marked (the indemnity is then a lower bound).

    * Conversion: each invoice is converted to the policy currency at its delivery date,
      each credit at its document date, and the result rounded half-even to the policy
      currency's minor units (an amount already in the policy currency is unchanged).
      An invoice with no rate is excluded as :attr:`Exclusion.NO_FX_RATE` (net zero); a
      credit with no rate is left out of the netting and its document number reported in
      :attr:`IndemnityResult.unconverted_credits`.
    * Credits: those naming a line (``applies_to`` equal to an invoice number) go first,
      then the others; each group in (document date, number) order. A named credit is
      applied to its invoice up to that invoice's net (even when it is excluded); the
      remainder, and every credit naming no line, goes to the undisputed, not-excluded
      invoices oldest first, each up to its net. What is left is ``unapplied_credits``.
    * Exclusions, first that applies: disputed, delivered on or after ``cover_stop``, no
      FX rate. An excluded line is insured 0 and takes no room under the limit.
    * ``insured_i = max(0, min(net_i, limit_on(delivery_i) - sum(insured_j, j < i)))``
      over the lines in (delivery date, number) order.
    * ``gross_indemnity`` = insured total x percentage / 100, rounded half-even
      (:meth:`Money.rounded`) to the currency's minor units. When the insured total is at
      or below the claim threshold the indemnity is nil; otherwise it is
      ``max(0, gross - deductible)``, rounded half-even likewise.
    """
    currency = terms.currency
    zero = Money.zero(currency)

    def to_policy(amount: Money, on: date) -> Money | None:
        converted = convert(amount, currency, on)
        return None if converted is None else converted.rounded()

    work: list[_Work] = []
    credits: list[_Credit] = []
    unconverted: list[str] = []
    for item in items:
        if item.open_amount.amount <= 0:
            continue
        if item.kind is ItemKind.INVOICE:
            delivery = item.delivery_date or item.document_date
            converted = to_policy(item.open_amount, delivery)
            excluded = _exclusion(item, delivery, converted, cover_stop)
            net = zero if converted is None else converted
            work.append(_Work(item, delivery, converted, excluded, zero, net))
        else:
            amount = to_policy(item.open_amount, item.document_date)
            if amount is None:
                unconverted.append(item.document_number)
                continue
            credits.append(
                _Credit(item.document_number, item.document_date, item.applies_to, amount)
            )
    work.sort(key=lambda w: (w.delivery, w.item.document_number))
    by_number: dict[str, list[_Work]] = {}
    for w in work:
        by_number.setdefault(w.item.document_number, []).append(w)
    credits.sort(key=lambda c: (c.applies_to not in by_number, c.document_date, c.number))

    eligible = [w for w in work if w.excluded is None]
    unapplied = zero
    for credit in credits:
        left = credit.amount
        for target in by_number.get(credit.applies_to or "", ()):
            left = _apply(left, target)
        for target in eligible:
            if left.is_zero():
                break
            left = _apply(left, target)
        unapplied = unapplied + left

    lines: list[InvoiceLine] = []
    running = zero
    for w in work:
        known = history_starts is None or w.delivery >= history_starts
        limit = limit_on(w.delivery) if known else zero
        insured = zero
        if w.excluded is None:
            insured = w.net.min(limit - running).max(zero)
            running = running + insured
        lines.append(
            InvoiceLine(
                number=w.item.document_number,
                delivery_date=w.delivery,
                due_date=w.item.due_date_in_force(terms.extension_moves_deadlines),
                open_amount=w.item.open_amount,
                open_in_policy=w.converted,
                credits_applied=w.applied,
                net=w.net,
                limit_at_delivery=limit,
                insured=insured,
                excluded=w.excluded,
                limit_known=known,
            )
        )

    insured_total = total((line.insured for line in lines), currency)
    pct = terms.insured_percentage
    gross = insured_total.times(pct / Decimal(100)).rounded()
    below = insured_total <= terms.claim_threshold
    indemnity = zero if below else (gross - terms.deductible).max(zero).rounded()
    return IndemnityResult(
        currency=currency,
        lines=tuple(lines),
        unapplied_credits=unapplied,
        insured_total=insured_total,
        insured_percentage=pct,
        gross_indemnity=gross,
        claim_threshold=terms.claim_threshold,
        below_threshold=below,
        deductible=terms.deductible,
        indemnity=indemnity,
        unconverted_credits=tuple(unconverted),
        history_starts=history_starts,
    )
