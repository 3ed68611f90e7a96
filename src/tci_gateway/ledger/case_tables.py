"""Overdue cases and their actions (the claims outbox).

A case follows one buyer's overdue invoices under one policy, from the first overdue
day to its close; at most one case per (policy, buyer) is open, which the database
enforces with a partial unique index. Each act towards the insurer (overdue
notification, payment plan, extension request, collections, claim) is a
``case_actions`` row written with its client reference in the same transaction as the
case change, before anything is sent; one row per (case, action).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tci_gateway.domain.cases import ActionChannel, ActionState, CaseState, InsurerCaseStatus
from tci_gateway.domain.escalation import StepAction
from tci_gateway.ledger.base import Amount, Base
from tci_gateway.ledger.types import UTCDateTime, state_enum

_OPEN = text("state = 'OPEN'")


class ClaimCaseRow(Base):
    __tablename__ = "claim_cases"
    __table_args__ = (
        CheckConstraint("length(currency) = 3", "currency_len"),
        Index(
            "uq_claim_cases_open",
            "policy_id",
            "buyer_id",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    state: Mapped[CaseState] = mapped_column(state_enum(CaseState, name="state", length=16))
    insurer_status: Mapped[InsurerCaseStatus | None] = mapped_column(
        state_enum(InsurerCaseStatus, name="insurer_status", length=32)
    )
    raw_status: Mapped[str | None] = mapped_column(String(64))
    due_date: Mapped[date] = mapped_column(Date)
    cover_stop: Mapped[date] = mapped_column(Date)
    notify_by: Mapped[date] = mapped_column(Date)
    date_of_loss: Mapped[date] = mapped_column(Date)
    claim_by: Mapped[date] = mapped_column(Date)
    opened_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    overdue_total: Mapped[Decimal] = mapped_column(Amount)
    insured_total: Mapped[Decimal] = mapped_column(Amount)
    indemnity: Mapped[Decimal] = mapped_column(Amount)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseActionRow(Base):
    __tablename__ = "case_actions"
    __table_args__ = (UniqueConstraint("case_id", "action", name="uq_case_actions_case_action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("claim_cases.id"), index=True)
    action: Mapped[StepAction] = mapped_column(state_enum(StepAction, name="action", length=32))
    client_reference: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[ActionChannel] = mapped_column(
        state_enum(ActionChannel, name="channel", length=8)
    )
    state: Mapped[ActionState] = mapped_column(
        state_enum(ActionState, name="state", length=16), index=True
    )
    due_on: Mapped[date] = mapped_column(Date)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    insurer_reference: Mapped[str | None] = mapped_column(String(64))
    insurer_status: Mapped[InsurerCaseStatus | None] = mapped_column(
        state_enum(InsurerCaseStatus, name="insurer_status", length=32)
    )
    raw_status: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
