"""Error mapping helpers every adapter needs when it reads an answer.

* :func:`none_if_not_found`: a call whose 404 means "the insurer does not know it";
* :func:`unreadable` / :func:`parse_model` / :func:`parse_answer`: a record that does
  not fit the wire model (a pydantic ``ValidationError``, or a mapping error the caller
  names) becomes a one-line :class:`~tci_gateway.errors.ProtocolError` carrying the
  answer's status and correlation id;
* :func:`record_error`: the same failure as data (a
  :class:`~tci_gateway.errors.RecordError`) for a record of a portfolio, so that one bad
  record does not stop the rest;
* :func:`describe`: the one-line summary both use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import ValidationError

from tci_gateway.errors import NotFoundError, ProtocolError, RecordError
from tci_gateway.http.client import ApiResponse

__all__ = [
    "describe",
    "none_if_not_found",
    "parse_answer",
    "parse_model",
    "protocol_error",
    "record_error",
    "unreadable",
]

T = TypeVar("T")


def none_if_not_found(call: Callable[[], T], *, coded_only: bool = False) -> T | None:
    """``call()``, or ``None`` when it raises :class:`NotFoundError` (a 404).

    ``coded_only``: only a 404 that carries an error code (the API's own "not found" in
    its envelope) means unknown; a bare 404 (a wrong route at a gateway) is raised, since
    reading it as "unknown" could make a caller send a request again."""
    try:
        return call()
    except NotFoundError as exc:
        if coded_only and exc.code is None:
            raise
        return None


def describe(exc: Exception) -> str:
    """One line about why a record could not be read: for a ``ValidationError`` its first
    error's location and message (and how many more), else the exception's text."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}"
    return " ".join(str(exc).split())


@contextmanager
def unreadable(
    message: str,
    *,
    adapter: str,
    response: ApiResponse | None = None,
    also: tuple[type[Exception], ...] = (),
) -> Iterator[None]:
    """Turn a ``ValidationError`` (and the exception types in ``also``, e.g. the
    adapter's mapping error) raised in the block into ``ProtocolError("<message>:
    <why>")`` with the answer's status and correlation id."""
    caught: tuple[type[Exception], ...] = (ValidationError, *also)
    try:
        yield
    except caught as exc:
        raise protocol_error(
            f"{message}: {describe(exc)}", adapter=adapter, response=response
        ) from exc


def protocol_error(
    message: str, *, adapter: str, response: ApiResponse | None = None
) -> ProtocolError:
    """A :class:`ProtocolError` about an answer, with its status and correlation id."""
    return ProtocolError(
        message,
        adapter=adapter,
        status=response.status if response is not None else None,
        correlation_id=response.correlation_id if response is not None else None,
    )


def parse_model(
    parse: Callable[[Any], T],
    payload: Any,
    message: str,
    *,
    adapter: str,
    response: ApiResponse | None = None,
    also: tuple[type[Exception], ...] = (),
) -> T:
    """``parse(payload)`` (e.g. ``Cover.from_record``); a failure is a
    :class:`ProtocolError` as :func:`unreadable` makes it."""
    with unreadable(message, adapter=adapter, response=response, also=also):
        return parse(payload)


def parse_answer(
    parse: Callable[[Any], T],
    response: ApiResponse,
    message: str,
    *,
    adapter: str,
    also: tuple[type[Exception], ...] = (),
) -> T:
    """``parse(response.payload)``: :func:`parse_model` of a whole answer."""
    return parse_model(
        parse, response.payload, message, adapter=adapter, response=response, also=also
    )


def record_error(source: str, row: int | None, exc: Exception, who: str = "") -> RecordError:
    """A record that failed validation (or mapping) as a :class:`RecordError`: the
    column is the first error's location (or the mapping error's ``field``), the reason
    prefixed with ``who`` (e.g. ``"buyer 123: "``)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        column = ".".join(str(p) for p in first["loc"]) or None
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return RecordError(source, row, column, f"{who}{first['msg']}{more}")
    column = getattr(exc, "field", None)
    reason = getattr(exc, "reason", None) or str(exc)
    return RecordError(source, row, column if isinstance(column, str) else None, f"{who}{reason}")
