"""Open-items import: strict parsing, all-or-nothing, idempotent upsert."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tci_gateway.domain.policy import Policy
from tci_gateway.errors import InputError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import OpenItemRow
from tci_gateway.services.importing import import_buyers, import_open_items

from .conftest import NOW

HEADER = (
    "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
    "amount,open_amount,disputed,applies_to\n"
)
GOOD = "A1,INV-1,INVOICE,2026-10-01,2026-09-30,2026-12-30,EUR,1000.00,1000.00,false,\n"


@pytest.fixture
def with_accounts(ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]) -> Ledger:
    buyers = tmp_path / "buyers.csv"
    buyers.write_text(
        "erp_account,name,country\nA1,Alpha GmbH,DE\nA2,Beta SARL,FR\n", encoding="utf-8"
    )
    import_buyers(ledger, buyers, policies=policies, now=NOW)
    return ledger


def write(tmp_path: Path, body: str, name: str = "items.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_bytes((header + body).encode("utf-8") if isinstance(body, str) else body)
    return path


def item_count(ledger: Ledger) -> int:
    with ledger.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(OpenItemRow)) or 0


def test_import_then_reimport_changes_nothing_then_updates(
    with_accounts: Ledger, tmp_path: Path
) -> None:
    body = (
        GOOD
        + "A1,CN-1,CREDIT_NOTE,2026-10-05,,,EUR,100.00,100.00,,INV-1\n"
        + "A2,PAY-1,payment,2026-10-06,,,EUR,50,50,no,\n"
    )
    first = import_open_items(with_accounts, write(tmp_path, body), now=NOW)
    assert (first.rows, first.inserted, first.updated, first.unchanged) == (3, 3, 0, 0)
    again = import_open_items(with_accounts, write(tmp_path, body), now=NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    later = body.replace("1000.00,1000.00,false", "1000.00,400.00,true")
    third = import_open_items(with_accounts, write(tmp_path, later), now=NOW)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 2)
    with with_accounts.unit_of_work() as s:
        row = s.scalars(select(OpenItemRow).where(OpenItemRow.document_number == "INV-1")).one()
        assert row.open_amount == Decimal("400.00") and row.disputed is True
        assert isinstance(row.open_amount, Decimal)


BAD_ROWS = [
    (
        "A1,INV-2,INVOICE,2026-13-01,,2026-12-30,EUR,10.00,10.00,,\n",
        "document_date",
        "calendar date",
    ),
    ("A1,INV-2,INVOICE,01/10/2026,,2026-12-30,EUR,10.00,10.00,,\n", "document_date", "YYYY-MM-DD"),
    ("A1,INV-2,INVOICE,2026-10-01,,2026-12-30,EUR,1e3,1e3,,\n", "amount", "plain decimal"),
    ("A1,INV-2,INVOICE,2026-10-01,,2026-12-30,EUR,10.005,10.00,,\n", "amount", "decimal places"),
    ('A1,INV-2,INVOICE,2026-10-01,,2026-12-30,EUR,"1,000.00",10.00,,\n', "amount", "thousands"),
    ("A1,INV-2,INVOICE,2026-10-01,,2026-12-30,EUR,-5.00,0,,\n", "amount", "negative"),
    ("A1,INV-2,INVOICE,2026-10-01,,2026-12-30,XYZ,10.00,10.00,,\n", "currency", "unknown currency"),
    ("A1,INV-2,INVOICE,2026-10-01,,2026-12-30,EUR,10.00,20.00,,\n", "open_amount", "more than"),
    ("A1,INV-2,BILL,2026-10-01,,2026-12-30,EUR,10.00,10.00,,\n", "kind", "not one of"),
    ("A1,INV-2,INVOICE,2026-10-01,,,EUR,10.00,10.00,,\n", "due_date", "empty"),
    (
        "A1,INV-2,INVOICE,2026-10-01,,2026-12-30,EUR,10.00,10.00,maybe,\n",
        "disputed",
        "true or false",
    ),
    (
        "ZZ9,INV-2,INVOICE,2026-10-01,,2026-12-30,EUR,10.00,10.00,,\n",
        "erp_account",
        "unknown ERP account",
    ),
    ("A1,INV-1,INVOICE,2026-10-01,,2026-12-30,EUR,10.00,10.00,,\n", "document_number", "twice"),
    ("A1,INV-2,INVOICE,2026-10-01,,2026-12-30,JPY,10.5,10.5,,\n", "amount", "decimal places"),
]


@pytest.mark.parametrize(("body", "column", "reason"), BAD_ROWS)
def test_bad_rows_refuse_the_whole_file(
    with_accounts: Ledger, tmp_path: Path, body: str, column: str, reason: str
) -> None:
    path = write(tmp_path, GOOD + body)
    with pytest.raises(InputError) as info:
        import_open_items(with_accounts, path, now=NOW)
    assert any(
        e.source == str(path) and e.row == 3 and e.column == column and reason in e.reason
        for e in info.value.errors
    ), info.value.errors
    assert item_count(with_accounts) == 0


def test_not_utf8_is_refused_with_its_row(with_accounts: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        HEADER.encode()
        + GOOD.encode()
        + "A1,FACTÜRE-2,INVOICE,2026-10-01,,2026-12-30,EUR,10.00,10.00,,\n".encode("latin-1")
    )
    with pytest.raises(InputError) as info:
        import_open_items(with_accounts, path, now=NOW)
    (error,) = info.value.errors
    assert error.row == 3 and "not UTF-8" in error.reason
    assert item_count(with_accounts) == 0


def test_bom_is_tolerated(with_accounts: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + GOOD).encode())
    assert import_open_items(with_accounts, path, now=NOW).inserted == 1


def test_wrong_columns_and_field_count(with_accounts: Ledger, tmp_path: Path) -> None:
    path = write(tmp_path, "A1,INV-1\n", header="erp_account,document_number,amount_eur\n")
    with pytest.raises(InputError) as info:
        import_open_items(with_accounts, path, now=NOW)
    columns = {e.column for e in info.value.errors if e.row == 1}
    assert {"amount_eur", "kind", "currency", "open_amount", "document_date"} <= columns
    short = write(tmp_path, GOOD + "A1,INV-2,INVOICE\n", name="short.csv")
    with pytest.raises(InputError) as info2:
        import_open_items(with_accounts, short, now=NOW)
    assert info2.value.errors[0].row == 3 and "fields" in info2.value.errors[0].reason


def test_unmatched_quote_does_not_swallow_the_file(with_accounts: Ledger, tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD + 'A1,"INV-2,INVOICE,2026-10-01,,2026-12-30,EUR,10.00,10.00,,\n' + GOOD
    )
    with pytest.raises(InputError):
        import_open_items(with_accounts, path, now=NOW)
    assert item_count(with_accounts) == 0


def test_json_open_items_with_exact_numbers(with_accounts: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(
        '{"open_items": [{"erp_account": "A1", "document_number": "INV-9", "kind": "INVOICE", '
        '"document_date": "2026-10-01", "due_date": "2026-12-01", "currency": "EUR", '
        '"amount": 1234.56, "open_amount": "1000.10", "disputed": true}]}',
        encoding="utf-8",
    )
    assert import_open_items(with_accounts, path, now=NOW).inserted == 1
    with with_accounts.unit_of_work() as s:
        row = s.scalars(select(OpenItemRow)).one()
    assert (row.amount, row.open_amount, row.disputed) == (
        Decimal("1234.56"),
        Decimal("1000.10"),
        True,
    )
    path.write_text('[{"erp_account": "A1"}]', encoding="utf-8")
    with pytest.raises(InputError) as info:
        import_open_items(with_accounts, path, now=NOW)
    assert {e.column for e in info.value.errors} >= {"kind", "currency"}


def test_a_duplicate_far_from_its_first_row_is_found_with_that_row(
    with_accounts: Ledger, tmp_path: Path
) -> None:
    rows = [GOOD.replace("INV-1", f"INV-{n}") for n in range(1, 8)]
    rows.append(GOOD.replace("INV-1", "INV-2"))  # row 9 repeats row 3, two chunks later
    path = write(tmp_path, "".join(rows))
    with pytest.raises(InputError) as info:
        import_open_items(with_accounts, path, now=NOW)
    (error,) = info.value.errors
    assert (error.row, error.column) == (
        9,
        "document_number",
    ) and "document 'INV-2' of account 'A1' appears twice (first at row 3)" in error.reason
    assert item_count(with_accounts) == 0
    unique = write(tmp_path, "".join(rows[:-1]), name="unique.csv")
    assert import_open_items(with_accounts, unique, now=NOW).inserted == 7
    again = import_open_items(
        with_accounts, unique, now=NOW
    )  # re-import: unchanged, no false duplicate
    assert (again.unchanged, again.inserted, again.updated) == (7, 0, 0)


def test_a_large_first_import_into_a_table_analysed_empty(
    with_accounts: Ledger, tmp_path: Path
) -> None:
    """PostgreSQL: statistics taken while ``open_items`` was empty would plan the new
    keys' anti-join as a scan per row; the import finds the new keys before inserting
    them and refreshes the statistics after a large insert."""
    if with_accounts.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL statistics")
    with with_accounts.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE open_items")
    rows = 12_000
    body = "".join(
        f"A{1 + i % 2},INV-{i},INVOICE,2026-10-01,,2026-12-30,EUR,10.00,10.00,false,\n"
        for i in range(rows)
    )
    first = import_open_items(with_accounts, write(tmp_path, body), now=NOW)
    assert (first.inserted, first.updated) == (rows, 0)
    with with_accounts.engine.connect() as conn:
        known = conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'open_items'::regclass"
        ).scalar()
    assert known is not None and known >= rows * 0.9  # analysed by the import itself
    more = body + "A1,INV-NEW,INVOICE,2026-10-01,,2026-12-30,EUR,5.00,5.00,false,\n"
    again = import_open_items(with_accounts, write(tmp_path, more), now=NOW)
    assert (again.inserted, again.updated, again.unchanged) == (1, 0, rows)
    assert item_count(with_accounts) == rows + 1
