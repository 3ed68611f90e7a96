"""Operational figures read from the ledger: sync and job outcomes, outbox depth.

``GET /metrics`` reads these at scrape time (so every process of every instance reports
the same figures, whichever ran the work) and an operator's tools may too. Each figure is
one grouped query over an indexed or small table: sync runs and job runs grow by a few rows
a day, and the outbox queries touch only the rows still waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from tci_gateway.domain.cases import ActionState
from tci_gateway.domain.cover import CoverRequestState
from tci_gateway.ledger.api_tables import DeliveryState
from tci_gateway.ledger.tables import (
    CaseActionRow,
    CoverRequestRow,
    JobRunRow,
    SyncRunRow,
    WebhookDeliveryRow,
)

# The states in which an outbox row still waits for the gateway, the insurer or a person.
COVER_REQUESTS_WAITING = (
    CoverRequestState.QUEUED,
    CoverRequestState.AMBIGUOUS,
    CoverRequestState.PENDING,
)
CASE_ACTIONS_WAITING = (
    ActionState.QUEUED,
    ActionState.AMBIGUOUS,
    ActionState.REJECTED,
    ActionState.MANUAL,
)
WEBHOOK_DELIVERIES_WAITING = (DeliveryState.PENDING,)


@dataclass(frozen=True)
class Outcome:
    """How many runs of ``name`` (an insurer's syncs, or a job) ended in ``state``, and
    when the last of them finished (``None`` while running or never finished)."""

    name: str
    state: str
    count: int
    last_finished_at: datetime | None


@dataclass(frozen=True)
class OutboxDepth:
    """Rows of ``outbox`` waiting in ``state``, and when the oldest of them was written."""

    outbox: str
    state: str
    count: int
    oldest_at: datetime | None


@dataclass(frozen=True)
class LedgerFigures:
    sync_runs: list[Outcome]
    job_runs: list[Outcome]
    outbox: list[OutboxDepth]


def read_figures(session: Session) -> LedgerFigures:
    """Every figure, read in ``session`` (a read-only transaction is enough)."""
    return LedgerFigures(
        sync_runs=_outcomes(session, SyncRunRow.insurer, SyncRunRow.status, SyncRunRow.finished_at),
        job_runs=_outcomes(session, JobRunRow.job, JobRunRow.state, JobRunRow.finished_at),
        outbox=[
            *_depth(session, "cover_requests", CoverRequestRow, COVER_REQUESTS_WAITING),
            *_depth(session, "case_actions", CaseActionRow, CASE_ACTIONS_WAITING),
            *_depth(session, "webhook_deliveries", WebhookDeliveryRow, WEBHOOK_DELIVERIES_WAITING),
        ],
    )


def _outcomes(
    session: Session,
    name: InstrumentedAttribute[str],
    state: InstrumentedAttribute[Any],
    finished: InstrumentedAttribute[datetime | None],
) -> list[Outcome]:
    rows = session.execute(
        select(name, state, func.count(), func.max(finished))
        .group_by(name, state)
        .order_by(name, state)
    ).all()
    return [Outcome(str(n), str(s), int(c), last) for n, s, c, last in rows]


def _depth(
    session: Session,
    outbox: str,
    table: type[CoverRequestRow] | type[CaseActionRow] | type[WebhookDeliveryRow],
    waiting: tuple[object, ...],
) -> list[OutboxDepth]:
    found = {
        str(state): (int(count), oldest)
        for state, count, oldest in session.execute(
            select(table.state, func.count(), func.min(table.created_at))
            .where(table.state.in_(waiting))
            .group_by(table.state)
        ).all()
    }
    # Every waiting state is reported, at 0 when empty, so an alert on the series works
    # from the first scrape on.
    return [OutboxDepth(outbox, str(state), *found.get(str(state), (0, None))) for state in waiting]
