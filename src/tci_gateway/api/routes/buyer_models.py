"""The response models of the risk team's buyer and review endpoints, and the opaque
keyset cursors they page with. Amounts are strings in the currency's minor units beside
a ``currency`` field; dates are ISO dates."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from tci_gateway.api.problems import FieldError, Problem
from tci_gateway.domain.money import Money, amount_text
from tci_gateway.services.buyer_views import Position

MAX_ID = 2**31 - 1
"""Ids are 32-bit integers in the ledger: a larger one names nothing."""


def encode_cursor(last_id: int | None) -> str | None:
    """An opaque cursor for the page after ``last_id``."""
    if last_id is None:
        return None
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor from :func:`encode_cursor` stands for; a 422 for anything else."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "v1" or not number.isdigit() or not 0 <= int(number) <= MAX_ID:
            raise ValueError(cursor)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Problem(
            422,
            "the cursor is not one this service handed out",
            errors=[FieldError(field="cursor", reason="not a cursor from a previous page")],
        ) from None


def money(value: Money | None) -> str | None:
    return None if value is None else amount_text(value.amount, value.currency)


def amount(value: Decimal | None, currency: str) -> str | None:
    return None if value is None else amount_text(value, currency)


class BuyerPosition(BaseModel):
    """A buyer under one policy (``policy`` null: its ERP accounts without a policy) on
    the policy's business date: exposure against the limit in force."""

    policy: str | None
    insurer: str | None
    business_date: date
    currency: str
    invoices: str = Field(description="open invoices, converted to the policy currency")
    credits: str = Field(description="open credit notes and unapplied payments")
    disputed: str = Field(description="the disputed part of the open invoices")
    exposure: str
    limit: str | None = Field(description="the limit in force; null without cover history")
    covered: str
    uncovered: str
    status: str | None = Field(description="the cover status shown (latest version)")
    pending_action: str | None
    limit_next_change: date | None = Field(description="when the limit in force next changes")
    limit_next_amount: str | None = Field(description="the limit in force from then")
    alerts: list[str]
    unconverted: list[str] = Field(description="documents without a usable FX rate")

    @classmethod
    def of(cls, p: Position) -> BuyerPosition:
        e = p.exposure
        return cls(
            policy=p.policy,
            insurer=p.insurer,
            business_date=p.business_date,
            currency=e.currency,
            invoices=amount_text(e.invoices.amount, e.currency),
            credits=amount_text(e.credits.amount, e.currency),
            disputed=amount_text(e.disputed.amount, e.currency),
            exposure=amount_text(e.exposure.amount, e.currency),
            limit=money(e.limit),
            covered=amount_text(e.covered.amount, e.currency),
            uncovered=amount_text(e.uncovered.amount, e.currency),
            status=e.status.value if e.status else None,
            pending_action=e.pending_action.value if e.pending_action else None,
            limit_next_change=p.next_change,
            limit_next_amount=money(p.next_amount),
            alerts=[a.value for a in e.alerts],
            unconverted=list(e.unconverted),
        )


class BuyerListItem(BaseModel):
    id: int
    name: str
    country: str
    tier: str
    tier_set: bool = Field(description="false when the buyer has the default tier")
    erp_accounts: list[str]
    positions: list[BuyerPosition]


class BuyerList(BaseModel):
    buyers: list[BuyerListItem]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class BuyerIdentifier(BaseModel):
    scheme: str
    issuer: str | None = Field(description="the insurer whose own buyer id this is")
    value: str
    source: str | None = Field(
        description="where it came from: erp:ACCOUNT, bureau:NAME, insurer:NAME, "
        "sync:INSURER, search:INSURER (null: recorded before provenance was kept)"
    )
    added_at: datetime | None


class BuyerAccount(BaseModel):
    account: str
    name: str
    policy: str | None
    created_at: datetime
    updated_at: datetime


class BuyerParent(BaseModel):
    relation: str
    scheme: str
    value: str
    source: str = Field(description="the bureau that reported it")
    updated_at: datetime


class BuyerDetail(BaseModel):
    id: int
    name: str
    country: str
    tier: str
    tier_set: bool
    created_at: datetime
    updated_at: datetime
    identifiers: list[BuyerIdentifier]
    erp_accounts: list[BuyerAccount]
    parents: list[BuyerParent]


class CoverTranche(BaseModel):
    amount: str
    valid_from: date
    expires_on: date | None


class CoverCondition(BaseModel):
    code: str
    text: str
    type: str


