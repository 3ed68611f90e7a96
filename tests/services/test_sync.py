"""Limit sync over a fake insurer: diff, history, staleness, failures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import CoverStatus, PendingAction, covered_limit, in_force
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import RecordError, TransientError
from tci_gateway.ledger.covers import versions_by_buyer
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.staging import decision_to_json
from tci_gateway.ledger.tables import AlertRow, BuyerRow, CoverDecisionRow, SyncRunRow
from tci_gateway.services.importing import import_buyers
from tci_gateway.services.sync import sync_limits

from ..erp.conftest import NOW, make_policy
from .fakes import FakeInsurer, decision, entry

POLICY: Policy = make_policy()


def versions(ledger: Ledger) -> int:
    with ledger.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(CoverDecisionRow)) or 0


def alert_kinds(ledger: Ledger) -> list[str]:
    with ledger.unit_of_work() as s:
        return sorted(s.scalars(select(AlertRow.kind)))


def test_first_sync_writes_then_rerun_writes_nothing(ledger: Ledger, tmp_path: Path) -> None:
    buyers = tmp_path / "b.csv"
    buyers.write_text(
        "erp_account,name,country,insurer_ids\nA1,Alpha,DE,atradius:1\nA2,Beta,FR,atradius:2\n",
        encoding="utf-8",
    )
    import_buyers(ledger, buyers, policies={"main": POLICY}, now=NOW)
    fake = FakeInsurer(
        items=[entry("1", decision("50000")), entry("2", decision("0", status=CoverStatus.REFUSED))]
    )
    first = sync_limits(ledger, fake, POLICY, now=NOW)
    assert (first.status, first.fetched, first.written, first.unchanged) == ("succeeded", 2, 2, 0)
    assert alert_kinds(ledger) == ["cover_new", "cover_refused"]
    again = sync_limits(ledger, fake, POLICY, now=NOW)
    assert (again.written, again.unchanged, again.alerts) == (0, 2, 0)
    assert versions(ledger) == 2
    with ledger.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(BuyerRow)) == 2  # no buyer created


def test_reduction_is_a_new_version_and_history_answers_by_date(ledger: Ledger) -> None:
    fake = FakeInsurer(items=[entry("1", decision("100000"))])
    sync_limits(ledger, fake, POLICY, now=NOW)
    fake.items = [
        entry(
            "1",
            decision(
                "40000",
                status=CoverStatus.REDUCED,
                start=date(2026, 6, 1),
                changed=datetime(2026, 5, 20, tzinfo=UTC),
            ),
        )
    ]
    report = sync_limits(ledger, fake, POLICY, now=NOW)
    assert report.written == 1
    assert "cover_reduced" in alert_kinds(ledger)
    with ledger.unit_of_work() as s:
        (history,) = versions_by_buyer(s, 1).values()
    may = in_force(history, date(2026, 5, 10))
    june = in_force(history, date(2026, 6, 15))
    assert may is not None and june is not None
    assert covered_limit(may.decision, date(2026, 5, 10)).amount == Decimal("100000")  # type: ignore[union-attr]
    assert covered_limit(june.decision, date(2026, 6, 15)).amount == Decimal("40000")  # type: ignore[union-attr]


def test_older_data_never_replaces_newer(ledger: Ledger) -> None:
    newer = decision("70000", changed=datetime(2026, 9, 1, tzinfo=UTC))
    older = decision("90000", changed=datetime(2026, 8, 1, tzinfo=UTC))
    sync_limits(ledger, FakeInsurer(items=[entry("1", newer)]), POLICY, now=NOW)
    report = sync_limits(ledger, FakeInsurer(items=[entry("1", older)]), POLICY, now=NOW)
    assert (report.written, report.stale) == (0, 1)
    assert versions(ledger) == 1


def test_failure_mid_portfolio_leaves_limits_exactly_as_they_were(ledger: Ledger) -> None:
    sync_limits(ledger, FakeInsurer(items=[entry("1", decision("10000"))]), POLICY, now=NOW)
    before = versions(ledger)
    failing = FakeInsurer(
        items=[
            entry("1", decision("20000", changed=datetime(2026, 2, 1, tzinfo=UTC))),
            entry("2", decision("5000")),
        ],
        fail_after=1,
        fail_with=TransientError("HTTP 503 from the insurer", adapter="atradius", status=503),
    )
    report = sync_limits(ledger, failing, POLICY, now=NOW)
    assert report.status == "failed" and "nothing written" in report.errors[0]
    assert versions(ledger) == before
    with ledger.unit_of_work() as s:
        statuses = list(s.scalars(select(SyncRunRow.status).order_by(SyncRunRow.id)))
    assert statuses == ["succeeded", "failed"]


def test_record_errors_are_collected_and_the_rest_synced(ledger: Ledger) -> None:
    bad = RecordError("atradius covers", 2, "decisionDate", "not a date")
    report = sync_limits(
        ledger, FakeInsurer(items=[entry("1", decision("10000")), bad]), POLICY, now=NOW
    )
    assert report.status == "partial" and report.written == 1
    assert "decisionDate" in report.errors[0]


def test_unknown_buyer_is_created_and_flagged(ledger: Ledger) -> None:
    report = sync_limits(
        ledger, FakeInsurer(items=[entry("77", decision("20000"), "Danube Kft")]), POLICY, now=NOW
    )
    assert report.written == 1
    assert "unknown_buyer" in alert_kinds(ledger)
    with ledger.unit_of_work() as s:
        assert s.scalar(select(BuyerRow.name)) == "Danube Kft"


def test_withdrawal_notice_and_unknown_code_raise_alerts(ledger: Ledger) -> None:
    items = [
        entry("1", decision("30000", pending=PendingAction.WITHDRAWAL_NOTICE)),
        entry("2", decision("0", status=CoverStatus.PENDING, unknown=("DC99",))),
    ]
    sync_limits(ledger, FakeInsurer(items=items), POLICY, now=NOW)
    kinds = alert_kinds(ledger)
    assert AlertKind.PENDING_WITHDRAWAL.value in kinds
    assert AlertKind.UNKNOWN_STATUS_CODE.value in kinds


def test_staging_keeps_raw_payloads_with_provenance(ledger: Ledger) -> None:
    from tci_gateway.ledger.tables import SyncStagingRow

    report = sync_limits(
        ledger, FakeInsurer(items=[entry("1", decision("10000"))]), POLICY, now=NOW
    )
    with ledger.unit_of_work() as s:
        row = s.scalars(select(SyncStagingRow)).one()
    assert (row.sync_run_id, row.source, row.external_id) == (report.run_id, "atradius", "1")
    assert row.payload == decision_to_json(decision("10000"))  # the record as fetched
    assert row.fetched_at == NOW and '"granted":"10000"' in row.normalised


def test_a_cover_missing_from_the_snapshot_is_flagged_not_dropped(ledger: Ledger) -> None:
    sync_limits(
        ledger,
        FakeInsurer(items=[entry("1", decision("10000")), entry("2", decision("5000"))]),
        POLICY,
        now=NOW,
    )
    report = sync_limits(
        ledger, FakeInsurer(items=[entry("1", decision("10000"))]), POLICY, now=NOW
    )
    assert report.written == 0
    assert "cover_missing" in alert_kinds(ledger)
    assert versions(ledger) == 2  # the limit is kept; a person checks with the insurer


def test_an_interrupted_run_is_marked_and_the_next_completes(ledger: Ledger) -> None:
    from tci_gateway.ledger.runs import start_sync_run

    with ledger.unit_of_work() as s:  # what a kill -9 during a run leaves behind
        from tci_gateway.ledger.policies import upsert_policies

        pid = upsert_policies(s, {POLICY.key: POLICY}, NOW)[POLICY.key]
        start_sync_run(s, insurer="atradius", policy_id=pid, business_date=NOW.date(), now=NOW)
    report = sync_limits(
        ledger, FakeInsurer(items=[entry("1", decision("10000"))]), POLICY, now=NOW
    )
    assert report.ok and report.written == 1
    with ledger.unit_of_work() as s:
        runs = list(s.execute(select(SyncRunRow.status, SyncRunRow.errors).order_by(SyncRunRow.id)))
    assert runs[0][0] == "failed" and "interrupted" in runs[0][1][0]
    assert runs[1][0] == "succeeded"


@pytest.mark.slow
def test_large_portfolio_reconciles_in_batches(ledger: Ledger) -> None:
    items = [entry(str(i), decision(str(1000 + i))) for i in range(2500)]
    first = sync_limits(ledger, FakeInsurer(items=list(items)), POLICY, now=NOW)
    assert (first.fetched, first.written) == (2500, 2500)
    again = sync_limits(ledger, FakeInsurer(items=list(items)), POLICY, now=NOW)
    assert (again.written, again.unchanged) == (0, 2500)
