"""Staging of fetched portfolio records: the raw payload with its provenance and the
normalised decision, written before reconciliation so a sync streams from the database
instead of holding a whole portfolio in memory.

Staged rows are kept for a retention period (``[sync] staging_retention_days``, 90 days
by default) as the provenance of what was synced, then pruned (:func:`prune_staging`, at
the start of every sync and by the nightly limit sync); the rows of a run that failed
(its fetch failed, or the process was killed before it reconciled) are pruned at once:
nothing of them reached the ledger.

Each staged row carries the digest of its raw record (:func:`record_digest`). The last
succeeded run of a policy that staged every record it fetched is the *baseline*
(:func:`baseline_run`) a new run's records are compared with, position by position
(:func:`staged_digest_window`); records that hash the same are copied from the baseline's rows
(:func:`copy_staged`) rather than held in memory, and a portfolio that hashes the same
throughout is not staged again. Pruning a baseline only turns the comparison off for the
next run."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from hashlib import blake2b
from typing import Any, cast

from sqlalchemy import Integer, Table, delete, func, insert, literal, or_, select, text
from sqlalchemy.orm import Session

from tci_gateway.domain.cover import Condition, CoverDecision, CoverStatus, PendingAction, Tranche
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.domain.money import Money
from tci_gateway.domain.portfolio import PortfolioEntry
from tci_gateway.domain.sync import SyncStatus
from tci_gateway.ledger import unlisted
from tci_gateway.ledger.bulk_rows import insert_rows
from tci_gateway.ledger.tables import (
    BuyerIdentifierRow,
    CoverDecisionRow,
    SyncRunRow,
    SyncStagingRow,
)
from tci_gateway.ledger.types import UTCDateTime

DEFAULT_RETENTION_DAYS = 90
_STAGING = cast(Table, SyncStagingRow.__table__)
_STAGE_COLUMNS = (
    "sync_run_id",
    "position",
    "source",
    "external_id",
    "buyer_name",
    "buyer_country",
    "fetched_at",
    "payload",
    "normalised",
    "digest",
)


def _d(value: date | None) -> str | None:
    return value.isoformat() if value else None


def decision_to_json(d: CoverDecision) -> str:
    """The normalised decision as JSON: amounts as strings (exact), dates ISO."""
    payload: dict[str, Any] = {
        "ref": d.insurer_cover_ref,
        "status": d.status.value,
        "currency": d.currency,
        "granted": str(d.granted_amount.amount),
        "from": d.effective_from.isoformat(),
        "tranches": [
            [str(t.amount.amount), t.valid_from.isoformat(), _d(t.expires_on)] for t in d.tranches
        ],
        "requested": str(d.requested_amount.amount) if d.requested_amount else None,
        "preliminary": d.is_preliminary,
        "conditions": [[c.code, c.text, c.type] for c in d.conditions],
        "pending": d.pending_action.value if d.pending_action else None,
        "raw": dict(d.raw_codes),
        "unknown": list(d.unknown_codes),
        "to": _d(d.effective_to),
        "decided": d.decided_at.isoformat() if d.decided_at else None,
        "changed": d.last_changed_at.isoformat() if d.last_changed_at else None,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def decision_from_json(text: str) -> CoverDecision:
    p = json.loads(text)
    cur = p["currency"]
    return CoverDecision(
        insurer_cover_ref=p["ref"],
        status=CoverStatus(p["status"]),
        currency=cur,
        granted_amount=Money(Decimal(p["granted"]), cur),
        effective_from=date.fromisoformat(p["from"]),
        tranches=tuple(
            Tranche(Money(Decimal(a), cur), date.fromisoformat(f), _date(e))
            for a, f, e in p["tranches"]
        ),
        requested_amount=Money(Decimal(p["requested"]), cur)
        if p["requested"] is not None
        else None,
        is_preliminary=p["preliminary"],
        conditions=tuple(Condition(c, t, k) for c, t, k in p["conditions"]),
        pending_action=PendingAction(p["pending"]) if p["pending"] else None,
        raw_codes=p["raw"],
        unknown_codes=tuple(p["unknown"]),
        effective_to=_date(p["to"]),
        decided_at=_datetime(p["decided"]),
        last_changed_at=_datetime(p["changed"]),
    )


def record_digest(entry: PortfolioEntry) -> str:
    """The digest of a fetched record: its raw payload and the buyer it names (the
    normalised decision stands in for a payload an adapter did not keep). Two records
    with the same digest reconcile the same way."""
    raw = entry.raw or decision_to_json(entry.decision)
    text = "\x1f".join((entry.insurer_buyer_id, entry.buyer_name, entry.buyer_country or "", raw))
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def stage(
    session: Session,
    run_id: int,
    source: str,
    entries: Sequence[PortfolioEntry],
    first_position: int,
    fetched_at: datetime,
    digests: Sequence[str] | None = None,
) -> None:
    """Write a batch of fetched entries to the staging table (with their
    :func:`record_digest`, computed here unless given)."""
    if not entries:
        return
    if digests is None:
        digests = [record_digest(e) for e in entries]
    insert_rows(
        session,
        _STAGING,
        _STAGE_COLUMNS,
        [
            (
                run_id,
                first_position + n,
                source,
                e.insurer_buyer_id,
                e.buyer_name[:300],
                e.buyer_country,
                fetched_at,
                e.raw,
                decision_to_json(e.decision),
                digest,
            )
            for n, (e, digest) in enumerate(zip(entries, digests, strict=True))
        ],
    )


@dataclass(frozen=True)
class Baseline:
    """The last run of a policy that staged its whole portfolio and reconciled it: what a
    new run's records are compared with, position by position."""

    run_id: int
    records: int
    stale: int
    """Its records judged older than the stored versions: judged so again."""


