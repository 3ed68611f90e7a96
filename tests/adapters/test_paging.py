"""The toolkit's paginators and page reader against an in-process HTTP answerer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tci_gateway.adapters.paging import (
    CursorPaginator,
    NextLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Pages,
    SinglePagePaginator,
    iter_records,
    records_at,
    value_at,
)
from tci_gateway.errors import ProtocolError
from tci_gateway.http.client import ApiClient
from tci_gateway.http.jsonexact import dumps
from tci_gateway.http.retry import RetryPolicy

BASE = "https://api.example.test/v1"
Handler = Callable[[httpx.Request], tuple[Any, dict[str, str]]]


class Recorder:
    """Answers every request with ``handler`` and keeps the requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        payload, headers = self.handler(request)
        return httpx.Response(200, content=dumps(payload).encode(), headers=headers)

    def params(self, name: str) -> list[str | None]:
        return [r.url.params.get(name) for r in self.requests]


def client_for(recorder: Recorder, retry: RetryPolicy) -> ApiClient:
    return ApiClient(
        adapter="test", base_url=BASE, transport=httpx.MockTransport(recorder), retry=retry
    )


def numbered(total: int, start: int, count: int) -> list[dict[str, int]]:
    return [{"n": n} for n in range(start, min(start + count, total))]


def test_page_number_stops_at_a_short_page(retry: RetryPolicy) -> None:
    def handler(request: httpx.Request) -> tuple[Any, dict[str, str]]:
        page = int(request.url.params["page"])
        return {"items": numbered(7, (page - 1) * 3, 3)}, {}

    recorder = Recorder(handler)
    paginator = PageNumberPaginator(page_size=3)
    records = list(
        iter_records(client_for(recorder, retry), "/things", paginator, records=records_at("items"))
    )
    assert [r["n"] for r in records] == list(range(7))
    assert recorder.params("page") == ["1", "2", "3"]
    assert recorder.params("pageSize") == ["3", "3", "3"]


def test_page_number_trusts_a_total_given_on_the_first_page_only(retry: RetryPolicy) -> None:
    def handler(request: httpx.Request) -> tuple[Any, dict[str, str]]:
        page = int(request.url.params["p"])
        meta = {"lastPage": 2} if page == 0 else {}
        return {"data": numbered(100, page * 2, 2), "meta": meta}, {}

    recorder = Recorder(handler)
    paginator = PageNumberPaginator(
        page_size=2,
        base_page=0,
        page_param="p",
        size_param=None,
        total_pages=lambda r: value_at(r.payload, "meta.lastPage"),
    )
    pages = list(Pages(client_for(recorder, retry), "/x", paginator, records=records_at("data")))
    assert [p.number for p in pages] == [0, 1]
    assert [p.first_row for p in pages] == [0, 2]
    assert recorder.params("p") == ["0", "1"]
    assert recorder.params("pageSize") == [None, None]


def test_page_number_maximum_page_stops_quietly(retry: RetryPolicy) -> None:
    recorder = Recorder(lambda request: (numbered(100, 0, 5), {}))
    paginator = PageNumberPaginator(page_size=5, maximum_page=2)
    assert len(list(iter_records(client_for(recorder, retry), "/x", paginator))) == 10
    assert len(recorder.requests) == 2


def test_max_pages_is_a_protocol_error(retry: RetryPolicy) -> None:
    recorder = Recorder(lambda request: (numbered(100, 0, 5), {}))
    pages = Pages(client_for(recorder, retry), "/x", PageNumberPaginator(page_size=5), max_pages=3)
    with pytest.raises(ProtocolError, match="more than 3 pages") as caught:
        list(pages)
    assert caught.value.adapter == "test"
    assert len(recorder.requests) == 3


def test_offset_paging_with_a_total(retry: RetryPolicy) -> None:
    def handler(request: httpx.Request) -> tuple[Any, dict[str, str]]:
        offset = int(request.url.params["offset"])
        return numbered(5, offset, 2), {"X-Total-Count": "5"}

    recorder = Recorder(handler)
    paginator = OffsetPaginator(2, total_count=lambda r: int(r.headers["X-Total-Count"]))
    records = list(iter_records(client_for(recorder, retry), "/x", paginator))
    assert [r["n"] for r in records] == [0, 1, 2, 3, 4]
    assert recorder.params("offset") == ["0", "2", "4"]
    assert recorder.params("limit") == ["2", "2", "2"]


