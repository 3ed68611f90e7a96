"""The nightly cycle as one service: its steps alone and together, and one failing
insurer recorded while the others are synced, the same way from every entry point (the
service, ``tci sync limits``, the scheduler's ``limit_sync`` job), on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tci_gateway.adapters.contract import InsurerAdapter, PolicyRef
from tci_gateway.cli.main import run_sync
from tci_gateway.cli.state import State
from tci_gateway.config import Settings
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import RecordError, TransientError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import CoverDecisionRow, PolicyRow
from tci_gateway.scheduler import jobs
from tci_gateway.scheduler.jobs import JobContext
from tci_gateway.services.nightly import (
    LIMIT_SYNC_STEPS,
    ClaimsOptions,
    NightlyCycle,
    NightlyOptions,
    Step,
)
from tci_gateway.wiring import Connection, Wiring

from ..erp.conftest import make_policy
from .fakes import FakeInsurer, decision, entry

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


class Exploding(FakeInsurer):
    """An adapter with a bug: not even an AdapterError."""

    def fetch_portfolio(self, policy: PolicyRef) -> Iterator[Any]:
        raise RuntimeError("bug in the adapter")


def insurers() -> dict[str, InsurerAdapter]:
    """``good`` and ``late`` answer; ``down`` fails half-way; ``buggy`` raises a bug."""
    return {
        "good": FakeInsurer(
            name="good", items=[entry("1", decision("10000")), entry("2", decision("5000"))]
        ),
        "down": FakeInsurer(
            name="down",
            items=[entry("3", decision("1000")), entry("4", decision("2000"))],
            fail_after=1,
            fail_with=TransientError("503 from the insurer", adapter="down", status=503),
        ),
        "buggy": Exploding(name="buggy", items=[entry("5", decision("1000"))]),
        "late": FakeInsurer(name="late", items=[entry("6", decision("7000"))]),
    }


def policies(*insurer_names: str) -> dict[str, Policy]:
    """One policy per insurer, keyed so the failing ones sort between the good ones."""
    keys = {"good": "a-good", "down": "b-down", "buggy": "c-buggy", "unwired": "d-unwired"}
    return {
        keys.get(name, f"e-{name}"): make_policy(keys.get(name, f"e-{name}"), insurer=name)
        for name in insurer_names
    }


def versions_per_policy(ledger: Ledger) -> dict[str, int]:
    with ledger.unit_of_work() as s:
        rows = s.execute(
            select(PolicyRow.key, func.count(CoverDecisionRow.id))
            .outerjoin(CoverDecisionRow, CoverDecisionRow.policy_id == PolicyRow.id)
            .group_by(PolicyRow.key)
        )
        return {key: n for key, n in rows}


def test_one_failing_insurer_is_recorded_and_the_others_synced(ledger: Ledger) -> None:
    everyone = policies("good", "down", "buggy", "unwired", "late")
    cycle = NightlyCycle(ledger, everyone, insurers(), now=NOW)
    report = cycle.run(LIMIT_SYNC_STEPS)
    statuses = {r.policy: r.status for r in report.sync.reports}
    assert statuses == {
        "a-good": "succeeded",
        "b-down": "failed",
        "c-buggy": "failed",
        "d-unwired": "failed",
        "e-late": "succeeded",  # synced after three failures
    }
    assert report.sync.failed == ["b-down", "c-buggy", "d-unwired"]
    errors = {r.policy: r.errors[0] for r in report.sync.reports if r.errors}
    assert "nothing written" in errors["b-down"] and "503" in errors["b-down"]
    assert errors["c-buggy"] == "RuntimeError: bug in the adapter"
    assert errors["d-unwired"] == "unwired not connected"
    assert versions_per_policy(ledger) == {"a-good": 2, "b-down": 0, "c-buggy": 0, "e-late": 1}
    assert report.ok is False and report.sync.ok is False
    assert report.exposure is not None and len(report.exposure.rows) == 3  # after the sync
    assert report.exposure.alerts > 0


def test_every_entry_point_isolates_the_same_way(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    """The service, ``tci sync limits`` and the scheduler's job give the same outcome per
    policy. (An insurer that is not configured at all is a configuration error the CLI
    refuses before syncing anything, exit 2, so it is left out here.)"""
    wired = policies("good", "down", "buggy", "late")
    settings = Settings(
        database={"url": database_url},
        insurers={
            name: {"adapter": "atradius", "base_url": "sandbox", "environment": "sandbox"}
            for name in ("good", "down", "buggy", "late")
        },
        policies={
            key: {
                "insurer": p.insurer,
                "currency": "EUR",
                "insured_percentage": 90,
                "max_credit_period_days": 120,
                "max_extension_days": 60,
                "overdue_notification_days": 90,
                "waiting_days": 180,
                "claim_filing_days": 360,
                "timezone": "Europe/Paris",
                "external_ref": dict(p.external_ref),
            }
            for key, p in wired.items()
        },
    )
    adapters = insurers()
    wiring = Wiring(settings, tmp_path)
    wiring.connections.update({name: Connection(a) for name, a in adapters.items()})
    cli = run_sync(State(as_of=NOW, _wiring=wiring))
    job = jobs.limit_sync(JobContext(ledger, adapters, wired, NOW, NOW.date(), "limit_sync"))
    service = NightlyCycle(ledger, wired, adapters, now=NOW).sync()
    expected = {"a-good": "succeeded", "b-down": "failed", "c-buggy": "failed"}
    expected["e-late"] = "succeeded"
    assert {r.policy: r.status for r in cli} == expected
    assert {k: p["status"] for k, p in job["policies"].items()} == expected
    assert {r.policy: r.status for r in service.reports} == expected
    assert job["ok"] is False and job["failed"] == ["b-down", "c-buggy"]
    assert any("bug in the adapter" in e for e in job["errors"])
    assert versions_per_policy(ledger) == {"a-good": 2, "b-down": 0, "c-buggy": 0, "e-late": 1}


def test_a_partial_sync_is_not_ok_and_the_cycle_goes_on(ledger: Ledger) -> None:
    bad = RecordError("good covers", 2, "decisionDate", "not a date")
    adapters = {"good": FakeInsurer(name="good", items=[entry("1", decision("10000")), bad])}
    cycle = NightlyCycle(ledger, policies("good"), adapters, now=NOW)
    report = cycle.run(LIMIT_SYNC_STEPS)
    (sync,) = report.sync.reports
    assert (sync.status, sync.written, report.sync.failed) == ("partial", 1, [])
    assert report.ok is False  # the one judgement: CLI exit 1, scheduler run FAILED
    assert report.exposure is not None and len(report.exposure.rows) == 1


def test_each_step_runs_on_its_own(ledger: Ledger) -> None:
    both = policies("good", "late")
    cycle = NightlyCycle(ledger, both, insurers(), now=NOW)
    only_late = cycle.sync(["e-late"])
    assert [r.policy for r in only_late.reports] == ["e-late"] and only_late.ok
    assert versions_per_policy(ledger) == {"e-late": 1}  # the other policy untouched
    rows = cycle.exposure().rows
    assert [r.policy for r in rows] == ["e-late"]
    assert cycle.exposure().alerts == 0  # once per business date
    export = cycle.export()
    assert [r.policy for r in export.rows] == ["e-late"] and export.cursor > 0
    assert cycle.export(changed_since=export.cursor).rows == []
    assert cycle.roll().total_changed == 0
    assert cycle.claims() is None  # no claims options: skipped
    digest = cycle.digest(NOW.date())
    assert digest.total == sum(digest.by_kind.values()) and digest.by_kind["cover_new"] == 1


def test_run_takes_the_steps_asked_for(ledger: Ledger) -> None:
    cycle = NightlyCycle(ledger, policies("good"), insurers(), now=NOW)
    report = cycle.run([Step.SYNC, Step.CLAIMS])
    assert [r.policy for r in report.sync.reports] == ["a-good"]
    assert report.exposure is None and report.export is None
    assert report.claims is None and report.claims_skipped == "no escalation paths configured"
    assert report.ok
    everything = cycle.run()
    assert everything.exposure is not None and everything.export is not None
    assert [r.written for r in everything.sync.reports] == [0]


def test_claims_options_reach_the_claims_run(ledger: Ledger) -> None:
    from tci_gateway.domain.escalation import DEFAULT_PATHS, EscalationPath

    paths = {
        tier: EscalationPath.of(tier, {"overdue_notification": 60, "claim": 90})
        for tier in DEFAULT_PATHS
    }
    options = NightlyOptions(claims=ClaimsOptions(paths, "growth"))
    cycle = NightlyCycle(ledger, policies("good"), insurers(), now=NOW, options=options)
    report = cycle.run([Step.CLAIMS])
    assert report.claims is not None and report.claims.overdue_buyers == 0
    assert report.ok
