"""Overdue cases: open them, keep their deadlines and indemnity current, queue their
actions in the outbox, close them when the buyer has paid.

Everything for one buyer happens in one transaction: the case change and the outbox
rows of its newly due actions (with their client references) are committed together,
before anything is sent (:mod:`tci_gateway.services.case_outbox` sends them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import ClaimFiling, InsurerAdapter, OverdueFiling
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cases import (
    AWAITING_PERSON,
    FILED,
    FIRST_STATE,
    ActionChannel,
    ActionState,
    CaseState,
    client_reference,
)
from tci_gateway.domain.cover import limit_in_force
from tci_gateway.domain.deadlines import Deadline, is_overdue
from tci_gateway.domain.escalation import NOTIFYING, StepAction
from tci_gateway.domain.exposure import Converter
from tci_gateway.domain.indemnity import (
    IndemnityResult,
    InvoiceLine,
    compute_indemnity,
    history_start,
)
from tci_gateway.domain.money import Money, amount_text
from tci_gateway.domain.policy import PolicyTerms
from tci_gateway.domain.receivables import ItemKind, OpenItem
from tci_gateway.ledger.covers import StoredVersion, versions_of_buyer
from tci_gateway.ledger.open_items import to_open_item
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.tables import CaseActionRow, ClaimCaseRow, ErpAccountRow, OpenItemRow
from tci_gateway.services.deadlines import OverdueBuyer, open_cases

CLAIMING = frozenset({StepAction.CLAIM, StepAction.COLLECTIONS})


@dataclass
class CaseOutcome:
    """What one buyer's pass did."""

    case_id: int
    policy: str
    buyer_id: int
    buyer_name: str
    opened: bool
    queued: list[str] = field(default_factory=list)
    indemnity: Money | None = None


def channel(action: StepAction, adapter: InsurerAdapter | None) -> ActionChannel:
    """How an action reaches the insurer: by its API when the adapter has one for it,
    else by a manual filing pack; a reminder stays internal."""
    if action is StepAction.REMINDER:
        return ActionChannel.INTERNAL
    if adapter is None:
        return ActionChannel.MANUAL
    if action in CLAIMING:
        ok = adapter.capabilities.claims_api and isinstance(adapter, ClaimFiling)
        return ActionChannel.API if ok and action is StepAction.CLAIM else ActionChannel.MANUAL
    ok = adapter.capabilities.overdue_api and isinstance(adapter, OverdueFiling)
    return ActionChannel.API if ok else ActionChannel.MANUAL


def load_items(session: Session, policy_id: int, buyer_id: int) -> list[OpenItem]:
    """The buyer's open items under a policy (every ERP account of the buyer)."""
    stmt = (
        select(OpenItemRow, ErpAccountRow.account)
        .join(ErpAccountRow, ErpAccountRow.id == OpenItemRow.erp_account_id)
        .where(ErpAccountRow.buyer_id == buyer_id, ErpAccountRow.policy_id == policy_id)
        .order_by(OpenItemRow.id)
    )
    return [to_open_item(row, account) for row, account in session.execute(stmt)]


def limit_function(versions: Sequence[StoredVersion], currency: str) -> Callable[[date], Money]:
    """The covered limit in force on a date, from the buyer's decision history (zero when
    there was none)."""

    def limit_on(day: date) -> Money:
        limit = limit_in_force(versions, day).amount
        return limit if limit is not None else Money.zero(currency)

    return limit_on


def _money(value: Money | None) -> str | None:
    return None if value is None else value.text()


def _line(line: InvoiceLine) -> dict[str, Any]:
    return {
        "number": line.number,
        "delivery_date": line.delivery_date.isoformat(),
        "due_date": line.due_date.isoformat() if line.due_date else None,
        "currency": line.open_amount.currency,
        "open_amount": _money(line.open_amount),
        "open_in_policy": _money(line.open_in_policy),
        "credits_applied": _money(line.credits_applied),
        "net": _money(line.net),
        "limit_at_delivery": _money(line.limit_at_delivery) if line.limit_known else None,
        "limit_known": line.limit_known,
        "insured": _money(line.insured),
        "excluded": line.excluded.value if line.excluded else None,
    }


