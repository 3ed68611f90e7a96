"""The ``credit_review`` job through the scheduler's machinery: the real job function
fired by the dispatcher with the credit options and bureaus the wiring gives it; once
per business date (the job_runs row and the credit_runs row); without credit options it
does nothing and says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tci_gateway.config import Settings
from tci_gateway.ledger import jobs as runs
from tci_gateway.ledger.credit_tables import CreditApplicationRow, CreditRunRow, LineKind
from tci_gateway.ledger.engine import Ledger
from tci_gateway.scheduler import jobs
from tci_gateway.scheduler.dispatch import RUNS_AFTER, Dispatcher
from tci_gateway.scheduler.jobs import JOBS, JobContext
from tci_gateway.scheduler.leader import LockLeader
from tci_gateway.wiring import credit_options

from ..services.plan_world import START, build
from .fakes import FakeClock, only

FIRE = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)  # the default schedule: 05:00 UTC
D = __import__("decimal").Decimal


def count(ledger: Ledger, table: type) -> int:
    with ledger.reading() as s:
        return s.scalar(select(func.count()).select_from(table)) or 0


def test_the_job_is_registered_after_the_claims_run() -> None:
    assert JOBS["credit_review"].ref == "tci_gateway.scheduler.jobs:credit_review"
    assert not JOBS["credit_review"].per_fire
    assert RUNS_AFTER["credit_review"] == ("limit_sync", "claims_run")
    assert "credit_review" in RUNS_AFTER["alert_digest"]
    assert Settings().scheduler.jobs["credit_review"].cron == "0 5 * * *"


def test_the_scheduler_runs_the_credit_review_once_per_business_date(ledger: Ledger) -> None:
    w = build(ledger)
    w.buyer("Over")
    w.line("Over", LineKind.INTERNAL, D(1000))
    w.invoice("Over", "OV1", D(4000), issued=START, due=START + timedelta(days=90))
    w.buyer("Acme")
    w.plan("Acme", D(40000), D(10000))
    for n in range(3):
        w.invoice(
            "Acme",
            f"AC{n}",
            D(500),
            issued=START,
            due=START + timedelta(days=30),
            settled=START + timedelta(days=20),
        )
    settings = only("credit_review")
    clock = FakeClock(FIRE + timedelta(minutes=1))
    built: list[int] = []

    def options() -> object:
        built.append(1)
        return credit_options(Settings(database={"url": "sqlite://"}), ledger)

    leader = LockLeader(ledger, "a", lease_seconds=settings.lease_seconds, clock=clock)
    d = Dispatcher(
        settings,
        ledger=ledger,
        adapters={},
        policies=w.policies,
        leader=leader,
        clock=clock,
        wall=clock,
        bureaus={},
        credit=options,  # type: ignore[arg-type]
    )
    assert leader.acquire()
    outcome = d.fire("credit_review", FIRE)
    assert outcome is not None and outcome.ok, outcome
    assert outcome.business_date == FIRE.date() and built == [1]
    run = runs.find(ledger, "credit_review", FIRE.date())
    assert run is not None
    result = run.detail["result"]
    assert result["ok"] and not result["already_done"]
    assert result["business_date"] == "2026-03-01"
    assert result["tiers"]["evaluated"] == 2 and result["snapshots"] > 0
    assert len(result["plans"]["applied"]) == 1
    assert result["over_credit_line"]["buyers"] == 1
    assert result["over_credit_line"]["rows"][0]["over"] == "3000.0000" or D(
        result["over_credit_line"]["rows"][0]["over"]
    ) == D(3000)
    assert d.fire("credit_review", FIRE) is None  # the date's run is done
    assert count(ledger, CreditRunRow) == 1

    # The job called again for the date (a manual run): nothing done, and it says so.
    context = JobContext(
        ledger,
        {},
        w.policies,
        FIRE,
        FIRE.date(),
        "credit_review",
        credit=options,  # type: ignore[arg-type]
    )
    again = jobs.credit_review(context)
    assert again["ok"] and again["already_done"]
    assert count(ledger, CreditApplicationRow) == 1
    leader.release()


def test_without_credit_options_the_job_does_nothing(ledger: Ledger) -> None:
    context = JobContext(ledger, {}, {}, FIRE, FIRE.date(), "credit_review")
    assert jobs.credit_review(context) == {
        "ok": True,
        "skipped": "no credit options in this process",
    }
    assert count(ledger, CreditRunRow) == 0


SQLITE_ONLY = True  # the review's SQL runs on both backends in tests/services
