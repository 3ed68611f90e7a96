"""One answer's JSON array read as its body arrives, for
:meth:`tci_gateway.http.client.ApiClient.read_array`: the elements go to a consumer one by
one, a body that is not the array expected becomes a :class:`ProtocolError`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from tci_gateway.errors import ProtocolError
from tci_gateway.http.jsonstream import Element, JsonArrayStream, JsonStreamError

T = TypeVar("T")

_HEAD_BYTES = 2000
"""How much of a body that is not JSON is kept for the error."""


class StreamedArray:
    """The elements of the JSON array in ``chunks`` (see
    :class:`~tci_gateway.http.jsonstream.JsonArrayStream`); ``context`` goes into the
    :class:`ProtocolError` raised when the body is not such an array."""

    def __init__(self, chunks: Iterable[bytes], member: str | None, **context: Any) -> None:
        self.chunks = chunks
        self.member = member
        self.context = context
        self.parser = JsonArrayStream(member)
        self.complete = False

    def elements(self) -> Iterator[Element]:
        """The elements as they are read, the body to its end."""
        head = b""
        try:
            for chunk in self.chunks:
                if len(head) < _HEAD_BYTES:
                    head += chunk[: _HEAD_BYTES - len(head)]
                yield from self.parser.feed(chunk)
            yield from self.parser.close()
        except JsonStreamError as exc:
            if head.lstrip()[:1] == b"<":
                raise ProtocolError(
                    "an HTML page came back instead of JSON",
                    body=head.decode("utf-8", "replace"),
                    **self.context,
                ) from exc
            raise ProtocolError(str(exc), **self.context) from exc
        self.complete = True

    def consume(self, consume: Callable[[Iterator[Element]], T]) -> T:
        """What ``consume`` returns from the elements; the body is then read to its end
        (what ``consume`` left is read and checked, not given to it)."""
        elements = self.elements()
        result = consume(elements)
        for _ in elements:
            pass
        if not self.complete:  # consume swallowed an error of the body
            raise ProtocolError("the answer was not read to its end", **self.context)
        return result

    @property
    def payload(self) -> Any:
        """The answer without its elements: ``[]``, or the object's members with
        ``member`` holding ``[]`` (absent when the answer had none)."""
        if self.member is None:
            return []
        members = dict(self.parser.members)
        if self.parser.found:
            members[self.member] = []
        return members

    def check_found(self) -> None:
        """Raise unless the answer held the array (an object without ``member``)."""
        if not self.parser.found:
            raise ProtocolError(f"the answer has no {self.member!r} member", **self.context)
