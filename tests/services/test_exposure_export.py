"""Exposure per buyer and policy, and the covered-limits export, from the ledger."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.erp.export import atomic_text_file, escape_cell, write_csv, write_json
from tci_gateway.ledger.engine import Ledger
from tci_gateway.services.export import LIMIT_COLUMNS, covered_limits
from tci_gateway.services.exposure import exposure_report, record_exposure_alerts
from tci_gateway.services.importing import import_buyers, import_open_items
from tci_gateway.services.sync import sync_limits

from ..erp.conftest import NOW, make_policy
from .fakes import FakeInsurer, decision, entry

POLICY = make_policy()
POLICIES = {"main": POLICY}


@pytest.fixture
def loaded(ledger: Ledger, tmp_path: Path) -> Ledger:
    (tmp_path / "b.csv").write_text(
        "erp_account,name,country,vat,insurer_ids\n"
        "A1,Alpha GmbH,DE,DE136695976,atradius:1\n"
        "A2,Alpha Süd,DE,DE136695976,\n"
        "B1,=Beta Ltd,GB,,atradius:2\n"
        "C1,Gamma SA,FR,,\n",
        encoding="utf-8",
    )
    (tmp_path / "i.csv").write_text(
        "erp_account,document_number,kind,document_date,due_date,currency,amount,open_amount,disputed\n"
        "A1,I1,INVOICE,2026-10-01,2026-12-01,EUR,60000.00,60000.00,false\n"
        "A2,I2,INVOICE,2026-10-02,2026-12-02,EUR,30000.00,25000.00,true\n"
        "A1,P1,PAYMENT,2026-10-10,,EUR,5000.00,5000.00,false\n"
        "B1,I3,INVOICE,2026-10-03,2026-12-03,EUR,8000.00,8000.00,false\n"
        "C1,I4,INVOICE,2026-10-04,2026-12-04,EUR,1000.00,1000.00,false\n"
        "C1,I5,INVOICE,2026-10-04,2026-12-04,USD,500.00,500.00,false\n",
        encoding="utf-8",
    )
    import_buyers(ledger, tmp_path / "b.csv", policies=POLICIES, now=NOW)
    import_open_items(ledger, tmp_path / "i.csv", now=NOW)
    fake = FakeInsurer(
        items=[
            entry("1", decision("70000", ref="X1")),
            entry("2", decision("0", status=CoverStatus.REFUSED, ref="X2")),
        ]
    )
    sync_limits(ledger, fake, POLICY, now=NOW)
    return ledger


def test_exposure_per_buyer_and_policy(loaded: Ledger) -> None:
    rows = {r.buyer_name: r for r in exposure_report(loaded, POLICIES, now=NOW)}
    alpha = rows["Alpha Süd"] if "Alpha Süd" in rows else rows["Alpha GmbH"]
    assert alpha.erp_accounts == ("A1", "A2")
    e = alpha.exposure
    # 60,000 + 25,000 (disputed still counts) - 5,000 payment = 80,000 against 70,000
    assert (e.exposure.amount, e.covered.amount, e.uncovered.amount) == (
        Decimal("80000"),
        Decimal("70000"),
        Decimal("10000"),
    )
    assert e.disputed.amount == Decimal("25000")
    assert e.alerts == (AlertKind.OVER_LIMIT,)
    beta = rows["=Beta Ltd"].exposure
    assert beta.alerts == (AlertKind.UNCOVERED, AlertKind.COVER_REFUSED)
    gamma = rows["Gamma SA"].exposure
    assert gamma.status is None and gamma.unconverted == ("I5",)
    assert AlertKind.FX_RATE_MISSING in gamma.alerts and AlertKind.UNCOVERED in gamma.alerts
    assert record_exposure_alerts(loaded, list(rows.values()), now=NOW) == 4
    assert record_exposure_alerts(loaded, list(rows.values()), now=NOW) == 0  # once per day


def test_covered_limits_export(loaded: Ledger, tmp_path: Path) -> None:
    rows = covered_limits(loaded, POLICIES, now=NOW)
    by_status = {r.buyer_name: (r.status, r.covered_amount, r.erp_accounts) for r in rows}
    assert by_status["Alpha GmbH"][0:2] == ("APPROVED", Decimal("70000.00"))
    assert by_status["Alpha GmbH"][2] == ("A1", "A2")
    assert by_status["=Beta Ltd"][0:2] == ("REFUSED", Decimal("0.00"))
    assert by_status["Gamma SA"][0:2] == ("NO_COVER", Decimal("0.00"))
    target = tmp_path / "out" / "limits.csv"
    with atomic_text_file(target) as handle:
        write_csv((r.as_dict() for r in rows), LIMIT_COLUMNS, handle)
    parsed = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert sorted(r["buyer_name"] for r in parsed) == ["'=Beta Ltd", "Alpha GmbH", "Gamma SA"]
    assert {r["covered_amount"] for r in parsed} == {"70000.00", "0.00"}
    assert not list(target.parent.glob(".*.tmp"))
    buffer = io.StringIO()
    write_json((r.as_dict() for r in rows), LIMIT_COLUMNS, buffer, "covered_limits")
    document = json.loads(buffer.getvalue())
    assert {r["covered_amount"] for r in document["covered_limits"]} == {"70000.00", "0.00"}


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_escaped(value: str) -> None:
    assert escape_cell(value) == "'" + value
    assert escape_cell("plain") == "plain"


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "limits.csv"
    target.write_text("previous export\n", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_text_file(target) as handle:
        handle.write("half a file")
        raise RuntimeError("crash while writing")
    assert target.read_text(encoding="utf-8") == "previous export\n"
    assert list(tmp_path.iterdir()) == [target]


def test_changed_since_exports_only_what_changed(loaded: Ledger) -> None:
    from tci_gateway.services.export import export_limits

    full = export_limits(loaded, POLICIES, now=NOW)
    assert len(full.rows) == 3 and full.cursor > 0
    nothing = export_limits(loaded, POLICIES, now=NOW, changed_since=full.cursor)
    assert nothing.rows == [] and nothing.cursor == full.cursor
    fake = FakeInsurer(
        items=[
            entry("1", decision("90000", ref="X1")),
            entry("2", decision("0", status=CoverStatus.REFUSED, ref="X2")),
        ]
    )
    sync_limits(loaded, fake, POLICY, now=NOW)
    changed = export_limits(loaded, POLICIES, now=NOW, changed_since=full.cursor)
    assert [(r.buyer_name, r.covered_amount) for r in changed.rows] == [
        ("Alpha GmbH", Decimal("90000.00"))
    ]
    assert changed.cursor > full.cursor
