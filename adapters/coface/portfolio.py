"""The portfolio (NOTIFICATION service): offset/limit pages to entries (pure helpers).

Paging follows Coface's ICON API (H for ICON, assumed for CofaServe): ``offset`` and
``limit`` (at most 20) in the query; the answer says the range and the total in
``Content-Range: items 0-19/57`` and ``X-Total-Count: 57``. Pages are read one at a
time: memory does not grow with the portfolio. The next page starts where this one
ended; the walk stops at the total, at an empty page, or (without a total) at a short
page. A server that ignores ``offset`` (a ``Content-Range`` starting elsewhere, or the
same page again) is a :class:`~tci_gateway.errors.ProtocolError`, never an endless loop.

Each record is one buyer's current decision (an order still in progress stands for a
buyer without a decision). A record that cannot be read becomes a
:class:`~tci_gateway.errors.RecordError` (source ``"coface credit-limits"``, row = its
position in the whole portfolio) and the rest goes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from tci_gateway.adapters.contract import PortfolioEntry, PortfolioItem
from tci_gateway.adapters.toolkit import OffsetPaginator, record_error
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.errors import ProtocolError, RecordError
from tci_gateway.http.client import ApiResponse

from .mapping import MappingError, country_alpha2, map_credit_limit
from .wire import CreditLimit

SOURCE = "coface credit-limits"
TOTAL_HEADER = "X-Total-Count"
RANGE_HEADER = "Content-Range"
_RANGE_RE = re.compile(r"^\s*(?:[A-Za-z]+\s+)?(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$")


def read_range(headers: Mapping[str, str]) -> tuple[int | None, int | None]:
    """``(first index, total)`` from ``Content-Range`` and ``X-Total-Count`` (either
    may be missing; ``X-Total-Count`` wins for the total)."""
    start: int | None = None
    total: int | None = None
    content_range = headers.get(RANGE_HEADER)
    if content_range:
        match = _RANGE_RE.match(content_range)
        if match is None:
            raise ValueError(f"unreadable Content-Range {content_range!r}")
        if match[1] is not None:
            start = int(match[1])
        if match[3] != "*":
            total = int(match[3])
    count = headers.get(TOTAL_HEADER)
    if count is not None:
        text = count.strip()
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"unreadable X-Total-Count {count!r}")
        total = int(text)
    return start, total


class PortfolioPaginator(OffsetPaginator):
    """``offset``/``limit`` in the query; the total from the headers. A page starting
    elsewhere than asked, or the same page again, is a :class:`ProtocolError`."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.total: int | None = None
        self.previous_first: list[Any] = []

    def total_count(self, response: ApiResponse) -> int | None:
        """The total read by :meth:`update_state` from the headers."""
        return self.total

    def update_state(self, response: ApiResponse, records: Sequence[Any]) -> None:
        """Check the range against the offset asked for, then move on."""
        try:
            start, self.total = read_range(response.headers)
        except ValueError as exc:
            raise ProtocolError(str(exc), status=response.status) from exc
        if start is not None and records and start != self.offset:
            raise ProtocolError(
                f"asked for offset {self.offset}, the answer starts at {start}",
                status=response.status,
            )
        if records and list(records[:1]) == self.previous_first:
            raise ProtocolError("the portfolio answered the same page again: offset ignored")
        self.previous_first = list(records[:1])
        super().update_state(response, records)


def entries(
    records: Sequence[Any],
    first_row: int,
    currency: str,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
) -> Iterator[PortfolioItem]:
    """A :class:`PortfolioEntry` per readable record, a :class:`RecordError` per other."""
    for index, record in enumerate(records, start=first_row):
        buyer = record.get("easyNumber") if isinstance(record, dict) else None
        who = f"buyer {buyer}: " if buyer not in (None, "") else ""
        try:
            limit = CreditLimit.from_record(record)
        except ValidationError as exc:
            yield record_error(SOURCE, index, exc, who)
            continue
        try:
            decision = map_credit_limit(limit, currency, status_overrides=status_overrides)
            country = country_alpha2(limit.countryCode) if limit.countryCode else None
        except MappingError as exc:
            yield RecordError(SOURCE, index, exc.field, f"{who}{exc.reason}")
            continue
        yield PortfolioEntry(
            insurer_buyer_id=limit.easyNumber,
            buyer_name=limit.companyName or "",
            buyer_country=country,
            decision=decision,
            raw=limit.raw,
        )
