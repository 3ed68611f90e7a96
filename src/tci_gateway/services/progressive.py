"""Progressive limits: a new or growth customer's line starts at a share of the line
applied for and steps up as the buyer pays, evaluated nightly (docs/credit.md,
"Progressive plan").

The rules are pure (:mod:`tci_gateway.domain.progressive`); this module feeds them each
plan's payment record since its last step, read for all plans in one query, and acts on
the proposal:

- ``step_up``: a credit application of its own (channel ``progressive``, the plan's id),
  for the whole line after the step: within the DCL the pre-screen grants it at once,
  above it the insurer is asked for an increase. The plan's current amount moves only
  when that application is granted (at once, or on a later night once the insurer
  decided); while it waits, the plan holds and says why. A refused step restarts the
  count (the record starts afresh from the refusal): no application every night.
- ``freeze``: the plan is frozen and a ``plan_frozen`` alert raised (once per plan and
  date); ``step_down`` lowers the plan by one step and freezes it too.
- ``complete``: the line reached the target.

Each plan's ``next_step`` JSON records the proposal, why, and the record it came from:
what the buyer page and the API show. A plan is evaluated once per business date
(``last_evaluated_on``): a rerun of the date, after a crash midway, takes up only the
plans not yet evaluated, and never files a second application for a step (a pending one
is waited for).

The step-up application is made through a function passed in (``apply``: the credit
application service's ``apply_for_credit``), so this module stays below it: that
service starts a plan here when it grants a new customer's first line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tci_gateway.adapters.contract import BureauAdapter
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.progressive import (
    PaymentRecord,
    PlanPosition,
    PlanRules,
    StepProposal,
    next_step,
)
from tci_gateway.ledger import credit as credit_repo
from tci_gateway.ledger.credit_tables import (
    ApplicationState,
    CreditApplicationRow,
    CreditPlanRow,
    LineKind,
    PlanState,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.tables import BuyerRow, PolicyRow
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.plans import (
    EMPTY_RECORD,
    LIVE_STATES,
    PENDING,
    PlanView,
    dcl_in_force,
    payment_records,
    plan_of,
    start_plan,
)

__all__ = [
    "ApplyForCredit",
    "PlanReport",
    "PlanView",
    "evaluate_plans",
    "payment_records",
    "plan_of",
    "start_plan",
]

REQUESTED_BY = "progressive plan"
CHANNEL = "progressive"
BATCH = 500
"""Plans whose evaluation files nothing are recorded this many to a transaction."""
"""The channel of a step's application (the application that started the plan has the
channel it came by, and is not a step)."""


class ApplyForCredit(Protocol):
    """The credit application service's ``apply_for_credit`` (what a step up calls)."""

    def __call__(
        self,
        ledger: Ledger,
        policies: Mapping[str, Policy],
        bureaus: Mapping[str, BureauAdapter],
        options: CreditOptions,
        *,
        buyer: str,
        amount: Money,
        policy: str | None,
        requested_by: str,
        channel: str,
        now: datetime,
        plan_id: int | None = None,
    ) -> Any: ...


@dataclass
class PlanReport:
    """What one evaluation did: plans looked at, steps applied for (references), steps
    taken (granted), frozen, completed, waiting on an application, and errors (a plan
    that failed is left for the next run; the others went on)."""

    business_date: date
    evaluated: int = 0
    skipped: int = 0
    """Plans already evaluated on this date (a rerun)."""
    applied: list[str] = field(default_factory=list)
    stepped: int = 0
    held: int = 0
    waiting: int = 0
    frozen: int = 0
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    note: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, Any]:
        return {
            "evaluated": self.evaluated,
            "skipped": self.skipped,
            "applied": list(self.applied),
            "stepped": self.stepped,
            "held": self.held,
            "waiting": self.waiting,
            "frozen": self.frozen,
            "completed": self.completed,
            "errors": list(self.errors[:20]),
            **({"note": self.note} if self.note else {}),
        }


