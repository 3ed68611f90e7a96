"""The nightly credit review on SQLite and PostgreSQL: every step runs (tiers, behaviour
snapshots, a plan's step as a real application, over-credit-line alerts, the insurer's
decisions), the date is recorded once and a rerun does nothing; a run that failed midway
is run again safely (no duplicate alert, no second application)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tci_gateway.config import Settings
from tci_gateway.domain.alerts import AlertKind
from tci_gateway.ledger.credit_tables import (
    ApplicationState,
    CreditApplicationRow,
    CreditPlanRow,
    CreditRunRow,
    LineKind,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import AlertRow
from tci_gateway.services import credit_review
from tci_gateway.services.credit_options import CreditOptions
from tci_gateway.services.credit_review import run_credit_review
from tci_gateway.wiring import credit_options

from .plan_world import NOW, START, World, build

D = Decimal
DAY = NOW.date()  # 2026-03-01: the policy's business date at NOW (UTC)


def options(ledger: Ledger) -> CreditOptions:
    return credit_options(Settings(database={"url": "sqlite://"}), ledger)


def count(ledger: Ledger, table: type, *where: object) -> int:
    with ledger.reading() as s:
        return s.scalar(select(func.count()).select_from(table).where(*where)) or 0  # type: ignore[arg-type]


def alerts(ledger: Ledger, kind: AlertKind) -> list[AlertRow]:
    with ledger.reading() as s:
        rows = list(s.scalars(select(AlertRow).where(AlertRow.kind == kind.value)))
        for r in rows:
            s.expunge(r)
        return rows


def seed(ledger: Ledger) -> World:
    """Acme: a plan with three invoices paid within terms since it started (a step is
    due), Over: 8,000 open against DCL 3,000 + internal 4,000 (over by 1,000), Within:
    2,000 open against an internal line of 5,000, Plain: exposure and no line of ours."""
    w = build(ledger)
    w.buyer("Acme")
    w.plan("Acme", D(40000), D(10000))
    for n in range(3):
        w.invoice(
            "Acme", f"AC{n}", D(500), issued=START, due=date(2026, 2, 1), settled=date(2026, 1, 30)
        )
    w.buyer("Over")
    w.line("Over", LineKind.DCL, D(3000))
    w.line("Over", LineKind.INTERNAL, D(4000))
    w.invoice("Over", "OV1", D(8000), issued=date(2026, 2, 10), due=date(2026, 3, 12))
    w.buyer("Within")
    w.line("Within", LineKind.INTERNAL, D(5000))
    w.invoice("Within", "WI1", D(2000), issued=date(2026, 2, 10), due=date(2026, 3, 12))
    w.buyer("Plain")
    w.invoice("Plain", "PL1", D(9000), issued=date(2026, 2, 10), due=date(2026, 3, 12))
    return w


def test_review_runs_every_step_once_per_date(ledger: Ledger) -> None:
    w = seed(ledger)
    report = run_credit_review(ledger, w.policies, {}, options(ledger), DAY, now=NOW)
    assert report.ok, report.errors
    assert report.tiers is not None and report.tiers["evaluated"] == 4
    assert report.snapshots is not None and report.snapshots > 0
    assert report.plans is not None and len(report.plans.applied) == 1
    assert report.insurer_decisions == 0
    # The step is a real application of its own: no bureau configured, so the score
    # misses its figures and a person decides; the plan waits for it.
    with ledger.reading() as s:
        app = s.scalar(
            select(CreditApplicationRow).where(CreditApplicationRow.plan_id.is_not(None))
        )
        assert app is not None
        assert (app.channel, app.amount, app.state) == (
            "progressive",
            D(20000),
            ApplicationState.REFERRED,
        )
        plan = s.scalar(select(CreditPlanRow))
        assert plan is not None and plan.current_amount == D(10000)
        assert plan.next_step["application"]["reference"] == app.reference
    # Over the line: Over only (Within is inside its line, Plain has no line of ours).
    assert report.over_lines is not None
    assert [
        (o.buyer, o.exposure, o.line, o.insured, o.uninsured, o.over) for o in report.over_lines
    ] == [("Over", D(8000), D(7000), D(3000), D(4000), D(1000))]
    (alert,) = alerts(ledger, AlertKind.OVER_CREDIT_LINE)
    assert alert.buyer_id == w.buyers["Over"] and alert.business_date == DAY
    assert "8000" in alert.message and "7000" in alert.message
    assert alert.details["exposure"] == "8000.0000" or D(alert.details["exposure"]) == D(8000)
    assert D(alert.details["credit_line"]) == D(7000)
    assert count(ledger, CreditRunRow) == 1

    snapshots_before = report.snapshots
    again = run_credit_review(ledger, w.policies, {}, options(ledger), DAY, now=NOW)
    assert again.already_done and again.ok
    summary = again.summary()
    assert summary["already_done"] and summary["snapshots"] == snapshots_before
    assert count(ledger, CreditApplicationRow) == 1
    assert len(alerts(ledger, AlertKind.OVER_CREDIT_LINE)) == 1
    assert count(ledger, CreditRunRow) == 1


def test_a_failed_step_leaves_the_date_open_and_the_rerun_is_safe(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = seed(ledger)

    def broken(*_args: object, **_kw: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(credit_review, "take_snapshots", broken)
    first = run_credit_review(ledger, w.policies, {}, options(ledger), DAY, now=NOW)
    assert not first.ok and first.errors == ["snapshots: RuntimeError: disk full"]
    # The steps after it ran; the date is not recorded.
    assert first.plans is not None and len(first.plans.applied) == 1
    assert first.over_lines is not None and len(first.over_lines) == 1
    assert count(ledger, CreditRunRow) == 0

    monkeypatch.undo()
    second = run_credit_review(ledger, w.policies, {}, options(ledger), DAY, now=NOW)
    assert second.ok and not second.already_done
    assert second.snapshots is not None and second.snapshots > 0
    assert second.plans is not None and second.plans.skipped == 1 and not second.plans.applied
    assert second.over_line_alerts == 0  # raised by the first run, once
    assert count(ledger, CreditApplicationRow) == 1
    assert len(alerts(ledger, AlertKind.OVER_CREDIT_LINE)) == 1
    assert count(ledger, CreditRunRow) == 1
    with ledger.reading() as s:
        run = s.scalar(select(CreditRunRow))
        assert run is not None and run.business_date == DAY and run.summary["errors"] == []


test_a_failed_step_leaves_the_date_open_and_the_rerun_is_safe.sqlite_only = True  # type: ignore[attr-defined]
