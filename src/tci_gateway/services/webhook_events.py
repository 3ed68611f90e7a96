"""The producer of ERP webhook events: new limit changes, new alerts, and deadlines coming
within the lead days, turned into one delivery per active subscription that wants them.

Each source has a cursor (``event_cursors``) advanced in the transaction that inserts its
deliveries, and each event a stable id (``limit.changed.<change id>``,
``alert.raised.<alert id>``, ``case.deadline_near.<digest of policy, buyer, deadline,
date and lead time>``), unique per subscription: producing again after a crash, or from
two processes at once (they take turns on the cursor's row), inserts nothing twice. The
ordering key of every event is its buyer.

Limit changes are committed in id order (their writers take one lock); alerts are not: on
PostgreSQL a transaction still open may commit an alert below ids already seen. So the
ids seen last are read again (only those lacking a delivery are produced) until every
transaction that was running when they were seen has ended (the snapshot's ``xmax``),
then the cursor settles past them. Deadlines are scanned again every
``scan_minutes`` (and on a new day); a deadline warned once per lead time is not sent
again. A new subscription gets the events from its creation on (:func:`start_sources`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tci_gateway.domain.escalation import EscalationPath
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger import webhooks as sql
from tci_gateway.ledger.api_tables import DeliveryState, SubscriptionRow
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.tables import AlertRow, BuyerRow, LimitChangeRow, PolicyRow
from tci_gateway.services.deadlines import scan_policy

LIMIT_CHANGED = "limit.changed"
ALERT_RAISED = "alert.raised"
DEADLINE_NEAR = "case.deadline_near"
EVENT_TYPES = (LIMIT_CHANGED, ALERT_RAISED, DEADLINE_NEAR)
DEADLINES_CURSOR = "webhooks:deadlines"


@dataclass(frozen=True)
class Event:
    event_id: str
    type: str
    ordering_key: str
    position: int
    data: dict[str, Any]


@dataclass(frozen=True)
class DeadlineOptions:
    """What the deadline scan needs (from the configuration)."""

    policies: Mapping[str, Policy]
    paths: Mapping[str, EscalationPath]
    default_tier: str
    lead_days: tuple[int, ...]
    scan_minutes: int = 60


@dataclass
class ProduceReport:
    """New deliveries per event type."""

    inserted: dict[str, int] = field(default_factory=dict)


def _buyer(buyer_id: int | None, name: str | None) -> dict[str, Any] | None:
    return None if buyer_id is None else {"id": buyer_id, "name": name}


def _key(buyer_id: int | None) -> str:
    return f"buyer:{buyer_id}" if buyer_id is not None else "buyer:none"


def _limit_events(stmt: Select[LimitChangeRow, str, str], session: Session) -> list[Event]:
    return [
        Event(
            f"{LIMIT_CHANGED}.{c.id}",
            LIMIT_CHANGED,
            _key(c.buyer_id),
            c.id,
            {
                "change_id": c.id,
                "policy": policy,
                "buyer": _buyer(c.buyer_id, name),
                "limit": {
                    "amount": str(Money(c.amount, c.currency).rounded().amount),
                    "currency": c.currency,
                },
                "business_date": c.business_date.isoformat(),
                "reason": str(c.reason),
            },
        )
        for c, policy, name in session.execute(stmt)
    ]


def _load_limits(session: Session, after: int, limit: int, ids: Sequence[int]) -> list[Event]:
    stmt = (
        select(LimitChangeRow, PolicyRow.key, BuyerRow.name)
        .join(PolicyRow, PolicyRow.id == LimitChangeRow.policy_id)
        .join(BuyerRow, BuyerRow.id == LimitChangeRow.buyer_id)
        .order_by(LimitChangeRow.id)
    )
    if ids:
        return _limit_events(stmt.where(LimitChangeRow.id.in_(list(ids))), session)
    return _limit_events(stmt.where(LimitChangeRow.id > after).limit(limit), session)


def _load_alerts(session: Session, after: int, limit: int, ids: Sequence[int]) -> list[Event]:
    stmt = (
        select(AlertRow, PolicyRow.key, BuyerRow.name)
        .outerjoin(PolicyRow, PolicyRow.id == AlertRow.policy_id)
        .outerjoin(BuyerRow, BuyerRow.id == AlertRow.buyer_id)
        .order_by(AlertRow.id)
    )
    stmt = stmt.where(AlertRow.id.in_(list(ids))) if ids else stmt.where(AlertRow.id > after)
    if not ids:
        stmt = stmt.limit(limit)
    return [
        Event(
            f"{ALERT_RAISED}.{a.id}",
            ALERT_RAISED,
            _key(a.buyer_id),
            a.id,
            {
                "alert_id": a.id,
                "kind": a.kind,
                "severity": a.severity,
                "business_date": a.business_date.isoformat(),
                "message": a.message,
                "policy": policy,
                "buyer": _buyer(a.buyer_id, name),
                "details": a.details,
            },
        )
        for a, policy, name in session.execute(stmt)
    ]


@dataclass(frozen=True)
class _IdSource:
    type: str
    table: Any
    load: Callable[[Session, int, int, Sequence[int]], list[Event]]

    @property
    def cursor(self) -> str:
        return f"webhooks:{self.type}"


_ID_SOURCES = (
    _IdSource(LIMIT_CHANGED, LimitChangeRow, _load_limits),
    _IdSource(ALERT_RAISED, AlertRow, _load_alerts),
)


def _rows(events: Sequence[Event], subs: Sequence[SubscriptionRow], now: datetime) -> list[Any]:
    created = now.astimezone(UTC).isoformat()
    return [
        {
            "subscription_id": sub.id,
            "event_id": e.event_id,
            "event_type": e.type,
            "ordering_key": e.ordering_key,
            "payload": {"id": e.event_id, "type": e.type, "created_at": created, "data": e.data},
            "state": DeliveryState.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for e in events
        for sub in subs
    ]


def _wanting(session: Session, event_type: str) -> list[SubscriptionRow]:
    return [s for s in sql.active_subscriptions(session) if event_type in s.events]


def _produce_ids(session: Session, source: _IdSource, now: datetime, batch: int) -> int:
    cur = sql.lock_cursor(session, source.cursor, now, lambda: sql.max_id(session, source.table))
    cur.updated_at = now
    subs = _wanting(session, source.type)
    bounds = sql.snapshot_bounds(session)
    if not subs:  # nobody listens: skip ahead
        cur.position = max(cur.position, sql.max_id(session, source.table))
        cur.pending_position = cur.pending_xmax = None
        return 0
    seen = max(cur.position, cur.pending_position or 0)
    events: list[Event] = []
    if seen > cur.position:  # ids seen while other transactions were open: any late ones?
        ids = sql.ids_between(session, source.table, cur.position, seen)
        event_ids = [f"{source.type}.{i}" for i in ids]
        have = sql.existing_events(session, [s.id for s in subs], event_ids)
        late = [
            i
            for i, e in zip(ids, event_ids, strict=True)
            if any((s.id, e) not in have for s in subs)
        ]
        if late:
            events.extend(source.load(session, 0, 0, late))
    # Every transaction that could commit an id below ``seen`` unseen had ended when
    # this snapshot was taken: the window just read again is settled.
    if cur.pending_position is not None and (
        bounds is None or bounds[0] >= (cur.pending_xmax or 0)
    ):
        cur.position = max(cur.position, cur.pending_position)
        cur.pending_position = cur.pending_xmax = None
    new = source.load(session, seen, batch, ())
    events.extend(new)
    inserted = sql.insert_deliveries(session, _rows(events, subs, now))
    top = new[-1].position if new else seen
    if bounds is None:
        cur.position = top
    elif top > seen:
        # Settled once every transaction open now (after the read: each statement has
        # its own snapshot) has ended.
        after = sql.snapshot_bounds(session)
        assert after is not None
        cur.pending_position, cur.pending_xmax = top, after[1]
    return inserted


def _deadline_id(policy: str, buyer_id: int, deadline: str, on: str, lead: int) -> str:
    digest = hashlib.sha256(f"{policy}:{buyer_id}:{deadline}:{on}:{lead}".encode()).hexdigest()
    return f"{DEADLINE_NEAR}.{digest[:32]}"


def _produce_deadlines(session: Session, options: DeadlineOptions, now: datetime) -> int:
    cur = sql.lock_cursor(session, DEADLINES_CURSOR, now, lambda: 0)
    stamp = int(now.timestamp())
    last = datetime.fromtimestamp(cur.position, UTC)
    if (
        cur.position
        and stamp - cur.position < options.scan_minutes * 60
        and last.date() == now.astimezone(UTC).date()
    ):
        return 0
    cur.position, cur.updated_at = stamp, now
    subs = _wanting(session, DEADLINE_NEAR)
    if not subs:
        return 0
    ids = policy_ids(session)
    events: list[Event] = []
    for key, policy in sorted(options.policies.items()):
        if key not in ids:
            continue
        today = policy.terms.business_date(now)
        for ob in scan_policy(
            session,
            policy,
            ids[key],
            options.paths,
            options.default_tier,
            today,
            options.lead_days,
        ):
            for w in ob.warnings:
                events.append(
                    Event(
                        _deadline_id(key, ob.buyer_id, w.deadline.value, str(w.on), w.lead_days),
                        DEADLINE_NEAR,
                        _key(ob.buyer_id),
                        0,
                        {
                            "policy": key,
                            "buyer": _buyer(ob.buyer_id, ob.buyer_name),
                            "deadline": w.deadline.value,
                            "date": w.on.isoformat(),
                            "days_left": w.days_left,
                            "lead_days": w.lead_days,
                            "business_date": today.isoformat(),
                            "case_id": ob.case_id,
                            "overdue_invoices": ob.overdue_invoices,
                        },
                    )
                )
    return sql.insert_deliveries(session, _rows(events, subs, now))


def produce(
    ledger: Ledger, *, now: datetime, deadlines: DeadlineOptions | None, batch: int = 1000
) -> ProduceReport:
    """Turn new events into deliveries, one transaction per source."""
    report = ProduceReport()
    for source in _ID_SOURCES:
        with ledger.unit_of_work() as session:
            report.inserted[source.type] = _produce_ids(session, source, now, batch)
    if deadlines is not None:
        with ledger.unit_of_work() as session:
            report.inserted[DEADLINE_NEAR] = _produce_deadlines(session, deadlines, now)
    return report


def start_sources(session: Session, events: Sequence[str], now: datetime) -> None:
    """For a new subscription: the cursors of its sources exist (from the events of now
    on), and deadlines are scanned again at the next tick."""
    for source in _ID_SOURCES:
        if source.type in events:
            initial = partial(sql.max_id, session, source.table)
            sql.lock_cursor(session, source.cursor, now, initial)
    if DEADLINE_NEAR in events:
        sql.lock_cursor(session, DEADLINES_CURSOR, now, lambda: 0)
        sql.reset_cursor(session, DEADLINES_CURSOR)
