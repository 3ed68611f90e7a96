"""``tci tiers`` as a subprocess: evaluate (rules fire, a rerun changes nothing), pin and
unpin with the history shown, an unknown tier refused naming the known ones. The ledger
is prepared in process (the pinned buyer skipped by the rules, and the rules applying
again after unpinning, are tests/services/test_tiers.py's)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tci_gateway.config import load_settings
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.migrate import upgrade
from tci_gateway.services.importing import import_buyers, import_open_items

from .conftest import run_tci
from .test_cli import POLICY

pytestmark = pytest.mark.e2e

BUYERS = (
    "erp_account,name,country,policy,vat\n"
    "T1,Tardy Traders GmbH,DE,atradius-main,\n"
    "T2,Big Buyer SA,FR,atradius-main,\n"
    "T3,Quiet Client BV,NL,atradius-main,\n"
)
ITEMS = (
    "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,amount,"
    "open_amount,disputed,applies_to\n"
    # 60 days past due on 2026-12-01: weighted days beyond terms 60 > 30 -> watch.
    "T1,INV-1,INVOICE,2026-08-01,,2026-10-02,EUR,10000.00,10000.00,false,\n"
    # 6,000,000 invoiced in the last 12 months, not yet due -> strategic.
    "T2,INV-2,INVOICE,2026-11-10,,2027-01-10,EUR,6000000.00,6000000.00,false,\n"
    "T3,INV-3,INVOICE,2026-11-20,,2026-12-20,EUR,5000.00,5000.00,false,\n"
)


def setup(tmp_path: Path) -> tuple[str, ...]:
    config = tmp_path / "tci.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n\n'
        '[insurers.atradius]\nadapter = "atradius"\nbase_url = "sandbox"\n'
        'environment = "sandbox"\n\n'
        f"[policies.atradius-main]{POLICY}",
        encoding="utf-8",
    )
    (tmp_path / "buyers.csv").write_text(BUYERS, encoding="utf-8")
    (tmp_path / "items.csv").write_text(ITEMS, encoding="utf-8")
    # The ledger prepared in process (`tci db upgrade` and `tci import` have e2e tests of
    # their own): only the `tci tiers` commands under test are subprocesses.
    settings = load_settings(config)
    ledger = Ledger.open(settings.database.url, create=True)
    try:
        upgrade(ledger.engine)
        now = datetime.now(UTC)
        policies = settings.domain_policies()
        assert import_buyers(ledger, tmp_path / "buyers.csv", policies=policies, now=now).ok
        assert import_open_items(ledger, tmp_path / "items.csv", now=now).ok
    finally:
        ledger.dispose()
    return ("-c", str(config))


def test_evaluate_pin_show_unpin(tmp_path: Path) -> None:
    base = setup(tmp_path)
    day = ("--as-of", "2026-12-01")
    first = run_tci(*base, "tiers", "evaluate", *day, "--json", cwd=tmp_path)
    assert first.code == 0, first.stderr
    report = first.json()
    assert report["business_date"] == "2026-12-01"
    assert {c["buyer"]: (c["old"], c["new"]) for c in report["changed"]} == {
        "Tardy Traders GmbH": (None, "watch"),
        "Big Buyer SA": (None, "strategic"),
    }
    assert report["counts"] == {"watch": 1, "strategic": 1, "growth": 1}
    assert report["alerts"] == 2

    again = run_tci(*base, *day, "tiers", "evaluate", cwd=tmp_path)
    assert again.code == 0, again.stderr
    assert "3 evaluated, 0 changed, 0 pinned" in again.stdout

    pin = run_tci(
        *base,
        *day,
        "tiers",
        "pin",
        "T1",
        "Growth",
        "--reason",
        "paid in full",
        "--by",
        "rita",
        cwd=tmp_path,
    )
    assert pin.code == 0, pin.stderr
    assert "Tardy Traders GmbH: tier growth pinned (was watch)" in pin.stdout
    shown = run_tci(*base, "tiers", "show", "T1", "--json", cwd=tmp_path)
    assert shown.code == 0, shown.stderr
    status = shown.json()
    assert (status["tier"], status["pinned"]) == ("growth", True)
    assert [(h["source"], h["new"], h["by"]) for h in status["history"]] == [
        ("pin", "growth", "rita"),
        ("rules", "watch", None),
    ]
    assert status["history"][1]["reason"] == (
        "watch: days beyond terms 60.00 (weighted) over 30.00"
    )

    unknown = run_tci(*base, "tiers", "pin", "T1", "gold", "--reason", "x", cwd=tmp_path)
    assert unknown.code == 2
    assert "unknown tier 'gold': the known tiers are growth, strategic, watch" in unknown.stderr

    unpin = run_tci(*base, *day, "tiers", "unpin", "T1", cwd=tmp_path)
    assert unpin.code == 0, unpin.stderr
    assert "Tardy Traders GmbH: unpinned" in unpin.stdout
