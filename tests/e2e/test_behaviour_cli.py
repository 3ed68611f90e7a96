"""``tci behaviour`` as a subprocess: the portfolio, tier and policy figures as JSON on
an ``--as-of`` date, and an unknown tier refused in one line with exit 2 (the figures
themselves are tests/unit/test_behaviour.py's and tests/services/test_behaviour.py's).
The ledger is prepared in-process: only the command under test is a subprocess."""

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

BUYERS = "erp_account,name,country,policy,vat\nW1,Worked Example SA,FR,atradius-main,\n"
# The worked example on 31 March 2026: sales 120,000 / 90,000 / 100,000, 250,000 open
# of which 150,000 not yet due; DSO 71.4 (countback), 72.58 (simple), BPDSO 43.55.
ITEMS = (
    "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,amount,"
    "open_amount,disputed,applies_to\n"
    "W1,M-1,INVOICE,2026-03-10,,2026-04-30,EUR,120000.00,120000.00,false,\n"
    "W1,F-1,INVOICE,2026-02-20,,2026-04-20,EUR,30000.00,30000.00,false,\n"
    "W1,F-2,INVOICE,2026-02-10,,2026-03-12,EUR,60000.00,60000.00,false,\n"
    "W1,J-1,INVOICE,2026-01-15,,2026-03-15,EUR,60000.00,60000.00,true,\n"
    "W1,J-2,INVOICE,2026-01-20,,2026-02-19,EUR,40000.00,40000.00,false,\n"
)
PAID = ITEMS.replace("60000.00,60000.00,false,\n", "60000.00,0.00,false,\n", 1)


def test_behaviour_json_and_an_unknown_tier(tmp_path: Path) -> None:
    config = tmp_path / "tci.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n\n'
        '[insurers.atradius]\nadapter = "atradius"\nbase_url = "sandbox"\n'
        'environment = "sandbox"\n\n'
        f"[policies.atradius-main]{POLICY}",
        encoding="utf-8",
    )
    settings = load_settings(config)
    ledger = Ledger.from_url(settings.database.url)
    try:
        upgrade(ledger.engine)
        (tmp_path / "buyers.csv").write_text(BUYERS, encoding="utf-8")
        (tmp_path / "items.csv").write_text(ITEMS, encoding="utf-8")
        (tmp_path / "paid.csv").write_text(PAID, encoding="utf-8")
        now = datetime(2026, 3, 20, 8, tzinfo=UTC)
        import_buyers(ledger, tmp_path / "buyers.csv", policies=settings.domain_policies(), now=now)
        import_open_items(ledger, tmp_path / "items.csv", now=now)
        # F-2 (60,000, due 12 March) seen paid on 20 March: 8 days beyond terms.
        import_open_items(ledger, tmp_path / "paid.csv", now=now)
    finally:
        ledger.dispose()

    run = run_tci("-c", str(config), "behaviour", "--as-of", "2026-03-31", "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    answer = run.json()
    assert answer["business_date"] == "2026-03-31"
    scopes = {(s["scope"], s["key"]): s for s in answer["scopes"]}
    assert set(scopes) == {("portfolio", "all"), ("tier", "growth"), ("policy", "atradius-main")}
    p = scopes["portfolio", "all"]
    assert p["receivables"] == "250000.00"
    assert p["buckets"]["current"] == "150000.00"
    assert (p["dso_countback_days"], p["dso_simple_days"]) == ("71.40", "72.58")
    assert (p["best_possible_dso_days"], p["average_days_delinquent"]) == ("43.55", "29.03")
    assert (p["dbt_average_days"], p["dbt_weighted_days"]) == ("21.33", "19.00")
    assert p["paid_on_time_ratio"] == "0.0000"
    assert (p["disputed_amount"], p["disputed_count"]) == ("60000.00", 1)
    assert p["disputed_oldest_days"] == 11  # seen disputed since the import of 20 March
    assert scopes["tier", "growth"]["dso_countback_days"] == "71.40"

    bad = run_tci("-c", str(config), "behaviour", "--tier", "gold", cwd=tmp_path)
    assert bad.code == 2
    assert bad.stderr.strip().splitlines() == [
        "error: unknown tier 'gold' (one of growth, strategic, watch)"
    ]
