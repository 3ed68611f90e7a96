"""The response models of the deadlines, cases and filing pack endpoints, built from the
services' views. Amounts are strings in the currency's minor units beside a
``currency`` field (the figures ``tci claims show --json`` prints); dates are ISO
dates, each deadline counted on its policy's business date."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from tci_gateway.api.problems import FieldError, Problem
from tci_gateway.domain.cases import (
    AWAITING_PERSON,
    ActionChannel,
    ActionState,
    CaseState,
    InsurerCaseStatus,
)
from tci_gateway.domain.escalation import StepAction
from tci_gateway.domain.money import amount_text
from tci_gateway.logs import redact_text
from tci_gateway.services.case_views import ActionView, CaseView
from tci_gateway.services.deadline_views import DeadlineRow

DeadlineName = Literal["cover_stop", "notify_by", "date_of_loss", "claim_by"]


def encode_position(*parts: str | int) -> str:
    """An opaque cursor for a keyset position of several parts."""
    text = "v1:" + json.dumps(list(parts), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_position(cursor: str, *types: type) -> tuple[Any, ...]:
    """The parts of a cursor from :func:`encode_position`, each of the type given; a 422
    for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("v1:"):
            raise ValueError(cursor)
        parts = json.loads(text[3:])
        if not isinstance(parts, list) or len(parts) != len(types):
            raise ValueError(cursor)
        out: list[Any] = []
        for part, kind in zip(parts, types, strict=True):
            if kind is date:
                out.append(date.fromisoformat(part))
            elif kind is int:
                if type(part) is not int or not 0 <= part <= 2**31 - 1:
                    raise ValueError(cursor)
                out.append(part)
            elif not isinstance(part, kind):
                raise ValueError(cursor)
            else:
                out.append(part)
        return tuple(out)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise Problem(
            422,
            "the cursor is not one this service handed out",
            errors=[FieldError(field="cursor", reason="not a cursor from a previous page")],
        ) from None


# -- deadlines --------------------------------------------------------------------------


class UpcomingOut(BaseModel):
    deadline: DeadlineName
    date: date
    days_left: int = Field(description="calendar days from the policy's business date")
    bites_at: datetime = Field(
        description="when it bites (UTC): the midnight ending the last day of an act "
        "(notify by, claim by) or beginning the day of an event (cover stop, date of "
        "loss), in the policy's time zone"
    )


class StepDueOut(BaseModel):
    action: str
    due_on: date
    late: bool


class DeadlineOut(BaseModel):
    """An overdue buyer under a policy with its deadline clock (its oldest overdue
    invoice's, or that of its notified case) and the deadlines within the horizon."""

    policy: str
    timezone: str
    business_date: date = Field(description="today in the policy's time zone")
    buyer_id: int
    buyer: str
    tier: str
    case_id: int | None = Field(description="set when the clock is that of a notified case")
    overdue_invoices: int
    due_date: date
    days_overdue: int
    cover_stop: date
    notify_by: date
    date_of_loss: date
    claim_by: date
    upcoming: list[UpcomingOut]
    steps_due: list[StepDueOut]

    @classmethod
    def of(cls, row: DeadlineRow) -> DeadlineOut:
        ob, clock = row.buyer, row.buyer.clock
        return cls(
            policy=ob.policy.key,
            timezone=clock.timezone,
            business_date=ob.today,
            buyer_id=ob.buyer_id,
            buyer=ob.buyer_name,
            tier=ob.tier,
            case_id=ob.case_id,
            overdue_invoices=ob.overdue_invoices,
            due_date=clock.due_date,
            days_overdue=clock.days_overdue(ob.today),
            cover_stop=clock.cover_stop,
            notify_by=clock.notify_by,
            date_of_loss=clock.date_of_loss,
            claim_by=clock.claim_by,
            upcoming=[
                UpcomingOut(
                    deadline=u.deadline.value.lower(),
                    date=u.on,
                    days_left=u.days_left,
                    bites_at=u.bites_at,
                )
                for u in row.upcoming
            ],
            steps_due=[
                StepDueOut(action=s.action.value, due_on=s.due_on, late=s.late) for s in ob.steps
            ],
        )


