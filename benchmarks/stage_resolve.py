"""`tci buyers resolve` over N ERP accounts (default 100,000) against the ledger's
identifiers, with GLEIF served on loopback for the accounts that carry an LEI (1 in
100, each crosswalked to its GB company number). Floor: the same number of indexed
identifier look-ups (one SELECT per account on the (scheme, issuer, value) index)."""

from __future__ import annotations

import argparse
import copy
import csv
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import StageResult, peak_rss_mb, scaled, timed
from benchmarks.ledgers import fresh_ledger
from tci_gateway.adapters.contract import AdapterContext, BureauAdapter
from tci_gateway.adapters.loopback import serve_on_loopback
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.ledger.tables import BuyerIdentifierRow
from tci_gateway.logs import configure_logging
from tci_gateway.services.identity import resolve_buyers
from tci_gateway.services.importing import import_buyers

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


def _lei(n: int) -> str:
    from stdnum.iso7064 import mod_97_10

    base = f"5299{n:014d}"
    return base + mod_97_10.calc_check_digits(base)


def _gb(n: int) -> str:
    return f"{10_000_000 + n:08d}"


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buyers", type=int, default=scaled(100_000, args))
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    n = opts.buyers
    template = json.loads((REPO / "fixtures" / "gleif" / "seed.json").read_text())["records"][0]
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "buyers.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            w = csv.writer(handle)
            w.writerow(["erp_account", "name", "country", "lei", "registration_number"])
            for i in range(n):
                if i % 100 == 0:  # an LEI account and, later in the file, its GB company
                    lei = _lei(i)
                    w.writerow([f"A{i:07d}", f"Bench Group {i} Ltd", "GB", lei, ""])
                    record = copy.deepcopy(template)
                    record["id"] = record["attributes"]["lei"] = lei
                    record["attributes"]["entity"]["registeredAs"] = _gb(i)
                    record["attributes"]["entity"]["legalName"]["name"] = f"BENCH GROUP {i} LIMITED"
                    records.append(record)
                else:
                    j = i - (i % 100) if i % 100 == 1 else i
                    w.writerow([f"A{i:07d}", f"Bench Buyer {i} Ltd", "GB", "", _gb(j)])
        plugin = load_plugin("gleif")
        assert plugin.create_sandbox is not None
        sandbox = plugin.create_sandbox(
            {"seed": {"records": records, "parents": {}}, "rate_limit": 10**9}
        )
        with fresh_ledger(opts.backend) as (ledger, _), serve_on_loopback(sandbox) as server:
            import_buyers(ledger, path, policies={}, now=NOW)
            gleif = plugin.create(
                AdapterContext(
                    name="gleif", base_url=server.url, environment="sandbox", credentials={}
                )
            )
            assert isinstance(gleif, BureauAdapter)
            measured, report = timed(
                lambda: resolve_buyers(ledger, bureaus={"gleif": gleif}, now=NOW)
            )
            peak = peak_rss_mb()

            def lookups() -> int:
                found = 0
                with ledger.unit_of_work() as s:
                    for i in range(n):
                        value = (
                            _lei(i) if i % 100 == 0 else _gb(i - (i % 100) if i % 100 == 1 else i)
                        )
                        scheme = "LEI" if i % 100 == 0 else "GB_CRN"
                        found += (
                            s.scalar(
                                select(BuyerIdentifierRow.buyer_id).where(
                                    BuyerIdentifierRow.scheme == scheme,
                                    BuyerIdentifierRow.issuer == "",
                                    BuyerIdentifierRow.value == value,
                                )
                            )
                            is not None
                        )
                return found

            floor, found = timed(lookups)
    return StageResult(
        stage=f"resolve_buyers@{opts.backend}",
        measured_s=measured,
        floor_s=floor,
        floor="one indexed identifier SELECT per account",
        goal="time and peak memory (no goal set)",
        extra={
            "accounts": n,
            "merged": len(report.merged),
            "buyers_after": report.buyers_after,
            "reviews": report.reviews_pending,
            "bureau_errors": len(report.bureau_errors),
            "floor_found": found,
            "resolve_peak_rss_mb": round(peak, 1),
        },
    )
