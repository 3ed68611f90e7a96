"""The open-items import's set-based merge: what it must get right on both databases
(changes seen in SQL, the tracked dates, duplicates anywhere in the file, the unknown
account, a rerun that writes nothing)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tci_gateway.domain.policy import Policy
from tci_gateway.errors import InputError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import ImportRow, OpenItemRow
from tci_gateway.services.importing import import_buyers, import_open_items

from .conftest import NOW

HEADER = (
    "erp_account,document_number,kind,document_date,due_date,currency,amount,open_amount,disputed\n"
)
D1, D2, D3, D4 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 5)


@pytest.fixture
def led(ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]) -> Ledger:
    buyers = tmp_path / "buyers.csv"
    buyers.write_text("erp_account,name,country\nA1,Alpha GmbH,DE\nA2,Beta SARL,FR\n")
    import_buyers(ledger, buyers, policies=policies, now=NOW)
    return ledger


def row(number: str, open_amount: str = "100.00", disputed: str = "", account: str = "A1") -> str:
    return f"{account},{number},INVOICE,2026-10-01,2026-12-30,EUR,100.00,{open_amount},{disputed}\n"


def run(led: Ledger, tmp_path: Path, rows: list[str], day: date, **kw: Any) -> Any:
    path = tmp_path / f"items-{day}.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return import_open_items(led, path, now=NOW, today=day, **kw)


def stored(led: Ledger) -> dict[str, OpenItemRow]:
    with led.unit_of_work() as s:
        rows = s.scalars(select(OpenItemRow)).all()
        s.expunge_all()
    return {r.document_number: r for r in rows}


def written(report: Any) -> tuple[int, int, int]:
    return (report.inserted, report.updated, report.unchanged)


def test_a_change_only_in_disputed_or_open_amount_updates_and_dates_follow(
    led: Ledger, tmp_path: Path
) -> None:
    first = run(led, tmp_path, [row("I-1"), row("I-2"), row("I-3", "0", "true")], D1)
    assert written(first) == (3, 0, 0)
    items = stored(led)
    assert (items["I-1"].settled_on, items["I-1"].disputed_since) == (None, None)
    assert (items["I-3"].settled_on, items["I-3"].disputed_since) == (D1, D1)  # new: today

    disputed = run(
        led, tmp_path, [row("I-1", disputed="true"), row("I-2"), row("I-3", "0", "true")], D2
    )
    assert written(disputed) == (0, 1, 2)
    items = stored(led)
    assert (items["I-1"].disputed, items["I-1"].disputed_since) == (True, D2)
    assert items["I-1"].updated_at is not None and items["I-3"].settled_on == D1

    paid = run(
        led, tmp_path, [row("I-1", disputed="yes"), row("I-2", "0"), row("I-3", "0", "1")], D3
    )
    assert written(paid) == (0, 1, 2)  # I-1 still disputed: its date stays, nothing written
    items = stored(led)
    assert items["I-1"].disputed_since == D2
    assert (items["I-2"].open_amount, items["I-2"].settled_on) == (Decimal(0), D3)

    back = run(led, tmp_path, [row("I-1"), row("I-2", "40.00"), row("I-3", "0", "true")], D4)
    assert written(back) == (0, 2, 1)
    items = stored(led)
    assert (items["I-1"].disputed, items["I-1"].disputed_since) == (False, None)
    assert (items["I-2"].open_amount, items["I-2"].settled_on) == (Decimal("40.00"), None)
    assert (items["I-3"].settled_on, items["I-3"].disputed_since) == (D1, D1)


def test_an_unknown_date_stays_unknown(led: Ledger, tmp_path: Path) -> None:
    """An item settled and disputed before the ledger kept the dates keeps them NULL."""
    run(led, tmp_path, [row("I-1", "0", "true")], D1)
    with led.unit_of_work() as s:
        s.execute(update(OpenItemRow).values(settled_on=None, disputed_since=None))
    again = run(led, tmp_path, [row("I-1", "0", "true")], D2)
    assert written(again) == (0, 0, 1)
    item = stored(led)["I-1"]
    assert (item.settled_on, item.disputed_since) == (None, None)


def test_the_values_compared_are_every_stored_one(led: Ledger, tmp_path: Path) -> None:
    run(led, tmp_path, [row("I-1"), row("I-2"), row("I-3")], D1)
    later = [
        row("I-1").replace("2026-12-30", "2027-01-15"),  # due date only
        row("I-2").replace(",100.00,100.00,", ",100.01,100.00,"),  # amount only
        row("I-3"),
    ]
    assert written(run(led, tmp_path, later, D2)) == (0, 2, 1)
    assert written(run(led, tmp_path, later, D2, source="other")) == (0, 3, 0)  # the source
    assert {i.source for i in stored(led).values()} == {"other"}


def test_a_duplicate_across_the_old_chunk_boundary_names_its_first_row(
    led: Ledger, tmp_path: Path
) -> None:
    rows = [row(f"I-{n}") for n in range(2500)]
    rows[2300] = row("I-3")  # file row 2302 repeats file row 5, one old chunk (2,000) later
    rows[2400] = row("I-3")
    rows[2450] = row("I-7", account="A2")  # another account: not a duplicate
    rows[1000] = row("I-1000", "x")
    with pytest.raises(InputError) as info:
        run(led, tmp_path, rows, D1)
    found = [(e.row, e.column, e.reason) for e in info.value.errors]
    assert [(r, c) for r, c, _ in found] == [
        (1002, "open_amount"),
        (2302, "document_number"),
        (2402, "document_number"),
    ]
    assert found[1][2] == "document 'I-3' of account 'A1' appears twice (first at row 5)"
    assert stored(led) == {}


def test_an_unknown_account_anywhere_writes_nothing(led: Ledger, tmp_path: Path) -> None:
    rows = [row(f"I-{n}") for n in range(2100)] + [row("I-X", account="ZZ9")]
    with pytest.raises(InputError) as info:
        run(led, tmp_path, rows, D1)
    (error,) = info.value.errors
    assert (error.row, error.column, error.reason) == (
        2102,
        "erp_account",
        "unknown ERP account 'ZZ9': import it with the buyers file first",
    )
    assert stored(led) == {}
    with led.unit_of_work() as s:
        assert s.scalars(select(ImportRow).where(ImportRow.kind == "open_items")).all() == []


def test_a_rerun_writes_nothing(led: Ledger, tmp_path: Path) -> None:
    rows = [
        row(f"I-{n}", "0" if n % 3 == 0 else "50.00", "true" if n % 5 == 0 else "")
        for n in range(30)
    ]
    rows += [row("C-1", account="A2").replace("INVOICE", "CREDIT_NOTE")]
    first = run(led, tmp_path, rows, D1)
    before = {
        n: (i.updated_at, i.import_id, i.settled_on, i.disputed_since)
        for n, i in stored(led).items()
    }
    again = run(led, tmp_path, rows, D1 + timedelta(days=3))
    assert written(first) == (31, 0, 0) and written(again) == (0, 0, 31) and again.written == 0
    after = {
        n: (i.updated_at, i.import_id, i.settled_on, i.disputed_since)
        for n, i in stored(led).items()
    }
    assert after == before
    with led.unit_of_work() as s:
        last = s.scalars(select(ImportRow).order_by(ImportRow.id.desc())).first()
        assert last is not None and (last.rows, last.inserted, last.updated) == (31, 0, 0)


def test_progress_every_thousand_rows_and_at_the_end(led: Ledger, tmp_path: Path) -> None:
    seen: list[int] = []
    run(led, tmp_path, [row(f"I-{n}") for n in range(2500)], D1, progress=seen.append)
    assert seen == [1000, 2000, 2500]
