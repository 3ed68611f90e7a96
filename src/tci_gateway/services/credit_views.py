"""Credit applications as the CLI, the API and the workspace show them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.ledger import credit as repo
from tci_gateway.ledger.credit_tables import CreditApplicationRow
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import BuyerRow, CoverRequestRow, PolicyRow

DECISION_STEPS = frozenset({"granted_dcl", "insurer_decided", "person_decided"})


@dataclass(frozen=True)
class EventView:
    """One step: when it started and what it found (``duration_ms`` where measured)."""

    step: str
    at: datetime
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class ApplicationView:
    """An application and the pre-screen's record of it. ``scorecard``, ``conditions``
    and ``evidence`` are as stored (figures as decimal strings); ``events`` are filled
    by :func:`get_application` (a list leaves them out)."""

    id: int
    reference: str
    buyer_id: int
    buyer_name: str
    policy: str
    amount: Decimal
    currency: str
    requested_by: str
    channel: str
    tier: str
    state: str
    route: str | None
    score: Decimal | None
    scorecard: Mapping[str, Any]
    conditions: Sequence[Mapping[str, Any]]
    evidence: Mapping[str, Any]
    reason: str | None
    granted_amount: Decimal | None
    provisional_amount: Decimal | None
    cover_request_id: int | None
    cover_request_reference: str | None
    cover_request_state: str | None
    plan_id: int | None
    received_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    updated_at: datetime
    events: tuple[EventView, ...] = ()

    @property
    def hours_to_decision(self) -> Decimal | None:
        if self.decided_at is None:
            return None
        seconds = Decimal(str((self.decided_at - self.received_at).total_seconds()))
        return (seconds / 3600).quantize(Decimal("0.01"))


def _views(
    session: Session, rows: Sequence[CreditApplicationRow], *, with_events: bool
) -> list[ApplicationView]:
    if not rows:
        return []
    buyer_ids = {r.buyer_id for r in rows}
    names = dict(
        session.execute(select(BuyerRow.id, BuyerRow.name).where(BuyerRow.id.in_(buyer_ids))).all()
    )
    keys = dict(session.execute(select(PolicyRow.id, PolicyRow.key)).all())
    request_ids = {r.cover_request_id for r in rows if r.cover_request_id is not None}
    requests = {
        i: (ref, state)
        for i, ref, state in session.execute(
            select(
                CoverRequestRow.id, CoverRequestRow.client_reference, CoverRequestRow.state
            ).where(CoverRequestRow.id.in_(request_ids))
        )
    }
    events = repo.events_of(session, [r.id for r in rows]) if with_events else {}
    views = []
    for r in rows:
        ref, state = requests.get(r.cover_request_id or 0, (None, None))
        provisional = (r.evidence.get("screen") or {}).get("provisional")
        views.append(
            ApplicationView(
                id=r.id,
                reference=r.reference,
                buyer_id=r.buyer_id,
                buyer_name=names.get(r.buyer_id, ""),
                policy=keys.get(r.policy_id, ""),
                amount=r.amount,
                currency=r.currency,
                requested_by=r.requested_by,
                channel=r.channel,
                tier=r.tier,
                state=r.state.value,
                route=r.route.value if r.route is not None else None,
                score=r.score,
                scorecard=r.scorecard,
                conditions=r.conditions,
                evidence=r.evidence,
                reason=r.reason,
                granted_amount=r.granted_amount,
                provisional_amount=Decimal(provisional) if provisional else None,
                cover_request_id=r.cover_request_id,
                cover_request_reference=ref,
                cover_request_state=str(state) if state is not None else None,
                plan_id=r.plan_id,
                received_at=r.received_at,
                decided_at=r.decided_at,
                decided_by=r.decided_by,
                updated_at=r.updated_at,
                events=tuple(EventView(e.step, e.at, e.detail) for e in events.get(r.id, [])),
            )
        )
    return views


def get_application(ledger: Ledger, reference: str) -> ApplicationView:
    """One application with its steps; LookupError when there is none."""
    with ledger.unit_of_work() as session:
        row = repo.by_reference(session, reference)
        return _views(session, [row], with_events=True)[0]


def list_applications(
    ledger: Ledger,
    *,
    state: str | None = None,
    buyer_id: int | None = None,
    limit: int = 100,
    before: int | None = None,
) -> list[ApplicationView]:
    """Applications newest first (``before``: an id, for the next page), without their
    steps."""
    with ledger.unit_of_work() as session:
        rows = repo.applications(
            session, state=state, buyer_id=buyer_id, limit=limit, before=before
        )
        return _views(session, rows, with_events=False)
