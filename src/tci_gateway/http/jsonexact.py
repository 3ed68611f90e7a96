"""Exact JSON: numbers are read as ``Decimal`` and written back as the same digits.

``json.dumps`` cannot write a ``Decimal`` as a JSON number without a float round trip,
and ``json.loads`` turns ``1.10`` into a float; money never goes through either.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not valid JSON")


def loads(data: bytes | str) -> Any:
    """Parse JSON exactly: floats become Decimal; ``NaN``/``Infinity`` (which Python's
    parser would otherwise turn into floats) are refused with a ``ValueError``."""
    return json.loads(data, parse_float=Decimal, parse_constant=_refuse_constant)


def dumps(value: Any) -> str:
    """Compact JSON with ``Decimal`` written as a JSON number, exactly as it is.

    ``json.dumps`` cannot write a Decimal as a number without a float round trip; this
    writer can. Dates and datetimes are written in ISO 8601.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as JSON")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} as JSON")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date):
        return json.dumps(value.isoformat())
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{dumps(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")
