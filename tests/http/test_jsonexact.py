"""Exact JSON (tci_gateway.http.jsonexact): the writer and reader made faster (one shared
decoder; strings written by the C escaper alone) give what the plain ``json`` calls gave,
character for character."""

from __future__ import annotations

import enum
import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tci_gateway.http.jsonexact import dumps, loads


def reference_dumps(value: Any) -> str:
    """The writer as it was, call by call through ``json.dumps``: the oracle."""
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
        items = (
            f"{json.dumps(str(k), ensure_ascii=False)}:{reference_dumps(v)}"
            for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(reference_dumps(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.dates()
    | st.datetimes(timezones=st.just(UTC))
    | st.sampled_from([Colour.RED, Level.HIGH])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.integers(), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(VALUES)
def test_dumps_writes_what_the_plain_json_calls_wrote(value: Any) -> None:
    assert dumps(value) == reference_dumps(value)


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), math.inf, {1, 2}, b"x"])
def test_dumps_refuses_what_it_refused(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)) as ours:
        dumps({"a": [bad]})
    with pytest.raises(type(ours.value)):
        reference_dumps({"a": [bad]})


@settings(max_examples=200)
@given(VALUES.filter(lambda v: not isinstance(v, float)), st.sampled_from(["utf-8", "utf-16"]))
def test_loads_reads_what_json_loads_read(value: Any, encoding: str) -> None:
    text = reference_dumps(value)
    expected = json.loads(text, parse_float=Decimal)
    assert dumps(loads(text)) == dumps(expected)
    assert dumps(loads(text.encode(encoding, "surrogatepass"))) == dumps(expected)


def test_loads_keeps_its_refusals() -> None:
    assert loads(b"\xef\xbb\xbf[1.10]") == [Decimal("1.10")]  # a UTF-8 BOM in bytes
    with pytest.raises(json.JSONDecodeError, match="BOM"):
        loads("\ufeff[1]")
    with pytest.raises(ValueError, match="non-finite"):
        loads("[NaN]")
    with pytest.raises(json.JSONDecodeError):
        loads('{"a": 1} x')
    with pytest.raises(TypeError):
        loads(memoryview(b"[1]"))  # type: ignore[arg-type]
