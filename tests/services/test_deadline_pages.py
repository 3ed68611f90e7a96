"""The deadline scan in pages (SQLite: keyset pages of ERP accounts; PostgreSQL: one
streamed query cut into pages), on both backends: whatever the page size, the same
overdue buyers with the same clocks and steps, and pages that cover every buyer id once
(the claims run closes settled cases page by page on that)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from tci_gateway.domain.escalation import DEFAULT_PATHS, EscalationPath
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import ErpAccountRow, OpenItemRow
from tci_gateway.services import deadlines
from tci_gateway.services.deadlines import scan, scan_pages
from tci_gateway.services.importing import import_buyers, import_open_items

from ..erp.conftest import make_policy

POLICY = make_policy("aci", "allianz")
OTHER = make_policy("cof", "coface")
POLICIES = {"aci": POLICY, "cof": OTHER}
PATHS = {tier: EscalationPath.of(tier, days) for tier, days in DEFAULT_PATHS.items()}
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
# Buyer B has two accounts (its oldest overdue invoice on the second), C nothing overdue,
# D only a paid invoice; E is under the other policy.
BUYERS = (
    "erp_account,name,country,policy,insurer_ids,tier\n"
    "A1,Alpha SA,FR,aci,,strategic\n"
    "B1,Beta GmbH,DE,aci,,watch\n"
    "C1,Gamma BV,NL,aci,,\n"
    "D1,Delta SpA,IT,aci,,growth\n"
    "F1,Zeta Oy,FI,aci,,growth\n"
    "E1,Epsilon AB,SE,cof,,growth\n"
)
ITEMS = (
    "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
    "amount,open_amount,disputed,applies_to\n"
    "A1,INV-1,INVOICE,2026-10-01,2026-10-01,2026-11-30,EUR,100.00,100.00,false,\n"
    "A1,INV-2,INVOICE,2027-01-01,2027-01-01,2027-02-10,EUR,200.00,200.00,false,\n"
    "B1,INV-3,INVOICE,2027-01-01,2027-01-01,2027-02-20,EUR,300.00,300.00,false,\n"
    "C1,INV-5,INVOICE,2027-02-01,2027-02-01,2027-04-01,EUR,500.00,500.00,false,\n"
    "D1,INV-6,INVOICE,2026-11-01,2026-11-01,2026-12-31,EUR,600.00,0.00,false,\n"
    "F1,INV-7,INVOICE,2026-12-01,2026-12-01,2027-01-15,EUR,700.00,700.00,false,\n"
    "E1,INV-8,INVOICE,2026-12-01,2026-12-01,2027-01-20,EUR,800.00,800.00,false,\n"
)


@pytest.fixture
def seeded(ledger: Ledger, tmp_path: Path) -> Ledger:
    (tmp_path / "buyers.csv").write_text(BUYERS, encoding="utf-8")
    (tmp_path / "items.csv").write_text(ITEMS, encoding="utf-8")
    import_buyers(ledger, tmp_path / "buyers.csv", policies=POLICIES, now=NOW)
    import_open_items(ledger, tmp_path / "items.csv", now=NOW)
    return ledger


def _found(ledger: Ledger) -> list[tuple[str, str, str, object, int, tuple[str, ...]]]:
    return [
        (
            ob.policy.key,
            ob.buyer_name,
            ob.tier,
            ob.clock,
            ob.overdue_invoices,
            tuple(s.action.value for s in ob.steps),
        )
        for ob in scan(ledger, POLICIES, PATHS, default_tier="growth", now=NOW)
    ]


def test_every_page_size_finds_the_same_buyers(
    seeded: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _found(seeded)
    assert [(p, name, n) for p, name, _, _, n, _ in whole] == [
        ("aci", "Alpha SA", 2),
        ("aci", "Beta GmbH", 1),
        ("aci", "Zeta Oy", 1),
        ("cof", "Epsilon AB", 1),
    ]
    for size in (1, 2, 3):
        monkeypatch.setattr(deadlines, "PAGE_SIZE", size)
        assert _found(seeded) == whole, size


@pytest.mark.parametrize("size", [1, 2, 1000])
def test_pages_cover_every_buyer_id_once(seeded: Ledger, size: int) -> None:
    pages = list(
        scan_pages(seeded, POLICIES, PATHS, default_tier="growth", now=NOW, page_size=size)
    )
    for key in POLICIES:
        mine = [p for p in pages if p.policy.key == key]
        assert mine[0].after is None and mine[-1].upto is None
        for before, page in pairwise(mine):
            assert before.upto is not None and page.after == before.upto
        for page in mine:
            assert len(page.buyers) <= size
            ids = [b.buyer_id for b in page.buyers]
            assert ids == sorted(ids)
            assert all(page.after is None or i > page.after for i in ids)
            assert all(page.upto is None or i <= page.upto for i in ids)
    aci = [b.buyer_name for p in pages if p.policy.key == "aci" for b in p.buyers]
    assert aci == ["Alpha SA", "Beta GmbH", "Zeta Oy"]
    if size == 1:
        assert len([p for p in pages if p.policy.key == "aci"]) >= 3


def test_a_buyer_with_two_accounts_is_one_buyer_across_a_page_edge(
    seeded: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second account of Beta GmbH, created last (its id after every other account's):
    # its older invoice gives Beta its clock, and Beta is counted once, whatever page
    # edge falls between its two accounts.
    with seeded.unit_of_work() as s:
        beta = s.scalars(select(ErpAccountRow).where(ErpAccountRow.account == "B1")).one()
        second = ErpAccountRow(
            account="B2",
            name="Beta GmbH (2)",
            buyer_id=beta.buyer_id,
            policy_id=beta.policy_id,
            created_at=NOW,
            updated_at=NOW,
        )
        s.add(second)
        s.flush()
        first = s.scalars(select(OpenItemRow).where(OpenItemRow.document_number == "INV-3")).one()
        s.add(
            OpenItemRow(
                erp_account_id=second.id,
                document_number="INV-4",
                kind=first.kind,
                currency="EUR",
                amount=first.amount,
                open_amount=first.amount,
                document_date=first.document_date,
                delivery_date=first.delivery_date,
                due_date=first.due_date.replace(day=1),
                disputed=False,
                updated_at=NOW,
            )
        )
    whole = _found(seeded)
    beta_row = next(r for r in whole if r[1] == "Beta GmbH")
    assert beta_row[4] == 2 and beta_row[3].due_date == first.due_date.replace(day=1)
    for size in (1, 2):
        monkeypatch.setattr(deadlines, "PAGE_SIZE", size)
        assert _found(seeded) == whole, size
