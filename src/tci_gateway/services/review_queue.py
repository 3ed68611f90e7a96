"""The review queue of proposed identity links, as the API pages and decides it.

Accepting a link merges the buyers of its two ERP accounts (as ``tci buyers review
accept``: refused while their identifiers contradict, or when the merge would lose
data); rejecting it keeps them apart for good. A decision is idempotent: deciding an
item again the same way answers the same outcome and changes nothing; the opposite
decision is a :class:`ReviewConflictError`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, exists, or_, select, true
from sqlalchemy.orm import Session, aliased

from tci_gateway.domain.identity import ReviewState, contradictions
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger import identity as identity_repo
from tci_gateway.ledger.buyers import identifiers_of
from tci_gateway.ledger.tables import ErpAccountRow, PolicyRow, ReviewItemRow
from tci_gateway.services.identity import merge


class ReviewNotFoundError(LookupError):
    """No such review item (or none the reader may see)."""


class ReviewConflictError(Exception):
    """The item cannot be decided so: decided the other way already, or the merge it
    asks for is refused (the message says why, in the CLI's words)."""


@dataclass(frozen=True)
class ReviewAccount:
    account: str
    name: str | None
    buyer_id: int | None
    policy: str | None


@dataclass(frozen=True)
class ReviewItem:
    id: int
    a: ReviewAccount
    b: ReviewAccount
    score: Decimal
    reason: str
    state: ReviewState
    created_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class Decision:
    item: ReviewItem
    changed: bool
    buyer_id: int | None
    """Accepted: the buyer both accounts now belong to."""
    merged_buyer_id: int | None = None
    """Accepted by this call: the buyer merged into ``buyer_id`` (``None`` when the two
    accounts were one buyer already)."""


def _policy_ok(allowed_pids: Collection[int] | None, account: object) -> ColumnElement[bool]:
    if allowed_pids is None:
        return true()
    acc = aliased(ErpAccountRow)
    # an account under a policy the reader may not see hides the item
    return ~exists().where(
        acc.account == account,
        acc.policy_id.is_not(None),
        acc.policy_id.not_in(sorted(allowed_pids)),
    )


def _allowed_pids(session: Session, allowed: Collection[str] | None) -> set[int] | None:
    if allowed is None:
        return None
    return set(session.scalars(select(PolicyRow.id).where(PolicyRow.key.in_(sorted(allowed)))))


def _account(session: Session, account: str, keys: Mapping[int, str]) -> ReviewAccount:
    row = session.scalar(select(ErpAccountRow).where(ErpAccountRow.account == account))
    if row is None:
        return ReviewAccount(account, None, None, None)
    policy = keys.get(row.policy_id) if row.policy_id is not None else None
    return ReviewAccount(account, row.name, row.buyer_id, policy)


def _item(session: Session, row: ReviewItemRow) -> ReviewItem:
    keys = {pid: key for pid, key in session.execute(select(PolicyRow.id, PolicyRow.key))}
    return ReviewItem(
        id=row.id,
        a=_account(session, row.account_a, keys),
        b=_account(session, row.account_b, keys),
        score=row.score,
        reason=row.reason,
        state=row.state,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


def list_reviews(
    session: Session,
    *,
    state: ReviewState | None,
    limit: int,
    after: int = 0,
    allowed: Collection[str] | None = None,
) -> tuple[list[ReviewItem], int | None]:
    """A page of review items by id above ``after`` (``state`` ``None``: all), leaving
    out those with an account under a policy outside ``allowed``; and the last id when
    there are more."""
    pids = _allowed_pids(session, allowed)
    stmt = (
        select(ReviewItemRow)
        .where(
            ReviewItemRow.id > after,
            and_(
                _policy_ok(pids, ReviewItemRow.account_a), _policy_ok(pids, ReviewItemRow.account_b)
            ),
        )
        .order_by(ReviewItemRow.id)
        .limit(limit + 1)
    )
    if state is not None:
        stmt = stmt.where(ReviewItemRow.state == state)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    items = [_item(session, r) for r in rows[:limit]]
    return items, items[-1].id if more and items else None


def get_review(
    session: Session, review_id: int, *, allowed: Collection[str] | None = None
) -> ReviewItem:
    pids = _allowed_pids(session, allowed)
    row = session.scalar(
        select(ReviewItemRow).where(
            ReviewItemRow.id == review_id,
            or_(
                and_(
                    _policy_ok(pids, ReviewItemRow.account_a),
                    _policy_ok(pids, ReviewItemRow.account_b),
                )
            ),
        )
    )
    if row is None:
        raise ReviewNotFoundError(f"no review item {review_id}")
    return _item(session, row)


def decide(
    session: Session,
    review_id: int,
    state: ReviewState,
    *,
    now: datetime,
    policies: Mapping[str, Policy],
    allowed: Collection[str] | None = None,
) -> Decision:
    """Accept or reject a review item in ``session``'s transaction (see module doc)."""
    get_review(session, review_id, allowed=allowed)  # not found, or not the reader's
    # locked, and read again: a decision committed meanwhile is seen
    row = session.get_one(ReviewItemRow, review_id, with_for_update=True, populate_existing=True)
    if row.state is state:
        item = _item(session, row)
        return Decision(item, False, item.a.buyer_id if state is ReviewState.ACCEPTED else None)
    if row.state is not ReviewState.PENDING:
        raise ReviewConflictError(
            f"review item {review_id} was {row.state.value.lower()} already "
            f"(on {row.decided_at:%Y-%m-%d}): it cannot be {state.value.lower()} now"
            if row.decided_at is not None
            else f"review item {review_id} was {row.state.value.lower()} already"
        )
    if state is ReviewState.REJECTED:
        identity_repo.decide_review(session, review_id, state, now)
        return Decision(_item(session, row), True, None)
    a = identity_repo.buyer_of_account(session, row.account_a)
    b = identity_repo.buyer_of_account(session, row.account_b)
    if a is None or b is None:
        raise ReviewConflictError("one of the accounts no longer exists")
    merged = None
    if a != b:
        clash = contradictions(identifiers_of(session, a), identifiers_of(session, b))
        if clash:
            detail = "; ".join(f"{x} vs {y}" for x, y in clash)
            raise ReviewConflictError(f"identifiers contradict ({detail}): correct them first")
        try:
            with session.begin_nested():
                merge(session, min(a, b), max(a, b), policies=policies, now=now)
        except identity_repo.MergeConflict as exc:
            raise ReviewConflictError(str(exc)) from None
        merged = max(a, b)
    identity_repo.decide_review(session, review_id, state, now)
    session.flush()
    return Decision(_item(session, row), True, min(a, b), merged)