def baseline_run(session: Session, policy_id: int) -> Baseline | None:
    """The policy's latest succeeded run whose every fetched record is staged, if no
    version of the policy was recorded after it (by a later run or another writer) and
    its ``cover_missing`` check still holds (:mod:`tci_gateway.ledger.unlisted`: no
    insurer id changed since, which could make the same records name other buyers);
    else ``None`` (the next run stages and reconciles everything)."""
    staged_count = (
        select(func.count())
        .select_from(_STAGING)
        .where(_STAGING.c.sync_run_id == SyncRunRow.id)
        .scalar_subquery()
    )
    row = session.execute(
        select(SyncRunRow.id, SyncRunRow.fetched, SyncRunRow.stale)
        .where(
            SyncRunRow.policy_id == policy_id,
            SyncRunRow.status == SyncStatus.SUCCEEDED,
            SyncRunRow.fetched == staged_count,
        )
        .order_by(SyncRunRow.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    run_id, records, stale = int(row[0]), int(row[1]), int(row[2])
    of_policy = CoverDecisionRow.policy_id == policy_id
    newest = session.scalar(select(func.max(CoverDecisionRow.id)).where(of_policy))
    by_then = session.scalar(
        select(func.max(CoverDecisionRow.id)).where(
            of_policy, CoverDecisionRow.sync_run_id <= run_id
        )
    )
    if newest != by_then or not unlisted.holds(session, policy_id, run_id):
        return None
    return Baseline(run_id, records, stale)


DIGEST_CHARS = 32
"""The length of a :func:`record_digest` (16 bytes, in hex)."""

_WINDOW = {
    # One row back, not a row per record: fetched from the driver a row at a time, the
    # digests cost more than the comparison. SQLite (3.40) has no ORDER BY inside an
    # aggregate; it keeps the order of a sub-query with ORDER BY (not flattened into an
    # aggregate). A window out of order only compares unequal: the run then reconciles
    # in full, which is always right.
    "sqlite": "SELECT group_concat(digest, '') FROM (SELECT digest FROM sync_staging "
    "WHERE sync_run_id = :run AND position >= :start AND position < :stop "
    "ORDER BY position)",
    "postgresql": "SELECT string_agg(digest, '' ORDER BY position) FROM sync_staging "
    "WHERE sync_run_id = :run AND position >= :start AND position < :stop",
}


def staged_digest_window(session: Session, run_id: int, start: int, size: int) -> str:
    """The digests run ``run_id`` staged at positions ``start`` to ``start + size - 1``,
    concatenated in order (:data:`DIGEST_CHARS` each; ``""`` past its last record). A
    record staged without a digest is left out, so what follows it compares unequal."""
    window = session.execute(
        text(_WINDOW[session.get_bind().dialect.name]),
        {"run": run_id, "start": start, "stop": start + size},
    ).scalar_one()
    return str(window or "")


def copy_staged(
    session: Session, from_run: int, to_run: int, stop: int, fetched_at: datetime
) -> None:
    """Stage for ``to_run`` the records ``from_run`` staged before position ``stop``: a
    run fetched them again and they hashed the same, so they are staged as fetched now
    without being held in memory."""
    c = _STAGING.c
    rows = select(
        literal(to_run, Integer),
        c.position,
        c.source,
        c.external_id,
        c.buyer_name,
        c.buyer_country,
        literal(fetched_at, UTCDateTime()),
        c.payload,
        c.normalised,
        c.digest,
    ).where(c.sync_run_id == from_run, c.position < stop)
    session.execute(insert(_STAGING).from_select(_STAGE_COLUMNS, rows))


@dataclass(frozen=True)
class StagedEntry:
    position: int
    insurer_buyer_id: str
    buyer_name: str
    buyer_country: str | None
    decision: CoverDecision


def staged(session: Session, run_id: int, start: int, stop: int) -> list[StagedEntry]:
    """The run's staged entries with ``start <= position < stop``, in fetch order. Read in
    slices so no cursor stays open while the reconciliation writes."""
    stmt = (
        select(
            SyncStagingRow.position,
            SyncStagingRow.external_id,
            SyncStagingRow.buyer_name,
            SyncStagingRow.buyer_country,
            SyncStagingRow.normalised,
        )
        .where(
            SyncStagingRow.sync_run_id == run_id,
            SyncStagingRow.position >= start,
            SyncStagingRow.position < stop,
        )
        .order_by(SyncStagingRow.position)
    )
    return [
        StagedEntry(position, external_id, name, country, decision_from_json(normalised))
        for position, external_id, name, country, normalised in session.execute(stmt)
    ]


def listed_after(
    session: Session, run_id: int, position: int, external_ids: Collection[str]
) -> set[str]:
    """Which of ``external_ids`` run ``run_id`` also staged at ``position`` or later (a
    buyer whose records are not all in the batch at hand)."""
    ids = sorted(set(external_ids))
    found: set[str] = set()
    for start in range(0, len(ids), 1000):
        found.update(
            session.scalars(
                select(_STAGING.c.external_id)
                .where(
                    _STAGING.c.sync_run_id == run_id,
                    _STAGING.c.external_id.in_(ids[start : start + 1000]),
                    _STAGING.c.position >= position,
                )
                .distinct()
            )
        )
    return found


def unlisted_buyers(
    session: Session, policy_id: int, issuer: str, run_id: int, *, after: int, limit: int
) -> list[int]:
    """Buyers with cover history under the policy whose insurer id (scheme ``INSURER``
    of ``issuer``) no record staged by ``run_id`` lists, above ``after`` in id order, at
    most ``limit`` of them: a page at a time, nothing held per buyer of the portfolio.

    Three bounded reads per page of buyers (their ids, their insurer ids, which of those
    the run staged), each by an index, and the anti-join in Python: a correlated
    ``NOT EXISTS`` over the staging table was planned, before the tables had statistics,
    as a scan of the staged rows per buyer (minutes for 1,500 buyers)."""
    found: list[int] = []
    history = (
        select(CoverDecisionRow.buyer_id)
        .where(CoverDecisionRow.policy_id == policy_id)
        .distinct()
        .order_by(CoverDecisionRow.buyer_id)
    )
    ident = BuyerIdentifierRow
    while len(found) < limit:
        page = list(session.scalars(history.where(CoverDecisionRow.buyer_id > after).limit(limit)))
        if not page:
            break
        after = page[-1]
        values: dict[str, list[int]] = {}
        for buyer_id, value in session.execute(
            select(ident.buyer_id, ident.value).where(
                ident.buyer_id.in_(page),
                ident.scheme == Scheme.INSURER.value,
                ident.issuer == issuer,
            )
        ):
            values.setdefault(value, []).append(buyer_id)
        listed: set[int] = set()
        names = sorted(values)
        for start in range(0, len(names), 1000):
            for value in session.scalars(
                select(_STAGING.c.external_id)
                .where(
                    _STAGING.c.sync_run_id == run_id,
                    _STAGING.c.external_id.in_(names[start : start + 1000]),
                )
                .distinct()
            ):
                listed.update(values[value])
        found.extend(b for b in page if b not in listed)
    return found[:limit]


def prune_staging(session: Session, *, now: datetime, retention_days: int) -> int:
    """Delete the staged rows of runs started more than ``retention_days`` before ``now``
    and of failed runs; returns how many rows went. Runs are selected first so that the
    delete uses the staging table's run index instead of scanning its payloads."""
    if retention_days < 1:
        raise ValueError("the staging retention is at least one day")
    cutoff = now - timedelta(days=retention_days)
    runs = select(SyncRunRow.id).where(
        or_(SyncRunRow.started_at < cutoff, SyncRunRow.status == SyncStatus.FAILED)
    )
    stmt = delete(SyncStagingRow).where(SyncStagingRow.sync_run_id.in_(runs))
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
