"""Payment-behaviour snapshots (``behaviour_snapshots``): one row per scope, key and
business date, written by an upsert (a rerun of the same date replaces its rows) and
pruned so that month-end rows and the latest date are kept, for trends."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tci_gateway.ledger.credit_tables import BehaviourSnapshotRow

CHUNK = 1000
_UPDATED = tuple(
    c.name
    for c in BehaviourSnapshotRow.__table__.columns
    if c.name not in ("id", "scope", "scope_key", "business_date")
)


def is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def upsert_snapshots(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or replace snapshot rows by (scope, scope_key, business_date)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(rows), CHUNK):
        stmt = insert(BehaviourSnapshotRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=["scope", "scope_key", "business_date"],
            set_={name: stmt.excluded[name] for name in _UPDATED},
        )
        session.execute(stmt, list(rows[start : start + CHUNK]))
    return len(rows)


def prune_snapshots(session: Session, *, keep: date) -> int:
    """Delete the rows of every date that is neither a month end, ``keep`` nor the
    latest date stored. Returns how many rows went."""
    table = BehaviourSnapshotRow
    dates = [d for (d,) in session.execute(select(table.business_date).distinct())]
    if not dates:
        return 0
    latest = max(dates)
    gone = [d for d in dates if d not in (keep, latest) and not is_month_end(d)]
    if not gone:
        return 0
    result = session.execute(delete(table).where(table.business_date.in_(gone)))
    return int(getattr(result, "rowcount", 0) or 0)


def snapshot_rows(
    session: Session, scope: str, key: str, *, since: date | None = None
) -> list[BehaviourSnapshotRow]:
    """One scope's snapshot rows, oldest first."""
    table = BehaviourSnapshotRow
    stmt = select(table).where(table.scope == scope, table.scope_key == key)
    if since is not None:
        stmt = stmt.where(table.business_date >= since)
    return list(session.scalars(stmt.order_by(table.business_date)))


def latest_date(session: Session, scope: str, key: str) -> date | None:
    table = BehaviourSnapshotRow
    found: date | None = session.scalar(
        select(func.max(table.business_date)).where(table.scope == scope, table.scope_key == key)
    )
    return found


def month_end_receivables(
    session: Session, scope: str, key: str, currency: str, *, after: date, until: date
) -> list[tuple[date, Decimal]]:
    """(date, receivables) of the month-end snapshots of one scope in (after, until]."""
    table = BehaviourSnapshotRow
    rows = session.execute(
        select(table.business_date, table.receivables).where(
            table.scope == scope,
            table.scope_key == key,
            table.currency == currency,
            table.business_date > after,
            table.business_date <= until,
        )
    )
    return [(d, r) for d, r in rows if is_month_end(d)]
