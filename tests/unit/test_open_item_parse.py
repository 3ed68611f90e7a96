"""The open-items parser's fast path accepts exactly what the careful path accepts, with
the same values; every other row gets the careful path's errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tci_gateway.domain.receivables import ItemKind
from tci_gateway.erp import canonical
from tci_gateway.erp.canonical import parse_open_item, parse_open_item_row
from tci_gateway.erp.reader import RawRecord

FULLWIDTH = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in "2026-09-30")
CELLS: dict[str, list[Any]] = {
    "erp_account": ["A1", " A1 ", "", "Ä1", "A\t1", "x" * 65, "x" * 64, None],
    "document_number": ["INV-1", "", "  ", "N\x7f", "Nº 5", "d" * 65],
    "kind": ["INVOICE", "invoice", "Credit_Note", "PAYMENT", "BILL", "", "\u0131nvo\u0131ce"],
    "document_date": ["2026-10-01", "2026-13-01", "01/10/2026", "", " 2026-02-28 ", "2024-02-30"],
    "delivery_date": ["", "2026-09-30", "2026-9-30", None, FULLWIDTH],
    "due_date": ["2026-12-30", "", "2027-02-29", None],
    "disputed": ["", "true", "No", "Y", "maybe", None, "0"],
    "applies_to": ["", "INV-1", "a" * 65, "é"],
    "company_code": ["", "1000", "c" * 33, " 2000 "],
    "currency": ["EUR", "JPY", "KWD", "eur", "XYZ", ""],
    "amount": [
        *("100.00", "100", "0", "1e3", "-5", "1,000.00", "10.005", "007", "10.5"),
        *("1234567890123456", "123456789012345.5", " 9 ", "", Decimal("10.50"), 10, True),
    ],
    "open_amount": ["100.00", "0", "50", "100.001", "", "0.0", "200"],
}


@st.composite
def raw_rows(draw: st.DrawFn) -> RawRecord:
    values = {}
    for column, choices in CELLS.items():
        if draw(st.booleans()) or column in ("erp_account", "amount"):
            values[column] = draw(st.sampled_from(choices))
    return RawRecord(draw(st.integers(min_value=2, max_value=10**6)), values)


@settings(max_examples=1000, deadline=None)
@given(raw_rows())
def test_the_fast_path_agrees_with_the_careful_one(raw: RawRecord) -> None:
    careful = canonical._parse_open_item(raw, "f.csv")
    fast = canonical._fast_open_item(raw)
    if fast is not None:
        assert fast == careful
    assert parse_open_item_row(raw, "f.csv") == careful


def test_a_good_row_as_a_tuple_and_as_a_record() -> None:
    raw = RawRecord(
        7,
        {
            "erp_account": "A1",
            "document_number": "INV-1",
            "kind": "invoice",
            "document_date": "2026-10-01",
            "due_date": "2026-12-30",
            "currency": "EUR",
            "amount": "100.50",
            "open_amount": "20",
            "disputed": "yes",
            "company_code": "1000",
        },
    )
    parsed = parse_open_item_row(raw, "f.csv")
    assert parsed == (
        7,
        "A1",
        "INV-1",
        "INVOICE",
        "EUR",
        Decimal("100.50"),
        Decimal("20"),
        date(2026, 10, 1),
        date(2026, 10, 1),  # an invoice's delivery date defaults to its document date
        date(2026, 12, 30),
        True,
        None,
        "1000",
    )
    record = parse_open_item(raw, "f.csv")
    assert not isinstance(record, list)
    assert (record.row, record.company_code, record.item.kind) == (7, "1000", ItemKind.INVOICE)
    assert record.item.open_amount.amount == Decimal("20")


def test_an_amount_too_large_for_the_ledger_is_a_row_error() -> None:
    values = {
        "erp_account": "A1",
        "document_number": "INV-1",
        "kind": "PAYMENT",
        "document_date": "2026-10-01",
        "currency": "EUR",
        "amount": "1234567890123456",
        "open_amount": "1",
    }
    errors = parse_open_item_row(RawRecord(3, values), "f.csv")
    assert isinstance(errors, list)
    assert [(e.row, e.column) for e in errors] == [(3, "amount")]
    assert "more than 15 digits before the point" in errors[0].reason
