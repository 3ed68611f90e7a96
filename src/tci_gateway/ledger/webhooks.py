"""The SQL of ERP webhooks: subscriptions, the delivery outbox, its cursors and attempts.

Deliveries are inserted "once per (subscription, event id)" (a conflict is skipped), so
producing the same events again after a crash inserts nothing twice. The relay takes the
oldest due delivery that is the *head* of its (subscription, ordering key) queue: no
earlier delivery of that queue is still pending, so the events of one buyer are sent in
order. On PostgreSQL the head is claimed with ``FOR UPDATE SKIP LOCKED``: another
process skips the claimed row, and the rows queued behind it are no heads while it is
pending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from tci_gateway.ledger.api_tables import (
    DeliveryState,
    EventCursorRow,
    SubscriptionRow,
    SubscriptionState,
    WebhookAttemptRow,
    WebhookDeliveryRow,
)

_CHUNK = 500


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert deliveries (in the given order), skipping a (subscription, event id) that
    exists; how many were new."""
    new = 0
    for start in range(0, len(rows), _CHUNK):
        stmt = (
            _insert(session)(WebhookDeliveryRow)
            .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
            .returning(WebhookDeliveryRow.id)
        )
        new += len(session.execute(stmt, list(rows[start : start + _CHUNK])).all())
    return new


def existing_events(
    session: Session, subscription_ids: Iterable[int], event_ids: Sequence[str]
) -> set[tuple[int, str]]:
    """Which (subscription id, event id) pairs already have a delivery."""
    subs = sorted(subscription_ids)
    found: set[tuple[int, str]] = set()
    for start in range(0, len(event_ids), _CHUNK):
        chunk = list(event_ids[start : start + _CHUNK])
        found.update(
            (int(s), str(e))
            for s, e in session.execute(
                select(WebhookDeliveryRow.subscription_id, WebhookDeliveryRow.event_id).where(
                    WebhookDeliveryRow.subscription_id.in_(subs),
                    WebhookDeliveryRow.event_id.in_(chunk),
                )
            )
        )
    return found


def active_subscriptions(session: Session) -> list[SubscriptionRow]:
    return list(
        session.scalars(
            select(SubscriptionRow)
            .where(SubscriptionRow.state == SubscriptionState.ACTIVE)
            .order_by(SubscriptionRow.id)
        )
    )


