"""The sync's recorded ``cover_missing`` check (migration 0016): a rerun with the same
snapshot reads the buyers it found instead of walking the portfolio, judges them on its
own day, and walks again whenever an input of the check changed (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import OperationalError

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger import limits as limit_repo
from tci_gateway.ledger import unlisted
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import (
    AlertRow,
    BuyerIdentifierRow,
    CoverDecisionRow,
    PolicyRow,
    UnlistedBuyerRow,
    UnlistedCheckRow,
)
from tci_gateway.services import sync as sync_service
from tci_gateway.services.sync import sync_limits

from ..erp.conftest import NOW, make_policy
from .fakes import FakeInsurer, decision, entry

POLICY: Policy = make_policy()
TRIGGERS = {
    "unlisted_checks_id_added",
    "unlisted_checks_id_changed",
    "unlisted_checks_id_deleted",
    "unlisted_checks_version_changed",
}


def snapshot(*buyers: str, start: date = date(2026, 1, 1)) -> FakeInsurer:
    return FakeInsurer(items=[entry(b, decision("5000", start=start)) for b in buyers])


def check(ledger: Ledger) -> tuple[int | None, set[int]]:
    """The run whose snapshot the recorded check is of, and the buyers it found."""
    with ledger.unit_of_work() as s:
        listed_by = s.scalar(select(UnlistedCheckRow.listed_by))
        found = set(s.scalars(select(UnlistedBuyerRow.buyer_id)))
    return listed_by, found


def buyer_of(ledger: Ledger, insurer_id: str) -> int:
    with ledger.unit_of_work() as s:
        return s.scalars(
            select(BuyerIdentifierRow.buyer_id).where(BuyerIdentifierRow.value == insurer_id)
        ).one()


def missing_alerts(ledger: Ledger) -> list[int | None]:
    with ledger.unit_of_work() as s:
        kind = AlertRow.kind == AlertKind.COVER_MISSING.value
        return sorted(s.scalars(select(AlertRow.buyer_id).where(kind)), key=str)


def no_walk(*_: object, **__: object) -> list[int]:
    raise AssertionError("the portfolio was walked again")


def test_a_rerun_of_the_same_snapshot_reads_the_buyers_found(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_limits(ledger, snapshot("1", "2", "3"), POLICY, now=NOW)
    second = sync_limits(ledger, snapshot("1", "2"), POLICY, now=NOW)
    assert check(ledger) == (second.run_id, {buyer_of(ledger, "3")})
    assert missing_alerts(ledger) == [buyer_of(ledger, "3")]
    with ledger.unit_of_work() as s:  # as if the alert had been dismissed and purged
        s.execute(delete(AlertRow))
    monkeypatch.setattr(sync_service, "unlisted_buyers", no_walk)
    again = sync_limits(ledger, snapshot("1", "2"), POLICY, now=NOW + timedelta(days=1))
    assert (again.written, again.unchanged, again.alerts) == (0, 2, 1)
    assert missing_alerts(ledger) == [buyer_of(ledger, "3")]
    assert check(ledger) == (second.run_id, {buyer_of(ledger, "3")})


def test_a_buyer_found_is_judged_on_the_day_of_each_run(ledger: Ledger) -> None:
    """Buyer 3's cover starts in a week: unlisted, it has no limit in force yet, so no
    alert; the same snapshot a week later raises it (from the recorded buyers found)."""
    starts = NOW.date() + timedelta(days=7)
    three = FakeInsurer(
        items=[*snapshot("1", "2").items, entry("3", decision("5000", start=starts))]
    )
    sync_limits(ledger, three, POLICY, now=NOW)
    sync_limits(ledger, snapshot("1", "2"), POLICY, now=NOW)
    assert missing_alerts(ledger) == []
    again = sync_limits(ledger, snapshot("1", "2"), POLICY, now=NOW + timedelta(days=1))
    assert (again.written, again.alerts) == (0, 0)
    week = sync_limits(ledger, snapshot("1", "2"), POLICY, now=NOW + timedelta(days=8))
    assert (week.written, week.alerts) == (0, 1)
    assert missing_alerts(ledger) == [buyer_of(ledger, "3")]


def test_an_insurer_id_changed_makes_the_rerun_walk_again(ledger: Ledger) -> None:
    """Buyer 2's insurer id is changed (a relink in the ERP): the unchanged snapshot no
    longer lists it, which only a new walk can see."""
    sync_limits(ledger, snapshot("1", "2", "3"), POLICY, now=NOW)
    sync_limits(ledger, snapshot("1", "2"), POLICY, now=NOW)
    two = buyer_of(ledger, "2")
    with ledger.unit_of_work() as s:
        s.execute(
            update(BuyerIdentifierRow)
            .where(BuyerIdentifierRow.buyer_id == two)
            .values(value="2-relinked")
        )
    assert check(ledger)[0] is None  # the trigger deleted the check
    again = sync_limits(ledger, snapshot("1", "2"), POLICY, now=NOW + timedelta(days=1))
    # "2" is listed but names no buyer any more: a new buyer, and buyer 2 is missing
    assert again.written == 1
    assert two in missing_alerts(ledger)


def records_check(ledger: Ledger) -> int:
    """Sync a snapshot that leaves buyer 3 out; the policy's id."""
    sync_limits(ledger, snapshot("1", "2", "3"), POLICY, now=NOW)
    second = sync_limits(ledger, snapshot("1", "2"), POLICY, now=NOW)
    assert check(ledger)[0] == second.run_id
    with ledger.unit_of_work() as s:
        return s.scalars(select(PolicyRow.id)).one()


