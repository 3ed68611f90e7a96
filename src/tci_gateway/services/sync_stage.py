"""The first step of a limit sync (:mod:`tci_gateway.services.sync`): fetch the portfolio
page by page and stage it, comparing each page's digests with the baseline run's first.
The fetch runs ahead in a thread of its own (:mod:`tci_gateway.services.sync_prefetch`):
the insurer prepares its next answers while a batch is staged. While the records match
the baseline's it runs in the foreground, record by record against a window of the
baseline's digests read as one string, and drops each record that matched: nothing is
written then, so there is nothing to overlap, and handing batches between threads (and
holding them meanwhile, for the garbage collector to walk) cost some 10-15 % of the fetch."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from tci_gateway.adapters.contract import InsurerAdapter, PolicyRef, PortfolioItem
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.sync import SyncReport
from tci_gateway.errors import RecordError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.staging import (
    DIGEST_CHARS,
    Baseline,
    copy_staged,
    record_digest,
    stage,
    staged_digest_window,
)
from tci_gateway.services.sync_prefetch import Prefetch, batches

BATCH = 1000
"""Records staged per transaction."""
WINDOW = 10 * BATCH
"""How many of the baseline run's digests are read at once (one string, 320 kB)."""


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
    fetched = iter(fetch(PolicyRef.of(policy)))
    items: Iterator[PortfolioItem] = fetched
    try:
        if baseline is not None:
            rest = _match(ledger, baseline, items, report, progress)
            if rest is None and not report.errors and report.fetched == baseline.records:
                return True
            # From the first difference on (or, when every record fetched matched, for a
            # portfolio that is not that run's): the records that matched are staged from
            # the baseline's rows, the rest as fetched, and the run reconciled in full.
            with ledger.unit_of_work() as session:
                copy_staged(session, baseline.run_id, run_id, report.fetched, now)
            if rest is None:
                return False
            items = rest
        _stage(ledger, adapter.name, items, run_id, report, now, progress)
        return False
    finally:
        close = getattr(fetched, "close", None)
        if close is not None:
            close()


def _match(
    ledger: Ledger,
    baseline: Baseline,
    items: Iterator[PortfolioItem],
    report: SyncReport,
    progress: Callable[[int], None] | None,
) -> Iterator[PortfolioItem] | None:
    """Compare the records fetched with the baseline's, one by one, in the foreground:
    a record that hashes the same is counted and dropped at once (nothing is held, and
    nothing is handed between threads: the fetch runs as the adapter's own paging
    does). At the first difference, the rest of the portfolio from that record on;
    ``None`` when every record fetched matched."""
    window, start = "", 0  # the baseline's digests from position `start` on, 32 characters each
    position = 0
    for item in items:
        if isinstance(item, RecordError):
            report.errors.append(str(item))
            continue
        offset = (position - start) * DIGEST_CHARS
        if offset >= len(window):
            start, offset = position, 0
            with ledger.reading() as session:
                window = staged_digest_window(session, baseline.run_id, position, WINDOW)
        if window[offset : offset + DIGEST_CHARS] != record_digest(item):
            return itertools.chain((item,), items)
        position += 1
        report.fetched = position
        if progress and position % BATCH == 0:
            progress(position)
    if progress:
        progress(position)
    return None


def _stage(
    ledger: Ledger,
    source: str,
    items: Iterable[PortfolioItem],
    run_id: int,
    report: SyncReport,
    now: datetime,
    progress: Callable[[int], None] | None,
) -> None:
    """Stage the records from position ``report.fetched`` on, a batch per transaction,
    the fetch running ahead in a thread."""
    with Prefetch(batches(items, size=BATCH, digest=record_digest)) as pages:
        for page in pages:
            report.errors.extend(page.errors)
            if page.entries:
                with ledger.unit_of_work() as session:
                    stage(session, run_id, source, page.entries, report.fetched, now, page.digests)
            report.fetched += len(page.entries)
            if progress:
                progress(report.fetched)
