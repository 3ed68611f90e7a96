"""The SQL of alerts sent to people: preferences, the outbox (``notifications``) and its
claims, and the alerts a composer reads.

A message is inserted once per (person, channel, event id): inserting it again (a digest
job run twice, an enqueuer resumed after a crash) inserts nothing. A relay *claims* due
rows before sending them: ``state`` becomes ``sending`` with ``claimed_by`` and a lease
``claimed_until``, committed before anything is sent. The claim takes the row with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two relays never pick the same row) and with a
compare-and-set ``UPDATE ... WHERE`` the row is still as read on SQLite. A relay that dies
after its claim leaves the row ``sending``; once the lease has passed, it is due again
and another relay takes it. The outcome is written only by the claim's holder (``claimed_by``
and ``state = sending`` in the ``WHERE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tci_gateway.ledger.tables import AlertRow, BuyerRow, PolicyRow
from tci_gateway.ledger.web_tables import (
    Channel,
    MessageState,
    NotificationPreferenceRow,
    NotificationRow,
    UserRow,
)

_CHUNK = 500


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --- preferences ----------------------------------------------------------------------


def get_preferences(session: Session, user_id: int) -> NotificationPreferenceRow | None:
    return session.get(NotificationPreferenceRow, user_id)


def save_preferences(
    session: Session, user_id: int, *, now: datetime, **values: Any
) -> NotificationPreferenceRow:
    """Create or replace a person's preferences (``values``: the row's columns)."""
    row = session.get(NotificationPreferenceRow, user_id, with_for_update=True)
    if row is None:
        row = NotificationPreferenceRow(user_id=user_id, updated_at=now, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now
    session.flush()
    return row


def recipients(session: Session) -> list[tuple[UserRow, NotificationPreferenceRow]]:
    """Every person who is not disabled and receives something (a channel chosen), with
    their preferences, in id order."""
    stmt = (
        select(UserRow, NotificationPreferenceRow)
        .join(NotificationPreferenceRow, NotificationPreferenceRow.user_id == UserRow.id)
        .where(
            UserRow.disabled_at.is_(None),
            or_(NotificationPreferenceRow.email, NotificationPreferenceRow.chat),
        )
        .order_by(UserRow.id)
    )
    return [(u, p) for u, p in session.execute(stmt)]


# --- alerts ---------------------------------------------------------------------------


AlertFacts = tuple[AlertRow, str | None, str | None, str | None]
"""An alert with its policy key, buyer name and buyer tier (each ``None`` when absent)."""


def _alerts() -> Any:
    return (
        select(AlertRow, PolicyRow.key, BuyerRow.name, BuyerRow.tier)
        .outerjoin(PolicyRow, PolicyRow.id == AlertRow.policy_id)
        .outerjoin(BuyerRow, BuyerRow.id == AlertRow.buyer_id)
        .order_by(AlertRow.id)
    )


def alerts_by_id(session: Session, ids: Sequence[int]) -> list[AlertFacts]:
    found: list[AlertFacts] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        found.extend(
            (a, p, b, t) for a, p, b, t in session.execute(_alerts().where(AlertRow.id.in_(chunk)))
        )
    return found


def alerts_after(session: Session, after: int, limit: int) -> list[AlertFacts]:
    """Alerts with an id above ``after``, oldest first, at most ``limit``."""
    return [
        (a, p, b, t)
        for a, p, b, t in session.execute(_alerts().where(AlertRow.id > after).limit(limit))
    ]


def alerts_of_day(session: Session, day: date, limit: int) -> list[AlertFacts]:
    """The alerts of business date ``day``, oldest first, at most ``limit``."""
    stmt = _alerts().where(AlertRow.business_date == day).limit(limit)
    return [(a, p, b, t) for a, p, b, t in session.execute(stmt)]


# --- the outbox -----------------------------------------------------------------------


def enqueue(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert messages, skipping a (person, channel, event id) that exists; how many were
    new."""
    insert = postgresql.insert if _is_postgresql(session) else sqlite.insert
    new = 0
    for start in range(0, len(rows), _CHUNK):
        stmt = (
            insert(NotificationRow)
            .on_conflict_do_nothing(index_elements=["user_id", "channel", "event_id"])
            .returning(NotificationRow.id)
        )
        new += len(session.execute(stmt, list(rows[start : start + _CHUNK])).all())
    return new