def test_what_changes_an_input_of_the_check_deletes_it(ledger: Ledger) -> None:
    policy_id = records_check(ledger)
    listed_by = check(ledger)[0]
    assert listed_by is not None
    one = buyer_of(ledger, "1")
    with ledger.unit_of_work() as s:  # another scheme's id is no input of the check
        s.execute(
            insert(BuyerIdentifierRow).values(buyer_id=one, scheme="LEI", issuer="", value="L1")
        )
    with ledger.unit_of_work() as s:  # an insurer id written again as it was
        s.execute(
            update(BuyerIdentifierRow)
            .where(BuyerIdentifierRow.buyer_id == one)
            .values(source="erp:again")
        )
    assert check(ledger)[0] == listed_by
    ident, versions = BuyerIdentifierRow, CoverDecisionRow
    changes = {
        "insurer id added": insert(ident).values(
            buyer_id=one, scheme="INSURER", issuer="other", value="X1"
        ),
        "insurer id changed": update(ident).where(ident.value == "X1").values(value="X2"),
        "insurer id deleted": delete(ident).where(ident.value == "X2"),
        "version changed": update(versions)
        .where(versions.buyer_id == one)
        .values(granted_amount=1),
        "version deleted": delete(versions).where(
            versions.buyer_id == one, versions.sync_run_id.is_(None)
        ),
    }
    with ledger.unit_of_work() as s:  # a version outside a sync, to delete
        row = s.scalars(select(versions).where(versions.buyer_id == one)).first()
        assert row is not None
        values = {c.key: getattr(row, c.key) for c in versions.__table__.columns}
        values.pop("id")
        s.execute(insert(versions).values({**values, "sync_run_id": None}))
    for change, statement in changes.items():
        with ledger.unit_of_work() as s:
            unlisted.forget(s, policy_id)
            unlisted.record(s, policy_id, listed_by)
        with ledger.unit_of_work() as s:
            s.execute(statement)
        assert check(ledger)[0] is None, change


def test_the_triggers_are_in_the_schema(ledger: Ledger) -> None:
    with ledger.unit_of_work() as s:
        if ledger.engine.dialect.name == "postgresql":
            names = s.scalars(
                text(
                    "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND NOT t.tgisinternal"
                )
            )
        else:
            names = s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        present = set(names)
    assert present >= TRIGGERS


def test_a_trigger_waits_for_the_limit_writers_lock(ledger: Ledger) -> None:
    """PostgreSQL: an insurer id changed while a sync checks (holding the limit writers'
    lock) waits for the sync to commit, then deletes what it recorded."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    records_check(ledger)
    relink = update(BuyerIdentifierRow).where(BuyerIdentifierRow.value == "1").values(value="1b")
    with ledger.unit_of_work() as checking:
        limit_repo.lock_writers(checking)  # as the sync's check holds it until it commits
        with pytest.raises(OperationalError, match="lock timeout"), ledger.unit_of_work() as s:
            s.execute(text("SET LOCAL lock_timeout = '50ms'"))
            s.execute(relink)
    assert check(ledger)[0] is not None
    with ledger.unit_of_work() as s:
        s.execute(relink)
    assert check(ledger)[0] is None
