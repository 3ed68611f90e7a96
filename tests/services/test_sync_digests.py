"""The sync's short-cut: records compared by digest with the last run that staged the
whole portfolio, before anything is built (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import RecordError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import (
    AlertRow,
    CoverDecisionRow,
    LimitChangeRow,
    SyncRunRow,
    SyncStagingRow,
)
from tci_gateway.services import sync_stage
from tci_gateway.services.sync import BATCH, sync_limits

from ..erp.conftest import NOW, make_policy
from .fakes import FakeInsurer, decision, entry

POLICY: Policy = make_policy()
LATER = NOW + timedelta(days=1)


def portfolio(n: int, *, changed: dict[int, str] | None = None) -> FakeInsurer:
    """``n`` buyers, buyer ``i`` covered for ``1000 + i``, but those in ``changed``."""
    amounts = {i: str(1000 + i) for i in range(n)} | (changed or {})
    return FakeInsurer(items=[entry(str(i + 1), decision(amounts[i])) for i in range(n)])


def counts(ledger: Ledger) -> tuple[int, int, int]:
    """Versions, limit changes and alerts stored."""
    with ledger.unit_of_work() as s:
        return (
            s.scalar(select(func.count()).select_from(CoverDecisionRow)) or 0,
            s.scalar(select(func.count()).select_from(LimitChangeRow)) or 0,
            s.scalar(select(func.count()).select_from(AlertRow)) or 0,
        )


def staged(ledger: Ledger, run_id: int | None) -> int:
    with ledger.unit_of_work() as s:
        return (
            s.scalar(
                select(func.count())
                .select_from(SyncStagingRow)
                .where(SyncStagingRow.sync_run_id == run_id)
            )
            or 0
        )


def test_a_rerun_with_nothing_changed_writes_nothing_and_records_the_run(ledger: Ledger) -> None:
    n = BATCH + 500  # more than one page compared
    first = sync_limits(ledger, portfolio(n), POLICY, now=NOW)
    assert first.written == n
    before = counts(ledger)
    again = sync_limits(ledger, portfolio(n), POLICY, now=LATER)
    assert (again.status, again.fetched, again.written, again.unchanged) == ("succeeded", n, 0, n)
    assert counts(ledger) == before  # no version, no limit change, no alert
    assert staged(ledger, again.run_id) == 0  # nothing staged either
    with ledger.unit_of_work() as s:
        run = s.get_one(SyncRunRow, again.run_id)
        assert (run.status, run.fetched, run.written, run.unchanged, run.finished_at) == (
            "succeeded",
            n,
            0,
            n,
            LATER,
        )


def test_a_rerun_with_one_record_changed_writes_exactly_that_change(ledger: Ledger) -> None:
    n = BATCH + 500
    sync_limits(ledger, portfolio(n), POLICY, now=NOW)
    versions, changes, alerts = counts(ledger)
    again = sync_limits(ledger, portfolio(n, changed={BATCH + 10: "99000"}), POLICY, now=LATER)
    assert (again.fetched, again.written, again.unchanged, again.stale) == (n, 1, n - 1, 0)
    assert counts(ledger) == (versions + 1, changes + 1, alerts + 1)  # cover_increased
    with ledger.unit_of_work() as s:
        new = s.scalars(
            select(CoverDecisionRow).where(CoverDecisionRow.sync_run_id == again.run_id)
        ).one()
        assert new.granted_amount == 99000
        kinds = set(s.scalars(select(AlertRow.kind).where(AlertRow.sync_run_id == again.run_id)))
    assert kinds == {AlertKind.COVER_INCREASED.value}
    # the run staged its whole portfolio (the matching records copied from the first run's)
    assert staged(ledger, again.run_id) == n
    # and it is the baseline of the next run, which finds nothing changed
    third = sync_limits(ledger, portfolio(n, changed={BATCH + 10: "99000"}), POLICY, now=LATER)
    assert (third.written, third.unchanged) == (0, n)
    assert staged(ledger, third.run_id) == 0


def test_a_record_removed_still_raises_cover_missing(ledger: Ledger) -> None:
    sync_limits(ledger, portfolio(3), POLICY, now=NOW)
    fewer = FakeInsurer(items=portfolio(3).items[:2])  # the same records, the last removed
    report = sync_limits(ledger, fewer, POLICY, now=LATER)
    assert (report.fetched, report.written, report.unchanged, report.alerts) == (2, 0, 2, 1)
    with ledger.unit_of_work() as s:
        alert = s.scalars(select(AlertRow).where(AlertRow.sync_run_id == report.run_id)).one()
    assert alert.kind == AlertKind.COVER_MISSING.value and alert.buyer_id is not None
    # the same snapshot again: nothing changed, the alert is not raised twice
    again = sync_limits(ledger, FakeInsurer(items=portfolio(3).items[:2]), POLICY, now=LATER)
    assert (again.written, again.alerts) == (0, 0)
    assert staged(ledger, again.run_id) == 0


def test_a_cover_missing_is_found_without_a_change_too(ledger: Ledger) -> None:
    """The short-cut keeps the cover_missing check: a buyer the ledger holds that the
    unchanged snapshot never listed (here: covered by an earlier snapshot only)."""
    sync_limits(ledger, portfolio(3), POLICY, now=NOW)
    two = FakeInsurer(items=portfolio(3).items[:2])
    sync_limits(ledger, two, POLICY, now=NOW)
    with ledger.unit_of_work() as s:  # as if that alert had been dismissed and purged
        s.execute(AlertRow.__table__.delete())
    again = sync_limits(ledger, FakeInsurer(items=portfolio(3).items[:2]), POLICY, now=LATER)
    assert (again.written, again.unchanged, again.alerts) == (0, 2, 1)
    assert staged(ledger, again.run_id) == 0


def test_a_record_error_turns_the_short_cut_off(ledger: Ledger) -> None:
    sync_limits(ledger, portfolio(3), POLICY, now=NOW)
    items = [*portfolio(3).items, RecordError("atradius", 9, "cover", "unreadable")]
    report = sync_limits(ledger, FakeInsurer(items=items), POLICY, now=LATER)
    assert (report.status, report.written, report.unchanged) == ("partial", 0, 3)
    assert staged(ledger, report.run_id) == 3  # reconciled in full: the run is not the same


def test_records_are_compared_across_windows_of_the_baseline(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline's digests are read a window at a time: a difference after several
    windows is found at its position, what came before it is staged from the baseline."""
    monkeypatch.setattr(sync_stage, "WINDOW", 7)
    sync_limits(ledger, portfolio(30), POLICY, now=NOW)
    same = sync_limits(ledger, portfolio(30), POLICY, now=LATER)
    assert (same.written, same.unchanged, staged(ledger, same.run_id)) == (0, 30, 0)
    changed = sync_limits(ledger, portfolio(30, changed={17: "77000"}), POLICY, now=LATER)
    assert (changed.fetched, changed.written, changed.unchanged) == (30, 1, 29)
    assert staged(ledger, changed.run_id) == 30
    with ledger.unit_of_work() as s:
        positions = list(
            s.scalars(
                select(SyncStagingRow.position)
                .where(SyncStagingRow.sync_run_id == changed.run_id)
                .order_by(SyncStagingRow.position)
            )
        )
    assert positions == list(range(30))


def test_a_baseline_record_without_a_digest_turns_the_short_cut_off(ledger: Ledger) -> None:
    """A row staged before digests were kept compares unequal: the run is reconciled in
    full (finding nothing new), never taken as the same."""
    first = sync_limits(ledger, portfolio(5), POLICY, now=NOW)
    with ledger.unit_of_work() as s:
        s.execute(
            update(SyncStagingRow)
            .where(SyncStagingRow.sync_run_id == first.run_id, SyncStagingRow.position == 2)
            .values(digest=None)
        )
    again = sync_limits(ledger, portfolio(5), POLICY, now=LATER)
    assert (again.written, again.unchanged) == (0, 5)
    assert staged(ledger, again.run_id) == 5
