"""Progressive plans in the ledger: starting one, reading one for the buyer page and the
API (:class:`PlanView`), and every live plan's payment record since its last step in one
query (:func:`payment_records`). The nightly evaluation is
:mod:`tci_gateway.services.progressive` (which re-exports these names)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from tci_gateway.domain.progressive import PaymentRecord
from tci_gateway.domain.receivables import ItemKind
from tci_gateway.ledger.credit_tables import (
    ApplicationState,
    CreditLineRow,
    CreditPlanRow,
    LineKind,
    PlanState,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import ErpAccountRow, OpenItemRow, PolicyRow

LIVE_STATES = (PlanState.ACTIVE, PlanState.FROZEN)
"""The plans the nightly evaluation takes up (complete and ended ones are done)."""

PENDING = (ApplicationState.RECEIVED, ApplicationState.WITH_INSURER, ApplicationState.REFERRED)
LATE_SHOWN = 10
"""At most this many late invoices are named in a plan's record (the count is whole)."""


@dataclass(frozen=True)
class PlanView:
    """A plan as the buyer page and the API show it: where it stands and its next step
    (the last evaluation's proposal, why, and what would move it)."""

    id: int
    buyer_id: int
    policy: str
    currency: str
    target: Decimal
    current: Decimal
    state: str
    step: int
    last_step_on: date
    last_evaluated_on: date | None
    next_action: str
    next_amount: Decimal | None
    reason: str
    next_condition: str
    application: str | None
    """The reference of the plan's step application still waiting, if any."""


# -- starting a plan ------------------------------------------------------------------


