"""Open-items import of N rows (default 1,000,000) against the machine's limit for the
same rows into the same table (issue 15): the file read with ``csv.reader``, each row
parsed into a tuple (Decimal amounts, dates), then PostgreSQL ``COPY FROM STDIN`` into
``open_items`` with its indexes, or SQLite one ``executemany`` in one transaction. The
floor used before (``csv.DictReader`` + SQLAlchemy ``executemany`` of dicts, in batches)
is kept as ``old_floor``. The rerun of the unchanged file is reported against the new
floor too (``extra``).

Run: ``python -m benchmarks import_open_items --rows N --backend sqlite|postgresql``. The
import runs first, so the process's peak memory is the import's own; the floors run
afterwards, each in a fresh ledger."""

from __future__ import annotations

import argparse
import csv
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from benchmarks.common import StageResult, peak_rss_mb, scaled, timed
from benchmarks.ledgers import fresh_ledger
from tci_gateway.ledger.engine import Ledger
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


_COLUMNS = (
    "erp_account_id, document_number, kind, currency, amount, open_amount, document_date, "
    "delivery_date, due_date, disputed, applies_to, updated_at"
)


def parsed_rows(path: Path, account_ids: dict[str, int]) -> Iterator[tuple[object, ...]]:
    """The file's rows parsed into tuples: Decimal amounts, dates, the account's id."""
    optional = date.fromisoformat
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        at = {name: i for i, name in enumerate(header)}
        a, d, k, c = at["erp_account"], at["document_number"], at["kind"], at["currency"]
        am, op, dd = at["amount"], at["open_amount"], at["document_date"]
        dl, du, di, ap = at["delivery_date"], at["due_date"], at["disputed"], at["applies_to"]
        for r in reader:
            yield (
                account_ids[r[a]],
                r[d],
                r[k],
                r[c],
                Decimal(r[am]),
                Decimal(r[op]),
                date.fromisoformat(r[dd]),
                optional(r[dl]) if r[dl] else None,
                optional(r[du]) if r[du] else None,
                r[di] == "true",
                r[ap] or None,
                NOW,
            )


def machine_floor(ledger: Ledger, items: Path, ids: dict[str, int]) -> None:
    """The machine's limit: parsed tuples into ``open_items`` in one transaction, by
    ``COPY FROM STDIN`` (PostgreSQL) or one ``executemany`` (SQLite)."""
    with ledger.unit_of_work() as s:
        raw: Any = s.connection().connection.driver_connection
        rows = parsed_rows(items, ids)
        if ledger.engine.dialect.name == "sqlite":
            # The ledger's SQLite storage: amounts scaled by 10^4, dates and instants as text.
            now = NOW.replace(tzinfo=None).isoformat(" ")
            raw.executemany(
                f"INSERT INTO open_items ({_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                (
                    (
                        *r[:4],
                        int(r[4].scaleb(4)),  # type: ignore[attr-defined]
                        int(r[5].scaleb(4)),  # type: ignore[attr-defined]
                        *r[6:11],
                        now,
                    )
                    for r in rows
                ),
            )
        else:
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY open_items ({_COLUMNS}) FROM STDIN") as copy,
            ):
                for r in rows:
                    copy.write_row(r)


def _account_ids(ledger: Ledger, buyers: Path) -> dict[str, int]:
    import_buyers(ledger, buyers, policies={}, now=NOW)
    with ledger.unit_of_work() as s:
        return {a: i for a, i in s.execute(select(ErpAccountRow.account, ErpAccountRow.id))}


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
            ids = _account_ids(ledger, buyers)
            floor, _ = timed(lambda: machine_floor(ledger, items, ids))
            with ledger.unit_of_work() as s:
                assert s.scalar(select(func.count()).select_from(OpenItemRow)) == opts.rows
        with fresh_ledger(opts.backend) as (ledger, _):
            ids = _account_ids(ledger, buyers)

            def old_floor_run() -> None:
                # Batches of 10,000 as before, streamed: the stage's peak stays the import's.
                rows = iter_raw_rows(items, ids)
                with ledger.unit_of_work() as s:
                    while batch := list(islice(rows, 10_000)):
                        s.execute(insert(OpenItemRow), batch)

            old_floor, _ = timed(old_floor_run)
    how = "COPY FROM STDIN" if opts.backend == "postgresql" else "one executemany"
    return StageResult(
        stage=f"import_open_items@{opts.backend}",
        measured_s=measured,
        floor_s=floor,
        floor=f"csv.reader, rows parsed into tuples (Decimal, dates), {how}, one transaction",
        goal="<= 3x the floor, rerun <= 1.5x; peak memory flat as the file grows",
        extra={
            "rows": opts.rows,
            "rerun_s": round(rerun, 2),
            "rerun_ratio": round(rerun / floor, 3) if floor > 0 else None,
            "rerun_written": 0,
            "import_peak_rss_mb": round(peak, 1),
        },
        old_floor_s=old_floor,
        old_floor="csv.DictReader + raw executemany of the same rows",
    )
