"""The credit workflow's tables: tier changes, payment-behaviour snapshots, credit
applications and their steps, the credit lines the gateway grants itself (DCL, internal,
provisional) and progressive-limit plans (issue 14, migration 0011).

Re-exported from :mod:`tci_gateway.ledger.tables` so that module stays the whole schema.
Amounts are exact decimals; every figure of a snapshot is stored as computed, so a trend
drawn later never recomputes history from items that have changed since.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tci_gateway.ledger.base import Amount, Base
from tci_gateway.ledger.types import ExactDecimal, UTCDateTime, state_enum


class ApplicationState(StrEnum):
    """Where a credit application stands.

    ``granted`` and ``refused`` are final; ``with_insurer`` waits for the insurer's
    decision on the cover request the pre-screen queued; ``referred`` waits for a person.
    """

    RECEIVED = "received"
    GRANTED = "granted"
    WITH_INSURER = "with_insurer"
    REFERRED = "referred"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class ApplicationRoute(StrEnum):
    """How an application was (or is being) decided: within the policy's discretionary
    credit limit, by the insurer, or by a person."""

    DCL = "dcl"
    INSURER = "insurer"
    PERSON = "person"


class LineKind(StrEnum):
    """A credit line the gateway records itself (an insurer's named limit lives in the
    cover history): ``dcl`` insured under the policy's discretionary limit, ``internal``
    uninsured and approved by a risk manager, ``provisional`` uninsured while the insurer
    decides."""

    DCL = "dcl"
    INTERNAL = "internal"
    PROVISIONAL = "provisional"


class PlanState(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    COMPLETE = "complete"
    ENDED = "ended"


class TierChangeRow(Base):
    """A buyer's tier changed (by the nightly rules or by a person pinning it)."""

    __tablename__ = "tier_changes"
    __table_args__ = (Index("ix_tier_changes_buyer", "buyer_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    business_date: Mapped[date] = mapped_column(Date, index=True)
    old_tier: Mapped[str | None] = mapped_column(String(16))
    new_tier: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    # "rules" for the nightly evaluation, "pin"/"unpin" for a person (``changed_by``).
    source: Mapped[str] = mapped_column(String(16))
    changed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BehaviourSnapshotRow(Base):
    """Payment behaviour of one scope (a buyer, a tier, a policy or the portfolio) on a
    business date, in the reporting currency. One row per (scope, date): the nightly run
    keeps the month-end ones (and the latest), so a trend can be drawn."""

    __tablename__ = "behaviour_snapshots"
    __table_args__ = (
        UniqueConstraint("scope", "scope_key", "business_date", name="uq_behaviour_snapshots_key"),
        CheckConstraint("scope IN ('buyer', 'tier', 'policy', 'portfolio')", "scope"),
        CheckConstraint("length(currency) = 3", "currency_len"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    scope_key: Mapped[str] = mapped_column(String(64))
    business_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    receivables: Mapped[Decimal] = mapped_column(ExactDecimal(scale=4))
    sales_3m: Mapped[Decimal] = mapped_column(ExactDecimal(scale=4))
    dso_countback: Mapped[Decimal | None] = mapped_column(ExactDecimal(scale=2))
    dso_simple: Mapped[Decimal | None] = mapped_column(ExactDecimal(scale=2))
    best_possible_dso: Mapped[Decimal | None] = mapped_column(ExactDecimal(scale=2))
    dbt_average: Mapped[Decimal | None] = mapped_column(ExactDecimal(scale=2))
    dbt_weighted: Mapped[Decimal | None] = mapped_column(ExactDecimal(scale=2))
    paid_on_time_share: Mapped[Decimal | None] = mapped_column(ExactDecimal(scale=4))
    current: Mapped[Decimal] = mapped_column(Amount)
    days_1_30: Mapped[Decimal] = mapped_column(Amount)
    days_31_60: Mapped[Decimal] = mapped_column(Amount)
    days_61_90: Mapped[Decimal] = mapped_column(Amount)
    days_over_90: Mapped[Decimal] = mapped_column(Amount)
    disputed_amount: Mapped[Decimal] = mapped_column(Amount)
    disputed_oldest_days: Mapped[int | None] = mapped_column(Integer)
    # Everything else the figures came from (counts, unapplied credits, FX gaps).
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CreditApplicationRow(Base):
    """An application for a credit line for a buyer, and the pre-screen's record of it."""

    __tablename__ = "credit_applications"
    __table_args__ = (
        CheckConstraint("amount > 0", "amount_positive"),
        CheckConstraint("length(currency) = 3", "currency_len"),
        Index("ix_credit_applications_buyer", "buyer_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    requested_by: Mapped[str] = mapped_column(String(64))
    # "cli", "api", "web" or "progressive" (a step of a plan).
    channel: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(16))
    state: Mapped[ApplicationState] = mapped_column(
        state_enum(ApplicationState, name="state", length=16), index=True
    )
    route: Mapped[ApplicationRoute | None] = mapped_column(
        state_enum(ApplicationRoute, name="route", length=16)
    )
    score: Mapped[Decimal | None] = mapped_column(ExactDecimal(scale=2))
    # The scorecard (each factor's weight, value, points and contribution; missing ones),
    # the DCL conditions (each passed or not, with why) and the evidence gathered.
    scorecard: Mapped[dict[str, Any]] = mapped_column(JSON)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    cover_request_id: Mapped[int | None] = mapped_column(ForeignKey("cover_requests.id"))
    granted_amount: Mapped[Decimal | None] = mapped_column(Amount)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("credit_plans.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CreditApplicationEventRow(Base):
    """One time-stamped step of an application (received, assessed, scored, decided,
    cover request queued, insurer decided, referred, decided by a person)."""

    __tablename__ = "credit_application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("credit_applications.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class CreditLineRow(Base):
    """A credit line the gateway granted itself, effective-dated like cover: a change
    ends the row in force (``effective_to``) and adds a new one."""

    __tablename__ = "credit_lines"
    __table_args__ = (
        CheckConstraint("amount >= 0", "amount_nonneg"),
        CheckConstraint("length(currency) = 3", "currency_len"),
        CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", "dates"),
        Index("ix_credit_lines_buyer", "buyer_id", "policy_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    kind: Mapped[LineKind] = mapped_column(state_enum(LineKind, name="kind", length=16))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("credit_applications.id"))
    approved_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_reason: Mapped[str | None] = mapped_column(Text)


class CreditPlanRow(Base):
    """A progressive-limit plan: the line starts at a share of the target and steps up
    (or down, or freezes) by the buyer's payments, evaluated nightly."""

    __tablename__ = "credit_plans"
    __table_args__ = (
        CheckConstraint("target_amount > 0", "target_positive"),
        CheckConstraint("current_amount >= 0", "current_nonneg"),
        CheckConstraint("length(currency) = 3", "currency_len"),
        Index("ix_credit_plans_buyer", "buyer_id", "policy_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    target_amount: Mapped[Decimal] = mapped_column(Amount)
    current_amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[PlanState] = mapped_column(state_enum(PlanState, name="state", length=16))
    step: Mapped[int] = mapped_column(Integer, default=0)
    last_step_on: Mapped[date] = mapped_column(Date)
    last_evaluated_on: Mapped[date | None] = mapped_column(Date)
    # The next step and why (or why it is frozen), as the last evaluation said.
    next_step: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CreditRunRow(Base):
    """The nightly credit review of one business date (tiers, snapshots, plan steps),
    recorded once it committed: a rerun of the same date finds it and does nothing."""

    __tablename__ = "credit_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_date: Mapped[date] = mapped_column(Date, unique=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())


__all__ = [
    "ApplicationRoute",
    "ApplicationState",
    "BehaviourSnapshotRow",
    "CreditApplicationEventRow",
    "CreditApplicationRow",
    "CreditLineRow",
    "CreditPlanRow",
    "CreditRunRow",
    "LineKind",
    "PlanState",
    "TierChangeRow",
]
