"""Ledger side of buyer identity: merging buyers (:mod:`tci_gateway.ledger.buyer_merge`),
the review queue, assessments, parents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.domain.assessment import Assessment
from tci_gateway.domain.identifiers import Identifier
from tci_gateway.domain.identity import ParentRelation, ReviewState
from tci_gateway.ledger.buyer_merge import MergeConflict as MergeConflict
from tci_gateway.ledger.buyer_merge import MergeResult as MergeResult
from tci_gateway.ledger.buyer_merge import merge_buyers as merge_buyers
from tci_gateway.ledger.tables import (
    AssessmentRow,
    BuyerParentRow,
    ErpAccountRow,
    ReviewItemRow,
)


def buyer_of_account(session: Session, account: str) -> int | None:
    return session.scalar(select(ErpAccountRow.buyer_id).where(ErpAccountRow.account == account))


def add_review(
    session: Session, accounts: tuple[str, str], score: float, reason: str, now: datetime
) -> bool:
    """Queue a pair for review once (a rejected pair is never proposed again)."""
    a, b = sorted(accounts)
    key = f"{a}|{b}"
    if session.scalar(select(ReviewItemRow.id).where(ReviewItemRow.dedupe_key == key)) is not None:
        return False
    session.add(
        ReviewItemRow(
            account_a=a,
            account_b=b,
            score=Decimal(str(round(score, 2))),
            reason=reason,
            state=ReviewState.PENDING,
            dedupe_key=key,
            created_at=now,
        )
    )
    session.flush()
    return True


@dataclass(frozen=True)
class ReviewView:
    id: int
    account_a: str
    account_b: str
    score: Decimal
    reason: str
    state: ReviewState


def reviews(
    session: Session, *, state: ReviewState | None = ReviewState.PENDING
) -> list[ReviewView]:
    stmt = select(ReviewItemRow).order_by(ReviewItemRow.id)
    if state is not None:
        stmt = stmt.where(ReviewItemRow.state == state)
    return [
        ReviewView(r.id, r.account_a, r.account_b, r.score, r.reason, r.state)
        for r in session.scalars(stmt)
    ]


def decide_review(
    session: Session, review_id: int, state: ReviewState, now: datetime
) -> ReviewItemRow:
    row = session.get(ReviewItemRow, review_id)
    if row is None:
        raise LookupError(f"no review item {review_id}")
    row.state, row.decided_at = state, now
    return row


def store_assessment(
    session: Session, buyer_id: int, assessment: Assessment, now: datetime
) -> bool:
    """Store a provider's assessment once per (buyer, provider, id, as-of date)."""
    exists = session.scalar(
        select(AssessmentRow.id).where(
            AssessmentRow.buyer_id == buyer_id,
            AssessmentRow.provider == assessment.provider,
            AssessmentRow.provider_id == assessment.provider_id,
            AssessmentRow.as_of.is_(None)
            if assessment.as_of is None
            else AssessmentRow.as_of == assessment.as_of,
        )
    )
    if exists is not None:
        return False
    limit = assessment.recommended_limit
    session.add(
        AssessmentRow(
            buyer_id=buyer_id,
            provider=assessment.provider,
            provider_id=assessment.provider_id,
            provider_reference=assessment.provider_reference,
            scale=assessment.scale,
            score_raw=assessment.score_raw,
            band=assessment.band,
            failure_score=assessment.failure_score,
            paydex=assessment.paydex,
            recommended_limit=limit.amount if limit else None,
            limit_currency=limit.currency if limit else None,
            as_of=assessment.as_of,
            missing=list(assessment.missing),
            fetched_at=now,
        )
    )
    session.flush()
    return True


def store_parent(
    session: Session,
    buyer_id: int,
    relation: ParentRelation,
    parent: Identifier,
    source: str,
    now: datetime,
) -> None:
    row = session.scalar(
        select(BuyerParentRow).where(
            BuyerParentRow.buyer_id == buyer_id,
            BuyerParentRow.relation == relation,
            BuyerParentRow.source == source,
        )
    )
    if row is None:
        session.add(
            BuyerParentRow(
                buyer_id=buyer_id,
                relation=relation,
                scheme=parent.scheme.value,
                value=parent.value,
                source=source,
                updated_at=now,
            )
        )
    elif (row.scheme, row.value) != (parent.scheme.value, parent.value):
        row.scheme, row.value, row.updated_at = parent.scheme.value, parent.value, now
    session.flush()
