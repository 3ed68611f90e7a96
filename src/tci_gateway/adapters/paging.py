"""Paginators and the record iterator that pages through an :class:`ApiClient` call.

Modelled on dlt's ``rest_api`` paginators. A paginator is a small object with three
steps:

* :meth:`Paginator.init_request` puts the first page's parameters on the request;
* :meth:`Paginator.update_state` reads an answer (and the records found in it) and
  decides :attr:`Paginator.has_next`;
* :meth:`Paginator.update_request` turns the request into the next page's.

:class:`Pages` sends the calls: it reads one page at a time (memory does not grow with
the number of pages), can read the first page eagerly (so that a wrong policy or a
refused credential fails before the caller starts consuming), and stops a server that
ignores the paging parameter with ``max_pages`` (a :class:`ProtocolError`, never an
endless loop). :func:`iter_records` is the short form that yields the records.

A plugin with an unusual paging scheme subclasses one of the paginators and overrides a
hook: :meth:`PageNumberPaginator.total_pages` / :meth:`PageNumberPaginator.total_count`
or :meth:`OffsetPaginator.total_count` (where the totals are), or
:meth:`Paginator.update_request` (where the page goes: a JSON body instead of the query).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tci_gateway.errors import ProtocolError
from tci_gateway.http.client import ApiClient, ApiResponse

__all__ = [
    "CursorPaginator",
    "NextLinkPaginator",
    "OffsetPaginator",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "Pages",
    "Paginator",
    "RecordsReader",
    "SinglePagePaginator",
    "int_or_none",
    "iter_records",
    "records_at",
    "value_at",
]

RecordsReader = Callable[[ApiResponse], Sequence[Any] | None]
"""Reads the records of one page out of an answer; ``None`` when it holds no list."""

TotalReader = Callable[[ApiResponse], int | None]


@dataclass
class PageRequest:
    """What the next call sends: its path, query parameters and (for searches sent as
    POST) JSON body. Paginators edit it in place."""

    path: str
    params: dict[str, str] = field(default_factory=dict)
    json_body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Page:
    """One page read: its records, the answer, its 0-based number and the position of
    its first record across all pages (a row number for errors as data)."""

    records: Sequence[Any]
    response: ApiResponse
    number: int
    first_row: int


def value_at(payload: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``"meta.pagination.lastPage"``) in a JSON
    payload; ``None`` when any step is missing."""
    value = payload
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def int_or_none(value: Any) -> int | None:
    """``value`` when it is an int (not a bool), else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def records_at(*paths: str) -> RecordsReader:
    """A records reader: the answer itself when it is a list, else the first list found
    at one of the dotted ``paths`` (tried in order)."""

    def read(response: ApiResponse) -> Sequence[Any] | None:
        payload = response.payload
        if isinstance(payload, list):
            return payload
        for path in paths:
            value = value_at(payload, path)
            if isinstance(value, list):
                return value
        return None

    return read


class Paginator:
    """The base paginator: one page, no paging parameters. Subclasses override the
    three steps; :attr:`has_next` says whether another page follows the last one read."""

    def __init__(self) -> None:
        self.has_next = True

    def init_request(self, request: PageRequest) -> None:
        """Put the first page's parameters on ``request``."""

    def update_state(self, response: ApiResponse, records: Sequence[Any]) -> None:
        """Read the answer of the page just fetched; set :attr:`has_next`."""
        self.has_next = False

    def update_request(self, request: PageRequest) -> None:
        """Turn ``request`` into the next page's."""


class SinglePagePaginator(Paginator):
    """An answer that is never paged."""


