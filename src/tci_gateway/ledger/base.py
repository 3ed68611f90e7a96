"""The declarative base every ledger table shares, and the column type of amounts.

One :class:`Base` (one ``MetaData`` with the naming convention of constraints and
indexes) for the tables of :mod:`tci_gateway.ledger.tables` and
:mod:`tci_gateway.ledger.case_tables`. Import ``Base`` from ``tables`` when the whole
schema is needed: importing that module registers every table.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from tci_gateway.ledger.types import ExactDecimal

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The ledger's declarative base: one metadata, named constraints."""

    metadata = MetaData(naming_convention=NAMING)


Amount = ExactDecimal(scale=4)
"""Amounts: exact non-negative decimals, four places."""