def _due(now: datetime, channels: Sequence[Channel]) -> Any:
    n = NotificationRow
    return and_(
        n.channel.in_(list(channels)),
        or_(
            and_(n.state == MessageState.PENDING, n.next_attempt_at <= now),
            and_(n.state == MessageState.SENDING, n.claimed_until < now),
        ),
    )


def any_due(session: Session, now: datetime, channels: Sequence[Channel]) -> bool:
    """Whether a message of ``channels`` is due (read first: no write transaction, on
    SQLite no write lock, when there is nothing to send)."""
    if not channels:
        return False
    n = NotificationRow
    return session.scalar(select(n.id).where(_due(now, channels)).limit(1)) is not None


def claim_due(
    session: Session,
    *,
    now: datetime,
    until: datetime,
    instance: str,
    limit: int,
    channels: Sequence[Channel],
) -> list[NotificationRow]:
    """Claim up to ``limit`` due messages (pending and due, or sending with a lapsed
    lease) of ``channels`` for ``instance`` until ``until``, oldest first: each counts
    one more attempt. Commit before sending."""
    n = NotificationRow
    if not channels:
        return []
    if _is_postgresql(session):
        rows = list(
            session.scalars(
                select(n)
                .where(_due(now, channels))
                .order_by(n.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.state, row.claimed_by, row.claimed_until = MessageState.SENDING, instance, until
            row.attempts += 1
        session.flush()
        return rows
    seen = session.execute(
        select(n.id, n.state, n.attempts).where(_due(now, channels)).order_by(n.id).limit(limit)
    ).all()
    claimed: list[int] = []
    for row_id, state, attempts in seen:
        # Compare and set: taken only if nobody changed it since it was read.
        done = session.execute(
            update(n)
            .where(n.id == row_id, n.state == state, n.attempts == attempts, _due(now, channels))
            .values(
                state=MessageState.SENDING,
                claimed_by=instance,
                claimed_until=until,
                attempts=attempts + 1,
            )
            .returning(n.id)
        ).first()
        if done is not None:
            claimed.append(int(row_id))
    if not claimed:
        return []
    return list(
        session.scalars(
            select(n)
            .where(n.id.in_(claimed))
            .order_by(n.id)
            .execution_options(populate_existing=True)
        )
    )


def _held(row_id: int, instance: str) -> Any:
    n = NotificationRow
    return and_(n.id == row_id, n.state == MessageState.SENDING, n.claimed_by == instance)


def _finish(session: Session, row_id: int, instance: str, **values: Any) -> bool:
    n = NotificationRow
    done = session.execute(
        update(n).where(_held(row_id, instance)).values(**values).returning(n.id)
    ).first()
    return done is not None


def mark_sent(session: Session, row_id: int, instance: str, now: datetime) -> bool:
    """The claimed message was sent; False when ``instance`` no longer holds the claim."""
    return _finish(
        session,
        row_id,
        instance,
        state=MessageState.SENT,
        sent_at=now,
        last_error=None,
        claimed_until=None,
    )


def mark_retry(
    session: Session, row_id: int, instance: str, error: str, next_attempt_at: datetime
) -> bool:
    """The attempt failed: pending again from ``next_attempt_at``."""
    return _finish(
        session,
        row_id,
        instance,
        state=MessageState.PENDING,
        last_error=error,
        next_attempt_at=next_attempt_at,
        claimed_by=None,
        claimed_until=None,
    )


def mark_failed(session: Session, row_id: int, instance: str, error: str) -> bool:
    """Given up on, with the reason."""
    return _finish(
        session,
        row_id,
        instance,
        state=MessageState.FAILED,
        last_error=error,
        claimed_until=None,
    )


def note_waiting(session: Session, channel: Channel, reason: str) -> int:
    """Say on the pending messages of ``channel`` why they wait (a channel not set up)."""
    n = NotificationRow
    return len(
        session.execute(
            update(n)
            .where(
                n.channel == channel,
                n.state == MessageState.PENDING,
                or_(n.last_error.is_(None), n.last_error != reason),
            )
            .values(last_error=reason)
            .returning(n.id)
        ).all()
    )


def recent(session: Session, user_id: int, limit: int = 10) -> list[NotificationRow]:
    """A person's latest messages, newest first."""
    return list(
        session.scalars(
            select(NotificationRow)
            .where(NotificationRow.user_id == user_id)
            .order_by(NotificationRow.id.desc())
            .limit(limit)
        )
    )
