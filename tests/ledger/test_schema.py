"""The migrations create exactly the tables the code declares, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.migrate import is_up_to_date
from tci_gateway.ledger.tables import Base


def test_migrations_match_the_declared_tables(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    assert is_up_to_date(ledger.engine)
