"""Page-number paging and the portfolio entries it yields.

``covers/search`` and ``coverRequests/search`` take ``pagination: {page, pageSize,
isTotalRequired}``. A partial page (more follow) may be answered with **HTTP 206**
(observed on V2 list calls). :class:`SearchPaginator` reads pages until one of: an empty page; a
200 (not 206) whose ``pagination.totalPages``/``totalCount`` (SYNTHETIC names) say it is
the last, or, without totals, a page shorter than the page size; ``max_pages``
(a :class:`ProtocolError`: a server that ignores ``page`` would loop forever). Records
are read from the first list found under ``results``, ``items``, ``covers``,
``coverRequests``, ``content`` or ``data`` (the answer's key is not public), or a bare
list. Searches are read-only: they are sent as idempotent POSTs (retried).

Entries: one per credit limit. A cover's credit limit in force comes first, then the
earlier limits of the same cover (an ``Agreement`` before the ``AlreadyAgreed`` that
replaced it), newest first; a company listed with several covers gets the entries of
each. The sync keeps each as a version of its own (one per cover id and start date). A
cover that cannot be read is a :class:`~tci_gateway.errors.RecordError` (source
``"allianz covers"``, row = its index across pages), and the company's later covers are
left out and reported, so that an older cover never stands in for one that could not be
read. Requests in progress become PENDING entries for companies that have no cover.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from tci_gateway.adapters.contract import PortfolioEntry, PortfolioItem
from tci_gateway.adapters.toolkit import (
    PageNumberPaginator,
    PageRequest,
    int_or_none,
    record_error,
)
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.errors import RecordError
from tci_gateway.http.client import ApiResponse

from .mapping import (
    MappingError,
    country_alpha2,
    map_cover,
    map_pending_request,
    past_versions,
    request_state,
)
from .wire import Cover, CoverRequestRecord

COVERS_SOURCE = "allianz covers"
REQUESTS_SOURCE = "allianz cover requests"
LIST_KEYS = ("results", "items", "covers", "coverRequests", "content", "data")


class Seen(Protocol):
    """The companies listed so far: a ``set[str]``, or :class:`.seen.SeenCompanies` (on
    disk) for a whole portfolio."""

    def add(self, company: str, /) -> None: ...

    def __contains__(self, company: object, /) -> bool: ...


def page_records(payload: Any) -> list[Any] | None:
    """The records of one page, or ``None`` when the answer holds no list."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in LIST_KEYS:
            value = payload.get(key)
            if isinstance(value, list):
                return value
        if not any(key in payload for key in LIST_KEYS) and "pagination" in payload:
            return []
    return None


def totals(response: ApiResponse) -> tuple[int | None, int | None]:
    """``(totalPages, totalCount)`` when the answer's ``pagination`` carries them."""
    pagination = response.payload.get("pagination") if isinstance(response.payload, dict) else None
    if not isinstance(pagination, dict):
        return None, None
    return int_or_none(pagination.get("totalPages")), int_or_none(pagination.get("totalCount"))


class SearchPaginator(PageNumberPaginator):
    """Page numbers in the search body (``pagination: {page, pageSize,
    isTotalRequired}``, totals asked for on the first page only). A 206 means more
    follow; after 206 pages, a 200 is the last."""

    def __init__(self, page_size: int, first_page: int) -> None:
        super().__init__(page_size=page_size, base_page=first_page)
        self.partial_seen = False

    def total_pages(self, response: ApiResponse) -> int | None:
        """``pagination.totalPages`` (SYNTHETIC name)."""
        return totals(response)[0]

    def total_count(self, response: ApiResponse) -> int | None:
        """``pagination.totalCount`` (SYNTHETIC name)."""
        return totals(response)[1]

    def update_state(self, response: ApiResponse, records: Sequence[Any]) -> None:
        """Totals and short pages as usual, but a 206 always has a next page."""
        super().update_state(response, records)
        if not records:
            return
        if response.status == 206:
            self.has_next = self.partial_seen = True
        elif self.partial_seen:
            self.has_next = False

    def update_request(self, request: PageRequest) -> None:
        """Put the page in the body's ``pagination``."""
        request.json_body = {
            **(request.json_body or {}),
            "pagination": {
                "page": self.page,
                "pageSize": self.page_size,
                "isTotalRequired": self.pages_read == 0,
            },
        }


