"""The business date each policy's limits are rolled through (``limit_rolls``, migration
0014), on SQLite and PostgreSQL: a roll of a day already rolled reads no limit and no
cover history; whatever changes the limits' inputs outside the limit writers (a version
recorded outside a sync run, a version or tranche changed or deleted, a stored limit
deleted, the policy's terms) clears the record, so the next roll reads everything again;
a roll killed half-way leaves the record as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.exc import OperationalError

from tci_gateway.crashpoints import ENV as CRASH_AT
from tci_gateway.ledger import limits as limit_repo
from tci_gateway.ledger.covers import add_version
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import (
    limits_rolled,
    mark_limits_rolled,
    policy_ids,
    upsert_policies,
)
from tci_gateway.ledger.runs import start_sync_run
from tci_gateway.ledger.tables import CoverDecisionRow, CoverTrancheRow, LimitInForceRow
from tci_gateway.services.export import export_limits
from tci_gateway.services.importing import import_buyers
from tci_gateway.services.limits import roll_limits
from tci_gateway.services.sync import sync_limits

from ..erp.conftest import make_policy
from .fakes import FakeInsurer, decision, entry

POLICY = make_policy()
POLICIES = {"main": POLICY}
OTHER = {"other": make_policy("other", "coface")}
DAY0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)  # business date 2026-11-29 in Paris


def day(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


def business(n: int) -> date:
    return POLICY.terms.business_date(day(n))


@pytest.fixture
def buyers(ledger: Ledger, tmp_path: Path) -> Ledger:
    (tmp_path / "b.csv").write_text(
        "erp_account,name,country,vat,insurer_ids\n"
        "A1,Alpha GmbH,DE,,atradius:1\n"
        "B1,Beta Ltd,GB,,atradius:2\n"
        "C1,Gamma SA,FR,,atradius:3\n",
        encoding="utf-8",
    )
    import_buyers(ledger, tmp_path / "b.csv", policies=POLICIES, now=DAY0)
    return ledger


def sync(ledger: Ledger, now: datetime, *entries: Any) -> None:
    report = sync_limits(ledger, FakeInsurer(items=list(entries)), POLICY, now=now)
    assert report.ok, report.errors


def rolled(ledger: Ledger) -> dict[str, date]:
    """The date each policy (by key) is rolled through."""
    with ledger.reading() as s:
        ids, through = policy_ids(s), limits_rolled(s)
    return {key: through[pid] for key, pid in ids.items() if pid in through}


def stored(ledger: Ledger) -> dict[int, tuple[Decimal, date]]:
    """The stored limits of the main policy: amount and business date, by buyer."""
    with ledger.reading() as s:
        pid = policy_ids(s)["main"]
        rows = s.execute(
            select(LimitInForceRow.buyer_id, LimitInForceRow.amount, LimitInForceRow.business_date)
            .where(LimitInForceRow.policy_id == pid)
        )  # fmt: skip
        return {b: (amount, on) for b, amount, on in rows}


@contextmanager
def statements(ledger: Ledger) -> Iterator[list[str]]:
    """The SQL statements the ledger runs inside the block."""
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(ledger.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(ledger.engine, "before_cursor_execute", record)


def three_covers(ledger: Ledger) -> None:
    sync(ledger, day(0), *(entry(str(n), decision(f"{n}0000", ref=f"X{n}")) for n in (1, 2, 3)))


def test_a_roll_of_a_day_already_rolled_reads_no_limit_nor_history(buyers: Ledger) -> None:
    three_covers(buyers)
    assert rolled(buyers) == {}  # the sync computed its buyers; no roll yet
    first = roll_limits(buyers, POLICIES, day(1))
    assert first.computed == {"main": 3} and first.total_changed == 0
    assert rolled(buyers) == {"main": business(1)}
    with statements(buyers) as seen:
        again = roll_limits(buyers, POLICIES, day(1))
    assert again.computed == {"main": 0} and again.changed == {"main": 0}
    assert again.business_dates == {"main": business(1)}
    assert seen, "the roll read its record"
    read = " ".join(seen)
    for table in ("limits_in_force", "cover_decisions", "cover_tranches", "limit_changes"):
        assert table not in read
    assert rolled(buyers) == {"main": business(1)}
    assert {on for _, on in stored(buyers).values()} == {business(1)}


def test_a_version_recorded_outside_a_sync_is_rolled_the_next_time(buyers: Ledger) -> None:
    sync(buyers, day(0), *(entry(str(n), decision(f"{n}0000", ref=f"X{n}")) for n in (1, 2)))
    full = export_limits(buyers, POLICIES, now=day(0))
    assert rolled(buyers) == {"main": business(0)}
    ids = {r.buyer_name: r.buyer_id for r in full.rows}
    assert [r.status for r in full.rows if r.buyer_name == "Gamma SA"] == ["NO_COVER"]

    def by_hand(buyer: int, amount: str) -> None:  # no sync run: no refresh
        with buyers.unit_of_work() as s:
            add_version(
                s,
                policy_id=policy_ids(s)["main"],
                buyer_id=buyer,
                decision=decision(amount, ref=f"H{buyer}", start=date(2026, 6, 1)),
                recorded_at=day(0),
                sync_run_id=None,
            )

    by_hand(ids["Gamma SA"], "30000")  # a first version: no stored limit
    assert rolled(buyers) == {}
    same_day = export_limits(buyers, POLICIES, now=day(0), changed_since=full.cursor)
    assert [(r.buyer_name, r.covered_amount) for r in same_day.rows] == [
        ("Gamma SA", Decimal("30000.00"))
    ]
    assert same_day.rolled == 1 and rolled(buyers) == {"main": business(0)}
    by_hand(ids["Alpha GmbH"], "60000")  # a later version of a stored limit
    assert rolled(buyers) == {}
    next_day = export_limits(buyers, POLICIES, now=day(1), changed_since=same_day.cursor)
    assert [(r.buyer_name, r.covered_amount) for r in next_day.rows] == [
        ("Alpha GmbH", Decimal("60000.00"))
    ]
    assert rolled(buyers) == {"main": business(1)}
    assert roll_limits(buyers, POLICIES, day(1)).computed == {"main": 0}


def test_a_sync_keeps_the_record_of_its_own_day_and_clears_another(buyers: Ledger) -> None:
    sync(buyers, day(0), entry("1", decision("10000", ref="X1")))
    full = export_limits(buyers, POLICIES, now=day(0))
    assert rolled(buyers) == {"main": business(0)}
    later = day(0) + timedelta(hours=3)
    sync(buyers, later, entry("1", decision("10000", ref="X1")), entry("2", decision("5000")))
    assert rolled(buyers) == {"main": business(0)}  # the sync computed what it wrote
    changed = export_limits(buyers, POLICIES, now=later, changed_since=full.cursor)
    assert [(r.buyer_name, r.covered_amount) for r in changed.rows] == [
        ("Beta Ltd", Decimal("5000.00"))
    ]
    assert changed.rolled == 0
    sync(buyers, day(1), entry("2", decision("7000", ref="C1", start=date(2026, 6, 1))))
    assert rolled(buyers) == {}  # a limit of 30 Nov among limits of 29 Nov
    back = roll_limits(buyers, POLICIES, day(0))  # the 29th again: Beta's limit is of the 30th
    assert back.computed == {"main": 1}
    assert stored(buyers)[changed.rows[0].buyer_id] == (Decimal("7000"), business(0))
    assert rolled(buyers) == {"main": business(0)}


def test_whatever_changes_a_limits_input_outside_the_writers_clears_the_record(
    buyers: Ledger,
) -> None:
    three_covers(buyers)
    with buyers.unit_of_work() as s:
        upsert_policies(s, OTHER, DAY0)
    roll_limits(buyers, {**POLICIES, **OTHER}, day(0))
    marked = {"main": business(0), "other": business(0)}
    assert rolled(buyers) == marked
    with buyers.reading() as s:
        pid = policy_ids(s)["main"]
        first = s.scalar(select(func.min(CoverDecisionRow.id)))

    def after(change: Any) -> dict[str, date]:
        with buyers.unit_of_work() as s:
            mark_limits_rolled(s, pid, business(0))
        with buyers.unit_of_work() as s:
            change(s)
        return rolled(buyers)

    def version(s: Any, run: int | None) -> int:
        return add_version(
            s,
            policy_id=pid,
            buyer_id=1,
            decision=decision("1", ref="Z9"),
            recorded_at=DAY0,
            sync_run_id=run,
        )

    def by_a_sync_run(s: Any) -> None:
        run = start_sync_run(s, insurer="atradius", policy_id=pid, business_date=business(0),
                             now=DAY0)  # fmt: skip
        version(s, run)

    # a sync run's versions are refreshed in its own transaction (refresh_after_sync)
    assert after(by_a_sync_run) == marked
    unmarked = {"other": business(0)}
    assert after(lambda s: version(s, None)) == unmarked
    assert (
        after(
            lambda s: s.execute(
                update(CoverDecisionRow)
                .where(CoverDecisionRow.id == first)
                .values(status="REFUSED")
            )
        )
        == unmarked
    )
    tranche = CoverTrancheRow.decision_id == first
    assert (
        after(lambda s: s.execute(update(CoverTrancheRow).where(tranche).values(amount=Decimal(5))))
        == unmarked
    )
    assert after(lambda s: s.execute(delete(CoverTrancheRow).where(tranche))) == unmarked
    newest = CoverDecisionRow.id == select(func.max(CoverDecisionRow.id)).scalar_subquery()
    assert after(lambda s: s.execute(delete(CoverTrancheRow).where(
        CoverTrancheRow.decision_id == select(func.max(CoverDecisionRow.id)).scalar_subquery()
    ))) == unmarked  # fmt: skip
    assert after(lambda s: s.execute(delete(CoverDecisionRow).where(newest))) == unmarked
    assert (
        after(lambda s: s.execute(delete(LimitInForceRow).where(LimitInForceRow.buyer_id == 2)))
        == unmarked
    )
    changed_terms = {"main": make_policy("main", "atradius", "USD")}
    assert after(lambda s: upsert_policies(s, changed_terms, DAY0)) == unmarked
    assert after(lambda s: upsert_policies(s, changed_terms, DAY0)) == marked  # unchanged


def test_a_roll_from_an_earlier_rolled_day_walks_only_the_stored_limits(
    buyers: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_covers(buyers)
    walks: list[int] = []
    unstored = limit_repo._unstored

    def counted(session: Any, policy_id: int, size: int) -> Iterator[int]:
        walks.append(policy_id)
        return unstored(session, policy_id, size)

    monkeypatch.setattr(limit_repo, "_unstored", counted)
    assert roll_limits(buyers, POLICIES, day(0)).computed == {"main": 0}
    assert len(walks) == 1  # not rolled yet: every cover history read
    assert roll_limits(buyers, POLICIES, day(1)).computed == {"main": 3}
    assert len(walks) == 1  # rolled through the 29th: every history has a stored limit
    with buyers.unit_of_work() as s:  # e.g. a buyer merge: computed again from its history
        s.execute(delete(LimitInForceRow).where(LimitInForceRow.buyer_id == 2))
    assert roll_limits(buyers, POLICIES, day(2)).computed == {"main": 3}
    assert len(walks) == 2
    assert set(stored(buyers)) == {1, 2, 3}


_CHILD = """
import sys
from datetime import datetime
from tci_gateway.ledger import limits as limit_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.services.limits import roll_limits
from tests.erp.conftest import make_policy
limit_repo.PAGE = 1
ledger, now = Ledger.from_url(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
roll_limits(ledger, {"main": make_policy()}, now)
"""
REPO = Path(__file__).resolve().parents[2]


def test_a_roll_killed_half_way_leaves_the_record_as_it_was(
    database_url: str, buyers: Ledger
) -> None:
    three_covers(buyers)
    roll_limits(buyers, POLICIES, day(0))
    before = stored(buyers)
    assert {on for _, on in before.values()} == {business(0)}
    killed = subprocess.run(
        [sys.executable, "-c", _CHILD, database_url, day(1).isoformat()],
        cwd=REPO,
        env={**os.environ, CRASH_AT: "limits_roll_after_page"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr.decode()
    assert rolled(buyers) == {"main": business(0)}  # not the 30th: the roll did not finish
    assert stored(buyers) == before  # its first page rolled back with it
    again = roll_limits(buyers, POLICIES, day(1))
    assert again.computed == {"main": 3}
    assert rolled(buyers) == {"main": business(1)}
    assert {on for _, on in stored(buyers).values()} == {business(1)}


def test_a_trigger_waits_for_the_limit_writers_lock(buyers: Ledger) -> None:
    """PostgreSQL: what clears the record outside the writers takes their lock first, so
    a roll in progress commits before (its record then cleared), never after."""
    if buyers.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    three_covers(buyers)
    roll_limits(buyers, POLICIES, day(0))
    gone = delete(LimitInForceRow).where(LimitInForceRow.buyer_id == 2)
    with buyers.unit_of_work() as rolling:
        limit_repo.lock_writers(rolling)  # as a roll holds it until it commits
        with pytest.raises(OperationalError, match="lock timeout"), buyers.unit_of_work() as s:
            s.execute(text("SET LOCAL lock_timeout = '50ms'"))
            s.execute(gone)
        assert rolled(buyers) == {"main": business(0)}
    with buyers.unit_of_work() as s:
        s.execute(gone)
    assert rolled(buyers) == {}
