"""Send the outbox of case actions exactly once, and follow their status.

An action row is committed with its client reference before it is sent
(:mod:`tci_gateway.services.cases`). Sending is three transactions, so a crash between
any two loses nothing and duplicates nothing:

1. ``attempts += 1`` is committed *before* the call: a row with attempts > 0 that is not
   ``SENT`` may have reached the insurer;
2. the call;
3. the answer is recorded.

Before sending a row with attempts > 0 (a crash, a timeout, a reset, a 5xx on the POST
left it ``QUEUED`` or ``AMBIGUOUS``) the insurer is asked for the client reference
first; only when it has no record is the action sent again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import (
    ClaimFiling,
    ClaimRequest,
    InsurerAdapter,
    OverdueFiling,
    OverdueInvoice,
    OverdueKind,
    OverdueNotice,
    OverdueResult,
    PolicyRef,
)
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cases import (
    ActionState,
    InsurerCaseStatus,
    insurer_case_status,
)
from tci_gateway.domain.escalation import StepAction
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import AdapterError
from tci_gateway.ledger.buyers import insurer_buyer_id
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.tables import CaseActionRow, ClaimCaseRow, ErpAccountRow, OpenItemRow
from tci_gateway.services.outbox import Delivery, deliver

KINDS = {
    StepAction.OVERDUE_NOTIFICATION: OverdueKind.OVERDUE,
    StepAction.PAYMENT_PLAN: OverdueKind.RESCHEDULE,
    StepAction.EXTENSION_REQUEST: OverdueKind.EXTENSION_REQUEST,
}


def _invoices(payload: dict[str, Any]) -> tuple[OverdueInvoice, ...]:
    return tuple(
        OverdueInvoice(
            number=i["number"],
            issue_date=date.fromisoformat(i["issue_date"]),
            original_due_date=date.fromisoformat(i["due_date"]),
            amount=Money(Decimal(i["amount"]), i["currency"]).rounded(),
            outstanding=Money(Decimal(i["outstanding"]), i["currency"]).rounded(),
            new_due_date=date.fromisoformat(i["new_due_date"]) if i.get("new_due_date") else None,
        )
        for i in payload["invoices"]
    )


def _apply_extension(session: Session, row: CaseActionRow, case: ClaimCaseRow) -> int:
    """An extension the insurer accepted: the new due dates go on the invoices, where
    the deadline clock reads them (when the policy lets extensions move deadlines)."""
    accounts = select(ErpAccountRow.id).where(
        ErpAccountRow.buyer_id == case.buyer_id, ErpAccountRow.policy_id == case.policy_id
    )
    changed = 0
    for invoice in row.payload.get("invoices", []):
        if not invoice.get("new_due_date"):
            continue
        result = session.execute(
            update(OpenItemRow)
            .where(
                OpenItemRow.erp_account_id.in_(accounts),
                OpenItemRow.document_number == invoice["number"],
            )
            .values(extended_due_date=date.fromisoformat(invoice["new_due_date"]))
        )
        changed += result.rowcount or 0  # type: ignore[attr-defined]
    return changed


def _submit(
    row: CaseActionRow, buyer: str, adapter: InsurerAdapter, policy: Policy
) -> OverdueResult:
    action = StepAction(row.action)
    payload = row.payload
    if action is StepAction.CLAIM:
        assert isinstance(adapter, ClaimFiling)
        return adapter.submit_claim(
            ClaimRequest(
                client_reference=row.client_reference,
                policy=PolicyRef.of(policy),
                insurer_buyer_id=buyer,
                cause=payload["cause"],
                date_of_loss=date.fromisoformat(payload["date_of_loss"]),
                invoices=_invoices(payload),
                claimed_amount=Money(
                    Decimal(payload["claimed_amount"]), payload["currency"]
                ).rounded(),
            )
        )
    assert isinstance(adapter, OverdueFiling)
    return adapter.submit_overdue(
        OverdueNotice(
            client_reference=row.client_reference,
            policy=PolicyRef.of(policy),
            insurer_buyer_id=buyer,
            kind=KINDS[action],
            invoices=_invoices(payload),
            first_default_date=date.fromisoformat(payload["first_default_date"]),
        )
    )


def _find(row: CaseActionRow, adapter: InsurerAdapter, policy: Policy) -> OverdueResult | None:
    ref = PolicyRef.of(policy)
    if row.action == StepAction.CLAIM:
        assert isinstance(adapter, ClaimFiling)
        return adapter.find_claim(ref, row.client_reference)
    assert isinstance(adapter, OverdueFiling)
    return adapter.find_overdue(ref, row.client_reference)


def _record(row: CaseActionRow, result: OverdueResult, now: datetime) -> None:
    row.state = ActionState.SENT
    row.insurer_reference = result.insurer_reference or row.insurer_reference
    row.insurer_status = insurer_case_status(result.status)
    row.raw_status = result.raw_status
    row.sent_at = row.sent_at or now
    row.last_error = None
    row.updated_at = now


def _refused(
    ledger_row: CaseActionRow, case: ClaimCaseRow, reason: str, session: Any, now: datetime
) -> None:
    ledger_row.state, ledger_row.last_error = ActionState.REJECTED, reason
    add_alert(
        session,
        kind=AlertKind.FILING_REJECTED,
        message=f"case {case.id}: {ledger_row.action.lower()} refused ({reason}); "
        f"file it by hand (`tci claims pack {case.id}`)",
        business_date=now.date(),
        dedupe_key=f"case:{case.id}:rejected:{ledger_row.action}",
        now=now,
        buyer_id=case.buyer_id,
        policy_id=case.policy_id,
    )


Change = Callable[[CaseActionRow, ClaimCaseRow, Session], None]


def _update(
    ledger: Ledger,
    action_id: int,
    change: Change,
) -> str:
    """Apply ``change`` to an action (and its case) in a transaction of its own."""
    with ledger.unit_of_work() as session:
        row = session.get_one(CaseActionRow, action_id)
        change(row, session.get_one(ClaimCaseRow, row.case_id), session)
        return row.state


def _set(
    state: ActionState | None = None, error: str | None = None, now: datetime | None = None
) -> Change:
    def change(row: CaseActionRow, _case: ClaimCaseRow, _session: Session) -> None:
        if state is not None:
            row.state = state
        row.last_error = error
        if now is not None:
            row.updated_at = now

    return change


class _CaseDelivery(Delivery[tuple[CaseActionRow, str | None], OverdueResult]):
    """A case action through the shared outbox: the snapshot is the row (detached) and
    the buyer's id at the insurer."""

    kind = "case_action"
    table = CaseActionRow
    queued, ambiguous = ActionState.QUEUED, ActionState.AMBIGUOUS

    def __init__(self, adapter: InsurerAdapter, policy: Policy) -> None:
        self.adapter, self.policy = adapter, policy

    def snapshot(self, session: Session, row: Any) -> tuple[CaseActionRow, str | None]:
        case_buyer = session.get_one(ClaimCaseRow, row.case_id).buyer_id
        return row, insurer_buyer_id(session, case_buyer, self.policy.insurer)

    def find(self, snap: tuple[CaseActionRow, str | None]) -> OverdueResult | None:
        return _find(snap[0], self.adapter, self.policy)

    def submit(self, snap: tuple[CaseActionRow, str | None]) -> OverdueResult:
        row, buyer = snap
        assert buyer is not None
        return _submit(row, buyer, self.adapter, self.policy)

    def unsendable(self, snap: tuple[CaseActionRow, str | None]) -> str | None:
        return None if snap[1] is not None else f"the buyer has no {self.policy.insurer} buyer id"

    def record(self, session: Session, row: Any, result: OverdueResult, now: datetime) -> None:
        _record(row, result, now)

    def refuse(self, session: Session, row: Any, reason: str, now: datetime) -> None:
        _refused(row, session.get_one(ClaimCaseRow, row.case_id), reason, session, now)