def lock_cursor(
    session: Session, name: str, now: datetime, initial: Callable[[], int]
) -> EventCursorRow:
    """The cursor ``name``, locked until the transaction ends (producers of one source
    take turns); created at ``initial()`` when missing."""
    row = session.scalar(select(EventCursorRow).where(EventCursorRow.name == name))
    if row is None:
        session.execute(
            _insert(session)(EventCursorRow)
            .values(name=name, position=initial(), updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
    row = session.scalar(
        select(EventCursorRow)
        .where(EventCursorRow.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def reset_cursor(session: Session, name: str) -> None:
    """Move the cursor ``name`` back to 0 (a source that is scanned again from scratch)."""
    session.execute(update(EventCursorRow).where(EventCursorRow.name == name).values(position=0))


def snapshot_bounds(session: Session) -> tuple[int, int] | None:
    """PostgreSQL: (xmin, xmax) of the transaction's snapshot (every transaction below
    xmin has ended; none at or above xmax had begun). ``None`` on SQLite, whose single
    writer commits ids in order."""
    if not is_postgresql(session):
        return None
    row = session.execute(
        text(
            "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint "
            "FROM pg_current_snapshot() AS s"
        )
    ).one()
    return int(row[0]), int(row[1])


def max_id(session: Session, table: Any) -> int:
    return int(session.scalar(select(func.max(table.id))) or 0)


def ids_between(session: Session, table: Any, low: int, high: int) -> list[int]:
    """The ids of ``table`` in (low, high], in order."""
    return [
        int(i)
        for i in session.scalars(
            select(table.id).where(table.id > low, table.id <= high).order_by(table.id)
        )
    ]


def _pending_before(d: Any) -> Any:
    """An earlier delivery of ``d``'s queue is still pending (``d`` is no head)."""
    earlier = aliased(WebhookDeliveryRow)
    return (
        select(earlier.id)
        .where(
            earlier.subscription_id == d.subscription_id,
            earlier.ordering_key == d.ordering_key,
            earlier.state == DeliveryState.PENDING,
            earlier.id < d.id,
        )
        .exists()
    )


def _active(d: Any) -> Any:
    return (
        select(SubscriptionRow.id)
        .where(SubscriptionRow.id == d.subscription_id)
        .where(SubscriptionRow.state == SubscriptionState.ACTIVE)
        .exists()
    )


def due_heads(session: Session, now: datetime, limit: int) -> list[int]:
    """The heads of the pending queues (the oldest pending delivery of each subscription
    and ordering key) that are due, of active subscriptions, oldest first."""
    d = WebhookDeliveryRow
    inner = aliased(WebhookDeliveryRow)
    heads = (
        select(func.min(inner.id))
        .where(inner.state == DeliveryState.PENDING)
        .group_by(inner.subscription_id, inner.ordering_key)
    )
    stmt = (
        select(d.id)
        .where(d.id.in_(heads), d.next_attempt_at <= now, _active(d))
        .order_by(d.id)
        .limit(limit)
    )
    return [int(i) for i in session.scalars(stmt)]


def next_in_queue(session: Session, subscription_id: int, ordering_key: str) -> int | None:
    """The oldest pending delivery of one queue."""
    d = WebhookDeliveryRow
    found = session.scalar(
        select(d.id)
        .where(
            d.subscription_id == subscription_id,
            d.ordering_key == ordering_key,
            d.state == DeliveryState.PENDING,
        )
        .order_by(d.id)
        .limit(1)
    )
    return None if found is None else int(found)


def _claim_statement(skip_locked: bool) -> Any:
    d = WebhookDeliveryRow
    stmt = select(d).where(
        d.id == bindparam("delivery_id"),
        d.state == DeliveryState.PENDING,
        d.next_attempt_at <= bindparam("now"),
        _active(d),
        ~_pending_before(d),
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    return stmt.execution_options(populate_existing=True)


# Built once: the relay runs them for every delivery.
_CLAIM = {flag: _claim_statement(flag) for flag in (False, True)}


def claim(
    session: Session, delivery_id: int, now: datetime, *, skip_locked: bool
) -> WebhookDeliveryRow | None:
    """The delivery if it is still pending, due, of an active subscription and the head
    of its queue; with ``skip_locked`` it is locked ``FOR UPDATE SKIP LOCKED``
    (PostgreSQL) until the transaction ends, and ``None`` when another holds it."""
    found: WebhookDeliveryRow | None = session.scalar(
        _CLAIM[skip_locked], {"delivery_id": delivery_id, "now": now}
    )
    return found


def add_attempt(session: Session, **values: Any) -> None:
    session.add(WebhookAttemptRow(**values))


def count_failure(session: Session, subscription_id: int) -> int:
    """One more failure in a row for the subscription (in SQL: two processes failing at
    once both count); the new count."""
    sub = SubscriptionRow
    return int(
        session.execute(
            update(sub)
            .where(sub.id == subscription_id)
            .values(consecutive_failures=sub.consecutive_failures + 1)
            .returning(sub.consecutive_failures)
        ).scalar_one()
    )


def reset_failures(session: Session, subscription_id: int) -> None:
    session.execute(
        update(SubscriptionRow)
        .where(SubscriptionRow.id == subscription_id, SubscriptionRow.consecutive_failures != 0)
        .values(consecutive_failures=0)
    )


def disable(session: Session, subscription_id: int, reason: str, now: datetime) -> bool:
    """Disable an active subscription; False when it was not active (disabled already)."""
    sub = SubscriptionRow
    done = session.execute(
        update(sub)
        .where(sub.id == subscription_id, sub.state == SubscriptionState.ACTIVE)
        .values(state=SubscriptionState.DISABLED, disabled_at=now, disabled_reason=reason)
        .returning(sub.id)
    ).first()
    return done is not None


def fail_pending(session: Session, subscription_id: int, reason: str) -> int:
    """Give up the pending deliveries of a (disabled) subscription. On PostgreSQL a row
    another relay is sending is skipped, not waited for (that relay holds it, and would
    wait for this transaction's lock on the subscription): it stays pending, never sent
    again while the subscription is disabled."""
    d = WebhookDeliveryRow
    pending = select(d.id).where(
        d.subscription_id == subscription_id, d.state == DeliveryState.PENDING
    )
    if is_postgresql(session):
        pending = pending.with_for_update(skip_locked=True)
    ids = list(session.scalars(pending))
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            update(d)
            .where(d.id.in_(ids[start : start + _CHUNK]))
            .values(state=DeliveryState.FAILED, last_error=reason)
        )
    return len(ids)


def subscriptions_page(session: Session, after: int | None, limit: int) -> list[SubscriptionRow]:
    """Subscriptions in id order after ``after`` (keyset), at most ``limit``."""
    stmt = select(SubscriptionRow).order_by(SubscriptionRow.id).limit(limit)
    if after is not None:
        stmt = stmt.where(SubscriptionRow.id > after)
    return list(session.scalars(stmt))


def deliveries_page(
    session: Session, subscription_id: int, before: int | None, limit: int
) -> list[WebhookDeliveryRow]:
    """A subscription's deliveries, newest first, below ``before`` (keyset)."""
    stmt = (
        select(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.subscription_id == subscription_id)
        .order_by(WebhookDeliveryRow.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(WebhookDeliveryRow.id < before)
    return list(session.scalars(stmt))


def attempts_of(
    session: Session, delivery_ids: Sequence[int]
) -> dict[int, list[WebhookAttemptRow]]:
    """The attempts of some deliveries, oldest first, by delivery id."""
    found: dict[int, list[WebhookAttemptRow]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return found
    for row in session.scalars(
        select(WebhookAttemptRow)
        .where(WebhookAttemptRow.delivery_id.in_(list(delivery_ids)))
        .order_by(WebhookAttemptRow.id)
    ):
        found[row.delivery_id].append(row)
    return found


def delete_subscription(session: Session, subscription_id: int) -> bool:
    """Remove a subscription with its deliveries and their attempts; False when absent."""
    row = session.get(SubscriptionRow, subscription_id, with_for_update=True)
    if row is None:
        return False
    deliveries = select(WebhookDeliveryRow.id).where(
        WebhookDeliveryRow.subscription_id == subscription_id
    )
    session.execute(delete(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(deliveries)))
    session.execute(
        delete(WebhookDeliveryRow).where(WebhookDeliveryRow.subscription_id == subscription_id)
    )
    session.delete(row)
    return True
