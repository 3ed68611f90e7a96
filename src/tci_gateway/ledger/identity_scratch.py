"""The TEMP tables of one ``tci buyers resolve`` (:mod:`tci_gateway.services.identity`):
the database forms the blocks the grouping rules are applied to, so Python holds one
block at a time, never every account.

On one connection (TEMP tables are the connection's own), the service writes:

* ``tci_rs_found``: what the providers found per buyer (identifiers with their source),
  ``tci_rs_enriched``: the parents and assessments found (pickled, per buyer);
* ``tci_rs_accounts``: every ERP account in the order the ledger lists them (``pos``),
  with its buyer's identifiers (``own``) and everything known of it (``expanded``: own,
  found, crosswalked), ``tci_rs_keys``: one row per (identifier, account),
  ``tci_rs_tokens``: one row per (name token, account);

then :meth:`Scratch.prepare` has the database count each token per country, choose
each name's ``BLOCK_KEYS`` rarest usable tokens (``tci_rs_sel``) and number the name
blocks in the order :func:`tci_gateway.domain.identity.resolve` compares them
(``tci_rs_blocks``: by the first account of the block, then that account's rank of the
token). Identifiers held by two accounts or more and name blocks are read in keyset
pages. Texts compared in SQL (identifier keys, tokens, accounts) use the ``C``
collation on PostgreSQL, so their order is Python's.

Rows go in with one ``executemany`` (SQLite) or ``COPY FROM STDIN`` (PostgreSQL) per
page. Every statement below is built from constants of this module only (values are
bound), hence the S608 waivers.
"""

from __future__ import annotations

import pickle  # TEMP rows this process wrote itself
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, text

from tci_gateway.domain.identifiers import Identifier, Scheme

_TABLES = (
    "tci_rs_found",
    "tci_rs_enriched",
    "tci_rs_accounts",
    "tci_rs_keys",
    "tci_rs_tokens",
    "tci_rs_freq",
    "tci_rs_sel",
    "tci_rs_blocks",
    "tci_rs_shared",
    "tci_rs_reviews",
)
_DDL = (
    "CREATE TEMPORARY TABLE tci_rs_found (buyer_id INTEGER, scheme TEXT, issuer TEXT,"
    " value TEXT, source TEXT)",
    "CREATE TEMPORARY TABLE tci_rs_enriched (buyer_id INTEGER PRIMARY KEY, found {blob})",
    "CREATE TEMPORARY TABLE tci_rs_accounts (pos INTEGER PRIMARY KEY, account TEXT{c},"
    " name TEXT, country TEXT, buyer_id INTEGER, own TEXT, expanded TEXT)",
    "CREATE TEMPORARY TABLE tci_rs_keys (ident TEXT{c}, pos INTEGER)",
    "CREATE TEMPORARY TABLE tci_rs_tokens (pos INTEGER, country TEXT, token TEXT{c})",
    "CREATE TEMPORARY TABLE tci_rs_freq (country TEXT, token TEXT{c}, n INTEGER)",
    "CREATE TEMPORARY TABLE tci_rs_sel (pos INTEGER, country TEXT, token TEXT{c}, rnk INTEGER)",
    "CREATE TEMPORARY TABLE tci_rs_blocks (ord INTEGER PRIMARY KEY, country TEXT, token TEXT{c})",
    "CREATE TEMPORARY TABLE tci_rs_shared (ident TEXT{c} PRIMARY KEY)",
    "CREATE TEMPORARY TABLE tci_rs_reviews (seq INTEGER PRIMARY KEY, account_a TEXT,"
    " account_b TEXT, score {real}, reason TEXT)",
)
_COLUMNS = {
    "tci_rs_found": "buyer_id, scheme, issuer, value, source",
    "tci_rs_enriched": "buyer_id, found",
    "tci_rs_accounts": "pos, account, name, country, buyer_id, own, expanded",
    "tci_rs_keys": "ident, pos",
    "tci_rs_tokens": "pos, country, token",
    "tci_rs_reviews": "seq, account_a, account_b, score, reason",
}
_PREPARE = (
    "CREATE INDEX tci_rs_found_buyer ON tci_rs_found (buyer_id)",
    "CREATE INDEX tci_rs_accounts_buyer ON tci_rs_accounts (buyer_id, pos)",
    "CREATE INDEX tci_rs_accounts_account ON tci_rs_accounts (account)",
    "CREATE INDEX tci_rs_keys_ident ON tci_rs_keys (ident, pos)",
    "INSERT INTO tci_rs_shared (ident) SELECT ident FROM tci_rs_keys"
    " GROUP BY ident HAVING COUNT(*) > 1",
    "INSERT INTO tci_rs_freq (country, token, n) SELECT country, token, COUNT(*)"
    " FROM tci_rs_tokens GROUP BY country, token",
    "CREATE INDEX tci_rs_freq_key ON tci_rs_freq (country, token)",
    "{analyze} tci_rs_found, tci_rs_accounts, tci_rs_keys, tci_rs_tokens, tci_rs_freq",
    "INSERT INTO tci_rs_sel (pos, country, token, rnk) SELECT pos, country, token, r FROM"
    " (SELECT t.pos, t.country, t.token, ROW_NUMBER() OVER"
    " (PARTITION BY t.pos ORDER BY f.n, t.token) AS r"
    " FROM tci_rs_tokens t JOIN tci_rs_freq f ON f.country = t.country AND f.token = t.token"
    " WHERE f.n <= :max_block) x WHERE r <= :keys",
    "CREATE INDEX tci_rs_sel_key ON tci_rs_sel (country, token, pos)",
    "CREATE INDEX tci_rs_sel_pos ON tci_rs_sel (pos, rnk)",
    "{analyze} tci_rs_sel",
    "INSERT INTO tci_rs_blocks (ord, country, token) SELECT ROW_NUMBER() OVER"
    " (ORDER BY g.first, s.rnk), g.country, g.token FROM"
    " (SELECT country, token, MIN(pos) AS first FROM tci_rs_sel GROUP BY country, token"
    " HAVING COUNT(*) > 1) g JOIN tci_rs_sel s"
    " ON s.pos = g.first AND s.country = g.country AND s.token = g.token",
    "CREATE INDEX tci_rs_blocks_key ON tci_rs_blocks (country, token)",
    "{analyze} tci_rs_blocks, tci_rs_shared",
)
_SHARED_PAGE = "SELECT ident FROM tci_rs_shared WHERE ident > :after ORDER BY ident LIMIT :n"
_HOLDERS = (
    "SELECT k.ident, a.account, a.expanded FROM tci_rs_keys k"
    " JOIN tci_rs_accounts a ON a.pos = k.pos WHERE k.ident IN :idents"
)
_BLOCK_MEMBERS = (
    "SELECT b.ord, a.account, a.name, a.expanded, b2.ord FROM tci_rs_blocks b"
    " JOIN tci_rs_sel s ON s.country = b.country AND s.token = b.token"
    " JOIN tci_rs_accounts a ON a.pos = s.pos"
    " LEFT JOIN tci_rs_sel s2 ON s2.pos = s.pos AND s2.rnk <> s.rnk"
    " LEFT JOIN tci_rs_blocks b2 ON b2.country = s2.country AND b2.token = s2.token"
    " WHERE b.ord > :low AND b.ord <= :high ORDER BY b.ord, s.pos"
)

