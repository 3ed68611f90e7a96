"""The recorded ``cover_missing`` check of a policy (:mod:`.unlisted_tables`): read it
when it still holds for a snapshot, record it when the check walked the portfolio."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from tci_gateway.ledger.unlisted_tables import UnlistedBuyerRow, UnlistedCheckRow


def holds(session: Session, policy_id: int, listed_by: int) -> bool:
    """Whether the policy's recorded check is of run ``listed_by``'s snapshot and still
    holds (no trigger of migration 0016 deleted it since)."""
    recorded = session.scalar(
        select(UnlistedCheckRow.listed_by).where(UnlistedCheckRow.policy_id == policy_id)
    )
    return recorded == listed_by


def found(session: Session, policy_id: int, *, after: int, limit: int) -> list[int]:
    """The buyers the recorded check found, above ``after`` in id order, at most
    ``limit`` of them (trusted only while :func:`holds`)."""
    return list(
        session.scalars(
            select(UnlistedBuyerRow.buyer_id)
            .where(UnlistedBuyerRow.policy_id == policy_id, UnlistedBuyerRow.buyer_id > after)
            .order_by(UnlistedBuyerRow.buyer_id)
            .limit(limit)
        )
    )


def forget(session: Session, policy_id: int) -> None:
    """Delete the policy's recorded check and what it found (before it is walked again)."""
    session.execute(delete(UnlistedCheckRow).where(UnlistedCheckRow.policy_id == policy_id))
    session.execute(delete(UnlistedBuyerRow).where(UnlistedBuyerRow.policy_id == policy_id))


def add_found(session: Session, policy_id: int, buyer_ids: Sequence[int]) -> None:
    """Record buyers the check being walked found (after :func:`forget`)."""
    if buyer_ids:
        session.execute(
            insert(UnlistedBuyerRow),
            [{"policy_id": policy_id, "buyer_id": b} for b in buyer_ids],
        )


def record(session: Session, policy_id: int, listed_by: int) -> None:
    """Record that the walk of run ``listed_by``'s snapshot is complete (the buyers it
    found added with :func:`add_found` in the same transaction)."""
    session.execute(insert(UnlistedCheckRow).values(policy_id=policy_id, listed_by=listed_by))
