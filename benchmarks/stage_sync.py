"""Limit sync of N covers (default 100,000) across the three insurer sandboxes served on
loopback, against a raw loop fetching the same pages (the adapter's own paging and
parsing, nothing written). Also: the no-change rerun writes 0 rows."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from datetime import UTC, datetime

from sqlalchemy import insert

from benchmarks.common import StageResult, atradius_terms, peak_rss_mb, scaled, timed
from benchmarks.ledgers import fresh_ledger
from benchmarks.portfolios import POLICIES, SEEDS
from tci_gateway.adapters.contract import AdapterContext, InsurerAdapter, PolicyRef
from tci_gateway.adapters.loopback import serve_on_loopback
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.domain.policy import Policy
from tci_gateway.http.client import Timeouts
from tci_gateway.ledger.tables import BuyerIdentifierRow, BuyerRow
from tci_gateway.logs import configure_logging
from tci_gateway.services.sync import sync_limits

NOW = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)
BUYER_BASE = {"atradius": 10_000_000, "allianz": 20_000_000, "coface": 30_000_000}


def policy(name: str) -> Policy:
    terms = atradius_terms()
    return Policy(f"{name}-pol", name, terms, POLICIES[name])


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--covers", type=int, default=scaled(100_000, args))
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    names = ["allianz", "atradius", "coface"]
    share = {n: opts.covers // 3 + (1 if i < opts.covers % 3 else 0) for i, n in enumerate(names)}
    with ExitStack() as stack, fresh_ledger(opts.backend) as (ledger, _):
        adapters: dict[str, InsurerAdapter] = {}
        for name in names:
            plugin = load_plugin(name)
            assert plugin.create_sandbox is not None
            sandbox = plugin.create_sandbox({"seed": SEEDS[name](share[name])})
            server = stack.enter_context(serve_on_loopback(sandbox))
            adapter = plugin.create(
                AdapterContext(
                    name=name,
                    base_url=server.url,
                    environment="sandbox",
                    credentials=dict(sandbox.credentials),
                    timeouts=Timeouts(deadline=600),
                )
            )
            assert isinstance(adapter, InsurerAdapter)
            adapters[name] = adapter
        # The ERP knows every buyer already (their insurer ids came with the buyers file).
        with ledger.unit_of_work() as s:
            for name in names:
                base = BUYER_BASE[name]
                s.execute(
                    insert(BuyerRow),
                    [
                        {
                            "id": base + i,
                            "name": f"{name} buyer {i}",
                            "country": "DE",
                            "created_at": NOW,
                            "updated_at": NOW,
                        }
                        for i in range(share[name])
                    ],
                )
                s.execute(
                    insert(BuyerIdentifierRow),
                    [
                        {
                            "buyer_id": base + i,
                            "scheme": "INSURER",
                            "issuer": name,
                            "value": str(
                                BUYER_BASE[name] + i
                                if name == "atradius"
                                else (20_000_000 + i if name == "allianz" else 30_000_000 + i)
                            ),
                        }
                        for i in range(share[name])
                    ],
                )

        def fetch_all() -> int:
            return sum(
                len(list(adapters[n].fetch_portfolio(PolicyRef(f"{n}-pol", "EUR", POLICIES[n]))))
                for n in names
            )

        floor, fetched = timed(fetch_all)
        measured, reports = timed(
            lambda: [sync_limits(ledger, adapters[n], policy(n), now=NOW) for n in names]
        )
        peak = peak_rss_mb()
        rerun, again = timed(
            lambda: [sync_limits(ledger, adapters[n], policy(n), now=NOW) for n in names]
        )
    written = sum(r.written for r in reports)
    assert fetched == opts.covers and written == opts.covers, (
        fetched,
        written,
        [r.errors[:1] for r in reports],
    )
    return StageResult(
        stage=f"limit_sync@{opts.backend}",
        measured_s=measured,
        floor_s=floor,
        floor="the adapters' own paging of the same portfolios, nothing written",
        goal="<= 1.3x the floor; the no-change rerun writes 0 rows",
        extra={
            "covers": opts.covers,
            "written": written,
            "rerun_s": round(rerun, 2),
            "rerun_written": sum(r.written for r in again),
            "sync_peak_rss_mb": round(peak, 1),
        },
    )
