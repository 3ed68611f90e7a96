"""The staging table of one open-items import, and the set-based merge from it.

An import streams its parsed, validated rows into a temporary table (PostgreSQL:
``COPY FROM STDIN``; SQLite: one ``executemany``), then everything else is a handful of
set-based statements over it: the documents the file lists twice (a ``GROUP BY``), the
scope's items the file lists that were open (the mass-close guard), an ``UPDATE`` of the
items whose values changed (compared in SQL), an ``INSERT`` of the new keys, and the
``UPDATE ... WHERE NOT EXISTS`` closing what a complete file no longer lists. Counts come
from row counts: nothing is held per row in memory, and there is one round trip per
statement, not per chunk.

A staged row (:data:`StagedItem`) is the parsed row with the ERP account's id in place of
its name and the company code the import placed it in.

``settled_on`` and ``disputed_since`` follow the rules of
:mod:`tci_gateway.services.open_item_upsert`: settled on the business date the item is
first seen with open amount 0 (kept while it stays 0), disputed since the first date seen
disputed (cleared when it no longer is); an item already settled or disputed keeps its
date, even unknown (NULL).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    exists,
    text,
    update,
)

from tci_gateway.ledger.base import Amount
from tci_gateway.ledger.tables import OpenItemRow
from tci_gateway.ledger.types import UTCDateTime

OPEN_ITEMS = cast(Table, OpenItemRow.__table__)

StagedItem = tuple[
    int,
    int,
    str,
    str,
    str,
    Decimal,
    Decimal,
    date,
    date | None,
    date | None,
    bool,
    str | None,
    str | None,
]
"""``(row, account_id, document_number, kind, currency, amount, open_amount,
document_date, delivery_date, due_date, disputed, applies_to, company_code)``."""

STAGE = Table(
    "tci_open_item_stage",
    MetaData(),
    Column("row_number", Integer, nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("document_number", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("open_amount", Amount, nullable=False),
    Column("document_date", Date, nullable=False),
    Column("delivery_date", Date),
    Column("due_date", Date),
    Column("disputed", Boolean, nullable=False),
    Column("applies_to", String(64)),
    Column("company_code", String(32)),
    prefixes=["TEMPORARY"],
)
_COLUMNS = ", ".join(c.name for c in STAGE.columns)
_VALUES = (
    "kind",
    "currency",
    "amount",
    "open_amount",
    "document_date",
    "delivery_date",
    "due_date",
    "disputed",
    "applies_to",
    "company_code",
)
# Every piece put into the statements below is a constant of this module: no value is
# ever formatted into SQL (values are bound), hence the S608 waivers.
_SETTLED_NEW = "CASE WHEN s.open_amount > 0 THEN NULL ELSE :today END"
_SINCE_NEW = "CASE WHEN s.disputed THEN :today ELSE NULL END"
_SETTLED = (
    "CASE WHEN s.open_amount > 0 THEN NULL WHEN o.open_amount = 0 THEN o.settled_on ELSE :today END"
)
_SINCE = "CASE WHEN NOT s.disputed THEN NULL WHEN o.disputed THEN o.disputed_since ELSE :today END"
_SAME_KEY = "o.erp_account_id = s.account_id AND o.document_number = s.document_number"
_NAME = STAGE.name
_LOAD_SQLITE = f"INSERT INTO {_NAME} ({_COLUMNS}) VALUES ({', '.join('?' * len(STAGE.columns))})"  # noqa: S608
_LOAD_COPY = f"COPY {_NAME} ({_COLUMNS}) FROM STDIN"
_DUPLICATES = (
    "SELECT s.row_number, s.account_id, s.document_number, d.first_row "  # noqa: S608
    f"FROM {_NAME} s JOIN (SELECT account_id, document_number, MIN(row_number) AS first_row "
    f"FROM {_NAME} GROUP BY account_id, document_number HAVING COUNT(*) > 1) d "
    "ON d.account_id = s.account_id AND d.document_number = s.document_number "
    "WHERE s.row_number > d.first_row ORDER BY s.row_number LIMIT :limit"
)
_ANY_DUPLICATE = (
    f"SELECT 1 FROM {_NAME} GROUP BY account_id, document_number "  # noqa: S608
    "HAVING COUNT(*) > 1 LIMIT 1"
)
_OPEN_LISTED = (
    f"SELECT o.company_code, COUNT(*) FROM {_NAME} s JOIN open_items o ON {_SAME_KEY} "  # noqa: S608
    "WHERE o.source = :source AND o.open_amount > 0 GROUP BY o.company_code"
)


def _update(differs: str) -> str:
    changed = " OR ".join(
        [f"o.{c} {differs} s.{c}" for c in _VALUES]
        + [
            f"o.source {differs} :source",
            "o.closed_on IS NOT NULL",
            "o.closed_import_id IS NOT NULL",
            f"o.settled_on {differs} ({_SETTLED})",
            f"o.disputed_since {differs} ({_SINCE})",
        ]
    )
    assign = ", ".join(f"{c} = s.{c}" for c in _VALUES)
    return (
        f"UPDATE open_items AS o SET {assign}, source = :source, closed_on = NULL, "  # noqa: S608
        f"closed_import_id = NULL, settled_on = {_SETTLED}, disputed_since = {_SINCE}, "
        f"import_id = :import_id, updated_at = :now "
        f"FROM {_NAME} s WHERE {_SAME_KEY} AND ({changed})"
    )


_UPDATE = {"sqlite": _update("IS NOT"), "postgresql": _update("IS DISTINCT FROM")}
_INSERT_STAGED = (
    f"INSERT INTO open_items (erp_account_id, document_number, {', '.join(_VALUES)}, "  # noqa: S608
    "source, settled_on, disputed_since, import_id, updated_at) "
    f"SELECT s.account_id, s.document_number, {', '.join('s.' + c for c in _VALUES)}, "
    f":source, {_SETTLED_NEW}, {_SINCE_NEW}, :import_id, :now FROM {_NAME} s"
)
_INSERT = f"{_INSERT_STAGED} WHERE NOT EXISTS (SELECT 1 FROM open_items o WHERE {_SAME_KEY})"  # noqa: S608
# PostgreSQL: the new keys are found first, then inserted (see OpenItemStaging.merge).
_NEW_NAME = "tci_open_item_new"
_NEW_KEYS = (
    f"CREATE TEMPORARY TABLE {_NEW_NAME} AS SELECT s.row_number FROM {_NAME} s "  # noqa: S608
    f"WHERE NOT EXISTS (SELECT 1 FROM open_items o WHERE {_SAME_KEY})"
)
_INSERT_NEW = f"{_INSERT_STAGED} JOIN {_NEW_NAME} n ON n.row_number = s.row_number"
_REANALYSE_AT = 10_000
"""Rows an import inserts (and a tenth of the table at least) from which it refreshes the
table's statistics itself (PostgreSQL), before the next statement plans with stale ones."""