def indemnity_details(result: IndemnityResult) -> dict[str, Any]:
    """The itemised indemnity as JSON-safe values (amounts as exact decimal strings)."""
    return {
        "currency": result.currency,
        "lines": [_line(line) for line in result.lines],
        "unapplied_credits": _money(result.unapplied_credits),
        "unconverted_credits": list(result.unconverted_credits),
        "insured_total": _money(result.insured_total),
        "insured_percentage": str(result.insured_percentage),
        "gross_indemnity": _money(result.gross_indemnity),
        "claim_threshold": _money(result.claim_threshold),
        "below_threshold": result.below_threshold,
        "deductible": _money(result.deductible),
        "indemnity": _money(result.indemnity),
        "lower_bound": result.lower_bound,
        "history_starts": result.history_starts.isoformat() if result.history_starts else None,
        "note": result.note,
    }


def _overdue_invoices(
    items: Sequence[OpenItem],
    terms: PolicyTerms,
    today: date,
    extension_days: int | None = None,
) -> list[dict[str, Any]]:
    """The undisputed open invoices past their due date in force (the date the scan and
    the clock count from), oldest first."""
    found: list[tuple[date, str, dict[str, Any]]] = []
    for i in items:
        due_on = i.due_date_in_force(terms.extension_moves_deadlines)
        if (
            i.kind is not ItemKind.INVOICE
            or i.disputed
            or i.open_amount.amount <= 0
            or due_on is None
            or not is_overdue(due_on, today)
        ):
            continue
        invoice = {
            "number": i.document_number,
            "issue_date": i.document_date.isoformat(),
            "due_date": due_on.isoformat(),
            "amount": i.amount.text(),
            "outstanding": i.open_amount.text(),
            "currency": i.currency,
        }
        if extension_days is not None:
            invoice["new_due_date"] = (due_on + timedelta(days=extension_days)).isoformat()
        found.append((due_on, i.document_number, invoice))
    return [invoice for _, _, invoice in sorted(found, key=lambda f: (f[0], f[1]))]


def _payload(
    action: StepAction,
    ob: OverdueBuyer,
    items: Sequence[OpenItem],
    result: IndemnityResult,
    extension_days: int,
) -> dict[str, Any]:
    extend = extension_days if action is StepAction.EXTENSION_REQUEST else None
    payload: dict[str, Any] = {
        "action": action.value,
        "first_default_date": (ob.clock.due_date + timedelta(days=1)).isoformat(),
        "invoices": _overdue_invoices(items, ob.policy.terms, ob.today, extend),
    }
    if action in CLAIMING:
        claimed = [line for line in result.lines if line.excluded is None]
        total = sum((line.net.amount for line in claimed), Money.zero(result.currency).amount)
        payload |= {
            "cause": "PROTRACTED_DEFAULT",
            "date_of_loss": ob.clock.date_of_loss.isoformat(),
            "claimed_amount": amount_text(total, result.currency),
            "currency": result.currency,
            "indemnity": indemnity_details(result),
        }
    return payload


def _open_case(session: Session, ob: OverdueBuyer, now: datetime) -> tuple[ClaimCaseRow, bool]:
    case = session.scalar(
        select(ClaimCaseRow).where(
            ClaimCaseRow.policy_id == ob.policy_id,
            ClaimCaseRow.buyer_id == ob.buyer_id,
            ClaimCaseRow.state == CaseState.OPEN,
        )
    )
    if case is not None:
        return case, False
    case = ClaimCaseRow(
        policy_id=ob.policy_id,
        buyer_id=ob.buyer_id,
        tier=ob.tier,
        state=CaseState.OPEN,
        opened_on=ob.today,
        currency=ob.policy.terms.currency,
        overdue_total=0,
        insured_total=0,
        indemnity=0,
        details={},
        created_at=now,
        updated_at=now,
        **_deadlines(ob),
    )
    session.add(case)
    session.flush()
    return case, True