# -- the payment record -----------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    id: int
    buyer_id: int
    policy: str
    policy_id: int
    currency: str
    target: Decimal
    current: Decimal
    state: PlanState
    step: int
    last_step_on: date
    next_step: dict[str, Any]

    @property
    def position(self) -> PlanPosition:
        return PlanPosition(
            target=self.target,
            current=self.current,
            step=self.step,
            last_step_on=self.last_step_on,
            frozen=self.state is PlanState.FROZEN,
            currency=self.currency,
        )


# -- the nightly evaluation -------------------------------------------------------------


@dataclass(frozen=True)
class _Application:
    id: int
    reference: str
    state: ApplicationState
    amount: Decimal
    granted: Decimal | None


def evaluate_plans(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    bureaus: Mapping[str, BureauAdapter],
    options: CreditOptions,
    day: date,
    *,
    now: datetime,
    apply: ApplyForCredit,
) -> PlanReport:
    """Evaluate each live plan not yet evaluated on ``day`` (see the module docstring);
    ``apply`` files a step's application. A plan that fails (its application raised) is
    named in the report's errors and left for the next run; the others go on."""
    report = PlanReport(business_date=day)
    rules = options.progressive
    if rules is None:
        report.note = "progressive plans are off ([credit.progressive] enabled = false)"
        return report
    with ledger.reading() as session:
        plans, skipped = _live_plans(session, day)
        records = payment_records(session, day, rules.late_grace_days)
        applications = _latest_applications(session, [p.id for p in plans])
    report.skipped = skipped
    quiet: list[tuple[_Plan, StepProposal, PaymentRecord]] = []
    for plan in plans:
        try:
            found = _evaluate(
                ledger,
                policies,
                bureaus,
                options,
                rules,
                plan,
                records.get(plan.id, EMPTY_RECORD),
                applications.get(plan.id),
                day,
                now,
                apply,
                report,
            )
        except Exception as exc:  # one plan's failure does not stop the others
            report.errors.append(f"plan {plan.id}: {type(exc).__name__}: {exc}")
            continue
        if found is not None:
            quiet.append(found)
    for start in range(0, len(quiet), BATCH):
        chunk = quiet[start : start + BATCH]
        try:
            with ledger.unit_of_work() as session:
                ids = [plan.id for plan, _, _ in chunk]
                rows = {
                    r.id: r
                    for r in session.scalars(select(CreditPlanRow).where(CreditPlanRow.id.in_(ids)))
                }
                with session.no_autoflush:  # one flush at the end, not one per plan
                    for plan, proposal, record in chunk:
                        _record(session, rows[plan.id], plan, proposal, record, day, now, report)
        except Exception as exc:  # these plans are evaluated again by the next run
            report.errors.extend(
                f"plan {plan.id}: {type(exc).__name__}: {exc}" for plan, _, _ in chunk
            )
    return report


def _live_plans(session: Session, day: date) -> tuple[list[_Plan], int]:
    rows = session.execute(
        select(CreditPlanRow, PolicyRow.key)
        .join(PolicyRow, PolicyRow.id == CreditPlanRow.policy_id)
        .where(CreditPlanRow.state.in_(LIVE_STATES))
        .order_by(CreditPlanRow.id)
    ).all()
    plans, skipped = [], 0
    for row, policy in rows:
        if row.last_evaluated_on is not None and row.last_evaluated_on >= day:
            skipped += 1
            continue
        plans.append(
            _Plan(
                id=row.id,
                buyer_id=row.buyer_id,
                policy=policy,
                policy_id=row.policy_id,
                currency=row.currency,
                target=row.target_amount,
                current=row.current_amount,
                state=PlanState(row.state),
                step=row.step,
                last_step_on=row.last_step_on,
                next_step=dict(row.next_step or {}),
            )
        )
    return plans, skipped


