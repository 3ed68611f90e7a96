"""Sync runs, imports and alerts: what the gateway did and what it found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tci_gateway.domain.alerts import SEVERITY, AlertKind
from tci_gateway.domain.sync import SyncStatus
from tci_gateway.ledger.bulk_rows import insert_new_rows
from tci_gateway.ledger.tables import AlertRow, BuyerRow, ImportRow, PolicyRow, SyncRunRow


def start_sync_run(
    session: Session, *, insurer: str, policy_id: int, business_date: date, now: datetime
) -> int:
    row = SyncRunRow(
        insurer=insurer,
        policy_id=policy_id,
        business_date=business_date,
        status=SyncStatus.RUNNING,
        started_at=now,
        fetched=0,
        written=0,
        unchanged=0,
        stale=0,
        errors=[],
    )
    session.add(row)
    session.flush()
    return row.id


def finish_sync_run(
    session: Session,
    run_id: int,
    *,
    status: SyncStatus,
    now: datetime,
    fetched: int,
    written: int,
    unchanged: int,
    stale: int,
    errors: list[str],
) -> None:
    row = session.get_one(SyncRunRow, run_id)
    row.status, row.finished_at = status, now
    row.fetched, row.written, row.unchanged, row.stale = fetched, written, unchanged, stale
    row.errors = errors


def record_import(
    session: Session,
    *,
    kind: str,
    source: str,
    sha256: str,
    rows: int,
    inserted: int,
    updated: int,
    unchanged: int,
    now: datetime,
) -> int:
    row = ImportRow(
        kind=kind,
        source=source[-500:],
        sha256=sha256,
        rows=rows,
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        finished_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def add_alert(
    session: Session,
    *,
    kind: AlertKind,
    message: str,
    business_date: date,
    dedupe_key: str,
    now: datetime,
    buyer_id: int | None = None,
    policy_id: int | None = None,
    sync_run_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Record an alert once per ``dedupe_key``; True when it is new."""
    values = {
        "kind": kind.value,
        "severity": SEVERITY[kind].value,
        "buyer_id": buyer_id,
        "policy_id": policy_id,
        "business_date": business_date,
        "message": message,
        "details": details or {},
        "dedupe_key": dedupe_key[:200],
        "sync_run_id": sync_run_id,
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(AlertRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(AlertRow.id)
    )
    # RETURNING, not rowcount: psycopg reports no rowcount for an ORM insert.
    return session.execute(stmt).first() is not None


def alert_values(
    *,
    kind: AlertKind,
    message: str,
    business_date: date,
    dedupe_key: str,
    now: datetime,
    buyer_id: int | None = None,
    policy_id: int | None = None,
    sync_run_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One alert row, for :func:`add_alerts`."""
    return {
        "kind": kind.value,
        "severity": SEVERITY[kind].value,
        "buyer_id": buyer_id,
        "policy_id": policy_id,
        "business_date": business_date,
        "message": message,
        "details": details or {},
        "dedupe_key": dedupe_key[:200],
        "sync_run_id": sync_run_id,
        "created_at": now,
    }


_ALERT_COLUMNS = (
    "kind",
    "severity",
    "buyer_id",
    "policy_id",
    "business_date",
    "message",
    "details",
    "dedupe_key",
    "sync_run_id",
    "created_at",
)


def add_alerts(session: Session, rows: list[dict[str, Any]]) -> int:
    """Record many alerts at once (one statement: :func:`~tci_gateway.ledger.bulk_rows.
    insert_new_rows`); those whose dedupe key exists are skipped. Returns how many were
    stored (what a report may count)."""
    return insert_new_rows(
        session,
        cast(Table, AlertRow.__table__),
        _ALERT_COLUMNS,
        [tuple(row[c] for c in _ALERT_COLUMNS) for row in rows],
        unique="dedupe_key",
    )


def mark_interrupted(session: Session, policy_id: int, now: datetime) -> int:
    """Runs of a policy still marked running were interrupted (a crash, kill -9) before
    their reconciliation committed (which records the run's outcome in the same
    transaction): nothing of them reached the ledger, and their staged rows are pruned
    (:func:`tci_gateway.ledger.staging.prune_staging`)."""
    rows = list(
        session.scalars(
            select(SyncRunRow).where(
                SyncRunRow.policy_id == policy_id, SyncRunRow.status == SyncStatus.RUNNING
            )
        )
    )
    for row in rows:
        row.status, row.finished_at = SyncStatus.FAILED, now
        row.errors = [*row.errors, "interrupted: the process stopped before the run finished"]
    return len(rows)


@dataclass(frozen=True)
class AlertView:
    id: int
    kind: str
    severity: str
    business_date: date
    buyer: str | None
    policy: str | None
    message: str
    created_at: datetime


def list_alerts(
    session: Session, *, since: date | None = None, limit: int = 200
) -> list[AlertView]:
    stmt = (
        select(AlertRow, BuyerRow.name, PolicyRow.key)
        .outerjoin(BuyerRow, BuyerRow.id == AlertRow.buyer_id)
        .outerjoin(PolicyRow, PolicyRow.id == AlertRow.policy_id)
        .order_by(AlertRow.id.desc())
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(AlertRow.business_date >= since)
    return [
        AlertView(a.id, a.kind, a.severity, a.business_date, b, p, a.message, a.created_at)
        for a, b, p in session.execute(stmt)
    ]


@dataclass(frozen=True)
class AlertEntry:
    """An alert as a feed gives it: with its buyer's id and its details."""

    id: int
    kind: str
    severity: str
    business_date: date
    buyer_id: int | None
    buyer: str | None
    policy: str | None
    message: str
    details: dict[str, Any]
    created_at: datetime


def alerts_after(
    session: Session, after: int, *, limit: int, policies: frozenset[str] | None = None
) -> list[AlertEntry]:
    """Up to ``limit`` alerts with an id above ``after``, oldest first (keyset paging);
    ``policies``: only alerts of those policy keys, or of no policy."""
    stmt = (
        select(AlertRow, BuyerRow.name, PolicyRow.key)
        .outerjoin(BuyerRow, BuyerRow.id == AlertRow.buyer_id)
        .outerjoin(PolicyRow, PolicyRow.id == AlertRow.policy_id)
        .where(AlertRow.id > after)
        .order_by(AlertRow.id)
        .limit(limit)
    )
    if policies is not None:
        stmt = stmt.where(AlertRow.policy_id.is_(None) | PolicyRow.key.in_(sorted(policies)))
    return [
        AlertEntry(
            a.id,
            a.kind,
            a.severity,
            a.business_date,
            a.buyer_id,
            b,
            p,
            a.message,
            dict(a.details or {}),
            a.created_at,
        )
        for a, b, p in session.execute(stmt)
    ]