def _deadlines(ob: OverdueBuyer) -> dict[str, date]:
    clock = ob.clock
    return {
        "due_date": clock.due_date,
        "cover_stop": clock.cover_stop,
        "notify_by": clock.notify_by,
        "date_of_loss": clock.date_of_loss,
        "claim_by": clock.claim_by,
    }


def record_case(
    session: Session,
    ob: OverdueBuyer,
    *,
    adapter: InsurerAdapter | None,
    convert: Converter,
    now: datetime,
    extension_days: int = 30,
) -> CaseOutcome:
    """Open or update ``ob``'s case and queue its newly due actions (one transaction,
    the caller's). An extension request asks for ``extension_days`` more on each overdue
    invoice."""
    case, opened = _open_case(session, ob, now)
    actions = {
        a.action: a
        for a in session.scalars(select(CaseActionRow).where(CaseActionRow.case_id == case.id))
    }
    notified = any(a in NOTIFYING for a in actions)
    if not notified and case.due_date != ob.clock.due_date:
        # Until the insurer has been told, the case follows the oldest overdue invoice
        # (an older one paid, or an extension granted, moves the clock).
        for name, value in _deadlines(ob).items():
            setattr(case, name, value)
    items = load_items(session, ob.policy_id, ob.buyer_id)
    currency = ob.policy.terms.currency
    versions = versions_of_buyer(session, ob.policy_id, ob.buyer_id)
    result = compute_indemnity(
        items,
        ob.policy.terms,
        limit_function(versions, currency),
        convert=convert,
        cover_stop=case.cover_stop,
        history_starts=history_start(versions),
    )
    overdue = [
        line
        for line in result.lines
        if is_overdue(line.due_date, ob.today) and line.excluded is None
    ]
    case.overdue_total = sum((line.net.amount for line in overdue), Money.zero(currency).amount)
    case.insured_total = result.insured_total.amount
    case.indemnity = result.indemnity.amount
    case.details = {"indemnity": indemnity_details(result), "as_of": ob.today.isoformat()}
    case.updated_at = now
    outcome = CaseOutcome(
        case.id, ob.policy.key, ob.buyer_id, ob.buyer_name, opened, indemnity=result.indemnity
    )
    _follow_payments(session, ob, case.id, actions, items, result, extension_days, now)
    for step in ob.steps:
        if step.action in actions:
            continue
        how = channel(step.action, adapter)
        state = FIRST_STATE[how]
        session.add(
            CaseActionRow(
                case_id=case.id,
                action=step.action,
                client_reference=client_reference(case.id, step.action),
                channel=how,
                state=state,
                due_on=step.due_on,
                late=step.late,
                payload=_payload(step.action, ob, items, result, extension_days),
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
        outcome.queued.append(step.action.value)
        _action_alerts(session, ob, case.id, step.action, how, step.late, now)
    _deadline_alerts(session, ob, case.id, now)
    return outcome


def _follow_payments(
    session: Session,
    ob: OverdueBuyer,
    case_id: int,
    actions: dict[StepAction, CaseActionRow],
    items: Sequence[OpenItem],
    result: IndemnityResult,
    extension_days: int,
    now: datetime,
) -> None:
    """A payment or credit after an action was queued: an action not sent yet is
    rebuilt with today's amounts; a claim already filed raises an alert when what is
    outstanding no longer matches what was claimed (the insurer must be told)."""
    for action, row in actions.items():
        if action is StepAction.REMINDER:
            continue
        unsent = row.state in AWAITING_PERSON or (
            row.state == ActionState.QUEUED and row.attempts == 0
        )
        fresh = _payload(action, ob, items, result, extension_days)
        if unsent:
            if fresh != row.payload:
                row.payload, row.updated_at = fresh, now
            continue
        filed = row.state in FILED
        claimed = row.payload.get("claimed_amount")
        if filed and action in CLAIMING and claimed != fresh.get("claimed_amount"):
            _alert(
                session,
                ob,
                AlertKind.CLAIM_CHANGED,
                f"case:{case_id}:claim-changed:{fresh.get('claimed_amount')}",
                f"{action.lower()} filed for {claimed} {fresh.get('currency')}; outstanding now "
                f"{fresh.get('claimed_amount')} (payment or credit since): tell the insurer",
                now,
            )


def _alert(
    session: Session, ob: OverdueBuyer, kind: AlertKind, key: str, message: str, now: datetime
) -> None:
    add_alert(
        session,
        kind=kind,
        message=f"{ob.buyer_name}: {message}",
        business_date=ob.today,
        dedupe_key=key,
        now=now,
        buyer_id=ob.buyer_id,
        policy_id=ob.policy_id,
        details={"policy": ob.policy.key, "due_date": ob.clock.due_date.isoformat()},
    )


def _action_alerts(
    session: Session,
    ob: OverdueBuyer,
    case_id: int,
    action: StepAction,
    how: ActionChannel,
    late: bool,
    now: datetime,
) -> None:
    name = action.value.lower().replace("_", " ")
    days = ob.clock.days_overdue(ob.today)
    if action is StepAction.REMINDER:
        _alert(
            session,
            ob,
            AlertKind.OVERDUE_REMINDER,
            f"case:{case_id}:reminder",
            f"{days} days overdue: remind the buyer",
            now,
        )
    elif how is ActionChannel.MANUAL:
        _alert(
            session,
            ob,
            AlertKind.MANUAL_FILING,
            f"case:{case_id}:manual:{action.value}",
            f"{name} to file by hand in the {ob.policy.insurer} portal "
            f"(`tci claims pack {case_id}`), then `tci claims confirm {case_id}`",
            now,
        )
    if late:
        _alert(
            session,
            ob,
            AlertKind.DEADLINE_LATE,
            f"case:{case_id}:late:{action.value}",
            f"{name} is late: the insurer's deadline has passed",
            now,
        )


def _deadline_alerts(session: Session, ob: OverdueBuyer, case_id: int, now: datetime) -> None:
    clock = ob.clock
    if clock.missed(Deadline.COVER_STOP, ob.today):
        _alert(
            session,
            ob,
            AlertKind.STOP_DELIVERIES,
            f"case:{case_id}:stop",
            f"cover stopped on {clock.cover_stop}: deliveries from then on are uninsured",
            now,
        )
    for warning in ob.warnings:
        what = warning.deadline.value.lower().replace("_", " ")
        _alert(
            session,
            ob,
            AlertKind.DEADLINE_APPROACHING,
            f"case:{case_id}:{warning.deadline.value}:{warning.on}:{warning.lead_days}",
            f"{what} on {warning.on} ({warning.days_left} days left)",
            now,
        )


def close_settled(
    session: Session,
    policy_id: int,
    still_overdue: set[int],
    today: date,
    now: datetime,
    *,
    buyers: tuple[int | None, int | None] = (None, None),
) -> list[int]:
    """Close the policy's open cases whose buyer has no overdue invoice left (paid or
    credited); their actions never sent are cancelled. ``buyers``: only the cases of
    the buyer ids in (after, upto], either end ``None`` for open (a page of the deadline
    scan). Returns the closed case ids."""
    closed = []
    cases = session.scalars(open_cases(policy_id, buyers))
    for case in list(cases):
        if case.buyer_id in still_overdue:
            continue
        case.state, case.closed_on, case.updated_at = CaseState.CLOSED, today, now
        for action in session.scalars(
            select(CaseActionRow).where(
                CaseActionRow.case_id == case.id,
                CaseActionRow.state.in_([ActionState.QUEUED, ActionState.MANUAL]),
                CaseActionRow.attempts == 0,
            )
        ):
            action.state, action.updated_at = ActionState.CANCELLED, now
        add_alert(
            session,
            kind=AlertKind.CASE_CLOSED,
            message=f"case {case.id} closed: no overdue invoice left",
            business_date=today,
            dedupe_key=f"case:{case.id}:closed",
            now=now,
            buyer_id=case.buyer_id,
            policy_id=policy_id,
        )
        closed.append(case.id)
    return closed
