"""What the mapping modules of every adapter share: one :class:`MappingError` and the
small readers that raise it.

A mapping module turns a wire record (already valid JSON, already a pydantic model) into a
domain object. A record that is well formed but cannot be mapped (no status code, an
unknown country, an amount in another currency than the policy's) raises
:class:`MappingError`; the adapter's client turns it into a
:class:`~tci_gateway.errors.ProtocolError` naming the record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from tci_gateway.domain.money import Money, MoneyError, check_currency

__all__ = ["MappingError", "currency", "money", "require", "utc"]

T = TypeVar("T")


class MappingError(ValueError):
    """A record that is valid JSON but cannot be mapped; ``field`` names the culprit
    (``None`` when no single field is to blame) and ``reason`` says what is wrong."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def require(value: T | None, field: str, reason: str | None = None) -> T:
    """``value``, or :class:`MappingError` on ``field`` when it is ``None`` (``reason``
    defaults to "no <field>")."""
    if value is None:
        raise MappingError(field, reason or f"no {field}")
    return value


def money(amount: Decimal, currency: str, field: str | None = None) -> Money:
    """``Money(amount, currency)``; an amount the currency cannot hold (too many minor
    units, an unknown currency) is a :class:`MappingError` on ``field``."""
    try:
        return Money(amount, currency)
    except MoneyError as exc:
        raise MappingError(field, str(exc)) from exc


def currency(code: str, field: str | None = None) -> str:
    """An ISO 4217 currency code (upper case), checked; another is a
    :class:`MappingError` on ``field``."""
    try:
        return check_currency(code)
    except MoneyError as exc:
        raise MappingError(field, str(exc)) from exc


def utc(moment: datetime | None) -> datetime | None:
    """An aware moment in UTC (``None`` stays ``None``)."""
    return moment.astimezone(UTC) if moment is not None else None
