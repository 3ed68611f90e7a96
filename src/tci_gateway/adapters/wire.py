"""What the adapters' wire models share: the base model and the field types that read
the same way in every adapter.

Each adapter's ``wire.py`` describes its provider's JSON with pydantic models built on
:class:`WireModel` (unknown fields ignored, frozen, the raw record text kept for
provenance). The field types here are only those whose reading is the same wherever
they are used; an adapter whose provider needs another reading (a looser text, another
way of turning a value into a timestamp, another list rule) keeps its own.

Two timestamp readings exist and both are kept: :data:`Timestamp` (the insurers') also
turns ``date`` and naive ``datetime`` objects into aware UTC datetimes, while
:data:`TextTimestamp` (the bureaus') parses text only and leaves any other value to
pydantic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

from tci_gateway.http.jsonexact import dumps

__all__ = [
    "Absent",
    "Amount",
    "OptText",
    "Text",
    "TextTimestamp",
    "Timestamp",
    "WireModel",
    "absent_as_none",
    "as_list",
    "clean_text",
    "exact_amount",
    "parse_text_timestamp",
    "parse_timestamp",
]


class WireModel(BaseModel):
    """Base of every wire model: unknown fields ignored, frozen, raw text kept."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    _raw: str = PrivateAttr(default="")

    @property
    def raw(self) -> str:
        """The record as it came, as compact JSON (``""`` when built otherwise)."""
        return self._raw

    @classmethod
    def from_record(cls, record: Any) -> Self:
        """Validate one JSON record and keep its raw text."""
        model = cls.model_validate(record)
        try:
            model._raw = dumps(record)
        except (TypeError, ValueError):
            model._raw = repr(record)
        return model


# -- validators ---------------------------------------------------------------------------


def exact_amount(value: Any) -> Any:
    """Refuse a float (or bool) amount: amounts are read exactly, as ``Decimal``."""
    if isinstance(value, bool | float):
        raise ValueError("amount must be an exact number (parse JSON with parse_float=Decimal)")
    return value


def clean_text(value: Any) -> Any:
    """Text stripped (blank text is ``None``); a whole or exact number becomes its text;
    a bool is refused."""
    if isinstance(value, bool):
        raise ValueError("expected text")
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return value


def _timestamp_from_text(value: str) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_timestamp(value: Any) -> Any:
    """An aware datetime from ISO 8601 text (``Z`` or an offset; none is taken as UTC),
    a plain date (midnight UTC), a ``datetime`` (naive taken as UTC) or a ``date``."""
    if isinstance(value, str):
        return _timestamp_from_text(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def parse_text_timestamp(value: Any) -> Any:
    """An aware datetime from ISO 8601 text (``Z`` or an offset; none is taken as UTC)
    or from a plain ``YYYY-MM-DD`` (midnight UTC); blank text is ``None``. Values that
    are not text are left as they are (for pydantic to judge)."""
    return _timestamp_from_text(value) if isinstance(value, str) else value


def as_list(value: Any) -> Any:
    """``None`` as ``[]`` and a single item as a list of one."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def absent_as_none(value: Any) -> Any:
    """``{}``, ``""`` and ``None`` as ``None`` (a provider's way of saying "no data")."""
    return None if value in ({}, "", None) else value


# -- field types --------------------------------------------------------------------------


Amount = Annotated[Decimal, BeforeValidator(exact_amount), Field(ge=0, allow_inf_nan=False)]
Text = Annotated[str, BeforeValidator(clean_text)]
OptText = Annotated[str | None, BeforeValidator(clean_text)]
Timestamp = Annotated[datetime | None, BeforeValidator(parse_timestamp)]
TextTimestamp = Annotated[datetime | None, BeforeValidator(parse_text_timestamp)]
Absent = BeforeValidator(absent_as_none)
"""Reads ``{}`` (and ``""``) as ``None``: put it in ``Annotated[Model | None, Absent]``."""
