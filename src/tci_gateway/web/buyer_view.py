"""What the buyer page shows, gathered from the services behind ``GET /v1/buyers/{id}``
and its sub-resources (:mod:`tci_gateway.services.buyer_detail`, ``buyer_positions``,
``list_cases``), per policy: the limit in force as a step function of the date (the
domain's :func:`~tci_gateway.domain.cover.limit_in_force` walked from change to change),
exposure over time (:mod:`tci_gateway.domain.exposure_history`), ageing of the open
invoices on the policy's business date (:mod:`tci_gateway.domain.ageing`).

Bounded: the open-items list is a page (``items_shown``); the figures read at most
:data:`ITEM_CAP` items of the buyer (said on the page when there are more).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row
from sqlalchemy.orm import Session

from tci_gateway.domain.ageing import Aged, AgeingTotals, age, bucket_of, days_past_due
from tci_gateway.domain.cover import limit_in_force
from tci_gateway.domain.exposure import Converter
from tci_gateway.domain.exposure_history import exposure_over_time
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.receivables import ItemKind, OpenItem
from tci_gateway.ledger.covers import StoredVersion
from tci_gateway.ledger.engine import Ledger
from tci_gateway.services import buyer_detail
from tci_gateway.services.buyer_views import Position, Reader, buyer_positions
from tci_gateway.services.buyer_views import converter as ledger_converter
from tci_gateway.services.case_views import CaseView, list_cases
from tci_gateway.web.charts.steps import Series, step_chart

ITEM_CAP = 20_000
"""At most this many items of one buyer are read for its figures (ageing, history)."""
ALERTS_SHOWN = 20
CASES_SHOWN = 20
HISTORY_HORIZON_DAYS = 365
"""How far past today the chart reaches to show an announced change of the limit."""


Loaded = tuple[buyer_detail.OpenItemView, OpenItem]
"""An item as the ledger has it and as the domain rules take it."""


@dataclass(frozen=True)
class ItemLine:
    """One open item as the list shows it."""

    view: buyer_detail.OpenItemView
    due: date | None
    days_past_due: int
    bucket: str


@dataclass
class PolicyPanel:
    """The buyer under one policy (``policy`` ``None``: its accounts without one)."""

    policy: str | None
    insurer: str | None
    currency: str
    zone: str | None
    business_date: date
    position: Position | None
    cover: buyer_detail.PolicyCover | None
    limit_points: list[tuple[date, Decimal]]
    exposure_points: list[tuple[date, Decimal]]
    unconverted: tuple[str, ...]
    chart: str
    ageing: dict[str, AgeingTotals]
    credits: dict[str, Money] = field(default_factory=dict)

    @property
    def versions(self) -> list[StoredVersion]:
        return self.cover.versions if self.cover is not None else []


@dataclass
class BuyerPage:
    identity: buyer_detail.BuyerIdentity
    panels: list[PolicyPanel]
    items: list[ItemLine]
    items_more: bool
    items_capped: bool
    alerts: list[buyer_detail.AlertView]
    alerts_more: bool
    cases: list[CaseView]
    cases_more: bool


def _settled_on(row: Row[Any], zone: str | None) -> date:
    """The day the ledger learned an item's open amount now (see exposure_history): the
    day a complete import closed it, else the day (in the policy's zone) it last changed."""
    closed: date | None = row.closed_on
    if closed is not None:
        return closed
    updated: datetime = row.updated_at
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    return updated.astimezone(ZoneInfo(zone) if zone else UTC).date()


def _item(v: buyer_detail.OpenItemView) -> OpenItem:
    r = v.row
    return OpenItem(
        erp_account=v.erp_account,
        document_number=r.document_number,
        kind=ItemKind(r.kind),
        amount=Money(r.amount, r.currency),
        open_amount=Money(r.open_amount, r.currency),
        document_date=r.document_date,
        delivery_date=r.delivery_date,
        due_date=r.due_date,
        disputed=r.disputed,
        applies_to=r.applies_to,
        extended_due_date=r.extended_due_date,
    )


def limit_steps(versions: list[StoredVersion], until: date) -> list[tuple[date, Decimal]]:
    """The limit in force as (date, amount from then on), from the first effective date
    to ``until``: the domain rule asked on the first day, then on each day it says the
    limit next changes."""
    if not versions:
        return []
    day = min(v.decision.effective_from for v in versions)
    points: list[tuple[date, Decimal]] = []
    while day <= until:
        state = limit_in_force(versions, day)
        amount = state.amount.amount if state.amount is not None else Decimal(0)
        if not points or points[-1][1] != amount:
            points.append((day, amount))
        if state.next_change is None or state.next_change <= day:
            break
        day = state.next_change
    return points


def gather(
    session: Session,
    reader: Reader,
    buyer_id: int,
    *,
    items_shown: int,
) -> BuyerPage:
    """Everything the page shows but the cases (read in this read transaction); raises
    :class:`~tci_gateway.services.buyer_detail.BuyerNotFoundError`."""
    identity = buyer_detail.buyer_identity(session, reader, buyer_id)
    covers: dict[str | None, buyer_detail.PolicyCover] = {
        c.policy: c for c in buyer_detail.buyer_covers(session, reader, buyer_id)
    }
    everything, more = buyer_detail.open_items(
        session, reader, buyer_id, limit=ITEM_CAP, include_closed=True
    )
    alerts, alerts_last = buyer_detail.alerts(session, reader, buyer_id, limit=ALERTS_SHOWN)
    loaded = [(v, _item(v)) for v in everything]  # each row made a domain item once
    grouped: dict[tuple[int, int | None], list[OpenItem]] | None = None
    if more is None:  # every item read: the positions reuse them instead of reading again
        grouped = {}
        for v, item in loaded:
            grouped.setdefault((buyer_id, v.policy_id), []).append(item)
    positions = {
        p.policy: p
        for p in buyer_positions(session, reader, [buyer_id], items=grouped).get(buyer_id, [])
    }
    by_policy: dict[str | None, list[Loaded]] = {}
    for pair in loaded:
        by_policy.setdefault(pair[0].policy, []).append(pair)
    keys = sorted(
        set(covers) | set(positions) | set(by_policy),
        key=lambda k: (k is None, k or ""),
    )
    convert = None
    if len({v.row.currency for v in everything}) > 1 or any(
        reader.policies[k].terms.currency != v.row.currency
        for v in everything
        if (k := v.policy) is not None and k in reader.policies
    ):
        convert = ledger_converter(session, [item for _, item in loaded])
    panels = [
        _panel(reader, key, covers.get(key), positions.get(key), by_policy.get(key, []), convert)
        for key in keys
    ]
    lines: list[ItemLine] = []
    for v, item in loaded:
        if v.row.open_amount <= 0:
            continue
        if len(lines) == items_shown:
            break
        policy = reader.policies.get(v.policy) if v.policy else None
        due = item.due_date_in_force(_moves(policy))
        today = _today(reader, policy)
        days = days_past_due(due, today) if v.row.kind == ItemKind.INVOICE else 0
        lines.append(ItemLine(v, due, days, bucket_of(days).value))
    open_count = sum(1 for v in everything if v.row.open_amount > 0)
    return BuyerPage(
        identity=identity,
        panels=panels,
        items=lines,
        items_more=open_count > len(lines),
        items_capped=more is not None,
        alerts=alerts,
        alerts_more=alerts_last is not None,
        cases=[],
        cases_more=False,
    )


def _moves(policy: Policy | None) -> bool:
    return policy.terms.extension_moves_deadlines if policy is not None else False


def _today(reader: Reader, policy: Policy | None) -> date:
    return policy.terms.business_date(reader.now) if policy is not None else reader.now.date()


def _panel(
    reader: Reader,
    key: str | None,
    cover: buyer_detail.PolicyCover | None,
    position: Position | None,
    items: list[Loaded],
    convert: Converter | None,
) -> PolicyPanel:
    policy = reader.policies.get(key) if key is not None else None
    today = _today(reader, policy)
    zone = policy.terms.timezone if policy is not None else None
    if position is not None:
        currency = position.exposure.currency
    elif policy is not None:
        currency = policy.terms.currency
    elif cover is not None:
        currency = cover.currency
    else:
        currency = items[0][1].currency if items else "EUR"
    versions = cover.versions if cover is not None else []
    horizon = date.fromordinal(today.toordinal() + HISTORY_HORIZON_DAYS)
    limits = limit_steps(versions, horizon)
    pairs = [
        (item, _settled_on(v.row, zone) if item.open_amount < item.amount else None)
        for v, item in items
    ]
    history = (
        exposure_over_time(pairs, currency, convert)
        if convert is not None
        else exposure_over_time(pairs, currency)
    )
    exposure_points = [(d, m.amount) for d, m in history.points]
    moves = _moves(policy)
    aged = age(
        (
            Aged(item.due_date_in_force(moves), item.open_amount, item.disputed)
            for _, item in items
            if item.kind is ItemKind.INVOICE and not item.open_amount.is_zero()
        ),
        today,
    )
    credits: dict[str, Money] = {}
    for _, item in items:
        if item.kind is not ItemKind.INVOICE and not item.open_amount.is_zero():
            c = item.open_amount
            credits[c.currency] = credits.get(c.currency, Money.zero(c.currency)) + c
    dates = [d for d, _ in limits] + [d for d, _ in exposure_points]
    start = min(dates, default=today)
    future = [d for d, _ in limits if d > today]
    end = max([today, *future])
    title = f"Covered limit against exposure{' under ' + key if key else ''}, {currency}"
    chart = step_chart(
        [
            Series("Covered limit", "limit", limits),
            Series("Exposure", "exposure", exposure_points),
        ],
        start=start,
        end=end,
        currency=currency,
        title=title,
        today=today,
        chart_id=f"chart-{key or 'none'}",
    )
    return PolicyPanel(
        policy=key,
        insurer=policy.insurer if policy is not None else (cover.insurer if cover else None),
        currency=currency,
        zone=zone,
        business_date=today,
        position=position,
        cover=cover,
        limit_points=limits,
        exposure_points=exposure_points,
        unconverted=history.unconverted,
        chart=chart,
        ageing=aged,
        credits=credits,
    )


def cases_of(ledger: Ledger, buyer_id: int) -> tuple[list[CaseView], bool]:
    """The buyer's newest cases (every state), and whether there are more."""
    found = list_cases(ledger, state=None, buyer_id=buyer_id, limit=CASES_SHOWN + 1)
    return found[:CASES_SHOWN], len(found) > CASES_SHOWN
