"""Policies in the ledger: configuration is the source, the ledger keeps a copy so that
history (cover versions, alerts, runs) can refer to a policy by id."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.tables import PolicyRow


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
        session.flush()
        ids[key] = row.id
    return ids


def policy_ids(session: Session) -> dict[str, int]:
    return {key: pid for key, pid in session.execute(select(PolicyRow.key, PolicyRow.id))}
