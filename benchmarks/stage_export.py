"""Covered-limits export of N buyers (default 100,000) against a raw SELECT of the same
rows written with csv.writer.

The limits in force are kept in the ledger (``limits_in_force``): the stage first fills
them (as the sync does for new decisions; ``initial_fill_s``), then runs the nightly date
roll of the next business date (``nightly_roll_s``: every limit computed again from its
history, a page of buyers at a time, none changed), then measures the export of that
day as ``tci export limits`` writes it (streamed, its own roll included, which then has
nothing to do). Then 1 % of the buyers get a new decision in a sync run (their limits
refreshed in the same transaction by ``refresh_after_sync``, as the sync does) and
``--changed-since`` the full export's cursor is measured (``changed_since_s``;
``changed_share`` is its time over the full export's; both include the export's own date
roll, which finds the policy already rolled through the day: ``noop_roll_s`` is that
roll alone, one read of ``limit_rolls``). ``unmarked_roll_s`` is the same roll with
that record deleted first (as a cover version recorded outside a sync does): the walk
over every limit and decision of the policy that finds nothing due, what every no-op
roll cost before migration 0014.

Memory: the seed is inserted in batches and every step streams, so the process's peak
should not grow with N. ``export_peak_rss_mb`` is the peak resident memory of the export
alone (Linux: the peak is reset through ``/proc/self/clear_refs`` before it and read from
``VmHWM`` after; it includes what the process already held, the interpreter and the
modules); ``nightly_roll_peak_mb`` likewise for the nightly roll; ``seed_peak_rss_mb`` is
the process's peak up to the end of the seed."""

from __future__ import annotations

import argparse
import csv
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert, select

from benchmarks.common import StageResult, atradius_terms, best_of, peak_rss_mb, timed
from benchmarks.ledgers import fresh_ledger
from tci_gateway.domain.policy import Policy
from tci_gateway.erp.export import atomic_text_file
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import limits_rolled, unmark_limits_rolled, upsert_policies
from tci_gateway.ledger.runs import start_sync_run
from tci_gateway.ledger.tables import (
    BuyerRow,
    CoverDecisionRow,
    CoverTrancheRow,
    ErpAccountRow,
    PolicyRow,
)
from tci_gateway.logs import configure_logging
from tci_gateway.services.export import LIMIT_COLUMNS, open_limits, write_limits_csv
from tci_gateway.services.limits import refresh_after_sync, roll_limits

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
DEFAULT_BUYERS = 100_000
BATCH = 5_000
T = TypeVar("T")


def reset_peak() -> bool:
    """Reset this process's peak resident memory (Linux); False where it cannot be."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def current_peak_mb() -> float:
    """The peak resident memory since the last :func:`reset_peak` (``VmHWM``), else the
    process's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def own_peak(fn: Callable[[], T]) -> tuple[float, T, float]:
    """``fn``'s time, value and peak resident memory (MB)."""
    reset_peak()
    seconds, value = timed(fn)
    return seconds, value, current_peak_mb()


def batches(n: int, row: Callable[[int], dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, n, BATCH):
        yield [row(i) for i in range(start, min(n, start + BATCH))]


def seed(ledger: Ledger, policies: dict[str, Policy], n: int) -> int:
    """N buyers, one ERP account and one approved decision (one tranche) each."""
    with ledger.unit_of_work() as s:
        pid = upsert_policies(s, policies, NOW)["main"]
        for rows in batches(
            n,
            lambda i: {
                "id": i + 1,
                "name": f"Buyer {i}",
                "country": "DE",
                "created_at": NOW,
                "updated_at": NOW,
            },
        ):
            s.execute(insert(BuyerRow), rows)
        for rows in batches(
            n,
            lambda i: {
                "account": f"C{i:07d}",
                "name": f"Buyer {i}",
                "buyer_id": i + 1,
                "policy_id": pid,
                "created_at": NOW,
                "updated_at": NOW,
            },
        ):
            s.execute(insert(ErpAccountRow), rows)
        for rows in batches(n, lambda i: decision_row(pid, i + 1, i, 1000 * (i % 500 + 5))):
            s.execute(insert(CoverDecisionRow), rows)
        for rows in batches(n, lambda i: tranche_row(i + 1, 1000 * (i % 500 + 5))):
            s.execute(insert(CoverTrancheRow), rows)
    return pid


def decision_row(
    pid: int, decision_id: int, buyer: int, amount: int, run_id: int | None = None
) -> dict[str, Any]:
    return {
        "id": decision_id,
        "policy_id": pid,
        "buyer_id": buyer + 1,
        "insurer_cover_ref": f"R{buyer}",
        "status": "APPROVED",
        "is_preliminary": False,
        "currency": "EUR",
        "granted_amount": Decimal(amount),
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
        "sync_run_id": run_id,
    }


def tranche_row(decision_id: int, amount: int) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "position": 0,
        "amount": Decimal(amount),
        "valid_from": date(2026, 1, 1),
        "expires_on": None,
    }


