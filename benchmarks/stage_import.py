"""Open-items import of N rows (default 1,000,000) against a raw ``executemany`` of the
same rows into the same table. Run: ``python -m benchmarks import_open_items --rows N
--backend sqlite|postgresql``. The import runs first, so the process's peak memory is
the import's own; the floor runs afterwards in a fresh ledger."""

from __future__ import annotations

import argparse
import csv
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select

from benchmarks.common import StageResult, peak_rss_mb, scaled, timed
from benchmarks.ledgers import fresh_ledger
from tci_gateway.ledger.tables import ErpAccountRow, OpenItemRow
from tci_gateway.logs import configure_logging
from tci_gateway.services.importing import import_buyers, import_open_items

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ACCOUNTS = 10_000


def write_files(directory: Path, rows: int) -> tuple[Path, Path]:
    buyers = directory / "buyers.csv"
    with buyers.open("w", encoding="utf-8", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["erp_account", "name", "country"])
        for a in range(ACCOUNTS):
            w.writerow([f"B{a:06d}", f"Bench Buyer {a}", "DE"])
    items = directory / "items.csv"
    with items.open("w", encoding="utf-8", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(
            [
                "erp_account",
                "document_number",
                "kind",
                "document_date",
                "delivery_date",
                "due_date",
                "currency",
                "amount",
                "open_amount",
                "disputed",
                "applies_to",
            ]
        )
        for i in range(rows):
            amount = f"{1000 + (i * 7919) % 90000}.{i % 100:02d}"
            w.writerow(
                [
                    f"B{i % ACCOUNTS:06d}",
                    f"INV-{i:08d}",
                    "INVOICE",
                    "2026-10-01",
                    "2026-09-30",
                    "2026-12-30",
                    "EUR",
                    amount,
                    amount,
                    "false",
                    "",
                ]
            )
    return buyers, items


def iter_raw_rows(path: Path, account_ids: dict[str, int]) -> Iterator[dict[str, object]]:
    """The open-items file's rows as ``open_items`` values, for a hand-written floor."""
    with path.open(encoding="utf-8", newline="") as handle:
        for r in csv.DictReader(handle):
            yield {
                "erp_account_id": account_ids[r["erp_account"]],
                "document_number": r["document_number"],
                "kind": r["kind"],
                "currency": r["currency"],
                "amount": Decimal(r["amount"]),
                "open_amount": Decimal(r["open_amount"]),
                "document_date": date.fromisoformat(r["document_date"]),
                "delivery_date": date.fromisoformat(r["delivery_date"]),
                "due_date": date.fromisoformat(r["due_date"]),
                "disputed": False,
                "applies_to": None,
                "import_id": None,
                "updated_at": NOW,
            }


def raw_rows(path: Path, account_ids: dict[str, int]) -> list[dict[str, object]]:
    return list(iter_raw_rows(path, account_ids))


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=scaled(1_000_000, args))
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    with tempfile.TemporaryDirectory(prefix="tci-bench-files-") as tmp:
        buyers, items = write_files(Path(tmp), opts.rows)
        with fresh_ledger(opts.backend) as (ledger, _):
            import_buyers(ledger, buyers, policies={}, now=NOW)
            measured, report = timed(lambda: import_open_items(ledger, items, now=NOW))
            assert report.inserted == opts.rows
            rerun, again = timed(lambda: import_open_items(ledger, items, now=NOW))
            assert again.unchanged == opts.rows and again.inserted == again.updated == 0
        peak = peak_rss_mb()
        with fresh_ledger(opts.backend) as (ledger, _):
            import_buyers(ledger, buyers, policies={}, now=NOW)
            with ledger.unit_of_work() as s:
                ids = {a: i for a, i in s.execute(select(ErpAccountRow.account, ErpAccountRow.id))}

            def floor_run() -> None:
                rows = raw_rows(items, ids)
                with ledger.unit_of_work() as s:
                    for start in range(0, len(rows), 10_000):
                        s.execute(insert(OpenItemRow), rows[start : start + 10_000])

            floor, _ = timed(floor_run)
    return StageResult(
        stage=f"import_open_items@{opts.backend}",
        measured_s=measured,
        floor_s=floor,
        floor="csv.DictReader + raw executemany of the same rows",
        goal="<= 1.5x the floor; peak memory <= 250 MB, flat as the file grows",
        extra={
            "rows": opts.rows,
            "rerun_s": round(rerun, 2),
            "rerun_written": 0,
            "import_peak_rss_mb": round(peak, 1),
        },
    )