def send_action(
    ledger: Ledger, action_id: int, adapter: InsurerAdapter, policy: Policy, *, now: datetime
) -> str:
    """Move one API action forward through the shared outbox (:mod:`.outbox`: claimed,
    looked up by reference after any earlier attempt, then sent); its new state."""
    return deliver(
        ledger,
        _CaseDelivery(adapter, policy),
        action_id,
        now=now,
        adapter=adapter.name,
        policy=policy.key,
        action_id=action_id,
    )


def poll_action(
    ledger: Ledger, action_id: int, adapter: InsurerAdapter, policy: Policy, *, now: datetime
) -> str | None:
    """Refresh the insurer's status of a sent action and its case; the new status."""
    with ledger.unit_of_work() as session:
        row = session.get_one(CaseActionRow, action_id)
    try:
        found = _find(row, adapter, policy)
    except AdapterError as exc:
        _update(ledger, action_id, _set(error=f"status poll failed: {exc}", now=now))
        return row.insurer_status
    if found is None:
        return row.insurer_status

    def apply(r: CaseActionRow, case: ClaimCaseRow, session: Session) -> None:
        before = r.insurer_status
        _record(r, found, now)
        case.insurer_status, case.raw_status = r.insurer_status, r.raw_status
        case.updated_at = now
        accepted = r.insurer_status == InsurerCaseStatus.ACCEPTED
        if accepted and before != r.insurer_status and r.action == StepAction.EXTENSION_REQUEST:
            _apply_extension(session, r, case)

    _update(ledger, action_id, apply)
    return insurer_case_status(found.status).value