def _latest_applications(session: Session, plan_ids: list[int]) -> dict[int, _Application]:
    if not plan_ids:
        return {}
    latest = (
        select(func.max(CreditApplicationRow.id))
        .where(
            CreditApplicationRow.plan_id.in_(plan_ids),
            CreditApplicationRow.channel == CHANNEL,
        )
        .group_by(CreditApplicationRow.plan_id)
    )
    rows = session.execute(
        select(
            CreditApplicationRow.plan_id,
            CreditApplicationRow.id,
            CreditApplicationRow.reference,
            CreditApplicationRow.state,
            CreditApplicationRow.amount,
            CreditApplicationRow.granted_amount,
        ).where(CreditApplicationRow.id.in_(latest))
    )
    return {
        plan_id: _Application(app_id, reference, ApplicationState(state), amount, granted)
        for plan_id, app_id, reference, state, amount, granted in rows
        if plan_id is not None
    }


def _evaluate(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    bureaus: Mapping[str, BureauAdapter],
    options: CreditOptions,
    rules: PlanRules,
    plan: _Plan,
    record: PaymentRecord,
    application: _Application | None,
    day: date,
    now: datetime,
    apply: ApplyForCredit,
    report: PlanReport,
) -> tuple[_Plan, StepProposal, PaymentRecord] | None:
    """Act on one plan's step application, or file one; a proposal that needs none
    (hold, freeze, step down, complete) is returned, to be recorded with the others in
    one transaction."""
    report.evaluated += 1
    handled = plan.next_step.get("handled_application")
    if application is not None and application.id != handled:
        # The plan's last step application, not yet acted on: wait for it, or act on it.
        _follow(ledger, plan, application, day, now, report)
        return None
    proposal = next_step(plan.position, record, rules, day)
    if proposal.action != "step_up":
        return plan, proposal, record
    apply(
        ledger,
        policies,
        bureaus,
        options,
        buyer=str(plan.buyer_id),
        amount=Money(proposal.amount, plan.currency),
        policy=plan.policy,
        requested_by=REQUESTED_BY,
        channel=CHANNEL,
        now=now,
        plan_id=plan.id,
    )
    with ledger.reading() as session:
        filed = _latest_applications(session, [plan.id]).get(plan.id)
    if filed is None or filed.id == handled:
        raise RuntimeError("the step's application was not recorded")
    report.applied.append(filed.reference)
    _follow(ledger, plan, filed, day, now, report, proposal=proposal, record=record)
    return None


def _follow(
    ledger: Ledger,
    plan: _Plan,
    application: _Application,
    day: date,
    now: datetime,
    report: PlanReport,
    *,
    proposal: StepProposal | None = None,
    record: PaymentRecord | None = None,
) -> None:
    """Act on the plan's step application: wait while it is pending; move the plan when
    it was granted; restart the count when it was refused or withdrawn."""
    about = {"reference": application.reference, "state": application.state.value}
    why = f" ({proposal.reason})" if proposal is not None else ""
    with ledger.unit_of_work() as session:
        row = session.get(CreditPlanRow, plan.id)
        assert row is not None
        step = _carry(plan.next_step)
        step.update(evaluated_on=str(day), application=about)
        if record is not None:
            step["record"] = _record_json(record)
        if application.state in PENDING:
            report.waiting += 1
            step.update(
                action="step_up",
                amount=str(application.amount),
                reason=f"step applied for: {application.reference} {application.state.value}" + why,
                next_condition="the application's decision (the insurer's or a person's)",
            )
        elif application.state is ApplicationState.GRANTED and application.granted:
            report.stepped += 1
            current = min(application.granted, plan.target)
            row.current_amount = current
            row.step = plan.step + 1
            row.last_step_on = day
            row.state = PlanState.COMPLETE if current >= plan.target else PlanState.ACTIVE
            report.completed += row.state is PlanState.COMPLETE
            step.update(
                action="complete" if row.state is PlanState.COMPLETE else "hold",
                amount=str(current),
                reason=f"step {row.step} granted by {application.reference}: the line is "
                f"{current} of {plan.target} {plan.currency}" + why,
                next_condition="the target is reached"
                if row.state is PlanState.COMPLETE
                else "the next step's payment record, counted from today",
                handled_application=application.id,
            )
        else:
            report.held += 1
            row.last_step_on = day  # the record starts afresh: no application every night
            step.update(
                action="hold",
                amount=str(plan.current),
                reason=f"step not granted ({application.reference} {application.state.value}): "
                f"the line stays {plan.current} {plan.currency}",
                next_condition="a new payment record, counted from today",
                handled_application=application.id,
            )
        row.next_step = step
        row.last_evaluated_on = day
        row.updated_at = now