class PageNumberPaginator(Paginator):
    """Page-number paging (``?page=2&pageSize=50``).

    After a page, another follows unless: the page was empty; ``maximum_page`` pages
    have been read; :meth:`total_pages` (or :meth:`total_count` with ``page_size``)
    says this was the last; or, with neither total, the page was shorter than
    ``page_size``. Totals given by an earlier page are remembered (an API may send them
    on the first page only). ``size_param=None`` sends no page size."""

    def __init__(
        self,
        *,
        page_size: int | None = None,
        base_page: int = 1,
        page_param: str = "page",
        size_param: str | None = "pageSize",
        maximum_page: int | None = None,
        total_pages: TotalReader | None = None,
        total_count: TotalReader | None = None,
    ) -> None:
        super().__init__()
        self.page_size = page_size
        self.base_page = base_page
        self.page_param = page_param
        self.size_param = size_param
        self.maximum_page = maximum_page
        self.pages_read = 0
        self.known_pages: int | None = None
        self.known_count: int | None = None
        self._total_pages = total_pages
        self._total_count = total_count

    @property
    def page(self) -> int:
        """The page number the next request asks for."""
        return self.base_page + self.pages_read

    def total_pages(self, response: ApiResponse) -> int | None:
        """Hook: the number of pages when the answer says it."""
        return self._total_pages(response) if self._total_pages else None

    def total_count(self, response: ApiResponse) -> int | None:
        """Hook: the number of records in all pages when the answer says it."""
        return self._total_count(response) if self._total_count else None

    def init_request(self, request: PageRequest) -> None:
        """Ask for the first page."""
        self.update_request(request)

    def update_state(self, response: ApiResponse, records: Sequence[Any]) -> None:
        """Count the page and decide whether another follows."""
        self.pages_read += 1
        pages = self.total_pages(response)
        count = self.total_count(response)
        self.known_pages = pages if pages is not None else self.known_pages
        self.known_count = count if count is not None else self.known_count
        self.has_next = bool(records) and self._more(len(records))

    def _more(self, count: int) -> bool:
        if self.maximum_page is not None and self.pages_read >= self.maximum_page:
            return False
        if self.known_pages is not None:
            return self.pages_read < self.known_pages
        if self.known_count is not None and self.page_size:
            return self.pages_read * self.page_size < self.known_count
        return self.page_size is None or count >= self.page_size

    def update_request(self, request: PageRequest) -> None:
        """Put the page size (when sent) and number in the query."""
        if self.size_param and self.page_size:
            request.params[self.size_param] = str(self.page_size)
        request.params[self.page_param] = str(self.page)


class OffsetPaginator(Paginator):
    """Offset/limit paging (``?offset=40&limit=20``). The next page starts where this
    one ended; the walk stops at :meth:`total_count`, at an empty page or (without a
    total) at a page shorter than ``limit``."""

    def __init__(
        self,
        limit: int,
        *,
        offset: int = 0,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_count: TotalReader | None = None,
    ) -> None:
        super().__init__()
        self.limit = limit
        self.offset = offset
        self.offset_param = offset_param
        self.limit_param = limit_param
        self._total_count = total_count

    def total_count(self, response: ApiResponse) -> int | None:
        """Hook: the number of records in all pages when the answer says it."""
        return self._total_count(response) if self._total_count else None

    def init_request(self, request: PageRequest) -> None:
        """Ask for the first page."""
        self.update_request(request)

    def update_state(self, response: ApiResponse, records: Sequence[Any]) -> None:
        """Move the offset past this page's records and decide whether more follow."""
        count = len(records)
        total = self.total_count(response)
        self.offset += count
        if count == 0:
            self.has_next = False
        elif total is not None:
            self.has_next = self.offset < total
        else:
            self.has_next = count >= self.limit

    def update_request(self, request: PageRequest) -> None:
        """Put the offset and limit in the query."""
        request.params[self.offset_param] = str(self.offset)
        request.params[self.limit_param] = str(self.limit)


class CursorPaginator(Paginator):
    """Cursor paging: the answer names the next page's cursor (at the dotted
    ``cursor_path``, or read by ``cursor``), sent back as ``cursor_param``. No cursor
    (or an empty page) ends the walk; the same cursor twice is a :class:`ProtocolError`."""

    def __init__(
        self,
        *,
        cursor_path: str = "next_cursor",
        cursor_param: str = "cursor",
        cursor: Callable[[ApiResponse], Any] | None = None,
    ) -> None:
        super().__init__()
        self.cursor_param = cursor_param
        self.cursor_path = cursor_path
        self._read = cursor
        self.cursor: str | None = None
        self._seen: set[str] = set()

    def update_state(self, response: ApiResponse, records: Sequence[Any]) -> None:
        """Read the next cursor."""
        raw = self._read(response) if self._read else value_at(response.payload, self.cursor_path)
        cursor = str(raw) if raw not in (None, "") else None
        if cursor is not None and cursor in self._seen:
            raise ProtocolError(f"the server sent cursor {cursor!r} twice: paging stopped")
        self.cursor = cursor
        self.has_next = bool(records) and cursor is not None
        if cursor is not None:
            self._seen.add(cursor)

    def update_request(self, request: PageRequest) -> None:
        """Send the cursor."""
        if self.cursor is not None:
            request.params[self.cursor_param] = self.cursor


