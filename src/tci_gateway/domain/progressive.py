"""Progressive credit limits for new and growth customers (docs/credit.md, "Progressive
plan").

A plan grows a buyer's line toward the ``target`` applied for:

- it starts at ``target x start_share`` (:func:`start_amount`);
- it steps up by ``target x step_share`` (capped at the target) after
  ``step_after_paid_invoices`` invoices paid within terms since the last step, *or*
  ``step_after_months_clean`` whole months without late payment since the last step (or
  the last late payment, whichever is later);
- once the line reaches the target the plan is ``complete``;
- on late payment (an invoice more than ``late_grace_days`` past due, which the service
  judges when it builds the :class:`PaymentRecord`) the plan is frozen at its line
  (``on_late = "freeze"``) or stepped down by one step, never below the start amount
  (``on_late = "step_down"``); either way it is then frozen.

The frozen-plan rule (the gateway's decision; the guidance says only "step down or
freeze"): a frozen plan holds its line while late payments keep coming; it steps up
again on its own once ``step_after_months_clean`` whole months have passed with no late
payment (counted from the later of the last step and the last late payment); invoices
paid within terms alone do not unfreeze it (a buyer paying some invoices on time while
others run late is exactly the one to watch). A person may unfreeze it sooner. A step
down happens once, when the plan freezes: further late payments while frozen only push
the date it may step up again.

Amounts are rounded down to whole currency units (the smaller line is the conservative
one), and every step is at least one unit so that a plan always progresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tci_gateway.domain.prescreen import add_months, down_to_units, money_text, whole_months

ONE = Decimal(1)

ACTIONS = ("hold", "step_up", "step_down", "freeze", "complete")


@dataclass(frozen=True, slots=True)
class PlanRules:
    """A plan's rules (``[credit.progressive]``): shares of the target, the evidence a
    step up needs, and what late payment does (``freeze`` or ``step_down``)."""

    start_share: Decimal
    step_share: Decimal
    step_after_paid_invoices: int
    step_after_months_clean: int
    late_grace_days: int = 0
    on_late: str = "freeze"

    def __post_init__(self) -> None:
        if not Decimal(0) < self.start_share <= ONE or not Decimal(0) < self.step_share <= ONE:
            raise ValueError("start_share and step_share must be in (0, 1]")
        if self.step_after_paid_invoices < 1 or self.step_after_months_clean < 1:
            raise ValueError("a step needs at least 1 invoice or 1 month")
        if self.on_late not in {"freeze", "step_down"}:
            raise ValueError("on_late must be 'freeze' or 'step_down'")


@dataclass(frozen=True, slots=True)
class PlanPosition:
    """Where a plan stands: the ``target`` line, the ``current`` line, the number of
    steps taken, the date of the last step (the start date before any) and whether it is
    frozen. ``currency`` only words the reasons."""

    target: Decimal
    current: Decimal
    step: int
    last_step_on: date
    frozen: bool
    currency: str = ""


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """The buyer's payments since ``last_step_on``: invoices paid within terms, the late
    ones (descriptions, e.g. "INV-12 paid 9 days late") and the date of the latest late
    payment, or the business date itself while a late invoice is still open: it is
    late now)."""

    paid_within_terms: int
    late: tuple[str, ...]
    last_late_on: date | None


@dataclass(frozen=True, slots=True)
class StepProposal:
    """What the plan does next: ``action`` (one of :data:`ACTIONS`), ``amount`` the line
    after it, ``reason`` why, ``next_condition`` what the next step up needs."""

    action: str
    amount: Decimal
    reason: str
    next_condition: str


def start_amount(target: Decimal, rules: PlanRules) -> Decimal:
    """The plan's first line: ``target x start_share`` rounded down to whole units, at
    least 1 and never above the target."""
    if target <= 0:
        raise ValueError(f"a plan's target must be positive ({target})")
    return min(target, max(ONE, down_to_units(target * rules.start_share)))


def step_amount(target: Decimal, rules: PlanRules) -> Decimal:
    """One step: ``target x step_share`` rounded down to whole units, at least 1."""
    return max(ONE, down_to_units(target * rules.step_share))


def _clean_since(position: PlanPosition, record: PaymentRecord) -> date:
    if record.last_late_on is not None and record.last_late_on > position.last_step_on:
        return record.last_late_on
    return position.last_step_on


def next_step(
    position: PlanPosition, record: PaymentRecord, rules: PlanRules, day: date
) -> StepProposal:
    """The plan's next move on ``day`` (module docstring for the rules)."""
    target, current, cur = position.target, position.current, position.currency
    months = rules.step_after_months_clean
    invoices = rules.step_after_paid_invoices
    if current >= target:
        return StepProposal(
            "complete",
            target,
            f"The line {money_text(target, cur)} has reached the plan's target.",
            "",
        )
    clean_since = _clean_since(position, record)
    clean_months = whole_months(clean_since, day)
    unfreeze_on = add_months(clean_since, months)
    step_up_to = min(target, current + step_amount(target, rules))
    after_step = (
        f"{invoices} invoices paid within terms or {months} months without late payment"
        " after the step"
    )
    if position.frozen:
        if clean_months >= months:
            return StepProposal(
                "step_up",
                step_up_to,
                f"Frozen plan: {clean_months} months without late payment since"
                f" {clean_since.isoformat()} (at least {months}); the line steps up from"
                f" {money_text(current, cur)} to {money_text(step_up_to, cur)}"
                f" (target {money_text(target, cur)}).",
                after_step,
            )
        late = f" ({'; '.join(record.late)})" if record.late else ""
        return StepProposal(
            "hold",
            current,
            f"Frozen after late payment{late}: the line stays at {money_text(current, cur)}.",
            f"No late payment until {unfreeze_on.isoformat()} ({months} months clean),"
            " or a person unfreezes the plan.",
        )
    if record.late:
        late = "; ".join(record.late)
        unfreeze = (
            f"No late payment for {months} months after the last one,"
            " or a person unfreezes the plan."
        )
        if rules.on_late == "step_down":
            floor = min(current, start_amount(target, rules))
            down_to = max(floor, current - step_amount(target, rules))
            return StepProposal(
                "step_down",
                down_to,
                f"Late payment ({late}): the line steps down from {money_text(current, cur)}"
                f" to {money_text(down_to, cur)} (never below the start"
                f" {money_text(start_amount(target, rules), cur)}) and the plan freezes.",
                unfreeze,
            )
        return StepProposal(
            "freeze",
            current,
            f"Late payment ({late}): the plan freezes at {money_text(current, cur)}.",
            unfreeze,
        )
    paid = record.paid_within_terms
    if paid >= invoices or clean_months >= months:
        evidence = (
            f"{paid} invoices paid within terms since {position.last_step_on.isoformat()}"
            f" (at least {invoices})"
            if paid >= invoices
            else f"{clean_months} months without late payment since"
            f" {clean_since.isoformat()} (at least {months})"
        )
        return StepProposal(
            "step_up",
            step_up_to,
            f"{evidence}: the line steps up from {money_text(current, cur)} to"
            f" {money_text(step_up_to, cur)} (target {money_text(target, cur)}).",
            after_step,
        )
    return StepProposal(
        "hold",
        current,
        f"{paid} of {invoices} invoices paid within terms and {clean_months} of {months}"
        f" months without late payment since {position.last_step_on.isoformat()}: the line"
        f" stays at {money_text(current, cur)} (target {money_text(target, cur)}).",
        f"{invoices - paid} more invoice(s) paid within terms, or no late payment until"
        f" {unfreeze_on.isoformat()}.",
    )
