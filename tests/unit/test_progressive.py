"""Progressive credit limits (domain/progressive.py; docs/credit.md, "Progressive plan")."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tci_gateway.config.credit import ProgressiveSettings
from tci_gateway.domain.prescreen import whole_months
from tci_gateway.domain.progressive import (
    ACTIONS,
    PaymentRecord,
    PlanPosition,
    PlanRules,
    next_step,
    start_amount,
)

D = Decimal
RULES = ProgressiveSettings().rules()  # start 25 %, step 25 %, 3 invoices or 3 months clean
STEP_DOWN = dataclasses.replace(RULES, on_late="step_down")
LAST_STEP = date(2026, 10, 1)
CLEAN = PaymentRecord(paid_within_terms=0, late=(), last_late_on=None)
LATE = PaymentRecord(
    paid_within_terms=4, late=("INV-12 paid 9 days late",), last_late_on=date(2026, 11, 20)
)


def at(current: int, *, frozen: bool = False, target: int = 20_000) -> PlanPosition:
    return PlanPosition(
        target=D(target),
        current=D(current),
        step=1,
        last_step_on=LAST_STEP,
        frozen=frozen,
        currency="EUR",
    )


def test_start_amount_is_the_share_rounded_down_at_least_one_unit() -> None:
    assert start_amount(D(20_000), RULES) == D(5_000)
    assert start_amount(D(10_001), RULES) == D(2_500)  # 2,500.25 down
    assert start_amount(D(3), RULES) == D(1)  # 0.75 -> 0, at least 1
    assert start_amount(D("0.5"), RULES) == D("0.5")  # never above the target
    with pytest.raises(ValueError):
        start_amount(D(0), RULES)


def test_hold_until_the_evidence_is_there() -> None:
    record = dataclasses.replace(CLEAN, paid_within_terms=1)
    got = next_step(at(5_000), record, RULES, date(2026, 12, 6))
    assert got.action == "hold" and got.amount == D(5_000)
    assert got.reason == (
        "1 of 3 invoices paid within terms and 2 of 3 months without late payment since"
        " 2026-10-01: the line stays at EUR 5,000 (target EUR 20,000)."
    )
    assert got.next_condition == (
        "2 more invoice(s) paid within terms, or no late payment until 2027-01-01."
    )


def test_step_up_after_enough_invoices_paid_within_terms() -> None:
    record = dataclasses.replace(CLEAN, paid_within_terms=3)
    got = next_step(at(5_000), record, RULES, date(2026, 10, 20))
    assert got.action == "step_up" and got.amount == D(10_000)  # 5,000 + 20,000 x 25 %
    assert got.reason.startswith("3 invoices paid within terms since 2026-10-01 (at least 3)")


def test_step_up_after_enough_clean_months() -> None:
    assert next_step(at(5_000), CLEAN, RULES, date(2026, 12, 31)).action == "hold"
    got = next_step(at(5_000), CLEAN, RULES, date(2027, 1, 1))
    assert got.action == "step_up" and got.amount == D(10_000)
    assert got.reason.startswith("3 months without late payment since 2026-10-01")


def test_step_up_is_capped_at_the_target_then_complete() -> None:
    record = dataclasses.replace(CLEAN, paid_within_terms=3)
    got = next_step(at(17_500), record, RULES, date(2026, 12, 6))
    assert got.action == "step_up" and got.amount == D(20_000)
    done = next_step(at(20_000), record, RULES, date(2026, 12, 6))
    assert done.action == "complete" and done.amount == D(20_000)
    assert done.reason == "The line EUR 20,000 has reached the plan's target."


def test_late_payment_freezes_the_plan() -> None:
    got = next_step(at(10_000), LATE, RULES, date(2026, 12, 6))
    assert got.action == "freeze" and got.amount == D(10_000)
    assert got.reason == "Late payment (INV-12 paid 9 days late): the plan freezes at EUR 10,000."


@pytest.mark.parametrize(
    ("current", "after"),
    [(15_000, 10_000), (10_000, 5_000), (6_000, 5_000), (5_000, 5_000), (3_000, 3_000)],
)
def test_step_down_by_one_step_never_below_the_start(current: int, after: int) -> None:
    # One step = 20,000 x 25 % = 5,000; the start is 5,000 (a line already below the
    # start, e.g. set by a person, is not lowered further).
    got = next_step(at(current), LATE, STEP_DOWN, date(2026, 12, 6))
    assert got.action == "step_down" and got.amount == D(after)


def test_a_frozen_plan_holds_until_months_clean_after_the_last_late_payment() -> None:
    # Last late payment 2026-11-20: clean for 3 whole months on 2027-02-20.
    frozen = at(10_000, frozen=True)
    many_paid = dataclasses.replace(LATE, paid_within_terms=10)
    held = next_step(frozen, many_paid, RULES, date(2027, 2, 19))
    assert held.action == "hold" and held.amount == D(10_000)
    assert held.next_condition == (
        "No late payment until 2027-02-20 (3 months clean), or a person unfreezes the plan."
    )
    # On step_down plans too: no second step down while frozen.
    assert next_step(frozen, many_paid, STEP_DOWN, date(2027, 2, 19)).action == "hold"
    up = next_step(frozen, many_paid, RULES, date(2027, 2, 20))
    assert up.action == "step_up" and up.amount == D(15_000)
    assert up.reason.startswith("Frozen plan: 3 months without late payment since 2026-11-20")


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError):
        PlanRules(D(0), D("0.25"), 3, 3)
    with pytest.raises(ValueError):
        PlanRules(D("0.25"), D("0.25"), 3, 3, on_late="refuse")


# --- properties -------------------------------------------------------------------------


@st.composite
def plans(draw: st.DrawFn) -> tuple[PlanPosition, PaymentRecord, PlanRules, date]:
    rules = PlanRules(
        start_share=draw(st.sampled_from([D("0.1"), D("0.25"), D("0.333"), D(1)])),
        step_share=draw(st.sampled_from([D("0.1"), D("0.25"), D("0.5")])),
        step_after_paid_invoices=draw(st.integers(1, 6)),
        step_after_months_clean=draw(st.integers(1, 6)),
        on_late=draw(st.sampled_from(["freeze", "step_down"])),
    )
    target = D(draw(st.integers(1, 1_000_000)))
    start = start_amount(target, rules)
    current = D(draw(st.integers(int(start), int(target))))
    last_step = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31)))
    day = draw(st.dates(min_value=last_step, max_value=date(2027, 12, 31)))
    late = tuple(draw(st.lists(st.just("late"), max_size=2)))
    last_late = draw(st.dates(min_value=last_step, max_value=day)) if late else None
    record = PaymentRecord(draw(st.integers(0, 8)), late, last_late)
    position = PlanPosition(target, current, 1, last_step, draw(st.booleans()))
    return position, record, rules, day


@settings(max_examples=150)
@given(plans())
def test_plan_amounts_stay_between_start_and_target(
    case: tuple[PlanPosition, PaymentRecord, PlanRules, date],
) -> None:
    position, record, rules, day = case
    got = next_step(position, record, rules, day)
    assert got.action in ACTIONS and got.reason
    assert got.amount <= position.target
    assert got.amount == got.amount.to_integral_value()
    if got.action == "step_down":
        assert start_amount(position.target, rules) <= got.amount <= position.current
    if got.action in {"hold", "freeze"}:
        assert got.amount == position.current
    if got.action == "step_up":
        assert position.current < got.amount <= position.target


@settings(max_examples=150)
@given(plans())
def test_step_up_only_after_the_configured_evidence(
    case: tuple[PlanPosition, PaymentRecord, PlanRules, date],
) -> None:
    position, record, rules, day = case
    got = next_step(position, record, rules, day)
    since = max(position.last_step_on, record.last_late_on or position.last_step_on)
    clean = whole_months(since, day) >= rules.step_after_months_clean
    if position.current >= position.target:
        assert got.action == "complete"
    elif position.frozen:
        assert got.action == ("step_up" if clean else "hold")
    elif record.late:
        assert got.action == rules.on_late
    else:
        paid = record.paid_within_terms >= rules.step_after_paid_invoices
        assert got.action == ("step_up" if paid or clean else "hold")
