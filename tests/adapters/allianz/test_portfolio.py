"""The Allianz portfolio over fixture pages: 206 partial pages assembled, paging by
totals and by short pages, pending requests, unreadable records as data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tci_adapters.allianz.portfolio import page_records
from tci_gateway.adapters.contract import PortfolioEntry
from tci_gateway.domain.cover import CoverStatus, PendingAction
from tci_gateway.domain.money import Money
from tci_gateway.errors import ProtocolError, RecordError
from tci_gateway.http.jsonexact import dumps
from tci_gateway.http.retry import RetryPolicy

from .conftest import POLICY, FixtureServer, body_of, make_adapter

COVERS_SEARCH = "/riskinfo/v3/covers/search"
REQUESTS = "/riskinfo/v3/coverRequests/search"
S = CoverStatus


def by_page(*answers: tuple[int, str]) -> Any:
    """A route answering by the request's ``pagination.page`` (1-based)."""

    def route(request: httpx.Request) -> tuple[int, str]:
        return answers[body_of(request)["pagination"]["page"] - 1]

    return route


def paged_server() -> FixtureServer:
    return FixtureServer(
        {
            ("POST", COVERS_SEARCH): by_page(
                (206, "covers_page1.json"), (206, "covers_page2.json"), (200, "covers_page3.json")
            ),
            ("POST", REQUESTS): (200, "cover_requests_in_progress.json"),
        }
    )


def test_partial_pages_are_assembled_into_the_full_portfolio(retry: RetryPolicy) -> None:
    server = paged_server()
    adapter = make_adapter(server, retry, options={"page_size": 2})
    adapter.clock = lambda: datetime(2024, 4, 10, 9, 0, tzinfo=UTC)
    items = list(adapter.fetch_portfolio(POLICY))
    assert all(isinstance(i, PortfolioEntry) for i in items)
    entries: dict[str, PortfolioEntry] = {}  # the limit in force: each company's first
    history: dict[str, list[tuple[str, date, str]]] = {}  # the earlier limits after it
    for i in items:
        assert isinstance(i, PortfolioEntry)
        if i.insurer_buyer_id in entries:
            d = i.decision
            history.setdefault(i.insurer_buyer_id, []).append(
                (d.status.value, d.effective_from, str(d.granted_amount.amount))
            )
        entries.setdefault(i.insurer_buyer_id, i)
    assert list(entries) == [f"40000000{n}" for n in (1, 2, 3, 4, 5, 6, 7)]
    assert {k: e.decision.status for k, e in entries.items()} == {
        "400000001": S.APPROVED,  # Agreement
        "400000002": S.APPROVED,  # AlreadyAgreed after an older Agreement
        "400000003": S.PARTIALLY_APPROVED,
        "400000004": S.REFUSED,  # Agreement with amount 0
        "400000005": S.APPROVED,  # a withdrawal announced for 2030
        "400000006": S.REDUCED,
        "400000007": S.PENDING,  # request in progress, no cover yet
    }
    assert entries["400000002"].decision.granted_amount == Money(Decimal(80000), "EUR")
    # The older Agreement of 400000002 is kept as a version of its own, not dropped.
    assert history["400000002"] == [("APPROVED", date(2023, 5, 1), "60000")]
    assert set(history) == {"400000002", "400000006"}
    notice = entries["400000005"].decision
    assert notice.pending_action is PendingAction.WITHDRAWAL_NOTICE
    assert notice.effective_to == date(2030, 1, 1)
    pending = entries["400000007"].decision
    assert pending.requested_amount == Money(Decimal("150000.00"), "EUR")
    assert pending.insurer_cover_ref == "request:5000007"
    assert entries["400000007"].buyer_name == "Przyklad Sp. z o.o."
    assert entries["400000007"].buyer_country == "PL"
    first = entries["400000001"]
    assert (first.buyer_name, first.buyer_country) == ("Exemple Industries SAS", "FR")
    assert '"amount":100000.00' in first.raw  # raw kept, exact
    pages = [body_of(r)["pagination"] for r in server.calls("POST", COVERS_SEARCH)]
    assert pages == [
        {"page": 1, "pageSize": 2, "isTotalRequired": True},
        {"page": 2, "pageSize": 2, "isTotalRequired": False},
        {"page": 3, "pageSize": 2, "isTotalRequired": False},
    ]
    assert body_of(server.calls("POST", COVERS_SEARCH)[0])["policies"] == [
        {"businessUnitCode": "ACI", "policyId": "5550001"}
    ]
    [pending_call] = server.calls("POST", REQUESTS)
    assert body_of(pending_call)["requestStatusCode"] == "InProgress"


def test_the_first_page_is_read_at_once_the_rest_as_consumed(retry: RetryPolicy) -> None:
    server = paged_server()
    adapter = make_adapter(server, retry, options={"page_size": 2})
    items = adapter.fetch_portfolio(POLICY)
    assert len(server.calls("POST", COVERS_SEARCH)) == 1
    next(items), next(items), next(items)  # page 1: two covers, three credit limits
    assert len(server.calls("POST", COVERS_SEARCH)) == 1
    next(items)
    assert len(server.calls("POST", COVERS_SEARCH)) == 2


def _answer(records: list[dict[str, Any]], status: int, **pagination: Any) -> httpx.Response:
    payload = {"results": records, "pagination": pagination} if pagination else {"results": records}
    return httpx.Response(status, content=dumps(payload).encode())


def _cover(n: int) -> dict[str, Any]:
    return {
        "coverId": n,
        "companyId": 100 + n,
        "creditLimitsAggregation": {
            "creditLimits": [
                {
                    "amount": 1000,
                    "startDate": "2024-01-01",
                    "technicalDecisionStatusCode": "Agreement",
                }
            ]
        },
    }


