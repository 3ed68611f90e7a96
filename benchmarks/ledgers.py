"""Fresh, migrated ledgers for benchmark stages: a SQLite file or a PostgreSQL schema,
and :func:`bulk_insert`, which seeds them from a stream of rows with memory flat."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, cast

from sqlalchemy import ColumnDefault, Table, text
from sqlalchemy.engine import Dialect

from tci_gateway.ledger.base import Base
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


BATCH = 10_000


def _processors(
    table: Table, columns: list[str], dialect: Dialect
) -> list[Callable[[Any], Any] | None]:
    # What SQLAlchemy does to each bound value (exact decimals, UTC instants), so that a
    # raw COPY or executemany stores the same thing an ORM insert would; cached, since a
    # seed repeats a few amounts and instants millions of times (bounded: memory flat).
    procs = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    return [None if p is None else lru_cache(maxsize=4096)(p) for p in procs]


def bulk_insert(ledger: Ledger, mapped: type[Base], rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert a stream of rows (mappings of column name to Python value, every row with
    the first row's keys) into the table of ``mapped``, memory flat in their number:
    ``COPY ... FROM STDIN`` on PostgreSQL in one transaction, on SQLite an
    ``executemany`` of ``BATCH`` rows per transaction. Columns left out get their scalar
    Python default or the database's. Returns the number of rows."""
    table = cast(Table, mapped.__table__)
    stream = iter(rows)
    first = next(stream, None)
    if first is None:
        return 0
    defaults = {
        c.name: c.default.arg
        for c in table.columns
        if c.name not in first and isinstance(c.default, ColumnDefault) and c.default.is_scalar
    }
    columns = [*first, *defaults]
    dialect = ledger.engine.dialect
    procs = _processors(table, columns, dialect)
    fill = tuple(defaults.values())

    def values(row: Mapping[str, Any]) -> tuple[Any, ...]:
        raw = (*(row[name] for name in first), *fill)
        return tuple(v if p is None else p(v) for p, v in zip(procs, raw, strict=True))

    count = 0
    names = ", ".join(f'"{name}"' for name in columns)
    if dialect.name == "postgresql":
        with ledger.engine.begin() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for item in chain([first], stream):
                    copy.write_row(values(item))
                    count += 1
        return count
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(columns))})'
    batch = [values(first)]
    for row in stream:
        batch.append(values(row))
        if len(batch) == BATCH:
            with ledger.engine.begin() as conn:
                conn.exec_driver_sql(sql, batch)
            count += len(batch)
            batch = []
    if batch:
        with ledger.engine.begin() as conn:
            conn.exec_driver_sql(sql, batch)
        count += len(batch)
    return count
