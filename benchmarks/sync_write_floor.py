"""The limit sync's write floor: the rows a first sync wrote (its staged records, cover
versions and tranches, alerts, limit changes and limits in force) written again with one
``COPY FROM STDIN`` (PostgreSQL) or one ``executemany`` in one transaction (SQLite) per
table, into the same tables with their indexes, nothing else: the database work no sync
of those rows can go below.

The rows are dumped to a temporary file first (untimed, memory flat), deleted, and the
timed part loads them back from the file, in an order the foreign keys accept."""

from __future__ import annotations

import pickle
import tempfile
import time
from collections.abc import Iterator
from typing import IO, Any

from tci_gateway.ledger.engine import Ledger

TABLES = (
    "sync_staging",
    "cover_decisions",
    "cover_tranches",
    "alerts",
    "limit_changes",
    "limits_in_force",
)
"""Loaded in this order; deleted in the reverse."""
CHUNK = 5000


def _columns(raw: Any, table: str) -> list[str]:
    cursor = raw.cursor()
    try:
        cursor.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        return [d[0] for d in cursor.description]
    finally:
        cursor.close()


def _dump(raw: Any, table: str, columns: list[str], postgres: bool, out: IO[bytes]) -> int:
    names = ", ".join(columns)
    if postgres:
        size = 0
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) TO STDOUT") as cp:
            for block in cp:
                out.write(block)
                size += len(block)
        return size
    cursor = raw.cursor()
    try:
        cursor.execute(f"SELECT {names} FROM {table}")
        count = 0
        while rows := cursor.fetchmany(CHUNK):
            pickle.dump(rows, out)
            count += len(rows)
        return count
    finally:
        cursor.close()


def _rows(source: IO[bytes]) -> Iterator[tuple[Any, ...]]:
    while True:
        try:
            yield from pickle.load(source)
        except EOFError:
            return


def _begin(cursor: Any, postgres: bool) -> None:
    if not postgres:  # the ledger's SQLite connections leave BEGIN to the caller
        cursor.execute("BEGIN IMMEDIATE")


def _commit(raw: Any, postgres: bool) -> None:
    if postgres:
        raw.commit()
    elif raw.in_transaction:
        raw.execute("COMMIT")


def write_floor(ledger: Ledger) -> dict[str, Any]:
    """Time the load of the sync's rows (see the module doc); per table and in all."""
    postgres = ledger.engine.dialect.name == "postgresql"
    files: dict[str, IO[bytes]] = {}
    columns: dict[str, list[str]] = {}
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tci-write-floor-") as tmp:
        connection = ledger.engine.raw_connection()
        try:
            raw: Any = connection.driver_connection
            for table in TABLES:
                columns[table] = _columns(raw, table)
                files[table] = open(f"{tmp}/{table}", "w+b")  # noqa: SIM115
                _dump(raw, table, columns[table], postgres, files[table])
            _commit(raw, postgres)
            cursor = raw.cursor()
            _begin(cursor, postgres)
            for table in reversed(TABLES):
                cursor.execute(f"DELETE FROM {table}")
            cursor.close()
            _commit(raw, postgres)
            started = time.perf_counter()
            cursor = raw.cursor()
            _begin(cursor, postgres)
            cursor.close()
            for table in TABLES:
                source = files[table]
                source.seek(0)
                names = ", ".join(columns[table])
                begun = time.perf_counter()
                if postgres:
                    with (
                        raw.cursor() as cursor,
                        cursor.copy(f"COPY {table} ({names}) FROM STDIN") as cp,
                    ):
                        while block := source.read(1 << 20):
                            cp.write(block)
                else:
                    marks = ", ".join("?" * len(columns[table]))
                    cursor = raw.cursor()
                    cursor.executemany(
                        f"INSERT INTO {table} ({names}) VALUES ({marks})",
                        _rows(source),
                    )
                    cursor.close()
                timings[table] = round(time.perf_counter() - begun, 3)
            _commit(raw, postgres)
            total = time.perf_counter() - started
        finally:
            for f in files.values():
                f.close()
            connection.close()
    return {"write_floor_s": round(total, 3), "write_floor_tables_s": timings}
