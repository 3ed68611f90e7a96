"""Claims on single outbox rows across processes: only a row's holder may send it.

Several processes advance the same outboxes at once (``tci cover status`` twice, beside
the scheduler's poll job, on one ledger). Before a row is sent, its holder claims it;
another process that finds it claimed skips it rather than waits (it would only find
the row sent). A claim must vanish with a process killed by ``kill -9`` (the next run
then looks the row's reference up at the insurer before sending it again), and it must
not hold a transaction open while the insurer is called. So it is never a column with
a lease:

* PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection in autocommit mode
  (the server drops it with the connection);
* SQLite file: a POSIX record lock (``lockf``) on byte ``row id`` of one file per
  table beside the database (the kernel drops it with the process). Record locks
  belong to the process and all of them on a file go when any of its descriptors is
  closed, so the file stays open for the life of the process, and a set within the
  process keeps its own threads apart;
* in-memory SQLite: that set alone (no other process can see the database).
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy import text

from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.locks import lock_key

_GUARD = threading.Lock()
_HELD: set[tuple[str, str, int]] = set()
_FILES: dict[str, IO[bytes]] = {}


@contextmanager
def claim(ledger: Ledger, table: str, row_id: int) -> Iterator[bool]:
    """Try to claim row ``row_id`` of ``table`` for the block, without waiting: yields
    ``True`` when this process (and thread) holds it, ``False`` when another does."""
    url = ledger.engine.url
    if url.get_backend_name() == "postgresql":
        with _advisory(ledger, table, row_id) as held:
            yield held
        return
    scope = f"{id(ledger.engine)}" if url.database in (None, "", ":memory:") else url.database
    assert scope is not None
    key = (scope, table, row_id)
    with _GUARD:
        if key in _HELD:
            held = False
        else:
            held = url.database in (None, "", ":memory:") or _lock_byte(scope, table, row_id)
            if held:
                _HELD.add(key)
    try:
        yield held
    finally:
        if held:
            with _GUARD:
                _HELD.discard(key)
                if url.database not in (None, "", ":memory:"):
                    _unlock_byte(scope, table, row_id)


@contextmanager
def _advisory(ledger: Ledger, table: str, row_id: int) -> Iterator[bool]:
    conn = ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        schema = str(conn.scalar(text("SELECT current_schema()")))
        key = lock_key(f"{schema}:claim:{table}:{row_id}")
        held = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        conn.close()


def _file(database: str, table: str) -> IO[bytes]:
    path = f"{database}.{table}.claims"
    handle = _FILES.get(path)
    if handle is None:
        handle = Path(path).open("a+b")  # noqa: SIM115 - open for the life of the process
        _FILES[path] = handle
    return handle


def _lock_byte(database: str, table: str, row_id: int) -> bool:
    try:
        fcntl.lockf(_file(database, table).fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, row_id)
    except OSError:  # EACCES or EAGAIN: another process holds it
        return False
    return True


def _unlock_byte(database: str, table: str, row_id: int) -> None:
    fcntl.lockf(_file(database, table).fileno(), fcntl.LOCK_UN, 1, row_id)
