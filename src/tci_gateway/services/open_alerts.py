"""Alerts nobody has acknowledged yet, and acknowledging one (the workspace's portfolio).

``alerts.acknowledged_at`` / ``acknowledged_by`` are set once: acknowledging an alert
already acknowledged changes nothing (the first person and time stay).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tci_gateway.domain.cover import OPEN_REQUEST_STATES
from tci_gateway.ledger.tables import AlertRow, BuyerRow, CoverRequestRow, PolicyRow


@dataclass(frozen=True)
class OpenAlert:
    id: int
    kind: str
    severity: str
    business_date: date
    buyer_id: int | None
    buyer: str | None
    policy: str | None
    message: str
    created_at: datetime


@dataclass(frozen=True)
class OpenAlerts:
    alerts: list[OpenAlert]
    total: int
    """How many alerts are not acknowledged, in all."""
    next_before: int | None
    """The id to page on (``before``) when there are older ones."""


def open_alerts(session: Session, *, limit: int, before: int | None = None) -> OpenAlerts:
    """Alerts not acknowledged, newest first, keyset-paged on the id (``before``)."""
    stmt = (
        select(AlertRow, BuyerRow.name, PolicyRow.key)
        .outerjoin(BuyerRow, BuyerRow.id == AlertRow.buyer_id)
        .outerjoin(PolicyRow, PolicyRow.id == AlertRow.policy_id)
        .where(AlertRow.acknowledged_at.is_(None))
        .order_by(AlertRow.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        stmt = stmt.where(AlertRow.id < before)
    found = [
        OpenAlert(
            a.id,
            a.kind,
            a.severity,
            a.business_date,
            a.buyer_id,
            name,
            key,
            a.message,
            a.created_at,
        )
        for a, name, key in session.execute(stmt)
    ]
    total = session.scalar(
        select(func.count()).select_from(AlertRow).where(AlertRow.acknowledged_at.is_(None))
    )
    page = found[:limit]
    more = len(found) > limit
    return OpenAlerts(page, int(total or 0), page[-1].id if more and page else None)


def acknowledge(session: Session, alert_id: int, *, by: str, now: datetime) -> bool | None:
    """Mark the alert acknowledged by ``by``: True when this call did, False when it
    already was, ``None`` when there is no such alert."""
    done = session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=by[:64])
        .returning(AlertRow.id)
    ).first()
    if done is not None:
        return True
    exists = session.scalar(select(AlertRow.id).where(AlertRow.id == alert_id))
    return False if exists is not None else None


def waiting_requests(session: Session) -> tuple[int, int]:
    """Cover requests not decided yet (queued, sent, with the insurer), and how many
    buyers they are for."""
    count, buyers = session.execute(
        select(func.count(), func.count(func.distinct(CoverRequestRow.buyer_id))).where(
            CoverRequestRow.state.in_(OPEN_REQUEST_STATES)
        )
    ).one()
    return int(count or 0), int(buyers or 0)
