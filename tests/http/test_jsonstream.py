"""The incremental JSON array reader (tci_gateway.http.jsonstream): any array, written
with any whitespace and cut into chunks at any byte, reads as the whole text does; a text
cut short, or malformed, raises."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tci_gateway.http import jsonstream
from tci_gateway.http.jsonexact import dumps, loads
from tci_gateway.http.jsonstream import (
    Element,
    JsonArrayStream,
    JsonStreamError,
    iter_json_array,
)

WHITESPACE = st.text(alphabet=" \t\r\n", max_size=3)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)  # no lone surrogate
NUMBERS = st.integers(-(10**20), 10**20) | st.decimals(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
RECORDS = st.lists(st.dictionaries(TEXT, VALUES, max_size=4) | VALUES, max_size=6)


def render(value: Any, draw: st.DrawFn, ascii_only: bool) -> str:
    """``value`` as JSON with whitespace drawn between every two tokens."""

    def ws() -> str:
        return draw(WHITESPACE)

    if isinstance(value, dict):
        members = [
            f"{ws()}{json.dumps(k, ensure_ascii=ascii_only)}{ws()}:{ws()}"
            f"{render(v, draw, ascii_only)}{ws()}"
            for k, v in value.items()
        ]
        return "{" + (",".join(members) or ws()) + "}"
    if isinstance(value, list):
        items = [f"{ws()}{render(v, draw, ascii_only)}{ws()}" for v in value]
        return "[" + (",".join(items) or ws()) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=ascii_only)
    return dumps(value)


@st.composite
def documents(draw: st.DrawFn) -> tuple[bytes, list[Any], str | None]:
    """(the answer's bytes, its elements, the member holding them or None)."""
    records = draw(RECORDS)
    ascii_only = draw(st.booleans())
    array = render(records, draw, ascii_only)
    member = draw(st.sampled_from([None, "data"]))
    if member is None:
        text = array
    else:
        others = draw(st.dictionaries(TEXT.filter(lambda k: k != member), VALUES, max_size=2))
        parts = [f"{json.dumps(k)}:{render(v, draw, ascii_only)}" for k, v in others.items()]
        parts.insert(draw(st.integers(0, len(parts))), f'"{member}":{array}')
        text = "{" + draw(WHITESPACE) + ",".join(parts) + draw(WHITESPACE) + "}"
    text = draw(WHITESPACE) + text + draw(WHITESPACE)
    return text.encode(), records, member


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def exact(values: list[Any]) -> list[str]:
    """Values compared digit for digit (``Decimal("1.10") == Decimal("1.1")``)."""
    return [dumps(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(documents(), st.data())
def test_any_array_cut_anywhere_reads_as_the_whole_text(
    document: tuple[bytes, list[Any], str | None], draw: st.DataObject
) -> None:
    data, records, member = document
    if draw.draw(st.booleans()):  # every byte a chunk of its own
        cuts = list(range(len(data)))
    else:
        cuts = draw.draw(st.lists(st.integers(0, len(data)), max_size=len(data)))
    whole = loads(data)
    expected = whole if member is None else whole[member]
    elements = list(iter_json_array(cut(data, cuts), member))
    assert exact([e.value for e in elements]) == exact(expected) == exact(records)
    assert exact([loads(e.text) for e in elements]) == exact(expected)  # the text as written


@settings(max_examples=200, deadline=None)
@given(documents(), st.data())
def test_an_answer_cut_short_raises(
    document: tuple[bytes, list[Any], str | None], data: st.DataObject
) -> None:
    body, _, member = document
    complete = len(body.rstrip(b" \t\r\n"))
    end = data.draw(st.integers(0, complete - 1))
    cuts = data.draw(st.lists(st.integers(0, end), max_size=10))
    with pytest.raises(JsonStreamError):
        list(iter_json_array(cut(body[:end], cuts), member))


def test_elements_come_once_they_are_complete() -> None:
    stream = JsonArrayStream("data")
    assert stream.feed(b'{"data": [{"a": 1}, {"b": ') == [Element({"a": 1}, '{"a": 1}')]
    assert stream.feed(b"2}") == []  # tried again once the pending text has doubled
    assert stream.feed(b", 3") == []
    assert stream.feed(b"4") == [Element({"b": 2}, '{"b": 2}')]  # 34 may go on
    assert stream.feed(b"]") == [Element(34, "34")]
    assert stream.feed(b', "meta": {"n": 1.10}}') == []
    assert stream.close() == []
    assert stream.members == {"meta": {"n": Decimal("1.10")}}


def test_a_number_is_not_taken_before_it_ends() -> None:
    for chunks in ([b"[1", b".5e", b"3]"], [b"[-", b"0", b".", b"0", b"]"], [b"[12", b"]"]):
        values = [e.value for e in iter_json_array(chunks)]
        assert values == [loads(b"".join(chunks))[0]]


def test_a_utf8_character_split_across_chunks() -> None:
    data = '[{"name": "Société Générale"}]'.encode()
    chunks = [data[i : i + 1] for i in range(len(data))]
    assert [e.value for e in iter_json_array(chunks)] == [{"name": "Société Générale"}]


def test_a_member_holding_one_object_is_its_one_element() -> None:
    assert [e.value for e in iter_json_array([b'{"data": {"a": 1}}'], "data")] == [{"a": 1}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b'{"data": [{"coverId": ', "cut short"),
        (b'{"data": [1, 2', "cut short"),
        (b'{"data": [1, 2]', "cut short"),
        (b"{}", "no 'data' member"),
        (b'{"items": []}', "no 'data' member"),
        (b"[1, 2]", "expected '{'"),
        (b'{"data": 5}', "neither an array nor an object"),
        (b'{"data": [], "data": []}', "two 'data' members"),
        (b'{"data": [1,]}', "malformed JSON"),
        (b'{"data": [1 2]}', "malformed JSON"),
        (b'{"data": []} []', "extra data"),
        (b'{"data": [NaN]}', "non-finite"),
        (b'{"data": [Infinity]}', "non-finite"),
        (b"{data: []}", "expected a name"),
        (b'{"data": ["\xff"]}', "not UTF-8"),
    ],
)
def test_what_is_not_the_array_expected_raises(body: bytes, message: str) -> None:
    with pytest.raises(JsonStreamError, match=message):
        list(iter_json_array([body], "data"))


def test_malformed_json_is_refused_at_once_not_at_the_end() -> None:
    stream = JsonArrayStream("data")
    with pytest.raises(JsonStreamError, match="malformed JSON"):
        stream.feed(b'{"data": [{"a": tru}, ' + b" " * 100)


def test_an_element_longer_than_the_limit_is_refused() -> None:
    stream = JsonArrayStream(max_element_chars=100)
    stream.feed(b'[{"a": "' + b"x" * 50)
    with pytest.raises(JsonStreamError, match="longer than 100"):
        stream.feed(b"x" * 100)


def test_a_long_element_fed_in_small_chunks_is_parsed_a_few_times_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader waits for the pending text to double before it tries again: reading
    one long element in many chunks stays linear, not quadratic."""
    attempts = 0
    decoder = jsonstream._DECODER

    class Counting:
        def raw_decode(self, s: str, idx: int = 0) -> tuple[Any, int]:
            nonlocal attempts
            attempts += 1
            return decoder.raw_decode(s, idx)

    monkeypatch.setattr(jsonstream, "_DECODER", Counting())
    stream = JsonArrayStream()
    stream.feed(b'[{"a": "')
    for _ in range(10_000):
        stream.feed(b"x")
    stream.feed(b'"}]')
    stream.close()
    assert attempts < 40