def start_plan(
    session: Session,
    *,
    buyer_id: int,
    policy_id: int,
    target: Decimal,
    currency: str,
    day: date,
    now: datetime,
    current: Decimal | None = None,
) -> int:
    """Start a plan for ``buyer_id`` under ``policy_id`` towards ``target`` (the line
    applied for), in the caller's transaction; its id. ``current`` is the line granted
    at the start (the start amount, :func:`~tci_gateway.domain.progressive.start_amount`);
    when not given, the DCL line in force on ``day`` (the grant that started it), else 0.
    A live plan of the buyer under the policy is kept: its id is returned, nothing new."""
    existing = session.scalar(
        select(CreditPlanRow.id)
        .where(
            CreditPlanRow.buyer_id == buyer_id,
            CreditPlanRow.policy_id == policy_id,
            CreditPlanRow.state.in_(LIVE_STATES),
        )
        .order_by(CreditPlanRow.id.desc())
        .limit(1)
    )
    if existing is not None:
        return int(existing)
    if current is None:
        current = dcl_in_force(session, buyer_id, policy_id, day) or Decimal(0)
    current = min(current, target)
    row = CreditPlanRow(
        buyer_id=buyer_id,
        policy_id=policy_id,
        target_amount=target,
        current_amount=current,
        currency=currency,
        state=PlanState.COMPLETE if current >= target else PlanState.ACTIVE,
        step=0,
        last_step_on=day,
        last_evaluated_on=None,
        next_step={
            "action": "hold",
            "amount": str(current),
            "reason": f"plan started at {current} of a target of {target} {currency}",
            "next_condition": "the first nightly evaluation",
            "evaluated_on": str(day),
        },
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def dcl_in_force(session: Session, buyer_id: int, policy_id: int, day: date) -> Decimal | None:
    """The DCL line in force for the buyer under the policy on ``day`` (None: none)."""
    total = session.scalar(
        select(func.sum(CreditLineRow.amount)).where(
            CreditLineRow.buyer_id == buyer_id,
            CreditLineRow.policy_id == policy_id,
            CreditLineRow.kind == LineKind.DCL,
            CreditLineRow.effective_from <= day,
            or_(CreditLineRow.effective_to.is_(None), CreditLineRow.effective_to > day),
        )
    )
    return Decimal(total) if total is not None else None


# -- reading ----------------------------------------------------------------------------


def plan_of(source: Session | Ledger, buyer_id: int) -> PlanView | None:
    """The buyer's plan: its live one (the newest, under any policy), else its latest;
    ``None`` when it never had one. Takes a session (in a caller's transaction) or a
    ledger (reads in one of its own)."""
    if isinstance(source, Ledger):
        with source.reading() as session:
            return plan_of(session, buyer_id)
    live = CreditPlanRow.state.in_(LIVE_STATES)
    row = source.execute(
        select(CreditPlanRow, PolicyRow.key)
        .join(PolicyRow, PolicyRow.id == CreditPlanRow.policy_id)
        .where(CreditPlanRow.buyer_id == buyer_id)
        .order_by(live.desc(), CreditPlanRow.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    plan, policy = row
    return _view(plan, policy)


def _view(plan: CreditPlanRow, policy: str) -> PlanView:
    step = plan.next_step or {}
    amount = step.get("amount")
    waiting = step.get("application") or {}
    return PlanView(
        id=plan.id,
        buyer_id=plan.buyer_id,
        policy=policy,
        currency=plan.currency,
        target=plan.target_amount,
        current=plan.current_amount,
        state=PlanState(plan.state).value,
        step=plan.step,
        last_step_on=plan.last_step_on,
        last_evaluated_on=plan.last_evaluated_on,
        next_action=str(step.get("action", "hold")),
        next_amount=Decimal(amount) if amount is not None else None,
        reason=str(step.get("reason", "")),
        next_condition=str(step.get("next_condition", "")),
        application=waiting.get("reference") if waiting.get("state") in _PENDING_VALUES else None,
    )


_PENDING_VALUES = frozenset(s.value for s in PENDING)


# -- the payment record ------------------------------------------------------------------


def payment_records(
    session: Session, day: date, grace_days: int, plan_ids: list[int] | None = None
) -> dict[int, PaymentRecord]:
    """Each live plan's payment record on ``day`` since its last step, in ONE query over
    all plans: the buyer's invoices (all its ERP accounts) settled within terms
    (``settled_on`` on or before the due date) after ``last_step_on``, and the late ones:
    settled more than ``grace_days`` after the due date since the last step, or still
    open on ``day`` more than ``grace_days`` past due (whenever issued: an invoice
    overdue now is late now). An invoice without a due date is due on its document date
    (conservative, as for behaviour). The last late date is the late settlement's date,
    or ``day`` for one still open. Settled before 0011 (``settled_on`` unknown): left
    out, as in the behaviour figures."""
    due = func.coalesce(OpenItemRow.due_date, OpenItemRow.document_date)
    settled = OpenItemRow.settled_on
    open_on_day = or_(and_(settled.is_(None), OpenItemRow.open_amount > 0), settled > day)
    stmt = (
        select(CreditPlanRow.id, OpenItemRow.document_number, due, settled, open_on_day)
        .join(ErpAccountRow, ErpAccountRow.buyer_id == CreditPlanRow.buyer_id)
        .join(OpenItemRow, OpenItemRow.erp_account_id == ErpAccountRow.id)
        .where(
            CreditPlanRow.state.in_(LIVE_STATES),
            OpenItemRow.kind == ItemKind.INVOICE.value,
            OpenItemRow.document_date <= day,
            or_(
                and_(settled > CreditPlanRow.last_step_on, settled <= day),
                and_(open_on_day, due < day),
            ),
        )
        .order_by(CreditPlanRow.id, due, OpenItemRow.document_number)
    )
    if plan_ids is not None:
        stmt = stmt.where(CreditPlanRow.id.in_(plan_ids))
    paid: dict[int, int] = {}
    late: dict[int, list[tuple[date, str]]] = {}
    for plan_id, number, due_on, settled_on, still_open in session.execute(stmt):
        paid.setdefault(plan_id, 0)
        if still_open:
            days = (day - due_on).days
            if days > grace_days:
                late.setdefault(plan_id, []).append((day, f"{number} open {days} days past due"))
            continue
        assert settled_on is not None
        if settled_on <= due_on:
            paid[plan_id] += 1
        elif (settled_on - due_on).days > grace_days:
            text = f"{number} paid {(settled_on - due_on).days} days late on {settled_on}"
            late.setdefault(plan_id, []).append((settled_on, text))
    records = {}
    for plan_id in paid.keys() | late.keys():
        lates = late.get(plan_id, [])
        names = [text for _, text in lates]
        if len(names) > LATE_SHOWN:
            names = [*names[:LATE_SHOWN], f"and {len(names) - LATE_SHOWN} more"]
        records[plan_id] = PaymentRecord(
            paid_within_terms=paid.get(plan_id, 0),
            late=tuple(names),
            last_late_on=max((d for d, _ in lates), default=None),
        )
    return records


EMPTY_RECORD = PaymentRecord(paid_within_terms=0, late=(), last_late_on=None)