class NextLinkPaginator(Paginator):
    """Next-link paging: the answer carries the next page's URL at the dotted
    ``link_path`` (``"links.next"``) or, with ``link_path=None``, in a ``Link: <...>;
    rel="next"`` header. The link replaces the path and query. A link away from the
    client's base URL is a :class:`ProtocolError`: credentials never follow it."""

    def __init__(self, base_url: str, *, link_path: str | None = "links.next") -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.link_path = link_path
        self.next_link: str | None = None

    def update_state(self, response: ApiResponse, records: Sequence[Any]) -> None:
        """Read the next link."""
        if self.link_path is not None:
            raw = value_at(response.payload, self.link_path)
        else:
            raw = _link_header_next(response.headers)
        link = str(raw) if raw not in (None, "") else None
        if link is not None and "://" in link and not link.startswith(self.base_url + "/"):
            raise ProtocolError(f"the next page link {link!r} leaves {self.base_url}")
        self.next_link = link
        self.has_next = bool(records) and link is not None

    def update_request(self, request: PageRequest) -> None:
        """Follow the link (its query replaces the parameters)."""
        if self.next_link is not None:
            request.path = self.next_link
            request.params = {}


def _link_header_next(headers: Mapping[str, str]) -> str | None:
    for part in headers.get("Link", "").split(","):
        url, _, rest = part.partition(";")
        if 'rel="next"' in rest.replace(" ", "") or "rel=next" in rest.replace(" ", ""):
            return url.strip().strip("<>")
    return None


_WHOLE_ANSWER = records_at()


class Pages:
    """The pages of one call, read lazily through ``client.request``.

    ``records`` reads each answer's records (default: the answer is the list); an
    answer without one is a :class:`ProtocolError`. ``max_pages`` stops a server that
    ignores the paging parameter. ``request_options`` go to every ``client.request``
    (e.g. per-call headers). :meth:`read_first` reads the first page now; iterating
    yields it and then the others, each fetched when the previous one is consumed."""

    def __init__(
        self,
        client: ApiClient,
        path: str,
        paginator: Paginator,
        *,
        method: str = "GET",
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        records: RecordsReader | None = None,
        max_pages: int | None = None,
        idempotent: bool | None = None,
        request_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.paginator = paginator
        self.method = method
        self.records = records or _WHOLE_ANSWER
        self.max_pages = max_pages
        self.idempotent = idempotent
        self.request_options = dict(request_options or {})
        body = dict(json_body) if json_body is not None else None
        self.request = PageRequest(path, dict(params or {}), body)
        self._read = 0
        self._rows = 0
        self._first: Page | None = None
        paginator.init_request(self.request)

    def read_first(self) -> Pages:
        """Read the first page now (errors surface here); returns ``self``."""
        if self._first is None and self._read == 0:
            self._first = self._fetch()
        return self

    def __iter__(self) -> Iterator[Page]:
        page = self._first if self._first is not None else self._fetch()
        self._first = None
        while True:
            yield page
            if not self.paginator.has_next:
                return
            if self.max_pages is not None and self._read >= self.max_pages:
                raise ProtocolError(
                    f"more than {self.max_pages} pages: the server may ignore the page number",
                    adapter=self.client.adapter,
                )
            self.paginator.update_request(self.request)
            page = self._fetch()

    def _fetch(self) -> Page:
        request = self.request
        response = self.client.request(
            self.method,
            request.path,
            params=dict(request.params) or None,
            json_body=request.json_body,
            idempotent=self.idempotent,
            **self.request_options,
        )
        records = self.records(response)
        if records is None:
            raise ProtocolError(
                "the answer holds no list of records",
                adapter=self.client.adapter,
                status=response.status,
                correlation_id=response.correlation_id,
            )
        try:
            self.paginator.update_state(response, records)
        except ProtocolError as exc:
            exc.adapter = exc.adapter or self.client.adapter
            raise
        page = Page(records, response, self._read, self._rows)
        self._read += 1
        self._rows += len(records)
        return page


def iter_records(
    client: ApiClient,
    path: str,
    paginator: Paginator,
    **options: Any,
) -> Iterator[Any]:
    """Every record of every page of a call, in order (``options`` as for
    :class:`Pages`)."""
    for page in Pages(client, path, paginator, **options):
        yield from page.records