def _record(
    session: Session,
    row: CreditPlanRow,
    plan: _Plan,
    proposal: StepProposal,
    record: PaymentRecord,
    day: date,
    now: datetime,
    report: PlanReport,
) -> None:
    """Record a proposal that needs no application: hold, freeze, step down, complete."""
    step = _carry(plan.next_step)
    step.update(
        action=proposal.action,
        amount=str(proposal.amount),
        reason=proposal.reason,
        next_condition=proposal.next_condition,
        evaluated_on=str(day),
        record=_record_json(record),
    )
    if proposal.action in ("freeze", "step_down"):
        report.frozen += 1
        was_frozen = plan.state is PlanState.FROZEN
        row.state = PlanState.FROZEN
        if proposal.action == "step_down" and proposal.amount < plan.current:
            row.current_amount = proposal.amount
            row.step = max(0, plan.step - 1)
            row.last_step_on = day
            _lower_dcl_line(session, plan, proposal.amount, day, now)
        if not was_frozen or proposal.action == "step_down":
            _frozen_alert(session, plan, proposal, record, day, now)
    elif proposal.action == "complete":
        report.completed += 1
        row.state = PlanState.COMPLETE
    else:
        report.held += 1
    row.next_step = step
    row.last_evaluated_on = day
    row.updated_at = now


def _lower_dcl_line(
    session: Session, plan: _Plan, amount: Decimal, day: date, now: datetime
) -> None:
    """A step down lowers the plan's DCL line in force from ``day`` (the row in force
    ended, a new one added), so the credit line follows the plan."""
    policy_id = plan.policy_id
    in_force = dcl_in_force(session, plan.buyer_id, policy_id, day)
    if in_force is None or in_force <= amount:
        return
    credit_repo.set_line(
        session,
        buyer_id=plan.buyer_id,
        policy_id=policy_id,
        kind=LineKind.DCL,
        amount=amount,
        currency=plan.currency,
        day=day,
        approved_by=REQUESTED_BY,
        reason=f"progressive plan {plan.id} stepped down on late payment",
        now=now,
    )


def _frozen_alert(
    session: Session,
    plan: _Plan,
    proposal: StepProposal,
    record: PaymentRecord,
    day: date,
    now: datetime,
) -> None:
    name = session.scalar(select(BuyerRow.name).where(BuyerRow.id == plan.buyer_id)) or "?"
    verb = "stepped down to" if proposal.action == "step_down" else "frozen at"
    add_alert(
        session,
        kind=AlertKind.PLAN_FROZEN,
        message=f"{name}: progressive plan {verb} {proposal.amount} {plan.currency} "
        f"({proposal.reason})",
        business_date=day,
        dedupe_key=f"{AlertKind.PLAN_FROZEN.value}:{plan.id}:{day}",
        now=now,
        buyer_id=plan.buyer_id,
        policy_id=plan.policy_id,
        details={
            "plan_id": plan.id,
            "action": proposal.action,
            "line": str(proposal.amount),
            "target": str(plan.target),
            "late": list(record.late),
        },
    )


def _carry(previous: dict[str, Any]) -> dict[str, Any]:
    """What an evaluation keeps of the previous ``next_step``: the application it
    already acted on (so a granted step is never applied twice)."""
    kept = {}
    if "handled_application" in previous:
        kept["handled_application"] = previous["handled_application"]
    return kept


def _record_json(record: PaymentRecord) -> dict[str, Any]:
    return {
        "paid_within_terms": record.paid_within_terms,
        "late": list(record.late),
        "last_late_on": str(record.last_late_on) if record.last_late_on else None,
    }
