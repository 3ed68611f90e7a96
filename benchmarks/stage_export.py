"""Covered-limits export of N buyers (default 100,000) against a raw SELECT of the same
rows written with csv.writer.

The limits in force are kept in the ledger (``limits_in_force``): the stage first fills
them (as the sync does for new decisions; ``initial_fill_s``), then runs the nightly date
roll of the next business date (``nightly_roll_s``: every limit computed again from its
history, none changed), then measures the export of that day, whose own roll then has
nothing to do."""

from __future__ import annotations

import argparse
import csv
import tempfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select

from benchmarks.common import StageResult, atradius_terms, peak_rss_mb, scaled, timed
from benchmarks.ledgers import fresh_ledger
from tci_gateway.domain.policy import Policy
from tci_gateway.erp.export import atomic_text_file, write_csv
from tci_gateway.ledger.policies import upsert_policies
from tci_gateway.ledger.tables import (
    BuyerRow,
    CoverDecisionRow,
    CoverTrancheRow,
    ErpAccountRow,
    PolicyRow,
)
from tci_gateway.logs import configure_logging
from tci_gateway.services.export import LIMIT_COLUMNS, export_limits
from tci_gateway.services.limits import roll_limits

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buyers", type=int, default=scaled(100_000, args))
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    terms = atradius_terms()
    policies = {"main": Policy("main", "atradius", terms, {})}
    n = opts.buyers
    with tempfile.TemporaryDirectory() as tmp, fresh_ledger(opts.backend) as (ledger, _):
        with ledger.unit_of_work() as s:
            pid = upsert_policies(s, policies, NOW)["main"]
            s.execute(
                insert(BuyerRow),
                [
                    {
                        "id": i + 1,
                        "name": f"Buyer {i}",
                        "country": "DE",
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in range(n)
                ],
            )
            s.execute(
                insert(ErpAccountRow),
                [
                    {
                        "account": f"C{i:07d}",
                        "name": f"Buyer {i}",
                        "buyer_id": i + 1,
                        "policy_id": pid,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in range(n)
                ],
            )
            s.execute(
                insert(CoverDecisionRow),
                [
                    {
                        "id": i + 1,
                        "policy_id": pid,
                        "buyer_id": i + 1,
                        "insurer_cover_ref": f"R{i}",
                        "status": "APPROVED",
                        "is_preliminary": False,
                        "currency": "EUR",
                        "granted_amount": Decimal(1000 * (i % 500 + 5)),
                        "requested_amount": None,
                        "effective_from": date(2026, 1, 1),
                        "effective_to": None,
                        "pending_action": None,
                        "raw_codes": {"decisionCode": "DC01"},
                        "unknown_codes": [],
                        "conditions": [],
                        "decided_at": NOW,
                        "source_changed_at": NOW,
                        "recorded_at": NOW,
                        "sync_run_id": None,
                    }
                    for i in range(n)
                ],
            )
            s.execute(
                insert(CoverTrancheRow),
                [
                    {
                        "decision_id": i + 1,
                        "position": 0,
                        "amount": Decimal(1000 * (i % 500 + 5)),
                        "valid_from": date(2026, 1, 1),
                        "expires_on": None,
                    }
                    for i in range(n)
                ],
            )
        fill_s, filled = timed(lambda: roll_limits(ledger, policies, NOW - timedelta(days=1)))
        roll_s, rolled = timed(lambda: roll_limits(ledger, policies, NOW))
        assert filled.total_changed == n and rolled.total_changed == 0
        out = Path(tmp) / "limits.csv"

        def export() -> int:
            result = export_limits(ledger, policies, now=NOW, raw_codes=False)
            with atomic_text_file(out) as handle:
                return write_csv((r.as_dict() for r in result.rows), LIMIT_COLUMNS, handle)

        measured, rows = timed(export)
        peak = peak_rss_mb()
        raw = Path(tmp) / "raw.csv"

        def floor_run() -> int:
            stmt = (
                select(
                    ErpAccountRow.account,
                    BuyerRow.id,
                    BuyerRow.name,
                    PolicyRow.insurer,
                    PolicyRow.key,
                    CoverDecisionRow.status,
                    CoverTrancheRow.amount,
                    CoverDecisionRow.currency,
                    CoverDecisionRow.effective_from,
                    CoverDecisionRow.effective_to,
                    CoverDecisionRow.insurer_cover_ref,
                    CoverDecisionRow.recorded_at,
                )
                .join(BuyerRow, BuyerRow.id == CoverDecisionRow.buyer_id)
                .join(ErpAccountRow, ErpAccountRow.buyer_id == BuyerRow.id)
                .join(PolicyRow, PolicyRow.id == CoverDecisionRow.policy_id)
                .join(CoverTrancheRow, CoverTrancheRow.decision_id == CoverDecisionRow.id)
            )
            count = 0
            with ledger.unit_of_work() as s, raw.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(LIMIT_COLUMNS)
                for row in s.execute(stmt):
                    writer.writerow(row)
                    count += 1
            return count

        floor, raw_rows = timed(floor_run)
    assert rows == raw_rows == n, (rows, raw_rows)
    return StageResult(
        stage=f"export_limits@{opts.backend}",
        measured_s=measured,
        floor_s=floor,
        floor="one SELECT of the same rows written with csv.writer",
        goal="<= 1.5x the floor",
        extra={
            "buyers": n,
            "export_peak_rss_mb": round(peak, 1),
            "initial_fill_s": round(fill_s, 2),
            "nightly_roll_s": round(roll_s, 2),
        },
    )
