"""Sync bookkeeping that stays small and honest: staged payloads kept for the retention
period then pruned (failed and killed runs at once), the run's figures committed with its
reconciliation, and alert counts that count what was stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tci_gateway.domain.policy import Policy
from tci_gateway.errors import TransientError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.runs import add_alerts, alert_values, start_sync_run
from tci_gateway.ledger.staging import prune_staging, stage
from tci_gateway.ledger.tables import AlertRow, SyncRunRow, SyncStagingRow
from tci_gateway.services.sync import prune_staged, sync_limits

from ..erp.conftest import NOW, make_policy
from .fakes import FakeInsurer, decision, entry

POLICY: Policy = make_policy()


def staged_runs(ledger: Ledger) -> dict[int, int]:
    with ledger.unit_of_work() as s:
        rows = s.execute(
            select(SyncStagingRow.sync_run_id, func.count()).group_by(SyncStagingRow.sync_run_id)
        )
        return {run: n for run, n in rows}


def test_staged_payloads_are_kept_for_the_retention_then_pruned(ledger: Ledger) -> None:
    def portfolio(amount: str) -> FakeInsurer:  # a limit changes every run: each stages
        return FakeInsurer(items=[entry("1", decision(amount)), entry("2", decision("5000"))])

    first = sync_limits(ledger, portfolio("10000"), POLICY, now=NOW)
    assert first.run_id is not None
    second = sync_limits(ledger, portfolio("11000"), POLICY, now=NOW + timedelta(days=30))
    assert second.staging_pruned == 0
    assert staged_runs(ledger) == {first.run_id: 2, second.run_id: 2}
    third = sync_limits(ledger, portfolio("12000"), POLICY, now=NOW + timedelta(days=91))
    assert third.staging_pruned == 2  # the first run's rows, 91 days old
    assert staged_runs(ledger) == {second.run_id: 2, third.run_id: 2}
    short = sync_limits(
        ledger, portfolio("13000"), POLICY, now=NOW + timedelta(days=93), staging_retention_days=1
    )
    assert short.staging_pruned == 4
    assert set(staged_runs(ledger)) == {short.run_id}


def test_a_failed_run_and_a_killed_run_leave_no_staged_rows(ledger: Ledger) -> None:
    failing = FakeInsurer(
        items=[entry(str(n), decision("1000")) for n in range(1500)],
        fail_after=1200,
        fail_with=TransientError("HTTP 503 from the insurer", adapter="atradius", status=503),
    )
    failed = sync_limits(ledger, failing, POLICY, now=NOW)
    assert failed.status == "failed" and failed.fetched == 1000  # one batch was staged
    with ledger.unit_of_work() as s:  # what a kill -9 after staging leaves behind
        pid = upsert_policies(s, {POLICY.key: POLICY}, NOW)[POLICY.key]
        killed = start_sync_run(
            s, insurer="atradius", policy_id=pid, business_date=NOW.date(), now=NOW
        )
        stage(s, killed, "atradius", [entry("9", decision("1000"))], 0, NOW)
    assert set(staged_runs(ledger)) == {failed.run_id, killed}
    again = sync_limits(ledger, FakeInsurer(items=[entry("1", decision("1000"))]), POLICY, now=NOW)
    assert again.staging_pruned == 1001
    assert set(staged_runs(ledger)) == {again.run_id}


def test_the_nightly_prune_works_without_a_sync(ledger: Ledger) -> None:
    report = sync_limits(ledger, FakeInsurer(items=[entry("1", decision("1"))]), POLICY, now=NOW)
    assert prune_staged(ledger, now=NOW + timedelta(days=89)) == 0
    assert prune_staged(ledger, now=NOW + timedelta(days=90, seconds=1)) == 1
    assert report.run_id is not None and staged_runs(ledger) == {}
    with ledger.unit_of_work() as s, pytest.raises(ValueError, match="at least one day"):
        prune_staging(s, now=NOW, retention_days=0)


def test_the_run_records_its_figures_with_its_reconciliation(ledger: Ledger) -> None:
    report = sync_limits(
        ledger,
        FakeInsurer(items=[entry("1", decision("10000")), entry("2", decision("5000"))]),
        POLICY,
        now=NOW,
    )
    with ledger.unit_of_work() as s:
        run = s.get_one(SyncRunRow, report.run_id)
        assert (run.status, run.fetched, run.written, run.finished_at) == (
            "succeeded",
            2,
            2,
            NOW,
        )


def test_the_alert_count_is_what_was_stored(ledger: Ledger) -> None:
    both = FakeInsurer(items=[entry("1", decision("10000")), entry("2", decision("5000"))])
    first = sync_limits(ledger, both, POLICY, now=NOW)
    with ledger.unit_of_work() as s:
        assert first.alerts == s.scalar(select(func.count()).select_from(AlertRow))
    one = FakeInsurer(items=[entry("1", decision("10000"))])
    missing = sync_limits(ledger, one, POLICY, now=NOW)
    assert missing.alerts == 1  # cover_missing for buyer 2
    again = sync_limits(ledger, one, POLICY, now=NOW)
    assert again.alerts == 0  # the same cover_missing alert is already stored
    with ledger.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(AlertRow)) == first.alerts + 1


def test_add_alerts_counts_only_new_dedupe_keys(ledger: Ledger) -> None:
    from tci_gateway.domain.alerts import AlertKind

    def row(key: str) -> dict[str, object]:
        return alert_values(
            kind=AlertKind.COVER_NEW,
            message="m",
            business_date=NOW.date(),
            dedupe_key=key,
            now=NOW,
        )

    with ledger.unit_of_work() as s:
        assert add_alerts(s, [row("a"), row("b"), row("a")]) == 2
        assert add_alerts(s, [row("b"), row("c")]) == 1
        assert add_alerts(s, []) == 0
