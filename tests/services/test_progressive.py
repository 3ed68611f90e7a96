"""Progressive plans evaluated nightly, on SQLite and PostgreSQL: the payment record of
every plan in one query (golden: hand-counted), a step up as an application of its own
(granted at once, or waiting for the insurer), freezing on late payment with its alert
once, stepping down with the DCL line, and a rerun of the date doing nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.money import Money
from tci_gateway.domain.progressive import PlanRules
from tci_gateway.ledger import credit as credit_repo
from tci_gateway.ledger.credit_tables import (
    ApplicationState,
    CreditApplicationRow,
    CreditPlanRow,
    LineKind,
    PlanState,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import AlertRow, ErpAccountRow, OpenItemRow
from tci_gateway.services.behaviour import BehaviourOptions
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.progressive import (
    evaluate_plans,
    payment_records,
    plan_of,
    start_plan,
)

from .plan_world import NOW, START, FakeApply, add_application, build, set_application

D = Decimal
RULES = PlanRules(
    start_share=D("0.25"),
    step_share=D("0.25"),
    step_after_paid_invoices=3,
    step_after_months_clean=3,
    late_grace_days=5,
)
OPTIONS = CreditOptions(behaviour=BehaviourOptions(), factors=(), progressive=RULES)
DAY = date(2026, 2, 10)


def plan_row(ledger: Ledger, plan_id: int) -> CreditPlanRow:
    with ledger.reading() as s:
        row = s.get(CreditPlanRow, plan_id)
        assert row is not None
        s.expunge(row)
        return row


def alerts(ledger: Ledger, kind: AlertKind) -> int:
    with ledger.reading() as s:
        return s.scalar(select(func.count()).where(AlertRow.kind == kind.value)) or 0


def test_payment_record_golden(ledger: Ledger) -> None:
    w = build(ledger)
    w.buyer("Acme")
    w.buyer("Other")
    plan = w.plan("Acme", D(40000), D(10000))
    other = w.plan("Other", D(8000), D(2000))
    jan = date(2026, 1, 1)
    # Acme, since the plan started on 5 Jan (grace 5 days):
    w.invoice("Acme", "A1", D(100), issued=jan, due=date(2026, 1, 31), settled=date(2026, 1, 30))
    w.invoice("Acme", "A2", D(100), issued=jan, due=date(2026, 1, 31), settled=date(2026, 1, 31))
    w.invoice("Acme", "A3", D(100), issued=jan, due=date(2026, 1, 31), settled=date(2026, 2, 3))
    w.invoice("Acme", "A4", D(100), issued=jan, due=date(2026, 1, 20), settled=date(2026, 2, 2))
    w.invoice("Acme", "A5", D(100), issued=jan, due=date(2026, 1, 4), settled=date(2026, 1, 4))
    w.invoice("Acme", "A6", D(100), issued=jan, due=None, settled=date(2026, 1, 1))
    w.invoice("Acme", "A7", D(100), issued=date(2026, 1, 6), due=None, settled=date(2026, 1, 6))
    w.invoice("Acme", "A8", D(100), issued=jan, due=date(2026, 2, 1))
    w.invoice("Acme", "A9", D(100), issued=jan, due=date(2026, 2, 8))
    w.invoice("Acme", "A10", D(100), issued=jan, due=date(2026, 1, 10), open_amount=D(0))
    w.invoice("Acme", "C1", D(100), issued=jan, due=date(2026, 1, 1), kind="CREDIT_NOTE")
    w.invoice("Acme", "A11", D(100), issued=jan, due=date(2026, 2, 1), settled=date(2026, 2, 20))
    # A1, A2 within terms; A3 3 days late (inside the grace: neither); A4 13 days late;
    # A5 and A6 settled before the plan; A7 (no due date: due on issue) within terms;
    # A8 open 9 days past due: late; A9 2 days: not yet; A10 settled before 0011
    # (unknown date): out; C1 not an invoice; A11 settled after the day, open then:
    # 9 days past due on the day, late.
    with ledger.reading() as s:
        records = payment_records(s, DAY, grace_days=5)
    acme = records[plan]
    assert acme.paid_within_terms == 3
    assert acme.late == (
        "A4 paid 13 days late on 2026-02-02",
        "A11 open 9 days past due",
        "A8 open 9 days past due",
    )
    assert acme.last_late_on == DAY
    assert other not in records  # nothing of Other's: the empty record applies


def test_steps_up_after_invoices_paid_within_terms(ledger: Ledger) -> None:
    w = build(ledger)
    bid = w.buyer("Acme")
    plan = w.plan("Acme", D(40000), D(10000))
    for n in range(2):
        w.invoice(
            "Acme", f"I{n}", D(500), issued=START, due=date(2026, 2, 1), settled=date(2026, 1, 25)
        )
    apply = FakeApply(ApplicationState.GRANTED)
    first = evaluate_plans(ledger, w.policies, {}, OPTIONS, DAY, now=NOW, apply=apply)
    assert (first.evaluated, first.held, apply.calls) == (1, 1, [])
    view = plan_of(ledger, bid)
    assert view is not None and view.next_action == "hold"
    assert "2 of 3 invoices paid within terms" in view.reason

    w.invoice("Acme", "I2", D(500), issued=START, due=date(2026, 2, 1), settled=date(2026, 2, 1))
    day = date(2026, 2, 11)
    report = evaluate_plans(ledger, w.policies, {}, OPTIONS, day, now=NOW, apply=apply)
    assert report.ok and report.stepped == 1 and len(report.applied) == 1
    assert apply.calls[0]["amount"].amount == D(20000)
    assert apply.calls[0]["plan"] == plan and apply.calls[0]["buyer"] == str(bid)
    row = plan_row(ledger, plan)
    assert (row.current_amount, row.step, row.last_step_on) == (D(20000), 1, day)
    assert row.state is PlanState.ACTIVE
    assert row.next_step["action"] == "hold"
    assert row.next_step["record"]["paid_within_terms"] == 3
    assert report.applied[0] in row.next_step["reason"]

    again = evaluate_plans(ledger, w.policies, {}, OPTIONS, day, now=NOW, apply=apply)
    assert (again.evaluated, again.skipped, len(apply.calls)) == (0, 1, 1)
    # The next day the count starts afresh from the step: nothing paid since, so hold.
    later = evaluate_plans(ledger, w.policies, {}, OPTIONS, date(2026, 2, 12), now=NOW, apply=apply)
    assert later.held == 1 and len(apply.calls) == 1


def test_above_the_dcl_waits_for_the_insurer_then_steps(ledger: Ledger) -> None:
    w = build(ledger)
    bid = w.buyer("Acme")
    plan = w.plan("Acme", D(40000), D(30000))
    for n in range(3):
        w.invoice(
            "Acme", f"I{n}", D(500), issued=START, due=date(2026, 2, 1), settled=date(2026, 1, 25)
        )
    apply = FakeApply(ApplicationState.WITH_INSURER)
    report = evaluate_plans(ledger, w.policies, {}, OPTIONS, DAY, now=NOW, apply=apply)
    assert (report.waiting, report.stepped, len(apply.calls)) == (1, 0, 1)
    reference = report.applied[0]
    view = plan_of(ledger, bid)
    assert view is not None and view.application == reference and view.current == D(30000)
    assert view.next_amount == D(40000)

    nxt = evaluate_plans(ledger, w.policies, {}, OPTIONS, date(2026, 2, 11), now=NOW, apply=apply)
    assert nxt.waiting == 1 and len(apply.calls) == 1  # never a second application

    set_application(ledger, reference, ApplicationState.GRANTED, D(40000))
    done = evaluate_plans(ledger, w.policies, {}, OPTIONS, date(2026, 2, 12), now=NOW, apply=apply)
    assert done.stepped == 1 and done.completed == 1
    row = plan_row(ledger, plan)
    assert (row.current_amount, row.state, row.step) == (D(40000), PlanState.COMPLETE, 1)
    view = plan_of(ledger, bid)
    assert view is not None and view.application is None and view.next_action == "complete"


def test_a_refused_step_restarts_the_count(ledger: Ledger) -> None:
    w = build(ledger)
    w.buyer("Acme")
    plan = w.plan("Acme", D(40000), D(10000))
    for n in range(3):
        w.invoice(
            "Acme", f"I{n}", D(500), issued=START, due=date(2026, 2, 1), settled=date(2026, 1, 25)
        )
    apply = FakeApply(ApplicationState.REFUSED)
    report = evaluate_plans(ledger, w.policies, {}, OPTIONS, DAY, now=NOW, apply=apply)
    assert report.held == 1 and len(apply.calls) == 1
    row = plan_row(ledger, plan)
    assert (row.current_amount, row.last_step_on, row.step) == (D(10000), DAY, 0)
    assert "not granted" in row.next_step["reason"]
    evaluate_plans(ledger, w.policies, {}, OPTIONS, date(2026, 2, 11), now=NOW, apply=apply)
    assert len(apply.calls) == 1  # the invoices before the refusal no longer count


def test_the_application_that_started_the_plan_is_not_a_step(ledger: Ledger) -> None:
    w = build(ledger)
    bid = w.buyer("Acme")
    plan = w.plan("Acme", D(40000), D(10000))
    add_application(
        ledger,
        buyer_id=bid,
        policy_id=w.policy_id,
        amount=D(40000),
        state=ApplicationState.GRANTED,
        granted=D(10000),
        plan_id=plan,
        channel="cli",
    )
    apply = FakeApply(ApplicationState.GRANTED)
    report = evaluate_plans(ledger, w.policies, {}, OPTIONS, DAY, now=NOW, apply=apply)
    assert (report.held, report.stepped) == (1, 0)
    assert plan_row(ledger, plan).step == 0


def test_freezes_on_late_payment_and_alerts_once(ledger: Ledger) -> None:
    w = build(ledger)
    bid = w.buyer("Acme")
    plan = w.plan("Acme", D(40000), D(20000))
    for n in range(3):
        w.invoice(
            "Acme", f"I{n}", D(500), issued=START, due=date(2026, 2, 1), settled=date(2026, 1, 25)
        )
    w.invoice("Acme", "LATE", D(900), issued=START, due=date(2026, 1, 31))
    apply = FakeApply(ApplicationState.GRANTED)
    report = evaluate_plans(ledger, w.policies, {}, OPTIONS, DAY, now=NOW, apply=apply)
    assert report.frozen == 1 and apply.calls == []
    row = plan_row(ledger, plan)
    assert row.state is PlanState.FROZEN and row.current_amount == D(20000)
    assert row.next_step["action"] == "freeze"
    assert row.next_step["record"]["late"] == ["LATE open 10 days past due"]
    assert alerts(ledger, AlertKind.PLAN_FROZEN) == 1
    with ledger.reading() as s:
        alert = s.scalar(select(AlertRow).where(AlertRow.kind == "plan_frozen"))
        assert alert is not None and alert.buyer_id == bid and alert.business_date == DAY
        assert alert.details["late"] == ["LATE open 10 days past due"]
    # Still late the next nights: frozen, held, no new alert.
    for day in (date(2026, 2, 11), date(2026, 2, 12)):
        nxt = evaluate_plans(ledger, w.policies, {}, OPTIONS, day, now=NOW, apply=apply)
        assert nxt.held == 1
    assert alerts(ledger, AlertKind.PLAN_FROZEN) == 1
    view = plan_of(ledger, bid)
    assert view is not None and view.state == "frozen" and "Frozen" in view.reason


def test_step_down_lowers_the_plan_and_its_dcl_line(ledger: Ledger) -> None:
    w = build(ledger)
    bid = w.buyer("Acme")
    plan = w.plan("Acme", D(40000), D(20000))
    w.line("Acme", LineKind.DCL, D(20000))
    w.invoice("Acme", "LATE", D(900), issued=START, due=date(2026, 1, 31))
    options = replace(OPTIONS, progressive=replace(RULES, on_late="step_down"))
    apply = FakeApply(ApplicationState.GRANTED)
    report = evaluate_plans(ledger, w.policies, {}, options, DAY, now=NOW, apply=apply)
    assert report.frozen == 1
    row = plan_row(ledger, plan)
    assert (row.current_amount, row.state) == (D(10000), PlanState.FROZEN)
    with ledger.reading() as s:
        lines = [(ln.kind, ln.amount) for ln in credit_repo.lines_in_force(s, DAY, [bid])]
    assert lines == [(LineKind.DCL, D(10000))]
    assert alerts(ledger, AlertKind.PLAN_FROZEN) == 1


def test_start_plan_keeps_a_live_plan_and_reads_the_dcl_grant(ledger: Ledger) -> None:
    w = build(ledger)
    bid = w.buyer("Acme")
    w.line("Acme", LineKind.DCL, D(7500))
    with ledger.unit_of_work() as s:
        first = start_plan(
            s,
            buyer_id=bid,
            policy_id=w.policy_id,
            target=D(30000),
            currency="EUR",
            day=START,
            now=NOW,
        )
        again = start_plan(
            s,
            buyer_id=bid,
            policy_id=w.policy_id,
            target=D(99999),
            currency="EUR",
            day=START,
            now=NOW,
        )
    assert first == again
    view = plan_of(ledger, bid)
    assert view is not None
    assert (view.current, view.target, view.state, view.policy) == (
        D(7500),
        D(30000),
        "active",
        "main",
    )
    with ledger.reading() as s:
        assert plan_of(s, bid) == view
        assert s.scalar(select(func.count()).select_from(CreditApplicationRow)) == 0
    assert plan_of(ledger, bid + 100) is None


def test_plans_off_does_nothing(ledger: Ledger) -> None:
    w = build(ledger)
    w.buyer("Acme")
    w.plan("Acme", D(40000), D(10000))
    report = evaluate_plans(
        ledger,
        w.policies,
        {},
        replace(OPTIONS, progressive=None),
        DAY,
        now=NOW,
        apply=FakeApply(ApplicationState.GRANTED),
    )
    assert report.evaluated == 0 and report.note is not None and report.ok


# The SQL of the record and the plan updates runs on both backends above; these follow
# the same paths with other outcomes: SQLite only (CI time).
for _test in (
    test_above_the_dcl_waits_for_the_insurer_then_steps,
    test_a_refused_step_restarts_the_count,
    test_the_application_that_started_the_plan_is_not_a_step,
    test_start_plan_keeps_a_live_plan_and_reads_the_dcl_grant,
    test_plans_off_does_nothing,
    test_step_down_lowers_the_plan_and_its_dcl_line,
):
    _test.sqlite_only = True  # type: ignore[attr-defined]


def test_a_step_within_the_dcl_is_granted_by_the_real_pre_screen(
    ledger: Ledger, tmp_path: Path
) -> None:
    """End to end through the application service and the bureau sandboxes: a growth
    buyer's 20,000 application starts a plan at 5,000; three invoices paid within terms
    later, the nightly step applies for 10,000, within the DCL (30,000): granted at once,
    the plan and the DCL line move, and the insurer is never called."""
    from tci_gateway.services.credit_apply import apply_for_credit

    from . import credit_apply_world as cw

    world = next(iter_world := cw.build(ledger, tmp_path))
    try:
        options = cw.options(progressive=RULES, tier_progressive={"growth": True})
        view = apply_for_credit(
            ledger,
            world.policies,
            world.bureaus,
            options,
            buyer="D1",
            amount=Money(D(20000), "EUR"),
            policy=None,
            requested_by="sales.anna",
            channel="cli",
            now=cw.NOW,
        )
        assert view.plan_id is not None and view.granted_amount == D(5000)
        start = cw.NOW.date()
        with ledger.unit_of_work() as s:
            account = s.scalar(select(ErpAccountRow.id).where(ErpAccountRow.account == "D1"))
            for n in range(3):
                s.add(
                    OpenItemRow(
                        erp_account_id=account,
                        document_number=f"INV-{n}",
                        kind="INVOICE",
                        currency="EUR",
                        amount=D(1000),
                        open_amount=D(0),
                        document_date=start,
                        due_date=date(2026, 12, 30),
                        settled_on=date(2026, 12, 15),
                        updated_at=cw.NOW,
                    )
                )
        day = date(2026, 12, 20)
        report = evaluate_plans(
            ledger,
            world.policies,
            world.bureaus,
            options,
            day,
            now=cw.NOW + timedelta(days=20),
            apply=apply_for_credit,
        )
        assert report.ok and report.stepped == 1 and len(report.applied) == 1, report
        row = plan_row(ledger, view.plan_id)
        assert (row.current_amount, row.step, row.state) == (D(10000), 1, PlanState.ACTIVE)
        with ledger.reading() as s:
            step_app = s.scalar(
                select(CreditApplicationRow).where(
                    CreditApplicationRow.reference == report.applied[0]
                )
            )
            assert step_app is not None
            assert (step_app.channel, step_app.amount, step_app.state) == (
                "progressive",
                D(10000),
                ApplicationState.GRANTED,
            )
            lines = [(ln.kind, ln.amount) for ln in credit_repo.lines_in_force(s, day, [1])]
        assert lines == [(LineKind.DCL, D(10000))]
        assert world.insurer_calls() == 0
    finally:
        next(iter_world, None)


test_a_step_within_the_dcl_is_granted_by_the_real_pre_screen.sqlite_only = True  # type: ignore[attr-defined]
