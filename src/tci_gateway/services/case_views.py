"""Cases as the risk team reads them, the manual filing pack, and the confirmation
that a manual filing was made."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.domain.cases import (
    AWAITING_PERSON,
    ActionChannel,
    ActionState,
    CaseState,
    InsurerCaseStatus,
)
from tci_gateway.domain.escalation import StepAction
from tci_gateway.domain.money import amount_text
from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger.buyers import identifiers_of
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import (
    BuyerRow,
    CaseActionRow,
    ClaimCaseRow,
    ErpAccountRow,
    PolicyRow,
)


@dataclass(frozen=True)
class ActionView:
    id: int
    action: StepAction
    channel: ActionChannel
    state: ActionState
    due_on: date
    late: bool
    client_reference: str
    insurer_reference: str | None
    insurer_status: InsurerCaseStatus | None
    attempts: int
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class CaseView:
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
    currency: str
    overdue_total: Decimal
    insured_total: Decimal
    indemnity: Decimal
    actions: tuple[ActionView, ...]
    details: dict[str, Any]

    @property
    def indemnity_note(self) -> str | None:
        """Why the indemnity is only a lower bound ("limit at delivery unknown: cover
        history starts on DATE"), ``None`` when it is exact."""
        note = self.details.get("indemnity", {}).get("note")
        return str(note) if note else None

    @property
    def indemnity_lower_bound(self) -> bool:
        """True when the indemnity is at least the figure shown, not the figure."""
        return bool(self.details.get("indemnity", {}).get("lower_bound"))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "indemnity_lower_bound": self.indemnity_lower_bound,
            "indemnity_note": self.indemnity_note,
        }


RefusalKind = Literal["not_found", "conflict", "invalid"]


class CaseInputError(InputError):
    """A case request refused, with the CLI's words, and its ``kind``: ``not_found`` (no
    such case, or no such action on it), ``conflict`` (the action is not awaiting a
    person) or ``invalid`` (a bad value). The CLI exits 2 on it like on any input
    error; the HTTP API answers 404, 409 or 422."""

    def __init__(self, column: str, reason: str, kind: RefusalKind) -> None:
        super().__init__([RecordError("command line", None, column, reason)])
        self.kind: RefusalKind = kind
        self.column = column
        self.reason = reason


def _bad(column: str, reason: str, kind: RefusalKind = "invalid") -> CaseInputError:
    return CaseInputError(column, reason, kind)


def _action_views(session: Session, case_ids: list[int]) -> dict[int, tuple[ActionView, ...]]:
    """The actions of these cases, by case id, each case's in id order (one query)."""
    found: dict[int, list[ActionView]] = {case_id: [] for case_id in case_ids}
    if not case_ids:
        return {}
    rows = session.scalars(
        select(CaseActionRow)
        .where(CaseActionRow.case_id.in_(case_ids))
        .order_by(CaseActionRow.case_id, CaseActionRow.id)
    )
    for r in rows:
        found[r.case_id].append(
            ActionView(
                r.id,
                r.action,
                r.channel,
                r.state,
                r.due_on,
                r.late,
                r.client_reference,
                r.insurer_reference,
                r.insurer_status,
                r.attempts,
                r.last_error,
                r.sent_at,
            )
        )
    return {case_id: tuple(views) for case_id, views in found.items()}


def list_cases(
    ledger: Ledger,
    *,
    state: CaseState | None = CaseState.OPEN,
    case_id: int | None = None,
    buyer_id: int | None = None,
    policies: Collection[str] | None = None,
    policy: str | None = None,
    before: int | None = None,
    limit: int | None = None,
) -> list[CaseView]:
    """Cases, newest first (``state`` None: all; ``buyer_id``: that buyer's only).
    ``policies`` restricts them to those policy keys (an API key's), ``policy`` filters
    on one; ``before`` and ``limit`` page them by id (keyset: the cases with an id
    below ``before``)."""
    with ledger.reading() as session:
        stmt = (
            select(ClaimCaseRow, PolicyRow.key, PolicyRow.insurer, BuyerRow.name)
            .join(PolicyRow, PolicyRow.id == ClaimCaseRow.policy_id)
            .join(BuyerRow, BuyerRow.id == ClaimCaseRow.buyer_id)
            .order_by(ClaimCaseRow.id.desc())
        )
        if state is not None:
            stmt = stmt.where(ClaimCaseRow.state == state)
        if case_id is not None:
            stmt = stmt.where(ClaimCaseRow.id == case_id)
        if buyer_id is not None:
            stmt = stmt.where(ClaimCaseRow.buyer_id == buyer_id)
        if policies is not None:
            stmt = stmt.where(PolicyRow.key.in_(sorted(policies)))
        if policy is not None:
            stmt = stmt.where(PolicyRow.key == policy)
        if before is not None:
            stmt = stmt.where(ClaimCaseRow.id < before)
        if limit is not None:
            stmt = stmt.limit(limit)
        found = list(session.execute(stmt))
        actions = _action_views(session, [c.id for c, _, _, _ in found])
        return [
            CaseView(
                id=c.id,
                policy=key,
                insurer=insurer,
                buyer_id=c.buyer_id,
                buyer_name=name,
                tier=c.tier,
                state=c.state,
                insurer_status=c.insurer_status,
                due_date=c.due_date,
                cover_stop=c.cover_stop,
                notify_by=c.notify_by,
                date_of_loss=c.date_of_loss,
                claim_by=c.claim_by,
                opened_on=c.opened_on,
                closed_on=c.closed_on,
                currency=c.currency,
                overdue_total=c.overdue_total,
                insured_total=c.insured_total,
                indemnity=c.indemnity,
                actions=actions[c.id],
                details=c.details,
            )
            for c, key, insurer, name in found
        ]


