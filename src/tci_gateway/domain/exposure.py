"""Exposure against cover, per buyer and policy (docs/domain.md, section 4).

exposure = open invoices - open credit notes - open unapplied payments, each converted
to the policy currency; covered = min(exposure, limit in force), the rest uncovered.
Disputed invoices count in exposure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import (
    CoverDecision,
    CoverStatus,
    DecisionVersion,
    LimitInForce,
    PendingAction,
    as_history,
    limit_in_force,
)
from tci_gateway.domain.money import Money
from tci_gateway.domain.months import add_months
from tci_gateway.domain.receivables import ItemKind, OpenItem


class Converter(Protocol):
    """Converts an amount into ``currency`` at the rate of ``on``; ``None`` if no rate."""

    def __call__(self, amount: Money, currency: str, on: date) -> Money | None: ...


def same_currency_only(amount: Money, currency: str, on: date) -> Money | None:
    """The converter used when no FX rates are configured."""
    return amount if amount.currency == currency else None


Cover = Sequence[DecisionVersion] | CoverDecision | None
"""A buyer's cover history under the policy (a lone decision: a history of one)."""


def _in_force(
    cover: Cover | LimitInForce[DecisionVersion], on: date
) -> LimitInForce[DecisionVersion]:
    """The limit in force on ``on`` (already computed, or from the cover history)."""
    if isinstance(cover, LimitInForce):
        return cover
    return limit_in_force(as_history(cover), on)


@dataclass(frozen=True, slots=True)
class Exposure:
    """Exposure of one buyer under one policy. ``limit`` is the limit in force
    (conservative, ``None`` without any cover history); ``status``, ``pending_action``
    and ``raw_codes`` are the latest version's, pending ones included, for display."""

    currency: str
    invoices: Money
    credits: Money
    disputed: Money
    exposure: Money
    limit: Money | None
    covered: Money
    uncovered: Money
    status: CoverStatus | None
    pending_action: PendingAction | None
    alerts: tuple[AlertKind, ...]
    unconverted: tuple[str, ...]
    raw_codes: dict[str, str] | None = None


def compute_exposure(
    items: Iterable[OpenItem],
    currency: str,
    cover: Cover | LimitInForce[DecisionVersion],
    on: date,
    convert: Converter = same_currency_only,
) -> Exposure:
    """Exposure of one buyer under one policy on ``on``, with its alerts; covered is
    what fits under the limit in force (:func:`tci_gateway.domain.cover.limit_in_force`)."""
    in_force = _in_force(cover, on)
    shown = in_force.latest or in_force.governing
    decision = shown.decision if shown is not None else None
    zero = Money.zero(currency)
    invoices, credits, disputed = zero, zero, zero
    unconverted: list[str] = []
    for item in items:
        # Convert at the document date (the receivable's booking), the only date every
        # kind of item has; the delivery date is what indemnity uses.
        amount = convert(item.open_amount, currency, item.document_date)
        if amount is None:
            unconverted.append(item.document_number)
            continue
        if item.kind is ItemKind.INVOICE:
            invoices = invoices + amount
            if item.disputed:
                disputed = disputed + amount
        else:
            credits = credits + amount
    exposure = invoices - credits
    limit = in_force.amount
    positive = exposure.max(zero)
    covered = positive.min(limit) if limit is not None else zero
    uncovered = positive - covered
    alerts: list[AlertKind] = []
    if positive > zero and (limit is None or limit.is_zero()):
        alerts.append(AlertKind.UNCOVERED)
    elif limit is not None and not limit.is_zero() and positive > limit:
        alerts.append(AlertKind.OVER_LIMIT)
    # a newer pending version is shown as such; else the status of the limit in force
    # (an announced withdrawal that took effect shows as WITHDRAWN)
    status = (
        in_force.status if shown is in_force.governing else decision.status if decision else None
    )
    if status is CoverStatus.REFUSED:
        alerts.append(AlertKind.COVER_REFUSED)
    elif status is CoverStatus.PENDING:
        alerts.append(AlertKind.COVER_PENDING)
    pending = decision.pending_action if decision else None
    announced = (PendingAction.WITHDRAWAL_NOTICE, PendingAction.CANCELLATION_PENDING)
    if pending in announced and status not in (CoverStatus.WITHDRAWN, CoverStatus.EXPIRED):
        alerts.append(AlertKind.PENDING_WITHDRAWAL)
    if unconverted:
        alerts.append(AlertKind.FX_RATE_MISSING)
    return Exposure(
        currency=currency,
        invoices=invoices,
        credits=credits,
        disputed=disputed,
        exposure=exposure,
        limit=limit,
        covered=covered,
        uncovered=uncovered,
        status=status,
        pending_action=pending,
        alerts=tuple(alerts),
        unconverted=tuple(unconverted),
        raw_codes=dict(decision.raw_codes) if decision is not None else None,
    )


@dataclass(frozen=True, slots=True)
class LimitWatch:
    """How far ahead the risk team wants to hear about a limit (from configuration)."""

    expiring_within_days: int = 30
    renewal_months: int | None = None
    inactive_days: int = 180


def limit_alerts(
    cover: Cover | LimitInForce[DecisionVersion],
    on: date,
    watch: LimitWatch,
    *,
    has_open_items: bool,
    last_sale: date | None,
) -> list[AlertKind]:
    """Alerts about a limit itself (docs/domain.md, section 4): expiring within the configured
    days (a withdrawal date or a tranche expiry), renewal due (decided longer ago than
    the policy's renewal period), and an inactive insured buyer (a limit, no open items
    and no sale for the configured days: cover that costs fees and serves nothing).
    All judged on the limit in force: its next change is the expiry watched."""
    in_force = _in_force(cover, on)
    limit = in_force.amount
    if in_force.governing is None or limit is None or limit.is_zero():
        return []
    decision = in_force.governing.decision
    alerts: list[AlertKind] = []
    horizon = date.fromordinal(on.toordinal() + watch.expiring_within_days)
    ends, lower = in_force.next_change, in_force.next_amount
    if ends is not None and ends <= horizon and lower is not None and lower < limit:
        alerts.append(AlertKind.LIMIT_EXPIRING)
    if watch.renewal_months is not None:
        decided = decision.decided_at.date() if decision.decided_at else decision.effective_from
        if add_months(decided, watch.renewal_months) <= on:
            alerts.append(AlertKind.RENEWAL_DUE)
    idle_since = date.fromordinal(on.toordinal() - watch.inactive_days)
    if not has_open_items and (last_sale is None or last_sale <= idle_since):
        alerts.append(AlertKind.INACTIVE_BUYER)
    return alerts
