"""Claims on single outbox rows across processes: only a row's holder may send it.

Several processes advance the same outboxes at once (``tci cover status`` twice, beside
the scheduler's poll job, on one ledger). Before a row is sent, its holder claims it;
another process (or thread) that finds it claimed skips it rather than waits (it would
only find the row sent). A claim must vanish with a process killed by ``kill -9`` (the
next run then looks the row's reference up at the insurer before sending it again), and
it must not hold a transaction open while the insurer is called. So it is never a column
with a lease: it is the named lock ``claim:<table>:<row id>`` of
:mod:`tci_gateway.ledger.locks` (a PostgreSQL advisory lock, a file lock beside a SQLite
database, a lock within the process for an in-memory one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.locks import NamedLock


@contextmanager
def claim(ledger: Ledger, table: str, row_id: int) -> Iterator[bool]:
    """Try to claim row ``row_id`` of ``table`` for the block, without waiting: yields
    ``True`` when this process (and thread) holds it, ``False`` when another does."""
    lock = NamedLock(ledger, f"claim:{table}:{row_id}")
    held = lock.try_acquire()
    try:
        yield held
    finally:
        if held:
            lock.release()