def test_offset_paging_stops_at_an_empty_page(retry: RetryPolicy) -> None:
    def handler(request: httpx.Request) -> tuple[Any, dict[str, str]]:
        return numbered(4, int(request.url.params["offset"]), 2), {}

    recorder = Recorder(handler)
    records = list(iter_records(client_for(recorder, retry), "/x", OffsetPaginator(2)))
    assert len(records) == 4
    assert recorder.params("offset") == ["0", "2", "4"]


def test_the_first_page_is_read_before_iterating(retry: RetryPolicy) -> None:
    recorder = Recorder(lambda request: ([1, 2], {}))
    pages = Pages(client_for(recorder, retry), "/x", SinglePagePaginator()).read_first()
    assert len(recorder.requests) == 1
    assert [p.records for p in pages] == [[1, 2]]
    assert len(recorder.requests) == 1


def test_a_post_search_keeps_its_body(retry: RetryPolicy) -> None:
    recorder = Recorder(lambda request: ({"results": [1]}, {}))
    records = list(
        iter_records(
            client_for(recorder, retry),
            "/search",
            SinglePagePaginator(),
            method="POST",
            json_body={"q": "x"},
            records=records_at("results"),
            idempotent=True,
        )
    )
    assert records == [1]
    assert recorder.requests[0].method == "POST"
    assert recorder.requests[0].content == b'{"q":"x"}'


def test_an_answer_without_a_list_is_a_protocol_error(retry: RetryPolicy) -> None:
    recorder = Recorder(lambda request: ({"items": "no"}, {}))
    with pytest.raises(ProtocolError, match="no list of records"):
        list(
            iter_records(
                client_for(recorder, retry),
                "/x",
                SinglePagePaginator(),
                records=records_at("items"),
            )
        )


def test_cursor_paging(retry: RetryPolicy) -> None:
    def handler(request: httpx.Request) -> tuple[Any, dict[str, str]]:
        cursor = request.url.params.get("after")
        following = {None: "c1", "c1": "c2", "c2": None}[cursor]
        return {"data": [cursor or "first"], "paging": {"next": following}}, {}

    recorder = Recorder(handler)
    paginator = CursorPaginator(cursor_path="paging.next", cursor_param="after")
    records = list(
        iter_records(client_for(recorder, retry), "/x", paginator, records=records_at("data"))
    )
    assert records == ["first", "c1", "c2"]


def test_a_repeated_cursor_is_a_protocol_error(retry: RetryPolicy) -> None:
    recorder = Recorder(lambda request: ({"data": [1], "next_cursor": "same"}, {}))
    with pytest.raises(ProtocolError, match="twice") as caught:
        list(
            iter_records(
                client_for(recorder, retry), "/x", CursorPaginator(), records=records_at("data")
            )
        )
    assert caught.value.adapter == "test"


def test_next_link_paging_in_the_body_and_in_the_link_header(retry: RetryPolicy) -> None:
    def body_links(request: httpx.Request) -> tuple[Any, dict[str, str]]:
        page = request.url.params.get("page", "1")
        link = f"{BASE}/x?page=2&token=t" if page == "1" else None
        return {"data": [page], "links": {"next": link}}, {}

    recorder = Recorder(body_links)
    paginator = NextLinkPaginator(BASE)
    records = list(
        iter_records(
            client_for(recorder, retry),
            "/x",
            paginator,
            params={"q": "a"},
            records=records_at("data"),
        )
    )
    assert records == ["1", "2"]
    assert str(recorder.requests[1].url) == f"{BASE}/x?page=2&token=t"

    def header_links(request: httpx.Request) -> tuple[Any, dict[str, str]]:
        first = "page" not in request.url.params
        headers = {"Link": f'<{BASE}/x?page=2>; rel="next", <{BASE}/x>; rel="first"'}
        return ([1] if first else [2]), headers if first else {}

    recorder = Recorder(header_links)
    records = list(
        iter_records(client_for(recorder, retry), "/x", NextLinkPaginator(BASE, link_path=None))
    )
    assert records == [1, 2]


def test_a_next_link_to_another_host_is_refused(retry: RetryPolicy) -> None:
    recorder = Recorder(
        lambda request: ({"data": [1], "links": {"next": "https://evil.test/x"}}, {})
    )
    with pytest.raises(ProtocolError, match="leaves"):
        list(
            iter_records(
                client_for(recorder, retry),
                "/x",
                NextLinkPaginator(BASE),
                records=records_at("data"),
            )
        )
    assert len(recorder.requests) == 1
