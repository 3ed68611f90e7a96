"""Shared fixtures.

``ledger`` runs a test on SQLite and, when ``TCI_TEST_DATABASE_URL`` names a
PostgreSQL database, on PostgreSQL too (each test in a schema of its own, dropped
afterwards). Without that variable the PostgreSQL variants are skipped, with the reason.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import text

from tci_gateway.ledger.engine import Ledger, make_engine, normalise_url
from tci_gateway.ledger.migrate import upgrade

# The adapter contract suites, collected beside each conftest that names its plugins
# (tests/adapters/conftest.py: the built-ins; tests/plugin_credendo: the worked example).
pytest_plugins = ["tci_gateway.adapters.contract_suite"]

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
PG_URL = os.environ.get("TCI_TEST_DATABASE_URL")

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not PG_URL, reason="TCI_TEST_DATABASE_URL is not set: PostgreSQL ledger tests skipped"
        ),
    ),
]


def _pg_ledger(schema: str) -> Ledger:
    assert PG_URL
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return Ledger(make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"}))


def _drop_pg_schema(schema: str) -> None:
    assert PG_URL
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _migrated_sqlite(request: pytest.FixtureRequest) -> Path:
    """A SQLite ledger migrated to the head once per test process, copied for each test
    (migrating takes 0.3-0.7 s, a copy a millisecond: hundreds of tests use one)."""
    cache = request.config.stash
    found = cache.get(_TEMPLATE_KEY, None)
    if found is None:
        folder = request.getfixturevalue("tmp_path_factory").mktemp("ledger-template")
        found = folder / "ledger.db"
        engine = make_engine(f"sqlite:///{found}")
        upgrade(engine)
        engine.dispose()
        with closing(sqlite3.connect(found)) as conn:  # all in the main file: a whole copy
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cache[_TEMPLATE_KEY] = found
    return found


_TEMPLATE_KEY = pytest.StashKey[Path]()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty ledger URL for the backend this test is parametrised with.
    For PostgreSQL the URL carries the test's own schema in its search path."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copyfile(_migrated_sqlite(request), path)
        yield f"sqlite:///{path}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    ledger = _pg_ledger(schema)
    upgrade(ledger.engine)
    ledger.dispose()
    assert PG_URL
    sep = "&" if "?" in PG_URL else "?"
    yield f"{normalise_url(PG_URL)}{sep}options=-csearch_path%3D{schema}"
    _drop_pg_schema(schema)


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    """A :class:`Ledger` on a migrated, empty database (see ``database_url``)."""
    led = Ledger.from_url(database_url)
    yield led
    led.dispose()


PG_FIXTURES = frozenset({"pg_url", "pg_schema_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `-m postgres` selects every test that runs on PostgreSQL: the PostgreSQL variant of a
    # backend-parametrised test and the tests built on a PostgreSQL-only fixture.
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_pg = callspec is not None and "postgresql" in map(str, callspec.params.values())
        if on_pg or PG_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Any test using `ledger` or `database_url` runs once per backend.
    if {"ledger", "database_url"} & set(metafunc.fixturenames) and not _sqlite_only(metafunc):
        metafunc.parametrize("database_url", BACKENDS, indirect=True)


def _sqlite_only(metafunc: pytest.Metafunc) -> bool:
    """A test marked ``test.sqlite_only = True``, or in a module with ``SQLITE_ONLY =
    True`` (pages whose services have PostgreSQL tests of their own) unless marked
    ``test.both_backends = True``."""
    if getattr(metafunc.function, "both_backends", False):
        return False
    return hasattr(metafunc.function, "sqlite_only") or bool(
        getattr(metafunc.module, "SQLITE_ONLY", False)
    )


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """argon2id with the smallest cost in this process: tests make hundreds of people,
    and the production cost (64 MiB, 3 passes) is spent on each. Hashes stay argon2id
    and carry their parameters, so `tci` subprocesses verify them as usual."""
    from argon2 import PasswordHasher

    from tci_gateway.ledger import users

    kept = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    users._hasher = kept
