"""Many rows of one table written in one statement, in the caller's transaction: the limit
sync's staging, cover versions, tranches and alerts.

PostgreSQL: ``COPY ... FROM STDIN`` (psycopg's ``cursor.copy()``), or one ``INSERT ...
SELECT FROM unnest(...)`` where a unique key may refuse rows; SQLite: one
``executemany``. The values go through the columns' own types first (exact decimals
scaled on SQLite, instants in UTC, JSON serialised), so the rows stored are the rows an
ORM or Core insert would store. Core's ``insert().returning()`` over many rows builds one
statement of every value per thousand rows, which psycopg then parses in Python: the
100k limit sync spent more time there than in the database.

Ids are reserved first (:func:`reserve_ids`) where the caller needs them (a version's
tranches and alerts name it): a sequence's values on PostgreSQL; on SQLite the ids above
the largest, safe because the caller's transaction holds SQLite's one write lock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, Table, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

Processor = Callable[[Any], Any] | None


def _processors(table: Table, columns: Sequence[str], dialect: Dialect) -> list[Processor]:
    return [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]


def _bound(rows: Iterable[Sequence[Any]], processors: list[Processor]) -> Iterable[tuple[Any, ...]]:
    # A value that is the very object of the row before (a run's instant, a business
    # date, a policy id) is not converted again: the processors are pure functions.
    seen: list[Any] = [None] * len(processors)
    done: list[Any] = [None] * len(processors)
    for row in rows:
        out = []
        for k, (p, value) in enumerate(zip(processors, row, strict=True)):
            if p is None or value is None:
                out.append(value)
            elif value is seen[k]:
                out.append(done[k])
            else:
                seen[k], done[k] = value, p(value)
                out.append(done[k])
        yield tuple(out)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` new ids for ``table``'s ``id`` column, ascending (see the module doc)."""
    if count <= 0:
        return []
    if _postgres(session):
        stmt = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
        )
        return sorted(int(i) for i in session.scalars(stmt, {"table": table.name, "n": count}))
    top = int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0)
    return list(range(top + 1, top + 1 + count))


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """Insert ``rows`` (tuples in the order of ``columns``) into ``table``; returns how
    many."""
    if not rows:
        return 0
    session.flush()  # what the session holds goes first: these rows bypass it
    bind = session.get_bind()
    bound = _bound(rows, _processors(table, columns, bind.dialect))
    raw: Any = session.connection().connection.driver_connection
    names = ", ".join(columns)
    if _postgres(session):
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as cp:
            for row in bound:
                cp.write_row(row)
        return len(rows)
    marks = ", ".join("?" * len(columns))
    cursor = raw.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", bound)  # noqa: S608
    finally:
        cursor.close()
    return len(rows)


def insert_new_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    unique: str,
) -> int:
    """Insert ``rows`` but those whose ``unique`` column (a unique index) holds a value
    already there (or earlier among ``rows``); returns how many were inserted."""
    if not rows:
        return 0
    session.flush()
    bind = session.get_bind()
    names = ", ".join(columns)
    raw: Any = session.connection().connection.driver_connection
    if not _postgres(session):
        bound = _bound(rows, _processors(table, columns, bind.dialect))
        marks = ", ".join("?" * len(columns))
        sql = (
            f"INSERT INTO {table.name} ({names}) VALUES ({marks}) "  # noqa: S608
            f"ON CONFLICT ({unique}) DO NOTHING"
        )
        cursor = raw.cursor()
        try:
            cursor.executemany(sql, bound)
            return int(cursor.rowcount)
        finally:
            cursor.close()
    # One statement: each column an array parameter, the rows unnested from them.
    dialect = bind.dialect
    processors = _processors(table, columns, dialect)
    arrays: list[list[Any]] = [[] for _ in columns]
    # JSON travels as text (psycopg's JSON wrapper cannot be an array element)
    texts = {n for n in columns if isinstance(table.c[n].type, JSON)}
    convert: list[Processor] = [
        json.dumps if n in texts else p for n, p in zip(columns, processors, strict=True)
    ]
    for row in rows:
        for k, value in enumerate(row):
            p = convert[k]
            arrays[k].append(value if p is None or value is None else p(value))
    casts = ", ".join(
        f"%s::{'text' if n in texts else table.c[n].type.compile(dialect)}[]" for n in columns
    )
    picks = ", ".join(f"{n}::json" if n in texts else n for n in columns)
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT {picks} "  # noqa: S608
        f"FROM unnest({casts}) AS r({names}) ON CONFLICT ({unique}) DO NOTHING"
    )
    with raw.cursor() as cursor:
        cursor.execute(sql, arrays)
        return int(cursor.rowcount)
