"""The first step of a limit sync (:mod:`tci_gateway.services.sync`): fetch the portfolio
page by page and stage it, comparing each page's digests with the baseline run's first.
The fetch runs ahead in a thread of its own (:mod:`tci_gateway.services.sync_prefetch`):
the insurer prepares its next answers while a batch is staged. While the records match
the baseline's it runs in the foreground: only digests are compared then, and the
hand-over between threads would cost more than it overlaps."""

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
    matches_staged,
    record_digest,
    stage,
)
from tci_gateway.services.sync_prefetch import Prefetch, batches

BATCH = 1000
"""Records staged (or compared) per transaction."""


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

    def flush(batch: list[PortfolioEntry], digests: list[str]) -> None:
        nonlocal matching
        start = report.fetched
        if baseline is not None and matching:
            with ledger.reading() as session:
                same = matches_staged(session, baseline.run_id, start, digests)
            if same:
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

    pages = batches(fetch(PolicyRef.of(policy)), size=BATCH, digest=record_digest)
    try:
        fetched_all = False
        if baseline is not None:
            # In the foreground while the records match (nothing to write beside the
            # fetch); the rest goes to the prefetch thread at the first difference.
            for page in pages:
                report.errors.extend(page.errors)
                flush(page.entries, page.digests)
                if not matching:
                    break
            else:
                fetched_all = True
        if not fetched_all:
            with Prefetch(pages) as ahead:
                for page in ahead:
                    report.errors.extend(page.errors)
                    flush(page.entries, page.digests)
    finally:
        pages.close()
    if baseline is not None and matching and (report.errors or report.fetched != baseline.records):
        # Every record fetched matched, but the portfolio is not that run's: stage the
        # records skipped so far, and reconcile the run in full.
        with ledger.unit_of_work() as session:
            copy_staged(session, baseline.run_id, run_id, report.fetched, now)
        return False
    return matching
