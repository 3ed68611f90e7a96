"""Policies in the ledger: configuration is the source, the ledger keeps a copy so that
history (cover versions, alerts, runs) can refer to a policy by id."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, select, update
from sqlalchemy.orm import Session

from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.limits import lock_writers
from tci_gateway.ledger.tables import LimitRollRow, PolicyRow


def upsert_policies(
    session: Session, policies: Mapping[str, Policy], now: datetime
) -> dict[str, int]:
    """Write the configured policies' terms; return their ids by key."""
    existing = {row.key: row for row in session.scalars(select(PolicyRow))}
    ids: dict[str, int] = {}
    for key, policy in policies.items():
        terms = policy.terms
        values = {
            "insurer": policy.insurer,
            "currency": terms.currency,
            "insured_percentage": terms.insured_percentage,
            "max_credit_period_days": terms.max_credit_period_days,
            "max_extension_days": terms.max_extension_days,
            "overdue_notification_days": terms.overdue_notification_days,
            "waiting_days": terms.waiting_days,
            "claim_filing_days": terms.claim_filing_days,
            "discretionary_limit": terms.discretionary_limit.amount,
            "claim_threshold": terms.claim_threshold.amount,
            "deductible": terms.deductible.amount,
            "timezone": terms.timezone,
            "external_ref": dict(policy.external_ref),
        }
        row = existing.get(key)
        if row is None:
            row = PolicyRow(key=key, updated_at=now, **values)
            session.add(row)
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            # the terms go into the limits (a NO_COVER row's currency): rolled again
            lock_writers(session)
            session.execute(delete(LimitRollRow).where(LimitRollRow.policy_id == row.id))
        session.flush()
        ids[key] = row.id
    return ids


def policy_ids(session: Session) -> dict[str, int]:
    return {key: pid for key, pid in session.execute(select(PolicyRow.key, PolicyRow.id))}


def limits_rolled(session: Session, policy_id: int | None = None) -> dict[int, date]:
    """The business date each policy's limits are rolled through, by policy id (a policy
    absent: not known to be rolled); ``policy_id``: that policy's only. See
    :class:`~tci_gateway.ledger.tables.LimitRollRow`."""
    stmt = select(LimitRollRow.policy_id, LimitRollRow.business_date)
    if policy_id is not None:
        stmt = stmt.where(LimitRollRow.policy_id == policy_id)
    return {pid: day for pid, day in session.execute(stmt)}


def mark_limits_rolled(session: Session, policy_id: int, day: date) -> None:
    """Record, in the roll's transaction, that the policy's limits are rolled through
    ``day``."""
    done = cast(
        CursorResult[Any],
        session.execute(
            update(LimitRollRow)
            .where(LimitRollRow.policy_id == policy_id)
            .values(business_date=day)
        ),
    )
    if not done.rowcount:
        session.execute(insert(LimitRollRow).values(policy_id=policy_id, business_date=day))


def unmark_limits_rolled(session: Session, policy_id: int, *, unless: date | None = None) -> None:
    """Forget that the policy's limits are rolled (``unless``: except through that date,
    when the caller keeps it true: it stores limits computed on that date)."""
    stmt = delete(LimitRollRow).where(LimitRollRow.policy_id == policy_id)
    if unless is not None:
        stmt = stmt.where(LimitRollRow.business_date != unless)
    session.execute(stmt)
