"""Complete open-items exports on SQLite and PostgreSQL: items of the file's scope it no
longer lists are closed (never deleted) in the import's own transaction, come back open
when listed again, and a guard refuses a file that lists nothing or closes too much."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tci_gateway.domain.policy import Policy
from tci_gateway.erp.profiles import ErpProfile
from tci_gateway.errors import ConfigError, InputError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import ImportRow, OpenItemRow
from tci_gateway.services import importing
from tci_gateway.services.complete_import import MassCloseError
from tci_gateway.services.importing import import_buyers, import_open_items

from .conftest import NOW

HEADER = "erp_account,document_number,kind,document_date,due_date,currency,amount,open_amount\n"
TODAY = date(2026, 11, 29)


def line(account: str, number: str, amount: str = "100.00", kind: str = "INVOICE") -> str:
    due = "2026-12-30" if kind == "INVOICE" else ""
    return f"{account},{number},{kind},2026-10-01,{due},EUR,{amount},{amount}\n"


def write(tmp_path: Path, lines: list[str], name: str = "items.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def led(ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]) -> Ledger:
    buyers = tmp_path / "buyers.csv"
    buyers.write_text(
        "erp_account,name,country\nA1,Alpha GmbH,DE\nA2,Beta SARL,FR\nA3,Gamma BV,NL\n",
        encoding="utf-8",
    )
    import_buyers(ledger, buyers, policies=policies, now=NOW)
    return ledger


def items(ledger: Ledger) -> dict[str, dict[str, Any]]:
    """Every stored item by document number."""
    with ledger.unit_of_work() as s:
        return {
            r.document_number: {
                "open": r.open_amount,
                "amount": r.amount,
                "source": r.source,
                "company_code": r.company_code,
                "closed_on": r.closed_on,
                "closed_import_id": r.closed_import_id,
            }
            for r in s.scalars(select(OpenItemRow))
        }


def import_count(ledger: Ledger) -> int:
    with ledger.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(ImportRow)) or 0


def ten(prefix: str = "INV", account: str = "A1") -> list[str]:
    return [line(account, f"{prefix}-{n}", f"{100 + n}.00") for n in range(10)]


def counts(report: importing.ImportReport) -> tuple[int, int, int, int]:
    return report.inserted, report.updated, report.unchanged, report.closed


def test_absent_items_close_in_the_same_import_and_the_rerun_writes_nothing(
    led: Ledger, tmp_path: Path
) -> None:
    first = import_open_items(led, write(tmp_path, ten()), now=NOW)
    assert counts(first) == (10, 0, 0, 0) and first.item_source == "default"
    export = [*ten()[:7], line("A1", "INV-10", "55.50")]  # INV-7..9 paid, INV-10 new
    path = write(tmp_path, export, "export.csv")
    report = import_open_items(led, path, now=NOW, complete=True, today=TODAY)
    assert counts(report) == (1, 0, 7, 3) and report.complete
    stored = items(led)
    assert len(stored) == 11  # closed items are kept, never deleted
    with led.unit_of_work() as s:
        last = s.scalars(select(ImportRow).order_by(ImportRow.id.desc())).first()
        assert last is not None and (last.closed, last.inserted, last.unchanged) == (3, 1, 7)
    for number in ("INV-7", "INV-8", "INV-9"):
        assert stored[number]["open"] == 0
        assert stored[number]["amount"] == Decimal(f"{100 + int(number[-1])}.00")
        assert (stored[number]["closed_on"], stored[number]["closed_import_id"]) == (
            TODAY,
            last.id,
        )
    assert stored["INV-0"]["open"] == Decimal("100.00") and stored["INV-0"]["closed_on"] is None

    again = import_open_items(led, path, now=NOW, complete=True, today=TODAY)
    assert counts(again) == (0, 0, 8, 0)
    assert items(led) == stored


def test_an_item_listed_again_reopens_with_the_files_amount(led: Ledger, tmp_path: Path) -> None:
    import_open_items(led, write(tmp_path, ten()), now=NOW)
    import_open_items(led, write(tmp_path, ten()[1:], "b.csv"), now=NOW, complete=True)
    assert items(led)["INV-0"]["open"] == 0
    back = [line("A1", "INV-0", "100.00").replace(",100.00\n", ",40.00\n"), *ten()[1:]]
    report = import_open_items(led, write(tmp_path, back, "c.csv"), now=NOW, complete=True)
    assert counts(report) == (0, 1, 9, 0)
    reopened = items(led)["INV-0"]
    assert reopened["open"] == Decimal("40.00")
    assert (reopened["closed_on"], reopened["closed_import_id"]) == (None, None)


def test_a_plain_import_never_closes(led: Ledger, tmp_path: Path) -> None:
    import_open_items(led, write(tmp_path, ten()), now=NOW)
    report = import_open_items(led, write(tmp_path, ten()[:1], "b.csv"), now=NOW)
    assert report.closed == 0 and not report.complete
    assert all(i["open"] > 0 for i in items(led).values())


def test_the_guard_refuses_a_mass_close_and_writes_nothing(led: Ledger, tmp_path: Path) -> None:
    import_open_items(led, write(tmp_path, ten()), now=NOW)
    before, imports = items(led), import_count(led)
    # 4 of 10 absent (40 %), one listed item changed: nothing of it may be written.
    changed = [ten()[0].replace("100.00,100.00", "100.00,10.00"), *ten()[1:6]]
    path = write(tmp_path, changed, "export.csv")
    with pytest.raises(MassCloseError) as info:
        import_open_items(led, path, now=NOW, complete=True)
    message = str(info.value)
    assert "would close 4 of the 10 open items of source 'default'" in message
    assert "40.0 %, more than the 30 % allowed" in message and "--allow-mass-close" in message
    assert "\n" not in message
    assert isinstance(info.value, InputError)
    assert items(led) == before and import_count(led) == imports

    # A higher configured share, or --allow-mass-close, lets it through.
    report = import_open_items(led, path, now=NOW, complete=True, max_close_share=Decimal("0.4"))
    assert counts(report) == (0, 1, 5, 4)


def test_allow_mass_close_and_the_share_boundary(led: Ledger, tmp_path: Path) -> None:
    import_open_items(led, write(tmp_path, ten()), now=NOW)
    three_absent = write(tmp_path, ten()[:7], "b.csv")  # exactly 30 %: allowed
    assert import_open_items(led, three_absent, now=NOW, complete=True).closed == 3
    one_listed = write(tmp_path, ten()[:1], "c.csv")  # 6 of 7 open
    with pytest.raises(MassCloseError, match="would close 6 of the 7 open items"):
        import_open_items(led, one_listed, now=NOW, complete=True)
    report = import_open_items(led, one_listed, now=NOW, complete=True, allow_mass_close=True)
    assert report.closed == 6
    assert [n for n, i in items(led).items() if i["open"] > 0] == ["INV-0"]


@pytest.mark.parametrize("body", ["", "\n\n"])
def test_an_empty_or_header_only_complete_file_is_refused(
    led: Ledger, tmp_path: Path, body: str
) -> None:
    import_open_items(led, write(tmp_path, ten()), now=NOW)
    empty = write(tmp_path, [body], "empty.csv")
    with pytest.raises(MassCloseError) as info:
        import_open_items(led, empty, now=NOW, complete=True, max_close_share=Decimal(1))
    assert "lists no items; it would close 10 of the 10 open items" in str(info.value)
    assert all(i["open"] > 0 for i in items(led).values())
    report = import_open_items(led, empty, now=NOW, complete=True, allow_mass_close=True)
    assert (report.rows, report.closed) == (0, 10)


def test_a_file_of_new_items_does_not_dilute_the_guard(led: Ledger, tmp_path: Path) -> None:
    """Share of the items open BEFORE the import: the wrong export (every old item absent,
    many new ones) is refused however many new items it brings."""
    import_open_items(led, write(tmp_path, ten()), now=NOW)
    wrong = [line("A2", f"X-{n}") for n in range(50)]
    with pytest.raises(MassCloseError, match="would close 10 of the 10 open items"):
        import_open_items(led, write(tmp_path, wrong, "wrong.csv"), now=NOW, complete=True)


def test_two_sources_never_close_each_others_items(led: Ledger, tmp_path: Path) -> None:
    sap = write(tmp_path, ten("SAP"), "sap.csv")
    odoo = write(tmp_path, ten("ODOO", "A2"), "odoo.csv")
    assert import_open_items(led, sap, now=NOW, source="sap-1000", complete=True).closed == 0
    assert import_open_items(led, odoo, now=NOW, source="odoo", complete=True).closed == 0
    sap_later = write(tmp_path, ten("SAP")[:8], "sap2.csv")
    report = import_open_items(led, sap_later, now=NOW, source="sap-1000", complete=True)
    assert (report.closed, report.item_source) == (2, "sap-1000")
    stored = items(led)
    assert {n for n, i in stored.items() if i["open"] == 0} == {"SAP-8", "SAP-9"}
    assert {i["source"] for n, i in stored.items() if n.startswith("ODOO")} == {"odoo"}
    # The default source holds nothing here: a complete default import closes no SAP item.
    default = write(tmp_path, [line("A3", "D-1")], "default.csv")
    assert import_open_items(led, default, now=NOW, complete=True).closed == 0
    assert sum(1 for i in items(led).values() if i["open"] == 0) == 2


COMPANY_HEADER = HEADER.rstrip("\n") + ",company_code\n"


def test_company_codes_narrow_the_scope(led: Ledger, tmp_path: Path) -> None:
    both = [ln.rstrip("\n") + ",1000\n" for ln in ten("K")] + [
        ln.rstrip("\n") + ",2000\n" for ln in ten("L", "A2")
    ]
    first = import_open_items(
        led, write(tmp_path, both, "both.csv", COMPANY_HEADER), now=NOW, source="sap"
    )
    assert first.company_codes == ["1000", "2000"]
    only_1000 = write(tmp_path, both[:8], "k.csv", COMPANY_HEADER)
    report = import_open_items(led, only_1000, now=NOW, source="sap", complete=True)
    assert (report.closed, report.company_codes) == (2, ["1000"])
    stored = items(led)
    assert {n for n, i in stored.items() if i["open"] == 0} == {"K-8", "K-9"}
    assert stored["L-0"]["company_code"] == "2000" and stored["K-0"]["company_code"] == "1000"
    # A file without company codes is complete for the whole source.
    no_codes = write(tmp_path, ten("K")[:8] + ten("L", "A2"), "all.csv")
    report = import_open_items(
        led, no_codes, now=NOW, source="sap", complete=True, allow_mass_close=True
    )
    assert report.closed == 0 and report.updated == 18  # company codes cleared


def test_a_profile_says_complete_source_and_company_code(led: Ledger, tmp_path: Path) -> None:
    profile = ErpProfile.model_validate(
        {
            "kind": "open_items",
            "delimiter": ";",
            "complete": True,
            "source": "sap-1000",
            "columns": {
                "erp_account": "Konto",
                "document_number": "Beleg",
                "kind": "Art",
                "document_date": "Datum",
                "due_date": "Fällig",
                "currency": "Whg",
                "amount": "Betrag",
                "open_amount": "Betrag",
            },
            "constants": {"company_code": "1000"},
        }
    )
    header = "Konto;Beleg;Art;Datum;Fällig;Whg;Betrag\n"
    rows = [f"A1;B-{n};INVOICE;2026-10-01;2026-12-30;EUR;{10 + n}.00\n" for n in range(10)]
    first = import_open_items(led, write(tmp_path, rows, "p.csv", header), now=NOW, profile=profile)
    assert first.complete and (first.item_source, first.company_codes) == ("sap-1000", ["1000"])
    assert {i["company_code"] for i in items(led).values()} == {"1000"}
    codes_2000 = [ln.rstrip("\n") + ",2000\n" for ln in ten("C", "A2")[:3]]
    import_open_items(
        led, write(tmp_path, codes_2000, "c.csv", COMPANY_HEADER), now=NOW, source="sap-1000"
    )
    later = write(tmp_path, rows[:9], "p2.csv", header)
    assert import_open_items(led, later, now=NOW, profile=profile).closed == 1
    # An empty file closes only the profile's constant company code, and only when allowed.
    empty = write(tmp_path, [], "p3.csv", header)
    with pytest.raises(MassCloseError, match="close 9 of the 9 open items of source 'sap-1000'"):
        import_open_items(led, empty, now=NOW, profile=profile)
    report = import_open_items(led, empty, now=NOW, profile=profile, allow_mass_close=True)
    assert report.closed == 9
    assert {n for n, i in items(led).items() if i["open"] > 0} == {"C-0", "C-1", "C-2"}
    # The command line's source wins over the profile's.
    other = import_open_items(led, later, now=NOW, profile=profile, source="other")
    assert (other.item_source, other.closed, other.updated) == ("other", 0, 9)


def test_bad_rows_in_a_complete_file_close_nothing(led: Ledger, tmp_path: Path) -> None:
    import_open_items(led, write(tmp_path, ten()), now=NOW)
    bad = write(tmp_path, [*ten()[:8], "A1,BAD,INVOICE,2026-13-01,2026-12-30,EUR,1,1\n"], "b.csv")
    with pytest.raises(InputError) as info:
        import_open_items(led, bad, now=NOW, complete=True)
    assert not isinstance(info.value, MassCloseError)
    assert all(i["open"] > 0 for i in items(led).values())


def test_closing_across_many_accounts(led: Ledger, tmp_path: Path) -> None:
    many = [line(f"A{1 + n % 3}", f"M-{n}") for n in range(40)]
    import_open_items(led, write(tmp_path, many), now=NOW, source="erp")
    kept = [ln for n, ln in enumerate(many) if n % 5]
    report = import_open_items(
        led, write(tmp_path, kept, "k.csv"), now=NOW, source="erp", complete=True
    )
    assert counts(report) == (0, 0, 32, 8)
    assert sorted(n for n, i in items(led).items() if i["open"] == 0) == sorted(
        f"M-{n}" for n in range(0, 40, 5)
    )


@pytest.mark.parametrize("name", [" ", "two words", "-lead", "x" * 65, "a/b"])
def test_a_bad_source_name_is_refused(led: Ledger, tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="source"):
        import_open_items(led, write(tmp_path, ten()), now=NOW, source=name)
