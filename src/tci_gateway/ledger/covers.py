"""Cover decision history: append-only versions per (policy, buyer).

The limit in force on a date is :func:`tci_gateway.domain.cover.in_force` over the
versions this module loads; the rule itself lives in the domain, not here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from tci_gateway.domain.cover import (
    Condition,
    CoverDecision,
    CoverStatus,
    DecisionVersion,
    PendingAction,
    Tranche,
)
from tci_gateway.domain.money import Money
from tci_gateway.ledger.bulk_rows import insert_rows, reserve_ids
from tci_gateway.ledger.tables import CoverDecisionRow, CoverTrancheRow


@dataclass(frozen=True, slots=True)
class StoredVersion(DecisionVersion):
    """A decision as stored: ``sequence`` is its row id."""

    buyer_id: int
    recorded_at: datetime

    @property
    def id(self) -> int:
        return self.sequence


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount, currency)


_DECISIONS = cast(Table, CoverDecisionRow.__table__)
_TRANCHES = cast(Table, CoverTrancheRow.__table__)
_STATUS = {s.value: s for s in CoverStatus}


def _to_domain(row: Any, tranches: list[Any]) -> CoverDecision:
    """A decision from a row of ``cover_decisions`` and its tranche rows (Core rows, not
    ORM objects: building a hundred thousand ORM objects costs more than the query)."""
    cur = row.currency
    return CoverDecision(
        insurer_cover_ref=row.insurer_cover_ref,
        status=_STATUS[row.status],
        currency=cur,
        granted_amount=Money(row.granted_amount, cur),
        effective_from=row.effective_from,
        tranches=tuple(
            Tranche(Money(t.amount, cur), t.valid_from, t.expires_on)
            for t in sorted(tranches, key=lambda t: t.position)
        ),
        requested_amount=_money(row.requested_amount, cur),
        is_preliminary=row.is_preliminary,
        conditions=tuple(Condition(**c) for c in row.conditions),
        pending_action=PendingAction(row.pending_action) if row.pending_action else None,
        raw_codes=row.raw_codes,
        unknown_codes=tuple(row.unknown_codes),
        effective_to=row.effective_to,
        decided_at=row.decided_at,
        last_changed_at=row.source_changed_at,
    )


def _load(
    session: Session, where: Any, tranche_where: Any, *, by_ids: bool = False
) -> dict[int, list[StoredVersion]]:
    """The versions ``where`` selects with their tranches: by ``tranche_where``, or
    ``by_ids`` by the ids just read (a bounded list: PostgreSQL planned the subquery
    form badly for a page of buyers)."""
    rows = session.execute(select(_DECISIONS).where(where).order_by(_DECISIONS.c.id)).all()
    tranches: dict[int, list[Any]] = defaultdict(list)
    if rows:
        if by_ids:
            tranche_where = _TRANCHES.c.decision_id.in_([row.id for row in rows])
        for t in session.execute(select(_TRANCHES).where(tranche_where)):
            tranches[t.decision_id].append(t)
    result: dict[int, list[StoredVersion]] = defaultdict(list)
    for row in rows:
        result[row.buyer_id].append(
            StoredVersion(_to_domain(row, tranches[row.id]), row.id, row.buyer_id, row.recorded_at)
        )
    return dict(result)


def versions_by_buyer(session: Session, policy_id: int) -> dict[int, list[StoredVersion]]:
    """Every stored version under a policy, per buyer, in recording order."""
    of_policy = select(_DECISIONS.c.id).where(_DECISIONS.c.policy_id == policy_id)
    return _load(
        session, _DECISIONS.c.policy_id == policy_id, _TRANCHES.c.decision_id.in_(of_policy)
    )


def latest_versions(session: Session, policy_id: int) -> dict[int, StoredVersion]:
    """The newest version per buyer: the one with the latest ``effective_from``, then the
    most recently recorded (a back-dated version added as history is not the newest).
    What a sync judges changes against; one row per buyer is loaded, not the history."""
    ranked = (
        select(
            _DECISIONS.c.id,
            func.row_number()
            .over(
                partition_by=_DECISIONS.c.buyer_id,
                order_by=(_DECISIONS.c.effective_from.desc(), _DECISIONS.c.id.desc()),
            )
            .label("rank"),
        )
        .where(_DECISIONS.c.policy_id == policy_id)
        .subquery()
    )
    newest = select(ranked.c.id).where(ranked.c.rank == 1)
    loaded = _load(session, _DECISIONS.c.id.in_(newest), _TRANCHES.c.decision_id.in_(newest))
    return {buyer: versions[-1] for buyer, versions in loaded.items()}


def versions_of_buyers(
    session: Session,
    policy_id: int,
    buyer_ids: Collection[int],
    *,
    except_ids: Collection[int] = (),
) -> dict[int, list[StoredVersion]]:
    """Every stored version of some buyers under a policy, per buyer, in recording order
    (a sync loads one batch of buyers at a time), but those whose id is in ``except_ids``
    (versions the caller already holds)."""
    if not buyer_ids:
        return {}
    where = (_DECISIONS.c.policy_id == policy_id) & _DECISIONS.c.buyer_id.in_(sorted(buyer_ids))
    if except_ids:
        where = where & _DECISIONS.c.id.not_in(sorted(except_ids))
    return _load(session, where, None, by_ids=True)


_VERSION_COLUMNS = (
    "id",
    "policy_id",
    "buyer_id",
    "insurer_cover_ref",
    "status",
    "is_preliminary",
    "currency",
    "granted_amount",
    "requested_amount",
    "effective_from",
    "effective_to",
    "pending_action",
    "raw_codes",
    "unknown_codes",
    "conditions",
    "decided_at",
    "source_changed_at",
    "recorded_at",
    "sync_run_id",
)
_TRANCHE_COLUMNS = ("decision_id", "position", "amount", "valid_from", "expires_on")


def _row(
    version_id: int,
    policy_id: int,
    buyer_id: int,
    decision: CoverDecision,
    recorded_at: datetime,
    sync_run_id: int | None,
) -> tuple[Any, ...]:
    d = decision
    return (
        version_id,
        policy_id,
        buyer_id,
        d.insurer_cover_ref,
        d.status.value,
        d.is_preliminary,
        d.currency,
        d.granted_amount.amount,
        d.requested_amount.amount if d.requested_amount else None,
        d.effective_from,
        d.effective_to,
        d.pending_action.value if d.pending_action else None,
        dict(d.raw_codes),
        list(d.unknown_codes),
        [{"code": c.code, "text": c.text, "type": c.type} for c in d.conditions],
        d.decided_at,
        d.last_changed_at,
        recorded_at,
        sync_run_id,
    )


def add_versions(
    session: Session,
    policy_id: int,
    items: list[tuple[int, CoverDecision]],
    *,
    recorded_at: datetime,
    sync_run_id: int | None,
) -> list[int]:
    """Append many versions at once (``(buyer_id, decision)`` pairs); returns their ids
    in the order given. The ids are reserved first, then the versions and their tranches
    go in with one statement each (:mod:`tci_gateway.ledger.bulk_rows`)."""
    if not items:
        return []
    ids = reserve_ids(session, _DECISIONS, len(items))
    insert_rows(
        session,
        _DECISIONS,
        _VERSION_COLUMNS,
        [
            _row(i, policy_id, b, d, recorded_at, sync_run_id)
            for i, (b, d) in zip(ids, items, strict=True)
        ],
    )
    tranche_rows = [
        (version_id, position, t.amount.amount, t.valid_from, t.expires_on)
        for version_id, (_, decision) in zip(ids, items, strict=True)
        for position, t in enumerate(decision.tranches)
    ]
    insert_rows(session, _TRANCHES, _TRANCHE_COLUMNS, tranche_rows)
    return ids


def add_version(
    session: Session,
    *,
    policy_id: int,
    buyer_id: int,
    decision: CoverDecision,
    recorded_at: datetime,
    sync_run_id: int | None,
) -> int:
    """Append one new version; returns its id."""
    (version_id,) = add_versions(
        session, policy_id, [(buyer_id, decision)], recorded_at=recorded_at, sync_run_id=sync_run_id
    )
    return version_id


def versions_of_buyer(session: Session, policy_id: int, buyer_id: int) -> list[StoredVersion]:
    """Every stored version of one buyer under a policy, in recording order."""
    where = (_DECISIONS.c.policy_id == policy_id) & (_DECISIONS.c.buyer_id == buyer_id)
    ids = select(_DECISIONS.c.id).where(where)
    return _load(session, where, _TRANCHES.c.decision_id.in_(ids)).get(buyer_id, [])
