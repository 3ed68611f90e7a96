"""The cover records of a portfolio answer, kept off the heap and given back buyer by buyer.

Atradius answers ``GET covers`` with every record of the policy in one answer: no paging,
and no documented order (``fixtures/atradius/README.md``). A buyer's records are judged
together (:mod:`.portfolio`), so they must be brought together, but a portfolio of N
records cannot be held, nor can an index of them (a position and a buyer a record is
still some 130 bytes a record: not flat in N). :class:`CoverSpool` writes each record's
text, as the answer gave it, into a private temporary SQLite database on disk (SQLite
unlinks its file as it opens it: nothing stays after a crash; it is only written once
its page cache, :data:`CACHE_BYTES`, is full), with its position and the position of
its buyer's first record (a ``buyer`` table, keyed by the buyer, gives that). The
records are read back in the order of an index on (first position, position): buyer by
buyer in the order buyers first appear, a buyer's records in the order of the answer,
one buyer's records parsed at a time. The same answer is given back in the same order,
whatever it is. Memory holds the page cache and a batch of records, whatever N.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tci_gateway.http.jsonexact import loads
from tci_gateway.http.jsonstream import Element

CACHE_BYTES = 2 * 1024 * 1024
"""The spool database's page cache: the most it keeps in memory (the rest is on disk)."""
BATCH_RECORDS = 500
"""How many records are gathered before they are written."""

Group = list[tuple[int, Any]]
"""One buyer's records: (position in the answers, JSON record)."""

_SCHEMA = (
    "PRAGMA journal_mode = OFF",  # a private scratch database: nothing to roll back to
    "PRAGMA synchronous = OFF",
    "PRAGMA temp_store = FILE",
    "CREATE TABLE buyer (key TEXT PRIMARY KEY, first INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE record (pos INTEGER PRIMARY KEY, first INTEGER NOT NULL, text TEXT NOT NULL)",
    "CREATE INDEX record_order ON record (first, pos)",
)
_ADD_BUYER = "INSERT OR IGNORE INTO buyer (key, first) VALUES (?, ?)"
# a record's group: its buyer's first position, or its own when it has no buyer
_ADD_RECORD = (
    "INSERT INTO record (first, pos, text)"
    " VALUES (coalesce((SELECT first FROM buyer WHERE key = ?1), ?2), ?2, ?3)"
)


class CoverSpool:
    """Records added with :meth:`add` (``key`` gives a record's buyer, ``None`` when it
    has none it can be grouped by), read back with :meth:`groups`. Close it when done."""

    def __init__(self, key: Callable[[Any], str | None]) -> None:
        self._key = key
        self._count = 0
        # "": a private temporary database on disk; read by the sync's prefetch thread
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA cache_size = -{max(CACHE_BYTES // 1024, 1)}")
        for statement in _SCHEMA:
            self._db.execute(statement)

    def __len__(self) -> int:
        return self._count

    def add(self, elements: Iterable[Element]) -> None:
        """Spool these records after those already spooled (a batch at a time: the
        records are never gathered whole). Those read before ``elements`` fails stay
        spooled (see :meth:`truncate`)."""
        key = self._key
        batch: list[tuple[str | None, int, str]] = []
        self._db.execute("BEGIN")
        try:
            for element in elements:
                batch.append((key(element.value), self._count + len(batch), element.text))
                if len(batch) >= BATCH_RECORDS:
                    self._write(batch)
                    batch.clear()
        finally:
            try:
                self._write(batch)
            finally:
                self._db.execute("COMMIT")

    def _write(self, batch: list[tuple[str | None, int, str]]) -> None:
        if not batch:
            return
        # the buyers first, in order: a buyer new in this batch gets its first position
        self._db.executemany(_ADD_BUYER, [(k, i) for k, i, _ in batch if k is not None])
        self._db.executemany(_ADD_RECORD, batch)
        self._count += len(batch)

    def truncate(self, records: int) -> None:
        """Forget every record from position ``records`` on (those of an answer that was
        not read to its end)."""
        if records >= self._count:
            return
        self._db.execute("DELETE FROM record WHERE pos >= ?", (records,))
        # a buyer first seen from there on has no record left; the others keep their first
        self._db.execute("DELETE FROM buyer WHERE first >= ?", (records,))
        self._count = records

    def groups(self) -> Iterator[Group]:
        """Each buyer's records (a keyless record alone), in the order buyers first
        appear; each record parsed anew (numbers as ``Decimal``)."""
        rows = self._db.execute("SELECT first, pos, text FROM record ORDER BY first, pos")
        group: Group = []
        current = -1
        for first, pos, text in rows:
            if first != current and group:
                yield group
                group = []
            current = first
            group.append((pos, loads(text)))
        if group:
            yield group

    def close(self) -> None:
        """Drop the spooled records (SQLite deletes its file)."""
        self._db.close()
        self._count = 0
