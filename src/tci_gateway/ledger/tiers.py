"""The SQL of the tier rules: every buyer's facts in a few set-based statements (no query
per buyer: the nightly run covers 100k buyers), and the writes of a tier change.

What each statement reads (docs/credit.md, "Tiers"):

- :func:`purchases` — invoiced amounts per buyer and currency with a document date in
  ``(start, day]``;
- :func:`latest_scores` — per buyer and bureau, the two latest assessments whose score is
  a number: a bureau's failure percentile where it gives one (D&B: its ``score_raw`` is
  the failure class 1-5, lower is better, so never that), else its ``score_raw``
  (Creditsafe 0-100); higher is better for both;
- :func:`insurer_reductions` — cover versions refused, reduced, withdrawn or cancelled, or
  granted below the version before them on the same policy, decided within the window;
- :func:`last_reviews` — the latest decided credit application and the latest tier change
  of each buyer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.receivables import ItemKind
from tci_gateway.ledger.base import Amount
from tci_gateway.ledger.tables import (
    AssessmentRow,
    BuyerRow,
    CoverDecisionRow,
    CreditApplicationRow,
    ErpAccountRow,
    OpenItemRow,
    PolicyRow,
    TierChangeRow,
)

CHUNK = 1000

AGAINST = (
    CoverStatus.REFUSED,
    CoverStatus.REDUCED,
    CoverStatus.WITHDRAWN,
    CoverStatus.CANCELLED_BY_INSURED,
)
"""Statuses that count as an insurer decision against the buyer whatever the amount.
``CANCELLED_BY_INSURED`` is the policyholder's own cancellation: counted all the same (the
conservative reading: cover the buyer no longer has)."""
GRANTING = (CoverStatus.APPROVED, CoverStatus.PARTIALLY_APPROVED, CoverStatus.REDUCED)
"""Statuses whose amount is compared with the version before (a pending, indicative,
superseded or expired version says nothing of the insurer's view)."""

_NUMBER = r"^[0-9]+(\.[0-9]+)?$"


@dataclass(frozen=True)
class TierChange:
    """One recorded tier change (a view of ``tier_changes``): by the rules (``source``
    ``rules``) or by a person pinning (``pin``) or unpinning (``unpin``) it."""

    buyer_id: int
    buyer: str
    old: str | None
    new: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    source: str = "rules"
    by: str | None = None
    date: date | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BuyerState:
    id: int
    name: str
    tier: str | None
    pinned: bool
    created_on: date


@dataclass(frozen=True, slots=True)
class Reduction:
    buyer_id: int
    policy: str
    status: str
    currency: str
    granted: Decimal
    previous: Decimal | None
    on: date

    def describe(self) -> str:
        if self.status in {s.value for s in AGAINST} and self.status != CoverStatus.REDUCED:
            return f"{self.status} on {self.policy} ({self.on})"
        before = f"{self.previous:,.2f}" if self.previous is not None else "?"
        return (
            f"reduced {before} -> {self.granted:,.2f} {self.currency} on {self.policy} ({self.on})"
        )


def chunks(values: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, UTC)


def buyer_states(session: Session) -> list[BuyerState]:
    """Every buyer's tier, whether it is pinned and the date it was first seen."""
    rows = session.execute(
        select(BuyerRow.id, BuyerRow.name, BuyerRow.tier, BuyerRow.tier_pinned, BuyerRow.created_at)
    )
    return [BuyerState(r[0], r[1], r[2], bool(r[3]), r[4].date()) for r in rows]


def purchases(session: Session, start: date, day: date) -> list[tuple[int, str, Decimal]]:
    """Invoice amounts per (buyer, currency) with a document date in ``(start, day]``."""
    stmt = (
        select(ErpAccountRow.buyer_id, OpenItemRow.currency, func.sum(OpenItemRow.amount))
        .join(ErpAccountRow, ErpAccountRow.id == OpenItemRow.erp_account_id)
        .where(
            OpenItemRow.kind == ItemKind.INVOICE.value,
            OpenItemRow.document_date > start,
            OpenItemRow.document_date <= day,
        )
        .group_by(ErpAccountRow.buyer_id, OpenItemRow.currency)
    )
    return [(r[0], r[1], r[2]) for r in session.execute(stmt)]


def latest_scores(session: Session, day: date) -> list[tuple[int, str, int, Decimal]]:
    """``(buyer, provider, rank, score)`` for each bureau's two latest numeric scores of a
    buyer dated on or before ``day`` (rank 1 the latest)."""
    a = AssessmentRow
    dnb = or_(a.provider == "dnb", a.scale.like("D&B%"), a.scale.like("dnb%"))
    score = func.trim(case((dnb, a.failure_score), else_=a.score_raw))
    ranked = (
        select(
            a.buyer_id,
            a.provider,
            score.label("score"),
            func.row_number()
            .over(
                partition_by=(a.buyer_id, a.provider),
                order_by=(a.as_of.desc().nulls_last(), a.fetched_at.desc(), a.id.desc()),
            )
            .label("rank"),
        )
        .where(score.regexp_match(_NUMBER), or_(a.as_of.is_(None), a.as_of <= day))
        .subquery("ranked")
    )
    r = ranked.c
    stmt = select(r.buyer_id, r.provider, r.rank, r.score).where(r.rank <= 2)
    return [(b, p, int(k), Decimal(s)) for b, p, k, s in session.execute(stmt)]


def insurer_reductions(session: Session, since: date, day: date) -> list[Reduction]:
    """Cover versions against the buyer decided in ``(since, day]`` (the decision time, or
    when it was recorded if the insurer gave none)."""
    d = CoverDecisionRow
    counted = (*AGAINST, *GRANTING)
    when = func.coalesce(d.decided_at, d.recorded_at)
    versions = (
        select(
            d.buyer_id,
            d.policy_id,
            d.status,
            d.currency,
            d.granted_amount,
            when.label("at"),
            func.lag(d.granted_amount, type_=Amount)
            .over(partition_by=(d.policy_id, d.buyer_id), order_by=(d.recorded_at, d.id))
            .label("previous"),
            func.lag(d.currency)
            .over(partition_by=(d.policy_id, d.buyer_id), order_by=(d.recorded_at, d.id))
            .label("previous_currency"),
        )
        .where(d.status.in_(counted), d.is_preliminary.is_(False))
        .subquery("v")
    )
    v = versions.c
    stmt = (
        select(v.buyer_id, PolicyRow.key, v.status, v.currency, v.granted_amount, v.previous, v.at)
        .join(PolicyRow, PolicyRow.id == v.policy_id)
        .where(
            v.at >= _end_of(since),
            v.at < _end_of(day),
            or_(
                v.status.in_(AGAINST),
                and_(
                    v.status.in_(GRANTING),
                    v.previous_currency == v.currency,
                    v.granted_amount < v.previous,
                ),
            ),
        )
        .order_by(v.buyer_id, v.at)
    )
    return [
        Reduction(r[0], r[1], str(r[2]), r[3], r[4], r[5], r[6].date())
        for r in session.execute(stmt)
    ]


def last_reviews(session: Session, day: date) -> dict[int, date]:
    """Per buyer, the later of its latest decided credit application and its latest tier
    change, on or before ``day``."""
    found: dict[int, date] = {}
    apps = select(CreditApplicationRow.buyer_id, func.max(CreditApplicationRow.decided_at)).where(
        CreditApplicationRow.decided_at.is_not(None),
        CreditApplicationRow.decided_at < _end_of(day),
    )
    for buyer_id, at in session.execute(apps.group_by(CreditApplicationRow.buyer_id)):
        if at is not None:
            found[buyer_id] = at.date()
    changes = (
        select(TierChangeRow.buyer_id, func.max(TierChangeRow.business_date))
        .where(TierChangeRow.business_date <= day)
        .group_by(TierChangeRow.buyer_id)
    )
    for buyer_id, on in session.execute(changes):
        if buyer_id not in found or on > found[buyer_id]:
            found[buyer_id] = on
    return found


def buyer_state(session: Session, buyer_id: int) -> tuple[str | None, bool]:
    """A buyer's ``(tier, pinned)``."""
    row = session.execute(
        select(BuyerRow.tier, BuyerRow.tier_pinned).where(BuyerRow.id == buyer_id)
    ).one()
    return row[0], bool(row[1])


def lock_buyers(session: Session, ids: Iterable[int]) -> dict[int, tuple[str | None, bool]]:
    """``(tier, pinned)`` of the buyers ``ids``, their rows locked until the transaction
    ends (PostgreSQL; SQLite has a single writer already), in id order."""
    found: dict[int, tuple[str | None, bool]] = {}
    for part in chunks(sorted(set(ids))):
        stmt = (
            select(BuyerRow.id, BuyerRow.tier, BuyerRow.tier_pinned)
            .where(BuyerRow.id.in_(part))
            .order_by(BuyerRow.id)
            .with_for_update()
        )
        for buyer_id, tier, pinned in session.execute(stmt):
            found[buyer_id] = (tier, bool(pinned))
    return found


def record_changes(
    session: Session, changes: Sequence[TierChange], *, pinned: bool | None, now: datetime
) -> None:
    """Write ``changes``: a ``tier_changes`` row each and the buyers' new tier (and
    ``tier_pinned`` when ``pinned`` is given)."""
    if not changes:
        return
    session.execute(
        insert(TierChangeRow),
        [
            {
                "buyer_id": c.buyer_id,
                "business_date": c.date,
                "old_tier": c.old,
                "new_tier": c.new,
                "reason": c.reason,
                "details": c.details,
                "source": c.source,
                "changed_by": c.by,
                "created_at": now,
            }
            for c in changes
        ],
    )
    extra = {} if pinned is None else {"tier_pinned": pinned}
    session.execute(
        update(BuyerRow),
        [{"id": c.buyer_id, "tier": c.new, "updated_at": now, **extra} for c in changes],
    )


def history(session: Session, buyer_id: int) -> list[TierChange]:
    """A buyer's tier changes, newest first."""
    stmt = (
        select(TierChangeRow, BuyerRow.name)
        .join(BuyerRow, BuyerRow.id == TierChangeRow.buyer_id)
        .where(TierChangeRow.buyer_id == buyer_id)
        .order_by(TierChangeRow.id.desc())
    )
    return [
        TierChange(
            buyer_id=row.buyer_id,
            buyer=name,
            old=row.old_tier,
            new=row.new_tier,
            reason=row.reason,
            details=dict(row.details or {}),
            source=row.source,
            by=row.changed_by,
            date=row.business_date,
            at=row.created_at,
        )
        for row, name in session.execute(stmt)
    ]


def find_buyer(session: Session, buyer: str) -> tuple[int, str] | None:
    """The buyer an ERP account number or a buyer id names."""
    row = session.execute(
        select(BuyerRow.id, BuyerRow.name)
        .join(ErpAccountRow, ErpAccountRow.buyer_id == BuyerRow.id)
        .where(ErpAccountRow.account == buyer)
    ).first()
    if row is None and buyer.isdigit():
        row = session.execute(
            select(BuyerRow.id, BuyerRow.name).where(BuyerRow.id == int(buyer))
        ).first()
    return None if row is None else (row[0], row[1])
