"""An incremental reader of a JSON array: the elements of an answer as its bytes arrive.

An API that answers a whole list in one body (no paging) would otherwise be held whole:
the bytes, then every parsed element. :class:`JsonArrayStream` takes the body chunk by
chunk (cut anywhere, even inside a UTF-8 character) and gives each element of the array
once it is complete, with its text as written; only the element being read is kept. (An
element that is not complete is tried again once the text pending has doubled: a long
one is parsed a few times, not once per chunk.)

The array is the answer itself (``member=None``) or the member ``member`` of the object
the answer is (``{"data": [...], ...}``); a member that holds an object instead of an
array is given as the one element. The object's other members are read whole and kept in
:attr:`JsonArrayStream.members` (an error envelope, say). Numbers are read exactly, as in
:mod:`tci_gateway.http.jsonexact` (``Decimal``; ``NaN``/``Infinity`` refused).

Anything that is not such an answer (malformed or cut short, the member given twice or
holding neither an array nor an object, an element longer than ``max_element_chars``)
raises :class:`JsonStreamError`, at the latest from :meth:`JsonArrayStream.close`; an
object without the member is a complete answer (:attr:`JsonArrayStream.found` is
false), which :func:`iter_json_array` refuses.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from enum import Enum, auto
from typing import Any, NamedTuple

__all__ = ["Element", "JsonArrayStream", "JsonStreamError", "iter_json_array"]

MAX_ELEMENT_CHARS = 16 * 1024 * 1024
"""The longest element (or other member) read, in characters: past it, the answer is
refused rather than held."""

_WHITESPACE_CHARS = " \t\n\r"
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_CHARS = re.compile(r"[0-9.eE+-]*")


class JsonStreamError(ValueError):
    """The answer is not the JSON array (or wrapped array) expected, or was cut short."""


class Element(NamedTuple):
    """One element of the array: its value (numbers as ``Decimal``/``int``) and its text."""

    value: Any
    text: str


class _State(Enum):
    START = auto()  # before the answer
    FIRST_KEY = auto()  # just inside the object: a member's name or its end
    KEY = auto()  # after a comma in the object: a member's name
    COLON = auto()  # after a member's name
    VALUE = auto()  # after the colon: the member's value
    AFTER_MEMBER = auto()  # after a member: a comma or the end of the object
    ITEM_OR_END = auto()  # just inside the array: an element or its end
    ITEM = auto()  # after a comma in the array: an element
    AFTER_ITEM = auto()  # after an element: a comma or the end of the array
    DONE = auto()  # the answer is complete: only whitespace may follow


_IN_ARRAY = frozenset({_State.ITEM_OR_END, _State.ITEM, _State.AFTER_ITEM})


def _refuse_constant(name: str) -> Any:
    raise JsonStreamError(f"non-finite number {name} is not valid JSON")


def _malformed(exc: json.JSONDecodeError, length: int) -> bool:
    """Whether ``exc`` shows the text malformed, not just cut short. Cut short, the
    scanner fails where the text ends, a few characters before it at most (``"-Infin"``),
    or at the start of a string still open; anything else is a character that no more
    text can make valid."""
    return exc.pos < length - _LONGEST_OPEN_TOKEN and not exc.msg.startswith("Unterminated")


def _may_go_on(value: Any, buf: str, end: int) -> bool:
    """Whether a number read up to ``end`` may be longer: all that follows could be
    more of it (``1`` then ``.5``, ``e5``)."""
    if type(value) is not int and type(value) is not Decimal:
        return False
    return _NUMBER_CHARS.fullmatch(buf, end) is not None


_LONGEST_OPEN_TOKEN = 16
"""More than the longest token a scanner backs off from when the text ends: ``-Infinity``
(9), a ``\\uXXXX`` escape (6)."""

_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)


class JsonArrayStream:
    """Feed the answer's bytes with :meth:`feed` (each call gives the elements completed by
    that chunk), then call :meth:`close`, which raises if the answer was not complete."""

    def __init__(self, member: str | None = None, *, max_element_chars: int = MAX_ELEMENT_CHARS):
        self.member = member
        self.members: dict[str, Any] = {}
        """The other members of the answer's object, read whole."""
        self.found = False
        """Whether the array (or the member) was seen."""
        self.max_element_chars = max_element_chars
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._buf = ""
        self._pos = 0
        self._offset = 0  # characters of the answer before the buffer
        self._state = _State.START
        self._key: str | None = None
        self._retry_at = 0  # do not try a value again before the buffer is this long

    def feed(self, chunk: bytes) -> list[Element]:
        """The elements completed by ``chunk`` (possibly none)."""
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise JsonStreamError(f"the answer is not UTF-8: {exc.reason}") from exc
        self._offset += self._pos
        self._buf = self._buf[self._pos :] + text if self._pos else self._buf + text
        self._retry_at -= self._pos
        self._pos = 0
        return list(self._run(final=False))

    def close(self) -> list[Element]:
        """The last elements; raises :class:`JsonStreamError` unless the answer is
        complete. An object without the member is complete: see :attr:`found`."""
        try:
            tail = self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise JsonStreamError(f"the answer is not UTF-8: {exc.reason}") from exc
        self._offset += self._pos
        self._buf = self._buf[self._pos :] + tail
        self._pos = 0
        self._retry_at = 0
        elements = list(self._run(final=True))
        if self._state is _State.START:
            raise JsonStreamError("the answer is empty")
        if self._state is not _State.DONE:
            raise JsonStreamError(f"malformed JSON: the answer was cut short ({self._expected()})")
        return elements

    # -- internals ---------------------------------------------------------------------

    def _expected(self) -> str:
        return "expecting " + self._state.name.lower().replace("_", " ")

    def _skip_whitespace(self) -> bool:
        """Past whitespace; whether a character follows."""
        match = _WHITESPACE.match(self._buf, self._pos)
        self._pos = match.end() if match else self._pos
        return self._pos < len(self._buf)

    def _value(self, final: bool) -> tuple[Any, int] | None:
        """The value at the position and where it ends, or ``None`` until more arrives."""
        buf, pos = self._buf, self._pos
        if not final and len(buf) < self._retry_at:
            return None
        try:
            value, end = _DECODER.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            where = f"{exc.msg} at character {self._offset + exc.pos}"
            if _malformed(exc, len(buf)):
                raise JsonStreamError(f"malformed JSON: {where}") from exc
            if final:
                message = f"malformed JSON: the answer was cut short ({where})"
                raise JsonStreamError(message) from exc
            pending = len(buf) - pos
            if pending > self.max_element_chars:
                raise JsonStreamError(
                    f"malformed JSON: an element longer than {self.max_element_chars} "
                    f"characters ({where})"
                ) from exc
            self._retry_at = len(buf) + pending  # geometric: each value parsed O(1) times
            return None
        except (ValueError, RecursionError) as exc:  # e.g. an integer too long to convert
            raise JsonStreamError(f"malformed JSON: {exc}") from exc
        if not final and (end == len(buf) or _may_go_on(value, buf, end)):
            return None  # a number may go on in the next chunk ("12" then "34", "1" "e5")
        self._retry_at = 0
        return value, end

    def _element(self, final: bool) -> Element | None:
        """The value at the position with its text, the position past it; ``None``
        until more arrives."""
        start = self._pos
        parsed = self._value(final)
        if parsed is None:
            return None
        value, self._pos = parsed
        return Element(value, self._buf[start : self._pos])

    def _punctuation(self, allowed: str) -> str | None:
        if not self._skip_whitespace():
            return None
        char = self._buf[self._pos]
        if char not in allowed:
            expected = " or ".join(repr(c) for c in allowed)
            where = self._offset + self._pos
            raise JsonStreamError(f"malformed JSON: expected {expected} at character {where}")
        self._pos += 1
        return char

    def _array(self, final: bool) -> Iterator[Element]:
        """Inside the array: its elements while they are complete, in one loop (the path
        nearly all of an answer takes); the state says where it stopped."""
        buf, state, pos = self._buf, self._state, self._pos
        try:
            while True:
                if pos < len(buf) and buf[pos] in _WHITESPACE_CHARS:
                    pos = _WHITESPACE.match(buf, pos).end()  # type: ignore[union-attr]
                if pos >= len(buf):
                    return
                char = buf[pos]
                if state is _State.AFTER_ITEM or (state is _State.ITEM_OR_END and char == "]"):
                    if char not in ",]":
                        where = self._offset + pos
                        message = f"malformed JSON: expected ',' or ']' at character {where}"
                        raise JsonStreamError(message)
                    pos += 1
                    if char == ",":
                        state = _State.ITEM
                        continue
                    state = _State.DONE if self.member is None else _State.AFTER_MEMBER
                    return
                self._pos = pos
                element = self._element(final)
                if element is None:
                    return
                pos, state = self._pos, _State.AFTER_ITEM
                yield element
        finally:
            self._state, self._pos = state, pos

    def _run(self, final: bool) -> Iterator[Element]:
        while True:
            state = self._state
            if state in _IN_ARRAY:
                yield from self._array(final)
                if self._state in _IN_ARRAY:
                    return  # more is needed
            elif state is _State.START:
                opening = "[" if self.member is None else "{"
                if self._punctuation(opening) is None:
                    return
                if self.member is None:
                    self.found = True
                self._state = _State.ITEM_OR_END if self.member is None else _State.FIRST_KEY
            elif state in (_State.FIRST_KEY, _State.KEY):
                if not self._skip_whitespace():
                    return
                char = self._buf[self._pos]
                if char == "}" and state is _State.FIRST_KEY:
                    self._pos += 1
                    self._state = _State.DONE
                    continue
                if char != '"':
                    where = self._offset + self._pos
                    raise JsonStreamError(f"malformed JSON: expected a name at character {where}")
                parsed = self._value(final)
                if parsed is None:
                    return
                self._key, self._pos = parsed
                self._state = _State.COLON
            elif state is _State.COLON:
                if self._punctuation(":") is None:
                    return
                self._state = _State.VALUE
            elif state is _State.VALUE:
                if not self._skip_whitespace():
                    return
                if self._key == self.member:
                    if self.found:
                        raise JsonStreamError(f"the answer has two {self.member!r} members")
                    if self._buf[self._pos] == "[":
                        self._pos += 1
                        self.found = True
                        self._state = _State.ITEM_OR_END
                        continue
                element = self._element(final)
                if element is None:
                    return
                if self._key == self.member:
                    if not isinstance(element.value, dict):
                        raise JsonStreamError(f"{self.member!r} is neither an array nor an object")
                    self.found = True
                    yield element
                else:
                    self.members[str(self._key)] = element.value
                self._state = _State.AFTER_MEMBER
            elif state is _State.AFTER_MEMBER:
                mark = self._punctuation(",}")
                if mark is None:
                    return
                self._state = _State.KEY if mark == "," else _State.DONE
            else:  # DONE
                if self._skip_whitespace():
                    raise JsonStreamError("malformed JSON: extra data after the answer")
                return


def iter_json_array(chunks: Iterable[bytes], member: str | None = None) -> Iterator[Element]:
    """The elements of the array in ``chunks`` (see :class:`JsonArrayStream`), each as
    soon as it is complete; raises :class:`JsonStreamError` at the end if it is not."""
    stream = JsonArrayStream(member)
    for chunk in chunks:
        yield from stream.feed(chunk)
    yield from stream.close()
    if not stream.found:
        raise JsonStreamError(f"the answer has no {member!r} member")
