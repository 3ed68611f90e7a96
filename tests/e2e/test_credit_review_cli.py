"""``tci credit review --as-of D`` as a subprocess on the demo portfolio: every step runs
and the date is recorded; run again, it does nothing and says so (text and JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tci_gateway.config import load_settings
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.migrate import upgrade
from tci_gateway.services.importing import import_buyers, import_open_items

from .conftest import run_tci
from .test_cli import DEMO, loopback_config

pytestmark = pytest.mark.e2e


def test_credit_review_of_a_date_runs_once(tmp_path: Path) -> None:
    # No insurer call is made by the review: the address is never dialled.
    config = loopback_config(tmp_path, "http://127.0.0.1:9")
    # The ledger prepared in process (a subprocess each costs seconds on a busy machine).
    settings = load_settings(config)
    ledger = Ledger.open(settings.database.url, create=True)
    try:
        upgrade(ledger.engine)
        now = datetime(2026, 11, 30, 6, tzinfo=UTC)
        import_buyers(ledger, DEMO / "buyers.csv", policies=settings.domain_policies(), now=now)
        import_open_items(ledger, DEMO / "open_items.csv", now=now)
    finally:
        ledger.dispose()
    base = ("-c", str(config))
    first = run_tci(*base, "credit", "review", "--as-of", "2026-12-01", "--json", cwd=tmp_path)
    assert first.code == 0, first.stderr
    report = first.json()
    assert report["business_date"] == "2026-12-01" and not report["already_done"]
    assert report["errors"] == []
    assert report["tiers"]["evaluated"] > 0
    assert report["snapshots"] > 0
    assert report["plans"]["evaluated"] == 0  # no plan in the demo ledger yet
    assert report["over_credit_line"]["buyers"] == 0
    assert report["insurer_decisions"] == 0

    again = run_tci(*base, "--as-of", "2026-12-01", "credit", "review", cwd=tmp_path)
    assert again.code == 0, again.stderr
    assert "Credit review of 2026-12-01 already done" in again.stdout
