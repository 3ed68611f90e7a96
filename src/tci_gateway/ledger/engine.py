"""Engines and units of work for the ledger.

SQLite is used safely: WAL journal, a busy timeout, foreign keys on, and every
transaction opened with ``BEGIN IMMEDIATE`` so a writer waits for the lock instead of
failing with "database is locked" half-way (``docs/architecture.md``, section 5, "Locks").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tci_gateway.errors import ConfigError, LedgerUnavailableError

SQLITE_BUSY_TIMEOUT_MS = 30_000
_USERINFO_PASSWORD_RE = re.compile(r"(:)[^@/:\s]+(@)")
PG_CONNECT_TIMEOUT_S = 10


def db_cause(exc: BaseException) -> str:
    """The cause of a driver error in one line, without SQLAlchemy's background link:
    ``connection refused``, ``role "x" does not exist``, ``unable to open database file``."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    first = lines[0] if lines else type(orig).__name__
    # psycopg: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  x'
    if "failed: " in first:
        first = first.rsplit("failed: ", 1)[1]
    first = first.removeprefix("FATAL:").strip()
    if first.lower() == "connection refused":
        first = "connection refused (is the database server running and listening there?)"
    elif isinstance(exc, OperationalError) and "timeout" in first.lower():
        first = f"{first} (is the host right and reachable?)"
    return " ".join(first.split())


def ledger_busy(exc: BaseException) -> str | None:
    """One line when ``exc`` is SQLite's "database is locked": another process held the
    ledger's write lock for longer than the busy timeout. ``None`` for anything else."""
    if not isinstance(exc, OperationalError) or "database is locked" not in str(exc.orig):
        return None
    return (
        "the ledger is busy: another process (a sync, an import or the scheduler) held "
        f"the SQLite ledger's write lock for more than {SQLITE_BUSY_TIMEOUT_MS // 1000} s; "
        "try again when it has finished"
    )


def _check_sqlite_path(path: Path, shown: str, *, create: bool) -> None:
    directory = path.parent
    if not create:
        if not path.is_file():
            raise LedgerUnavailableError(
                f"cannot open the ledger {shown}: there is no ledger file {path} "
                "(`tci db upgrade` creates it)"
            )
        return
    if not directory.is_dir():
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerUnavailableError(
                f"cannot open the ledger {shown}: cannot create its directory {directory}: "
                f"{exc.strerror or exc}"
            ) from None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A read-only unit (Ledger.reading) takes no write lock, so readers never queue
    # behind each other or a writer (WAL lets them read beside it).
    read_only = connection.get_execution_options().get("tci_read_only", False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def display_url(url: str) -> str:
    """``url`` as it may be shown and logged: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not a URL SQLAlchemy reads: hide whatever sits between ":" and "@".
        return _USERINFO_PASSWORD_RE.sub(r"\1***\2", url)


def _parse(url: str) -> URL:
    try:
        return make_url(normalise_url(url))
    except ArgumentError:
        raise ConfigError(
            f"database url {display_url(url)!r} is not a valid SQLAlchemy URL"
        ) from None


def make_engine(url: str, *, echo: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url`` (SQLite file, ``sqlite://`` memory, or PostgreSQL). A SQLite
    file's directory is created when missing (see :meth:`Ledger.open` for the checked
    way the command line opens a ledger)."""
    parsed = _parse(url)
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"database {parsed.get_backend_name()!r} is not supported")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, echo=echo, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    connect_args = dict(kwargs.pop("connect_args", {}))
    if "connect_timeout" not in parsed.query:
        # libpq waits forever for a host that drops packets; no run may hang on it.
        connect_args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
    # No server-side prepared statements: PostgreSQL keeps a prepared statement's plan,
    # and one planned while a table was still empty (a first sync or roll fills it on the
    # same connection) goes on scanning it per row once it is full (the 100k limit sync
    # took 151.7 s with them, 114.5 s without; docs/operations.md).
    connect_args.setdefault("prepare_threshold", None)
    return create_engine(parsed, echo=echo, connect_args=connect_args, **kwargs)


class Ledger:
    """The ledger: an engine plus units of work over it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False) -> Ledger:
        return cls(make_engine(url, echo=echo))

    @classmethod
    def open(cls, url: str, *, echo: bool = False, create: bool = False) -> Ledger:
        """Open the ledger at ``url`` and check that it answers. Every way it can fail
        (no SQLite file or directory, a directory that cannot be written, a server that
        does not answer, a login refused, a database missing) is one
        :class:`~tci_gateway.errors.LedgerUnavailableError` naming the URL without its
        password and the cause.

        ``create`` allows a new SQLite file and its directory (``tci db upgrade``);
        otherwise a SQLite file that does not exist is refused rather than created empty.
        """
        shown = display_url(url)
        parsed = _parse(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            _check_sqlite_path(Path(str(parsed.database)), shown, create=create)
        ledger = cls(make_engine(url, echo=echo))
        try:
            with ledger.engine.connect():
                pass
        except DBAPIError as exc:
            ledger.dispose()
            raise LedgerUnavailableError(
                f"cannot open the ledger {shown}: {db_cause(exc)}"
            ) from None
        return ledger

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction: on SQLite a deferred ``BEGIN`` that takes no write
        lock (a write inside it fails or waits, so only read in it); the same as
        :meth:`unit_of_work` on PostgreSQL. Rolled back at the end."""
        with self.engine.connect() as connection:
            connection = connection.execution_options(tci_read_only=True)
            with Session(bind=connection) as session:
                try:
                    yield session
                finally:
                    session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
