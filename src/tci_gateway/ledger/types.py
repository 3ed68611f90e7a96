"""Column types that keep money exact, time in UTC and states within their enum on SQLite
and PostgreSQL.

:class:`ExactDecimal` is ``NUMERIC(p, s)`` on PostgreSQL and a scaled ``BIGINT`` on
SQLite (SQLite has no exact decimal type: its NUMERIC affinity stores floats). A value
with more decimal places than the column's scale is refused, never rounded, and no
float ever stands between Python and the database. So are non-finite values and values
too large for the column, with the same ``ValueError`` on both databases.

:func:`state_enum` stores a ``StrEnum`` as ``VARCHAR`` with a CHECK constraint listing its
values (never a native enum type, so adding a value is a plain constraint change).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Enum, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


def state_enum(enum: type[StrEnum], *, name: str, length: int) -> Enum:
    """A column of ``enum``'s values: ``VARCHAR(length)`` with a CHECK constraint named
    ``ck_<table>_<name>`` on every backend (never a native enum type). Values are bound
    and loaded as the enum's members (a StrEnum, so they equal their strings); a string
    that is not a value is refused before the statement is sent, and the CHECK refuses
    one written by any other means."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        values_callable=_values,
        validate_strings=True,
        length=length,
    )


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal with ``scale`` places (4 for amounts, 10 for FX rates)."""

    impl = Numeric
    cache_ok = True

    def __init__(self, scale: int = 4, precision: int = 19) -> None:
        super().__init__()
        self.scale = scale
        self.precision = precision

    def __repr__(self) -> str:
        # Alembic renders types with repr(): keep the scale in generated migrations.
        args = []
        if self.scale != 4:
            args.append(f"scale={self.scale}")
        if self.precision != 19:
            args.append(f"precision={self.precision}")
        return f"{type(self).__name__}({', '.join(args)})"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = Decimal(value)  # exact; lets `column > 0` and `values(amount=0)` work
        if not isinstance(value, Decimal):
            raise TypeError(f"exact decimal columns take Decimal, not {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite amount")
        if not value.is_zero() and value.adjusted() >= self.precision - self.scale:
            raise ValueError(
                f"{value} does not fit NUMERIC({self.precision}, {self.scale}): "
                f"at most {self.precision - self.scale} digits before the point"
            )
        scaled = value.scaleb(self.scale)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        if dialect.name == "sqlite":
            number = int(scaled)
            if not _INT64_MIN <= number <= _INT64_MAX:
                raise ValueError(f"{value} is too large for this column on SQLite")
            return number
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        if not isinstance(value, Decimal):
            raise TypeError(f"expected Decimal from the database, got {type(value).__name__}")
        return value


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant stored in UTC; naive datetimes are refused."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTC datetime columns take datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: the ledger stores aware instants only")
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
