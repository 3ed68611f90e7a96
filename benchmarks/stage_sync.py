"""Limit sync of N covers (default 100,000) across the three insurer sandboxes served on
loopback, against a raw loop fetching the same pages (the adapter's own paging and
parsing, nothing written). Also the no-change rerun (every record hashes the same as the
first run's: nothing staged, reconciled or written) against the same floor. And the
write floor (:mod:`benchmarks.sync_write_floor`): the first sync's rows loaded again with
one ``COPY`` / ``executemany`` per table, as a ratio of the paging floor: the part of the
goal the database's own work takes.

The sandboxes are served from a process of their own, as an insurer is: the stage
process's peak memory is the sync's, not the sandboxes' books of N covers."""

from __future__ import annotations

import argparse
import multiprocessing
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import insert

from benchmarks.common import StageResult, atradius_terms, peak_rss_mb, scaled, timed
from benchmarks.ledgers import fresh_ledger
from benchmarks.portfolios import POLICIES, SEEDS
from benchmarks.sync_write_floor import write_floor
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
NAMES = ["allianz", "atradius", "coface"]
CHUNK = 5000


def _reset_peak() -> None:
    """Start a new peak-memory window (Linux: ``VmHWM`` back to the current RSS)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        pass


def _window_peak_mb() -> float | None:
    """The peak resident memory since :func:`_reset_peak` (``None`` off Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def policy(name: str) -> Policy:
    terms = atradius_terms()
    return Policy(f"{name}-pol", name, terms, POLICIES[name])


def _serve(share: dict[str, int], conn: Connection) -> None:
    """The sandboxes' process: serve each insurer's book until told to stop."""
    with ExitStack() as stack:
        served: dict[str, tuple[str, dict[str, str]]] = {}
        for name in NAMES:
            plugin = load_plugin(name)
            assert plugin.create_sandbox is not None
            sandbox = plugin.create_sandbox({"seed": SEEDS[name](share[name])})
            server = stack.enter_context(serve_on_loopback(sandbox))
            served[name] = (server.url, dict(sandbox.credentials))
        conn.send(served)
        conn.recv()  # stop


@contextmanager
def sandboxes(share: dict[str, int]) -> Iterator[dict[str, tuple[str, dict[str, str]]]]:
    """The three sandboxes served from a child process: name -> (url, credentials)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(share, theirs), daemon=True)
    process.start()
    try:
        while not ours.poll(1):
            if not process.is_alive():
                raise RuntimeError("the sandboxes' process ended before serving")
        yield ours.recv()
    finally:
        if process.is_alive():
            ours.send("stop")
        process.join(30)
        if process.is_alive():
            process.terminate()


def _adapter(name: str, url: str, credentials: dict[str, str]) -> InsurerAdapter:
    adapter = load_plugin(name).create(
        AdapterContext(
            name=name,
            base_url=url,
            environment="sandbox",
            credentials=credentials,
            timeouts=Timeouts(deadline=600),
        )
    )
    assert isinstance(adapter, InsurerAdapter)
    return adapter


def _known_buyers(ledger: Any, share: dict[str, int]) -> None:
    """The ERP knows every buyer already (their insurer ids came with the buyers file)."""
    for name in NAMES:
        base = BUYER_BASE[name]
        for start in range(0, share[name], CHUNK):
            ids = range(base + start, base + min(start + CHUNK, share[name]))
            with ledger.unit_of_work() as s:
                s.execute(
                    insert(BuyerRow),
                    [
                        {
                            "id": i,
                            "name": f"{name} buyer {i - base}",
                            "country": "DE",
                            "created_at": NOW,
                            "updated_at": NOW,
                        }
                        for i in ids
                    ],
                )
                s.execute(
                    insert(BuyerIdentifierRow),
                    [
                        {"buyer_id": i, "scheme": "INSURER", "issuer": name, "value": str(i)}
                        for i in ids
                    ],
                )


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--covers", type=int, default=scaled(100_000, args))
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    share = {n: opts.covers // 3 + (1 if i < opts.covers % 3 else 0) for i, n in enumerate(NAMES)}
    with sandboxes(share) as served, fresh_ledger(opts.backend) as (ledger, _):
        adapters = {name: _adapter(name, *served[name]) for name in NAMES}
        _known_buyers(ledger, share)

        def fetch_all() -> int:
            return sum(
                sum(
                    1
                    for _ in adapters[n].fetch_portfolio(PolicyRef(f"{n}-pol", "EUR", POLICIES[n]))
                )
                for n in NAMES
            )

        _reset_peak()
        floor, fetched = timed(fetch_all)
        floor_peak = _window_peak_mb()
        _reset_peak()
        measured, reports = timed(
            lambda: [sync_limits(ledger, adapters[n], policy(n), now=NOW) for n in NAMES]
        )
        sync_peak = _window_peak_mb()
        peak = peak_rss_mb()
        _reset_peak()
        rerun, again = timed(
            lambda: [sync_limits(ledger, adapters[n], policy(n), now=NOW) for n in NAMES]
        )
        rerun_peak = _window_peak_mb()
        floor_again, _ = timed(fetch_all)
        writes = write_floor(ledger)  # last: it deletes the sync's rows and loads them again
    written = sum(r.written for r in reports)
    assert fetched == opts.covers and written == opts.covers, (
        fetched,
        written,
        [r.errors[:1] for r in reports],
    )
    assert all(r.ok for r in reports + again), [r.errors[:1] for r in reports + again]
    best_floor = min(floor, floor_again)
    write_s = writes["write_floor_s"]
    return StageResult(
        stage=f"limit_sync@{opts.backend}",
        measured_s=measured,
        floor_s=best_floor,
        floor="the adapters' own paging of the same portfolios, nothing written",
        goal="<= 1.3x the floor; the no-change rerun <= 1.1x and writes 0 rows",
        extra={
            "covers": opts.covers,
            "written": written,
            "floor_runs_s": [round(floor, 2), round(floor_again, 2)],
            "rerun_s": round(rerun, 2),
            "rerun_ratio": round(rerun / best_floor, 3) if best_floor > 0 else None,
            "rerun_written": sum(r.written for r in again),
            # the database work of the first sync's rows alone (benchmarks.sync_write_floor)
            **writes,
            "write_floor_ratio": round(write_s / best_floor, 3) if best_floor > 0 else None,
            "ratio_to_paging_plus_writes": round(measured / (best_floor + write_s), 3),
            "peak_rss_mb_after_sync": round(peak, 1),
            # peaks of each part on its own (the Atradius adapter reads its portfolio in
            # one unpaged answer, spooled to a temporary database: flat in N)
            "floor_peak_mb": floor_peak,
            "sync_peak_mb": sync_peak,
            "rerun_peak_mb": rerun_peak,
        },
    )
