"""The first step of a limit sync (:mod:`tci_gateway.services.sync`): fetch the portfolio
page by page and stage it, comparing each page's digests with the baseline run's first.
The fetch runs ahead in a thread of its own (:mod:`tci_gateway.services.sync_prefetch`):
the insurer prepares its next answers while a batch is compared or staged."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from tci_gateway.adapters.contract import InsurerAdapter, PolicyRef, PortfolioEntry, PortfolioItem
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.sync import SyncReport
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.staging import (
    Baseline,
    copy_staged,
    record_digest,
    stage,
    staged_digests,
)
from tci_gateway.services.sync_prefetch import Prefetch

BATCH = 1000
"""Records staged (or compared) per transaction."""
WINDOW = 10 * BATCH
"""How many of the baseline run's digests are read at once (a few hundred kB)."""


def fetch_and_stage(
    ledger: Ledger,
    adapter: InsurerAdapter,
    fetch: Callable[[PolicyRef], Iterable[PortfolioItem]],
    policy: Policy,
    run_id: int,
    baseline: Baseline | None,
    report: SyncReport,
    now: datetime,
    progress: Callable[[int], None] | None,
) -> bool:
    """Fetch and stage the portfolio (see the module docstring); ``True`` when every
    record hashed the same as ``baseline``'s, in the same order, and nothing was staged."""
    matching = baseline is not None
    window: list[str | None] = []  # the baseline's digests from position window_start on
    window_start = 0

    def baseline_digests(start: int, stop: int) -> list[str | None]:
        """The baseline's digests at these positions, read a window of several batches
        at a time (one query, one transaction per window while every record matches)."""
        nonlocal window, window_start
        assert baseline is not None
        if not window_start <= start or stop > window_start + len(window):
            window_start = start
            stop_at = min(start + WINDOW, baseline.records)
            with ledger.reading() as session:
                window = staged_digests(session, baseline.run_id, start, max(stop, stop_at))
        return window[start - window_start : stop - window_start]

    def flush(batch: list[PortfolioEntry], digests: list[str]) -> None:
        nonlocal matching
        start = report.fetched
        if baseline is not None and matching:
            if baseline_digests(start, start + len(batch)) == digests:
                batch.clear()
            else:
                matching = False
                with ledger.unit_of_work() as session:
                    copy_staged(session, baseline.run_id, run_id, start, now)
        if batch:
            with ledger.unit_of_work() as session:
                stage(session, run_id, adapter.name, batch, start, now, digests)
        report.fetched += len(digests)
        if progress:
            progress(report.fetched)

    with Prefetch(fetch(PolicyRef.of(policy)), size=BATCH, digest=record_digest) as pages:
        for page in pages:
            report.errors.extend(page.errors)
            flush(page.entries, page.digests)
    if baseline is not None and matching and (report.errors or report.fetched != baseline.records):
        # Every record fetched matched, but the portfolio is not that run's: stage the
        # records skipped so far, and reconcile the run in full.
        with ledger.unit_of_work() as session:
            copy_staged(session, baseline.run_id, run_id, report.fetched, now)
        return False
    return matching
