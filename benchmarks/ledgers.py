"""Fresh, migrated ledgers for benchmark stages: a SQLite file or a PostgreSQL schema."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from tci_gateway.ledger.engine import Ledger, make_engine, normalise_url
from tci_gateway.ledger.migrate import upgrade

PG_URL = os.environ.get("TCI_BENCH_DATABASE_URL") or os.environ.get("TCI_TEST_DATABASE_URL")


@contextmanager
def fresh_ledger(backend: str) -> Iterator[tuple[Ledger, str]]:
    """A migrated empty ledger and its URL, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="tci-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
            ledger = Ledger.from_url(url)
            upgrade(ledger.engine)
            try:
                yield ledger, url
            finally:
                ledger.dispose()
        return
    if not PG_URL:
        raise SystemExit("set TCI_BENCH_DATABASE_URL (or TCI_TEST_DATABASE_URL) for PostgreSQL")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{normalise_url(PG_URL)}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    ledger = Ledger.from_url(url)
    upgrade(ledger.engine)
    try:
        yield ledger, url
    finally:
        ledger.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