def _params(stmt: str) -> Any:
    return text(stmt).bindparams(
        bindparam("today", type_=Date()), bindparam("now", type_=UTCDateTime())
    )


class OpenItemStaging:
    """The staging table of one import, on ``connection`` (inside the import's
    transaction). Create it, :meth:`load` the rows, ask, :meth:`merge`, :meth:`drop`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self.rows = 0
        STAGE.drop(connection, checkfirst=True)
        STAGE.create(connection)
        if not self.sqlite:
            # The merge's hash joins and the duplicates' hash aggregate over a file of
            # 250,000 rows fit in this; more spills to disk (bounded, flat in the file).
            connection.exec_driver_sql("SET LOCAL work_mem = '32MB'")

    def load(self, items: Iterable[StagedItem]) -> int:
        """Stream ``items`` into the table (one statement; memory stays flat); returns
        how many. May be called more than once."""
        raw = self.connection.connection.driver_connection
        before = self.rows
        if self.sqlite:
            raw.executemany(_LOAD_SQLITE, self._sqlite(items))  # type: ignore[union-attr]
        else:
            cursor = raw.cursor()  # type: ignore[union-attr]
            with cursor, cursor.copy(_LOAD_COPY) as copy:
                for item in items:
                    copy.write_row(item)
                    self.rows += 1
        return self.rows - before

    def _sqlite(self, items: Iterable[StagedItem]) -> Iterator[tuple[Any, ...]]:
        # The ledger's SQLite storage: amounts scaled by 10^4, dates as ISO text.
        for r in items:
            self.rows += 1
            yield (
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                int(r[5].scaleb(4)),
                int(r[6].scaleb(4)),
                r[7].isoformat(),
                r[8] and r[8].isoformat(),
                r[9] and r[9].isoformat(),
                r[10],
                r[11],
                r[12],
            )

    def index(self) -> None:
        """Make the loaded table ready for the set-based statements: an index on the key
        (SQLite), fresh statistics (PostgreSQL: a temporary table has none otherwise)."""
        if self.sqlite:
            self.connection.exec_driver_sql(
                f"CREATE INDEX tci_open_item_stage_key ON {STAGE.name} "
                "(account_id, document_number)"
            )
        else:
            # Row counts and the key's distinct values are all the plans need; analysing
            # two columns instead of thirteen halves the cost.
            self.connection.exec_driver_sql(f"ANALYZE {STAGE.name} (account_id, document_number)")

    def duplicates(self, limit: int) -> list[tuple[int, int, str, int]]:
        """``(row, account_id, document_number, first row)`` of every row whose key an
        earlier row of the file has, in file order (at most ``limit``)."""
        if self.connection.execute(text(_ANY_DUPLICATE)).first() is None:
            return []  # the common case: one aggregate, no join back
        stmt = text(_DUPLICATES)
        return [(r[0], r[1], r[2], r[3]) for r in self.connection.execute(stmt, {"limit": limit})]

    def open_listed(self, source: str) -> list[tuple[str | None, int]]:
        """Per company code, the items of ``source`` the file lists that are open now
        (before the merge): the mass-close guard's denominator."""
        stmt = text(_OPEN_LISTED)
        return [(r[0], int(r[1])) for r in self.connection.execute(stmt, {"source": source})]

    def merge(self, *, source: str, import_id: int, today: date, now: datetime) -> tuple[int, int]:
        """Write the staged rows to ``open_items`` under ``source``: an UPDATE of the
        listed items whose stored values differ (a closed item reopens), then an INSERT
        of the new keys. Returns ``(inserted, updated)``. The table must hold each key
        once (see :meth:`duplicates`)."""
        params = {"source": source, "import_id": import_id, "today": today, "now": now}
        updated = self.connection.execute(
            _params(_UPDATE[self.connection.dialect.name]), params
        ).rowcount
        if self.sqlite:
            inserted = self.connection.execute(_params(_INSERT), params).rowcount
            return int(inserted or 0), int(updated or 0)
        # Two statements on PostgreSQL. An anti-join planned while ``open_items`` had been
        # analysed empty is a nested loop scanning the table per staged row; in an INSERT
        # into that same table each scan also reads the rows inserted so far (invisible
        # to the statement, but read): quadratic, 200k of 10M rows in 27 minutes. Found
        # first, the new keys are read against a table that does not grow meanwhile.
        self.connection.exec_driver_sql(_NEW_KEYS)
        inserted = self.connection.execute(_params(_INSERT_NEW), params).rowcount
        self.connection.exec_driver_sql(f"DROP TABLE {_NEW_NAME}")
        self._reanalyse(int(inserted or 0))
        return int(inserted or 0), int(updated or 0)

    def _reanalyse(self, inserted: int) -> None:
        """Fresh statistics of ``open_items`` after a large insert (PostgreSQL), so the
        statements that follow (the complete close, the next import before autovacuum
        came by) are not planned for the table as it was."""
        if inserted < _REANALYSE_AT:
            return
        known = self.connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'open_items'::regclass"
        ).scalar()
        if known is None or inserted * 10 >= max(float(known), 0.0):
            self.connection.exec_driver_sql("ANALYZE open_items")

    def close_absent(
        self, scope: ColumnElement[bool], *, import_id: int, today: date, now: datetime
    ) -> int:
        """Close the open items matching ``scope`` the table does not hold: one
        ``UPDATE ... WHERE NOT EXISTS`` (each is settled on ``today``). Returns how many."""
        item, staged = OPEN_ITEMS.c, STAGE.c
        listed = exists().where(
            staged.account_id == item.erp_account_id,
            staged.document_number == item.document_number,
        )
        stmt = (
            update(OPEN_ITEMS)
            .where(scope, item.open_amount > 0, ~listed)
            .values(
                open_amount=0,
                closed_on=today,
                closed_import_id=import_id,
                settled_on=today,
                updated_at=now,
            )
        )
        return int(self.connection.execute(stmt).rowcount or 0)

    def drop(self) -> None:
        STAGE.drop(self.connection, checkfirst=True)