class DeadlinesPage(BaseModel):
    days: int = Field(description="the horizon: deadlines from today to this many days ahead")
    items: list[DeadlineOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


# -- cases ------------------------------------------------------------------------------


class ActionOut(BaseModel):
    """An act towards the insurer (or, for a reminder, the risk team)."""

    id: int
    case_id: int
    action: StepAction
    channel: ActionChannel
    state: ActionState
    awaiting_person: bool = Field(
        description="a manual or rejected filing: file it in the insurer's portal, then "
        "confirm it (POST .../actions/{action}/confirm)"
    )
    due_on: date
    late: bool
    client_reference: str
    insurer_reference: str | None
    insurer_status: InsurerCaseStatus | None
    attempts: int
    last_error: str | None
    sent_at: datetime | None

    @classmethod
    def of(cls, case_id: int, a: ActionView) -> ActionOut:
        return cls(
            id=a.id,
            case_id=case_id,
            action=a.action,
            channel=a.channel,
            state=a.state,
            awaiting_person=a.state in AWAITING_PERSON,
            due_on=a.due_on,
            late=a.late,
            client_reference=a.client_reference,
            insurer_reference=a.insurer_reference,
            insurer_status=a.insurer_status,
            attempts=a.attempts,
            last_error=redact_text(a.last_error) if a.last_error else None,
            sent_at=a.sent_at,
        )


class IndemnityLineOut(BaseModel):
    """One open invoice of the claim; amounts other than ``open_amount`` (in the
    invoice's ``currency``) are in the policy currency."""

    number: str
    delivery_date: date
    due_date: date | None
    currency: str
    open_amount: str
    open_in_policy: str | None = Field(description="null: no FX rate on the delivery date")
    credits_applied: str | None
    net: str | None
    limit_at_delivery: str | None = Field(description="null: before the cover history")
    limit_known: bool = True
    insured: str | None
    excluded: str | None = Field(
        description="DISPUTED, DELIVERED_AFTER_COVER_STOP or NO_FX_RATE; null: claimed"
    )


class IndemnityOut(BaseModel):
    """The itemised indemnity (insured parts in delivery order, then percentage,
    threshold and deductible), as computed on the case's last update."""

    currency: str
    lines: list[IndemnityLineOut]
    unapplied_credits: str | None = None
    unconverted_credits: list[str] = Field(default_factory=list)
    insured_total: str
    insured_percentage: str
    gross_indemnity: str
    claim_threshold: str
    below_threshold: bool
    deductible: str
    indemnity: str
    lower_bound: bool = False
    history_starts: date | None = None
    note: str | None = None

    @classmethod
    def of(cls, details: dict[str, Any] | None) -> IndemnityOut | None:
        """From a case's stored ``details["indemnity"]``; ``None`` when none was
        computed (or it predates this shape)."""
        if not details:
            return None
        try:
            return cls.model_validate(details)
        except ValidationError:
            return None


class CaseOut(BaseModel):
    """An overdue case: one buyer's overdue episode under one policy."""

    id: int
    policy: str
    insurer: str
    buyer_id: int
    buyer_name: str
    tier: str
    state: CaseState
    insurer_status: InsurerCaseStatus | None
    due_date: date
    cover_stop: date
    notify_by: date
    date_of_loss: date
    claim_by: date
    opened_on: date
    closed_on: date | None
    as_of: date | None = Field(description="the business date of the last update")
    currency: str
    overdue_total: str
    insured_total: str
    indemnity: str
    indemnity_lower_bound: bool
    indemnity_note: str | None
    actions: list[ActionOut]

    @classmethod
    def fields_of(cls, c: CaseView) -> dict[str, Any]:
        as_of = c.details.get("as_of")
        return {
            "id": c.id,
            "policy": c.policy,
            "insurer": c.insurer,
            "buyer_id": c.buyer_id,
            "buyer_name": c.buyer_name,
            "tier": c.tier,
            "state": c.state,
            "insurer_status": c.insurer_status,
            "due_date": c.due_date,
            "cover_stop": c.cover_stop,
            "notify_by": c.notify_by,
            "date_of_loss": c.date_of_loss,
            "claim_by": c.claim_by,
            "opened_on": c.opened_on,
            "closed_on": c.closed_on,
            "as_of": date.fromisoformat(as_of) if isinstance(as_of, str) else None,
            "currency": c.currency,
            "overdue_total": amount_text(c.overdue_total, c.currency),
            "insured_total": amount_text(c.insured_total, c.currency),
            "indemnity": amount_text(c.indemnity, c.currency),
            "indemnity_lower_bound": c.indemnity_lower_bound,
            "indemnity_note": c.indemnity_note,
            "actions": [ActionOut.of(c.id, a) for a in c.actions],
        }

    @classmethod
    def of(cls, c: CaseView) -> CaseOut:
        return cls(**cls.fields_of(c))


class CaseDetailOut(CaseOut):
    """A case with its itemised indemnity."""

    itemised_indemnity: IndemnityOut | None

    @classmethod
    def of(cls, c: CaseView) -> CaseDetailOut:
        return cls(
            **cls.fields_of(c), itemised_indemnity=IndemnityOut.of(c.details.get("indemnity"))
        )


class CasesPage(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class ConfirmIn(BaseModel):
    """A manual filing made in the insurer's portal."""

    reference: str = Field(
        max_length=255,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="the insurer portal's reference (kept to 64 characters, as the CLI does)",
    )


# -- filing pack ------------------------------------------------------------------------


class PackBuyer(BaseModel):
    name: str
    country: str
    identifiers: list[str]
    erp_accounts: list[str]


class PackPolicy(BaseModel):
    key: str
    insurer: str
    reference: dict[str, str] = Field(description="the insurer's own policy reference")


class PackDeadlines(BaseModel):
    due_date: date
    first_default_date: date
    cover_stop: date
    notify_by: date
    date_of_loss: date
    claim_by: date


class PackAmounts(BaseModel):
    currency: str
    overdue_total: str
    insured_total: str
    indemnity: str
    indemnity_lower_bound: bool
    note: str | None


class PackInvoice(BaseModel):
    number: str
    issue_date: date
    due_date: date | None
    amount: str
    outstanding: str
    currency: str
    new_due_date: date | None = Field(None, description="asked for by an extension request")


class PackAction(BaseModel):
    action: StepAction
    state: ActionState
    channel: ActionChannel
    due_on: date
    client_reference: str
    insurer_reference: str | None
    invoices: list[PackInvoice]


class FilingPackOut(BaseModel):
    """Everything an insurer's portal asks for a case (``Accept: text/markdown`` for the
    document ``tci claims pack`` writes)."""

    case: int
    state: CaseState
    buyer: PackBuyer
    policy: PackPolicy
    deadlines: PackDeadlines
    amounts: PackAmounts
    indemnity: IndemnityOut | None
    actions: list[PackAction]

    @classmethod
    def of(cls, pack: dict[str, Any]) -> FilingPackOut:
        policy = pack["policy"]
        return cls(
            case=pack["case"],
            state=pack["state"],
            buyer=PackBuyer.model_validate(pack["buyer"]),
            policy=PackPolicy(
                key=policy["key"],
                insurer=policy["insurer"],
                reference={str(k): str(v) for k, v in policy["reference"].items()},
            ),
            deadlines=PackDeadlines.model_validate(pack["deadlines"]),
            amounts=PackAmounts.model_validate(pack["amounts"]),
            indemnity=IndemnityOut.of(pack.get("indemnity")),
            actions=[
                PackAction(
                    action=a["action"],
                    state=a["state"],
                    channel=a["channel"],
                    due_on=a["due_on"],
                    client_reference=a["client_reference"],
                    insurer_reference=a["insurer_reference"],
                    invoices=[PackInvoice.model_validate(i) for i in a["invoices"]],
                )
                for a in pack["actions"]
            ],
        )