Account = tuple[str, int, str, str]
"""``(account, buyer id, own, expanded)``: identifiers as :func:`encode` wrote them."""


def encode(identifiers: Iterable[Identifier]) -> str:
    """Identifiers as one text (sorted: equal sets give equal texts)."""
    return "\x1e".join(f"{i.scheme.value}\x1f{i.issuer}\x1f{i.value}" for i in sorted(identifiers))


_SCHEMES = {s.value: s for s in Scheme}


def decode(text_: str) -> frozenset[Identifier]:
    """The identifiers :func:`encode` wrote."""
    if not text_:
        return frozenset()
    out = []
    for part in text_.split("\x1e"):
        scheme, issuer, value = part.split("\x1f")
        out.append(Identifier(_SCHEMES[scheme], value, issuer))
    return frozenset(out)


class Scratch:
    """The TEMP tables of one resolution on ``connection`` (see the module docstring).
    Create it, add rows, :meth:`prepare`, read pages; :meth:`drop` at the end."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self.drop()
        for ddl in _DDL:
            connection.exec_driver_sql(
                ddl.format(
                    c="" if self.sqlite else ' COLLATE "C"',
                    blob="BLOB" if self.sqlite else "BYTEA",
                    real="REAL" if self.sqlite else "DOUBLE PRECISION",
                )
            )

    def add(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Write ``rows`` into ``table`` (one of the tables written, in its columns'
        order): one statement."""
        if not rows:
            return
        columns = _COLUMNS[table]
        raw: Any = self.connection.connection.driver_connection
        if self.sqlite:
            marks = ", ".join("?" * len(rows[0]))
            raw.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608
        else:
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)

    def add_enriched(self, buyer_id: int, found: object) -> None:
        """What was found for a buyer beyond identifiers (kept as given)."""
        self.add("tci_rs_enriched", [(buyer_id, pickle.dumps(found))])

    def prepare(self, *, max_block: int, keys: int) -> None:
        """Indexes, the identifiers shared, the name blocks and their order."""
        for stmt in _PREPARE:
            if stmt.startswith("{analyze}"):
                if not self.sqlite:  # a TEMP table has no statistics otherwise
                    self.connection.exec_driver_sql(stmt.format(analyze="ANALYZE"))
            elif ":max_block" in stmt:
                self.connection.execute(text(stmt), {"max_block": max_block, "keys": keys})
            else:
                self.connection.exec_driver_sql(stmt)
        if self.sqlite:
            self.connection.exec_driver_sql("ANALYZE temp")

    def found(self, buyer_ids: Collection[int]) -> dict[int, dict[Identifier, str]]:
        """What was found for each of ``buyer_ids`` (identifier -> its source)."""
        if not buyer_ids:
            return {}
        rows = self.connection.execute(
            text(
                "SELECT buyer_id, scheme, issuer, value, source FROM tci_rs_found"
                " WHERE buyer_id IN :ids ORDER BY buyer_id"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": sorted(buyer_ids)},
        )
        out: dict[int, dict[Identifier, str]] = {}
        for buyer, scheme, issuer, value, source in rows:
            out.setdefault(buyer, {})[Identifier(_SCHEMES[scheme], value, issuer)] = source
        return out

    def shared(self, after: str, limit: int) -> list[str]:
        """The next ``limit`` identifiers (their text) held by two accounts or more."""
        rows = self.connection.execute(text(_SHARED_PAGE), {"after": after, "n": limit})
        return [r[0] for r in rows]

    def holders(self, idents: Sequence[str]) -> list[tuple[str, str, str]]:
        """``(identifier, account, expanded)`` of every account holding one of them."""
        stmt = text(_HOLDERS).bindparams(bindparam("idents", expanding=True))
        return [(r[0], r[1], r[2]) for r in self.connection.execute(stmt, {"idents": idents})]

    def blocks(self) -> int:
        """How many name blocks there are (ordinals 1 to that)."""
        return int(self.connection.execute(text("SELECT COUNT(*) FROM tci_rs_blocks")).scalar_one())

    def block_members(self, low: int, high: int) -> list[tuple[int, str, str, str, int | None]]:
        """``(ordinal, account, name, expanded, other block)`` of the blocks after
        ``low`` up to ``high``, by block then account order."""
        rows = self.connection.execute(text(_BLOCK_MEMBERS), {"low": low, "high": high})
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def accounts(self, after: str, limit: int) -> list[Account]:
        """The next ``limit`` accounts in account (code point) order."""
        rows = self.connection.execute(
            text(
                "SELECT account, buyer_id, own, expanded FROM tci_rs_accounts"
                " WHERE account > :after ORDER BY account LIMIT :n"
            ),
            {"after": after, "n": limit},
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def accounts_named(self, accounts: Sequence[str]) -> list[Account]:
        """These accounts (any order)."""
        stmt = text(
            "SELECT account, buyer_id, own, expanded FROM tci_rs_accounts"
            " WHERE account IN :accounts"
        ).bindparams(bindparam("accounts", expanding=True))
        return [
            (r[0], r[1], r[2], r[3]) for r in self.connection.execute(stmt, {"accounts": accounts})
        ]

    def first_account(self, buyer_id: int) -> str:
        """The buyer's first account in the ledger's order."""
        stmt = text("SELECT account FROM tci_rs_accounts WHERE buyer_id = :b ORDER BY pos LIMIT 1")
        return str(self.connection.execute(stmt, {"b": buyer_id}).scalar_one())

    def enriched(self, after: int, limit: int) -> list[tuple[int, Any]]:
        """The next ``limit`` buyers' findings (:meth:`add_enriched`), by buyer id."""
        rows = self.connection.execute(
            text(
                "SELECT buyer_id, found FROM tci_rs_enriched WHERE buyer_id > :after"
                " ORDER BY buyer_id LIMIT :n"
            ),
            {"after": after, "n": limit},
        )
        return [(r[0], pickle.loads(r[1])) for r in rows]  # noqa: S301

    def reviews(self, after: int, limit: int) -> list[tuple[int, str, str, float, str]]:
        """The next ``limit`` review items written, in the order they were found."""
        rows = self.connection.execute(
            text(
                "SELECT seq, account_a, account_b, score, reason FROM tci_rs_reviews"
                " WHERE seq > :after ORDER BY seq LIMIT :n"
            ),
            {"after": after, "n": limit},
        )
        return [(r[0], r[1], r[2], float(r[3]), r[4]) for r in rows]

    def drop(self) -> None:
        """Drop the tables (they would outlive the resolution on a pooled connection)."""
        schema = "temp" if self.sqlite else "pg_temp"
        for table in _TABLES:
            self.connection.exec_driver_sql(f"DROP TABLE IF EXISTS {schema}.{table}")