def _company_of(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    value = record.get("companyId")
    company = record.get("company")
    if value is None and isinstance(company, dict):
        value = company.get("companyId")
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None


def _error(source: str, row: int, exc: ValidationError, company: str | None) -> RecordError:
    return record_error(source, row, exc, f"company {company}: " if company else "")


def cover_items(
    records: Sequence[Any],
    first_row: int,
    currency: str,
    seen: Seen,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
    observed_at: datetime | None = None,
    unreadable: set[str] | None = None,
) -> Iterator[PortfolioItem]:
    """Entries (and errors as data) for one page of covers; adds companies to ``seen``,
    and those with a cover that could not be read to ``unreadable`` (kept across pages
    by the caller)."""
    unreadable = set() if unreadable is None else unreadable
    for offset, record in enumerate(records):
        row = first_row + offset
        company = _company_of(record)
        try:
            cover = Cover.from_record(record)
        except ValidationError as exc:
            if company is not None:
                seen.add(company)  # never let a pending request stand in for it
                unreadable.add(company)
            yield _error(COVERS_SOURCE, row, exc, company)
            continue
        company_id = cover.company_id or ""
        if company_id in unreadable:
            yield RecordError(
                COVERS_SOURCE,
                row,
                None,
                f"company {company_id} left out: another of its covers is unreadable",
            )
            continue
        seen.add(company_id)
        try:
            decision = map_cover(
                cover, currency, status_overrides=status_overrides, observed_at=observed_at
            )
        except MappingError as exc:
            yield RecordError(COVERS_SOURCE, row, exc.field, f"company {company_id}: {exc.reason}")
            continue
        try:
            history = past_versions(
                cover, currency, status_overrides=status_overrides, observed_at=observed_at
            )
        except MappingError as exc:
            history = []
            reason = f"company {company_id}: {exc.reason} (left out of the history)"
            yield RecordError(COVERS_SOURCE, row, exc.field, reason)
        country = country_alpha2(cover.company.countryCode if cover.company is not None else None)
        for version in (decision, *history):
            yield PortfolioEntry(
                insurer_buyer_id=company_id,
                buyer_name=cover.company_name,
                buyer_country=country,
                decision=version,
                raw=cover.raw,
            )


def pending_items(
    records: Sequence[Any],
    first_row: int,
    currency: str,
    seen: Seen,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
) -> Iterator[PortfolioItem]:
    """PENDING entries for requests in progress on companies not in ``seen``."""
    for offset, record in enumerate(records):
        row = first_row + offset
        company = _company_of(record)
        try:
            request = CoverRequestRecord.from_record(record)
        except ValidationError as exc:
            yield _error(REQUESTS_SOURCE, row, exc, company)
            continue
        if request_state(request.requestStatusCode) != "pending":
            continue
        if company is None:
            yield RecordError(REQUESTS_SOURCE, row, "companyId", "the request names no company")
            continue
        if company in seen:
            continue
        seen.add(company)
        try:
            decision = map_pending_request(request, currency, status_overrides=status_overrides)
        except MappingError as exc:
            yield RecordError(REQUESTS_SOURCE, row, exc.field, f"company {company}: {exc.reason}")
            continue
        company_block = request.company
        yield PortfolioEntry(
            insurer_buyer_id=company,
            buyer_name=(company_block.companyName or "") if company_block else "",
            buyer_country=country_alpha2(company_block.countryCode) if company_block else None,
            decision=decision,
            raw=request.raw,
        )