def change_one_percent(ledger: Ledger, policies: dict[str, Policy], pid: int, n: int) -> int:
    """A new decision (a higher amount) for every 100th buyer, recorded by a sync run and
    refreshed in its transaction, as a sync does."""
    buyers = list(range(0, n, 100))
    policy = policies["main"]
    with ledger.unit_of_work() as s:
        run = start_sync_run(
            s,
            insurer=policy.insurer,
            policy_id=pid,
            business_date=policy.terms.business_date(NOW),
            now=NOW,
        )
        s.execute(
            insert(CoverDecisionRow),
            [
                decision_row(pid, n + k + 1, b, 1000 * (b % 500 + 6), run)
                for k, b in enumerate(buyers)
            ],
        )
        s.execute(
            insert(CoverTrancheRow),
            [tranche_row(n + k + 1, 1000 * (b % 500 + 6)) for k, b in enumerate(buyers)],
        )
        changed = refresh_after_sync(s, policy, pid, run, now=NOW)
    assert changed == len(buyers), (changed, len(buyers))
    return changed


def unmarked_roll(ledger: Ledger, policies: dict[str, Policy], pid: int) -> float:
    """The time of a roll that finds nothing due, the policy's ``limit_rolls`` record
    deleted first (not timed): every limit and decision of the policy walked."""
    with ledger.unit_of_work() as s:
        unmark_limits_rolled(s, pid)
    seconds, report = timed(lambda: roll_limits(ledger, policies, NOW))
    assert report.total_changed == 0 and report.computed == {"main": 0}
    with ledger.reading() as s:
        assert limits_rolled(s) == {pid: policies["main"].terms.business_date(NOW)}
    return seconds


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buyers", type=int)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    terms = atradius_terms()
    policies = {"main": Policy("main", "atradius", terms, {})}
    n = opts.buyers or max(1, round(DEFAULT_BUYERS * opts.scale))
    with tempfile.TemporaryDirectory() as tmp, fresh_ledger(opts.backend) as (ledger, _):
        pid = seed(ledger, policies, n)
        fill_s, filled = timed(lambda: roll_limits(ledger, policies, NOW - timedelta(days=1)))
        seed_peak = peak_rss_mb()
        roll_s, rolled, roll_peak = own_peak(lambda: roll_limits(ledger, policies, NOW))
        assert filled.total_changed == n and rolled.total_changed == 0
        assert rolled.computed == {"main": n}
        out = Path(tmp) / "limits.csv"

        def export(changed_since: int | None = None) -> tuple[int, int]:
            """As ``tci export limits --format csv`` does: (rows written, cursor)."""
            with (
                open_limits(
                    ledger, policies, now=NOW, changed_since=changed_since, raw_codes=False
                ) as stream,
                atomic_text_file(out) as handle,
            ):
                return write_limits_csv(stream, handle), stream.cursor

        export()  # warm, as the floor is warmed by the export before it
        _, (measured, (rows, cursor)), export_peak = own_peak(lambda: best_of(3, export))
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

        floor, raw_rows = best_of(3, floor_run)
        changed = change_one_percent(ledger, policies, pid, n)
        changed_s, (changed_rows, _) = best_of(3, lambda: export(cursor))
        noop_roll_s, noop = best_of(3, lambda: roll_limits(ledger, policies, NOW))
        assert noop.total_changed == 0 and noop.computed == {"main": 0}
        unmarked_roll_s = min(unmarked_roll(ledger, policies, pid) for _ in range(3))
    assert rows == raw_rows == n, (rows, raw_rows)
    assert changed_rows == changed, (changed_rows, changed)
    return StageResult(
        stage=f"export_limits@{opts.backend}",
        measured_s=measured,
        floor_s=floor,
        floor="one SELECT of the same rows written with csv.writer",
        goal="<= 1.5x the floor; --changed-since after 1 % changed: ~1 % of the full export",
        extra={
            "buyers": n,
            "export_peak_rss_mb": round(export_peak, 1),
            "changed_since_s": round(changed_s, 3),
            "changed_rows": changed_rows,
            "changed_share": round(changed_s / measured, 3),
            "noop_roll_s": round(noop_roll_s, 4),
            "unmarked_roll_s": round(unmarked_roll_s, 3),
            "initial_fill_s": round(fill_s, 2),
            "nightly_roll_s": round(roll_s, 2),
            "nightly_roll_peak_mb": round(roll_peak, 1),
            "seed_peak_rss_mb": round(seed_peak, 1),
        },
    )
