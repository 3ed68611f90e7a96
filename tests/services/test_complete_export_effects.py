"""Items a complete ERP export closed are paid for everyone who reads the ledger: the
deadline scan, exposure and the claims run (a case whose overdue invoices were all closed
closes on the next run), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tci_gateway.adapters.contract import InsurerAdapter
from tci_gateway.ledger.engine import Ledger
from tci_gateway.services import case_views
from tci_gateway.services.claims import ClaimsRunReport, run_claims
from tci_gateway.services.deadlines import scan
from tci_gateway.services.exposure import exposure_report
from tci_gateway.services.importing import import_buyers, import_open_items

from .sandboxed import sandboxed_insurer
from .test_claims import NOW, PATHS, POLICY

HEADER = (
    "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
    "amount,open_amount,disputed,applies_to\n"
)
A1_ITEMS = (
    "A1,INV-1,INVOICE,2026-12-01,2026-12-01,2027-01-31,EUR,12000.00,12000.00,false,\n"
    "A1,INV-2,INVOICE,2027-01-10,2027-01-10,2027-03-10,EUR,5000.00,5000.00,false,\n"
    "A1,INV-3,INVOICE,2026-12-05,2026-12-05,2027-02-04,EUR,900.00,900.00,true,\n"
)
B1_ITEMS = (
    "B1,INV-9,INVOICE,2027-01-01,2027-01-01,2027-02-10,EUR,700.00,700.00,false,\n"
    "B1,INV-8,INVOICE,2027-01-05,2027-01-05,2027-02-14,EUR,300.00,300.00,false,\n"
)


@pytest.fixture
def world(ledger: Ledger, tmp_path: Path) -> Iterator[tuple[Ledger, InsurerAdapter, Path]]:
    adapter, _sandbox, fixture = sandboxed_insurer("allianz")
    buyers = tmp_path / "buyers.csv"
    buyers.write_text(
        "erp_account,name,country,policy,insurer_ids,tier\n"
        f"A1,Contract Alpha SA,FR,aci,allianz:{fixture.known_buyer_id},growth\n"
        "B1,No Id GmbH,DE,aci,,watch\n",
        encoding="utf-8",
    )
    items = tmp_path / "items.csv"
    items.write_text(HEADER + A1_ITEMS + B1_ITEMS, encoding="utf-8")
    import_buyers(ledger, buyers, policies={"aci": POLICY}, now=NOW)
    import_open_items(ledger, items, now=NOW, source="sap", complete=True)
    yield ledger, adapter, tmp_path
    adapter.close()


def test_a_case_whose_overdue_items_were_all_closed_closes_on_the_next_run(
    world: tuple[Ledger, InsurerAdapter, Path],
) -> None:
    ledger, adapter, tmp = world

    def run(days: int = 0) -> ClaimsRunReport:
        return run_claims(
            ledger,
            {"aci": POLICY},
            PATHS,
            {"allianz": adapter},
            default_tier="growth",
            now=NOW + timedelta(days=days),
        )

    first = run()
    assert first.overdue_buyers == 2
    assert {c.buyer_name for c in case_views.list_cases(ledger)} == {
        "Contract Alpha SA",
        "No Id GmbH",
    }

    # The next SAP export no longer lists B1's two invoices (paid): 2 of 5 open = 40 %.
    export = tmp / "export.csv"
    export.write_text(HEADER + A1_ITEMS, encoding="utf-8")
    report = import_open_items(
        ledger,
        export,
        now=NOW + timedelta(days=1),
        source="sap",
        complete=True,
        max_close_share=Decimal("0.5"),
    )
    assert report.closed == 2

    later = NOW + timedelta(days=1)
    overdue = list(scan(ledger, {"aci": POLICY}, PATHS, default_tier="growth", now=later))
    assert [o.buyer_name for o in overdue] == ["Contract Alpha SA"]
    by_buyer = {
        r.buyer_name: r.exposure for r in exposure_report(ledger, {"aci": POLICY}, now=later)
    }
    assert by_buyer["No Id GmbH"].exposure.amount == 0
    assert by_buyer["Contract Alpha SA"].exposure.amount == Decimal("17900.00")

    second = run(days=1)
    (closed,) = case_views.list_cases(ledger, state="CLOSED")
    assert second.closed == [closed.id]
    assert closed.buyer_name == "No Id GmbH" and closed.closed_on == later.date()
    assert [c.buyer_name for c in case_views.list_cases(ledger)] == ["Contract Alpha SA"]