def _paging_adapter(
    retry: RetryPolicy, pages: dict[int, httpx.Response], **options: Any
) -> tuple[Any, list[int]]:
    asked: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("authorize"):
            return httpx.Response(200, content=b'{"access_token":"t","expires_in":3600}')
        if request.url.path == REQUESTS:
            return httpx.Response(200, content=b'{"results": []}')
        page = body_of(request)["pagination"]["page"]
        asked.append(page)
        return pages.get(page, _answer([], 200))

    return make_adapter(handler, retry, options=options), asked


def test_paging_by_total_pages_without_206(retry: RetryPolicy) -> None:
    pages = {
        1: _answer([_cover(1), _cover(2)], 200, totalPages=2, totalCount=3),
        2: _answer([_cover(3)], 200),
    }
    adapter, asked = _paging_adapter(retry, pages, page_size=2)
    assert len(list(adapter.fetch_portfolio(POLICY))) == 3
    assert asked == [1, 2]


def test_paging_by_total_count_and_zero_based_pages(retry: RetryPolicy) -> None:
    pages = {
        0: _answer([_cover(1), _cover(2)], 200, totalCount=4),
        1: _answer([_cover(3), _cover(4)], 200),
    }
    adapter, asked = _paging_adapter(retry, pages, page_size=2, first_page=0)
    assert len(list(adapter.fetch_portfolio(POLICY))) == 4
    assert asked == [0, 1]


def test_paging_without_totals_stops_at_a_short_or_empty_page(retry: RetryPolicy) -> None:
    pages = {1: _answer([_cover(1), _cover(2)], 200), 2: _answer([_cover(3)], 200)}
    adapter, asked = _paging_adapter(retry, pages, page_size=2)
    assert len(list(adapter.fetch_portfolio(POLICY))) == 3
    assert asked == [1, 2]
    full = {1: _answer([_cover(1), _cover(2)], 200)}
    adapter, asked = _paging_adapter(retry, full, page_size=2)
    assert len(list(adapter.fetch_portfolio(POLICY))) == 2
    assert asked == [1, 2]  # a full page may have a successor: one empty page more


def test_a_200_after_206_pages_is_the_last(retry: RetryPolicy) -> None:
    pages = {1: _answer([_cover(1), _cover(2)], 206), 2: _answer([_cover(3), _cover(4)], 200)}
    adapter, asked = _paging_adapter(retry, pages, page_size=2)
    assert len(list(adapter.fetch_portfolio(POLICY))) == 4
    assert asked == [1, 2]


def test_a_server_ignoring_the_page_number_is_stopped(retry: RetryPolicy) -> None:
    same = _answer([_cover(1), _cover(2)], 206)
    adapter, asked = _paging_adapter(
        retry, dict.fromkeys(range(1, 10), same), page_size=2, max_pages=3
    )
    with pytest.raises(ProtocolError, match="more than 3 pages"):
        list(adapter.fetch_portfolio(POLICY))
    assert asked == [1, 2, 3]


def test_unreadable_records_are_errors_as_data(retry: RetryPolicy) -> None:
    server = FixtureServer(
        {
            ("POST", COVERS_SEARCH): (200, "covers_bad_records.json"),
            ("POST", REQUESTS): (200, "cover_requests_in_progress.json"),
        }
    )
    items = list(make_adapter(server, retry).fetch_portfolio(POLICY))
    entries = [i for i in items if isinstance(i, PortfolioEntry)]
    errors = [i for i in items if isinstance(i, RecordError)]
    assert [e.insurer_buyer_id for e in entries] == [
        "410000001",
        "410000001",  # its second cover: a version of its own
        "400000007",
        "400000001",
    ]
    assert [e.decision.insurer_cover_ref for e in entries[:2]] == ["8100001", "8100006"]
    assert {(e.source, e.row, e.column) for e in errors} == {
        ("allianz covers", 1, "creditLimitsAggregation.creditLimits.0.amount"),
        ("allianz covers", 2, None),  # no company: the model refuses it
        ("allianz covers", 3, "currencyCode"),
        ("allianz covers", 4, "creditLimitsAggregation.creditLimits"),
    }
    assert any("410000002" in e.reason for e in errors)


def test_a_cover_after_an_unreadable_one_of_the_same_company_is_left_out(
    retry: RetryPolicy,
) -> None:
    unreadable = _cover(1) | {"companyId": 900}
    unreadable["creditLimitsAggregation"]["creditLimits"][0]["amount"] = "lots"
    later = _cover(2) | {"companyId": 900}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("authorize"):
            return httpx.Response(200, content=b'{"access_token":"t","expires_in":3600}')
        if request.url.path == REQUESTS:
            return httpx.Response(200, content=b'{"results": []}')
        return _answer([unreadable, later], 200)

    items = list(make_adapter(handler, retry).fetch_portfolio(POLICY))
    assert not [i for i in items if isinstance(i, PortfolioEntry)]
    reasons = [i.reason for i in items if isinstance(i, RecordError)]
    assert any("900 left out: another of its covers is unreadable" in r for r in reasons)


def test_answers_without_a_list_are_protocol_errors(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", COVERS_SEARCH): (200, "job_pending.json")})
    with pytest.raises(ProtocolError, match="no list"):
        make_adapter(server, retry).fetch_portfolio(POLICY)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ([{"a": 1}], [{"a": 1}]),
        ({"results": []}, []),
        ({"covers": [1]}, [1]),
        ({"coverRequests": [2]}, [2]),
        ({"items": [3], "results": "not a list"}, [3]),
        ({"pagination": {"page": 9}}, []),
        ({"something": []}, None),
        ("text", None),
    ],
)
def test_page_records(payload: Any, expected: list[Any] | None) -> None:
    assert page_records(payload) == expected