class CoverVersion(BaseModel):
    """One version of an insurer's decision, as recorded (append-only)."""

    id: int
    insurer_cover_ref: str
    status: str
    raw_codes: dict[str, str]
    unknown_codes: list[str]
    preliminary: bool
    currency: str
    granted_amount: str
    requested_amount: str | None
    effective_from: date
    effective_to: date | None
    pending_action: str | None
    conditions: list[CoverCondition]
    tranches: list[CoverTranche]
    decided_at: datetime | None
    changed_at: datetime | None = Field(description="when the insurer last changed it")
    recorded_at: datetime


class CoverLimitInForce(BaseModel):
    status: str
    amount: str
    currency: str
    decision_id: int | None = Field(description="the version it comes from")
    valid_from: date | None
    valid_to: date | None = Field(description="the first day it changes")
    next_amount: str | None


class CoverLimitChange(BaseModel):
    id: int
    business_date: date
    amount: str
    currency: str
    reason: str = Field(description="sync, date or merge")
    created_at: datetime


class PolicyCovers(BaseModel):
    policy: str
    insurer: str
    currency: str
    business_date: date | None
    in_force: CoverLimitInForce | None = Field(
        description="on the policy's business date; null for a policy no longer configured"
    )
    versions: list[CoverVersion]
    limit_changes: list[CoverLimitChange]


class BuyerCovers(BaseModel):
    buyer_id: int
    covers: list[PolicyCovers]


class BuyerOpenItem(BaseModel):
    id: int
    erp_account: str
    policy: str | None
    document_number: str
    kind: str
    currency: str
    amount: str
    open_amount: str
    document_date: date
    delivery_date: date | None
    due_date: date | None
    extended_due_date: date | None
    disputed: bool
    applies_to: str | None
    source: str
    company_code: str | None
    closed_on: date | None
    updated_at: datetime


class BuyerOpenItems(BaseModel):
    buyer_id: int
    items: list[BuyerOpenItem]
    next_cursor: str | None


class BuyerAlert(BaseModel):
    id: int
    kind: str
    severity: str
    policy: str | None
    business_date: date
    message: str
    details: dict[str, Any]
    created_at: datetime


class BuyerAlerts(BaseModel):
    buyer_id: int
    alerts: list[BuyerAlert]
    next_cursor: str | None


class BuyerExposure(BaseModel):
    buyer_id: int
    positions: list[BuyerPosition]


class BuyerCase(BaseModel):
    id: int
    policy: str
    insurer: str
    state: str
    insurer_status: str | None
    tier: str
    currency: str
    overdue_total: str
    insured_total: str
    indemnity: str
    indemnity_lower_bound: bool
    due_date: date
    cover_stop: date
    notify_by: date
    date_of_loss: date
    claim_by: date
    opened_on: date
    closed_on: date | None


class BuyerCases(BaseModel):
    buyer_id: int
    cases: list[BuyerCase]
    next_cursor: str | None


class FoundIdentifier(BaseModel):
    scheme: str
    issuer: str | None
    value: str


class SearchCandidate(BaseModel):
    """One legal entity as the insurers and bureaus know it."""

    name: str
    country: str
    identifiers: list[FoundIdentifier]
    insurer_ids: dict[str, str] = Field(description="each source's own id of it")
    names: dict[str, str] = Field(description="the name each source gives it")
    ratings: dict[str, str]


class SearchSource(BaseModel):
    source: str
    kind: str = Field(description="insurer or bureau")
    status: str = Field(description="ok, failed, timed out, not supported")
    matches: int
    duration_ms: int
    error: str | None


class BuyerSearchResult(BaseModel):
    ok: bool = Field(description="every source that can search answered")
    candidates: list[SearchCandidate]
    sources: list[SearchSource]


class ReviewAccount(BaseModel):
    account: str
    name: str | None
    buyer_id: int | None = Field(description="the buyer the account belongs to now")
    policy: str | None


class ReviewItem(BaseModel):
    id: int
    account_a: ReviewAccount
    account_b: ReviewAccount
    score: str
    reason: str
    state: str = Field(description="PENDING, ACCEPTED or REJECTED")
    created_at: datetime
    decided_at: datetime | None


class ReviewList(BaseModel):
    items: list[ReviewItem]
    next_cursor: str | None


class ReviewDecision(BaseModel):
    item: ReviewItem
    buyer_id: int | None = Field(description="accepted: the buyer both accounts now belong to")