def get_case(ledger: Ledger, case_id: int) -> CaseView:
    found = list_cases(ledger, state=None, case_id=case_id)
    if not found:
        raise _bad(
            "CASE", f"no case {case_id} in the ledger (`tci claims list --all`)", "not_found"
        )
    return found[0]


def confirm_manual(
    ledger: Ledger, case_id: int, action: str, reference: str, *, now: datetime
) -> ActionView:
    """Record that the risk team filed ``action`` of a case in the insurer's portal, with
    the portal's reference."""
    try:
        step = StepAction(action.upper().replace("-", "_"))
    except ValueError:
        known = ", ".join(a.value.lower() for a in StepAction if a is not StepAction.REMINDER)
        raise _bad("--action", f"unknown action {action!r} (known: {known})", "not_found") from None
    if not reference.strip():
        raise _bad("--reference", "the insurer's reference must not be empty")
    with ledger.unit_of_work() as session:
        row = session.scalar(
            select(CaseActionRow).where(
                CaseActionRow.case_id == case_id, CaseActionRow.action == step
            )
        )
        if row is None:
            raise _bad(
                "--action", f"case {case_id} has no {step.value.lower()} action", "not_found"
            )
        if row.state not in AWAITING_PERSON:
            raise _bad(
                "--action",
                f"case {case_id} {step.value.lower()} is {row.state}: only a manual or "
                "rejected filing is confirmed by hand",
                "conflict",
            )
        row.state = ActionState.FILED_MANUALLY
        row.insurer_reference, row.sent_at, row.updated_at = reference.strip()[:64], now, now
        row.last_error = None
    return next(a for a in get_case(ledger, case_id).actions if a.action == step)


def filing_pack(ledger: Ledger, case_id: int) -> dict[str, Any]:
    """Everything an insurer's portal asks for a case: buyer and identifiers, policy,
    invoices, amounts, dates, deadlines, the itemised indemnity, the actions so far."""
    case = get_case(ledger, case_id)
    with ledger.reading() as session:
        policy = session.scalar(select(PolicyRow).where(PolicyRow.key == case.policy))
        accounts = list(
            session.scalars(
                select(ErpAccountRow.account).where(ErpAccountRow.buyer_id == case.buyer_id)
            )
        )
        buyer = session.get_one(BuyerRow, case.buyer_id)
        buyer_name, country = buyer.name, buyer.country  # read before the session ends
        identifiers = sorted(
            f"{i.scheme.value}{'/' + i.issuer if i.issuer else ''}: {i.value}"
            for i in identifiers_of(session, case.buyer_id)
        )
        external = dict(policy.external_ref) if policy else {}
        payloads: dict[str, Any] = {
            action: payload
            for action, payload in session.execute(
                select(CaseActionRow.action, CaseActionRow.payload).where(
                    CaseActionRow.case_id == case_id
                )
            )
        }
    actions = [a for a in case.actions if a.action != StepAction.REMINDER]
    return {
        "case": case.id,
        "state": case.state,
        "buyer": {
            "name": buyer_name,
            "country": country,
            "identifiers": identifiers,
            "erp_accounts": sorted(accounts),
        },
        "policy": {"key": case.policy, "insurer": case.insurer, "reference": external},
        "deadlines": {
            "due_date": case.due_date.isoformat(),
            "first_default_date": (case.due_date + timedelta(days=1)).isoformat(),
            "cover_stop": case.cover_stop.isoformat(),
            "notify_by": case.notify_by.isoformat(),
            "date_of_loss": case.date_of_loss.isoformat(),
            "claim_by": case.claim_by.isoformat(),
        },
        "amounts": {
            "currency": case.currency,
            "overdue_total": amount_text(case.overdue_total, case.currency),
            "insured_total": amount_text(case.insured_total, case.currency),
            "indemnity": amount_text(case.indemnity, case.currency),
            "indemnity_lower_bound": case.indemnity_lower_bound,
            "note": case.indemnity_note,
        },
        "indemnity": case.details.get("indemnity", {}),
        "actions": [
            {
                "action": a.action,
                "state": a.state,
                "channel": a.channel,
                "due_on": a.due_on.isoformat(),
                "client_reference": a.client_reference,
                "insurer_reference": a.insurer_reference,
                "invoices": payloads.get(a.action, {}).get("invoices", []),
            }
            for a in actions
        ],
    }
