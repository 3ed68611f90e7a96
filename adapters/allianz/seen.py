"""The companies a portfolio read has listed so far, kept off the heap.

A request in progress is a PENDING entry only for a company the covers did not list
(:func:`.portfolio.pending_items`), and the requests are read after every page of
covers: the companies listed must be remembered across the whole portfolio. A set of
their ids grows with the portfolio (some 90 bytes a company: 12 MB at 133,000), so
:class:`SeenCompanies` keeps them in a private temporary SQLite database on disk (SQLite
unlinks its file as it opens it: nothing stays after a crash; it is only written once
its page cache, :data:`CACHE_BYTES`, is full). Ids are added a batch at a time; a
lookup writes the batch first.
"""

from __future__ import annotations

import sqlite3

CACHE_BYTES = 1024 * 1024
"""The database's page cache: the most it keeps in memory (the rest is on disk)."""
BATCH = 1000
"""How many ids are gathered before they are written."""


class SeenCompanies:
    """A set of company ids (``add``, ``in``) held on disk; :meth:`close` drops it."""

    def __init__(self) -> None:
        self._added: list[str] = []
        # "": a private temporary database on disk; the portfolio is read in the sync's
        # prefetch thread
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA cache_size = -{max(CACHE_BYTES // 1024, 1)}")
        self._db.execute("PRAGMA journal_mode = OFF")  # a scratch database: no rollback
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE seen (company TEXT PRIMARY KEY) WITHOUT ROWID")

    def add(self, company: str) -> None:
        """Remember ``company``."""
        self._added.append(company)
        if len(self._added) >= BATCH:
            self._write()

    def __contains__(self, company: object) -> bool:
        if not isinstance(company, str):
            return False
        self._write()
        found = self._db.execute("SELECT 1 FROM seen WHERE company = ?", (company,))
        return found.fetchone() is not None

    def close(self) -> None:
        """Forget every id (SQLite deletes its file)."""
        self._added.clear()
        self._db.close()

    def _write(self) -> None:
        if self._added:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO seen (company) VALUES (?)", [(c,) for c in self._added]
                )
            finally:
                self._db.execute("COMMIT")
            self._added.clear()
