"""Exact JSON: numbers are read as ``Decimal`` and written back as the same digits.

``json.dumps`` cannot write a ``Decimal`` as a JSON number without a float round trip,
and ``json.loads`` turns ``1.10`` into a float; money never goes through either.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

_string = encode_basestring  # what json.dumps(text, ensure_ascii=False) writes, called alone


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)
"""One decoder for every call: ``json.loads`` with arguments builds a new one each time."""


def loads(data: bytes | str) -> Any:
    """Parse JSON exactly: floats become Decimal; ``NaN``/``Infinity`` (which Python's
    parser would otherwise turn into floats) are refused with a ``ValueError``. Bytes are
    decoded as ``json.loads`` decodes them (UTF-8, -16 or -32, a UTF-8 BOM allowed)."""
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", data, 0)
    elif isinstance(data, bytes | bytearray):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    else:
        raise TypeError(f"the JSON object must be str or bytes, not {type(data).__name__}")
    return _DECODER.decode(data)


def dumps(value: Any) -> str:
    """Compact JSON with ``Decimal`` written as a JSON number, exactly as it is.

    ``json.dumps`` cannot write a Decimal as a number without a float round trip; this
    writer can. Dates and datetimes are written in ISO 8601.
    """
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is dict:
        items = (f"{_string(str(k))}:{dumps(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if kind is int:
        return str(value)
    if kind is Decimal:
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as JSON")
        return str(value)
    if kind is list or kind is tuple:
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return _other(value)


def _other(value: Any) -> str:
    """:func:`dumps` of what is not exactly a str, dict, int, Decimal, list or tuple."""
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
        return _string(value)
    if isinstance(value, datetime | date):
        return json.dumps(value.isoformat())
    if isinstance(value, dict):
        items = (f"{_string(str(k))}:{dumps(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")
