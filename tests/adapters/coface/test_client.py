"""The Coface client and adapter against the fixture payloads (httpx.MockTransport)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from tci_gateway.adapters.contract import (
    BuyerQuery,
    CoverAction,
    CoverRequest,
    PolicyRef,
    PortfolioEntry,
)
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.errors import AuthError, ConfigError, ProtocolError, RejectedError
from tci_gateway.http.jsonexact import loads
from tci_gateway.http.retry import RetryPolicy

from .helpers import (
    POLICY,
    TOKEN_PATH,
    FixtureServer,
    fixture_bytes,
    make_adapter,
)

ORDERS = "/products/credit-limits"
PORTFOLIO = "/policies/1234567/credit-limits"
SIREN = BuyerQuery(country="FR", identifier=parse_identifier(Scheme.FR_SIREN, "123456782"))


def eur(amount: str | int) -> Money:
    return Money(Decimal(amount), "EUR")


def order(
    reference: str, buyer: str, amount: int | None, action: CoverAction = CoverAction.NEW
) -> CoverRequest:
    money = eur(amount) if amount is not None else None
    return CoverRequest(reference, POLICY, buyer, action, money)


# -- login and companies ------------------------------------------------------------------


def test_login_and_signed_calls(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", "/companies/identifier"): (200, "companies_identifier.json")})
    adapter = make_adapter(server, retry, options={"policy_number": "1234567"})
    [match] = adapter.search_buyers(SIREN)
    token, call = server.requests
    assert (token.method, token.url.path) == ("POST", TOKEN_PATH)
    assert token.headers["x-api-key"] == "api-key-789"
    assert token.headers["x-cof-policy-number"] == "1234567"
    assert token.headers["Content-Type"] == "application/json"
    assert "Authorization" not in token.headers
    assert loads(token.content) == {
        "username": "broker-user",
        "password": "s3cret-value",
        "grant_type": "password",
    }
    assert call.headers["Authorization"] == "eyJsynthetic.id-token.0001"  # no "Bearer"
    assert call.headers["x-api-key"] == "api-key-789"
    assert call.headers["X-COF-Policy-Number"] == "1234567"
    assert dict(call.url.params) == {
        "countryCode": "FRA",
        "identifierType": "SIREN",
        "identifierValue": "123456782",
    }
    assert match.insurer_buyer_id == "71234567"
    assert Identifier(Scheme.VAT, "FR11123456782") in match.identifiers


def test_without_a_default_contract_no_policy_header_is_sent(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", "/companies/identifier"): (200, "companies_identifier.json")})
    make_adapter(server, retry).search_buyers(SIREN)
    assert all("x-cof-policy-number" not in r.headers for r in server.requests)


def test_token_field_and_scheme_options(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", "/companies/identifier"): (200, "companies_identifier.json")})
    options = {
        "token_field": "accessToken",
        "auth_scheme": "Bearer",
        "grant_type_field": "grantType",
    }
    make_adapter(server, retry, options=options).search_buyers(SIREN)
    token, call = server.requests
    assert loads(token.content)["grantType"] == "password"
    assert call.headers["Authorization"] == "Bearer eyJsynthetic.access-token.0001"


def test_name_search(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", "/companies"): (200, "companies_search.json")})
    matches = make_adapter(server, retry).search_buyers(BuyerQuery(country="GB", name=" Example "))
    assert dict(server.requests[-1].url.params) == {"name": "Example", "countryCode": "GBR"}
    assert [m.insurer_buyer_id for m in matches] == ["71234568", "71234569"]  # one has no country
    assert matches[0].identifiers == (
        Identifier(Scheme.VAT, "GB123456727"),
        Identifier(Scheme.GB_CRN, "01234567"),
    )
    assert matches[1].identifiers == (
        Identifier(Scheme.GB_CRN, "SC123456"),
        Identifier(Scheme.LEI, "529900T8BM49AURSDO55"),
    )


def test_easy_number_look_up(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", "/companies/71234571"): (200, "company_detail.json")})
    ident = parse_identifier(Scheme.INSURER, "71234571", "coface")
    [match] = make_adapter(server, retry).search_buyers(BuyerQuery(country="CN", identifier=ident))
    assert match.country == "CN"
    assert match.identifiers == (Identifier(Scheme.CN_USCC, "9132050012345678X2"),)


@pytest.mark.parametrize(
    ("status", "name"), [(200, "companies_none.json"), (404, "error_envelope.json")]
)
def test_no_match_is_an_empty_list(retry: RetryPolicy, status: int, name: str) -> None:
    server = FixtureServer({("GET", "/companies/identifier"): (status, name)})
    assert make_adapter(server, retry).search_buyers(SIREN) == []


def test_searches_coface_cannot_make_are_refused(retry: RetryPolicy) -> None:
    server = FixtureServer({})
    adapter = make_adapter(server, retry, options={"identifier_types": {"LEI": ""}})
    with pytest.raises(RejectedError, match="identifier or a name"):
        adapter.search_buyers(BuyerQuery(country="FR"))
    lei = parse_identifier(Scheme.LEI, "529900T8BM49AURSDO55")
    with pytest.raises(RejectedError, match="LEI"):
        adapter.search_buyers(BuyerQuery(country="FR", identifier=lei))
    other = parse_identifier(Scheme.INSURER, "20001", "atradius")
    with pytest.raises(RejectedError, match="INSURER"):
        adapter.search_buyers(BuyerQuery(country="FR", identifier=other))
    with pytest.raises(RejectedError, match="country"):
        adapter.search_buyers(BuyerQuery(country="ZZ", name="Example"))
    assert server.requests == []


# -- credit-limit orders ------------------------------------------------------------------


def test_order_decided_at_once(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", ORDERS): (201, "order_decided.json")})
    result = make_adapter(server, retry).request_cover(order("tci-req-0100", "71234568", 25000))
    sent = server.calls("POST", ORDERS)[0]
    body = loads(sent.content)
    assert body == {
        "easyNumber": "71234568",
        "action": "ORDER",
        "customerReference": "tci-req-0100",
        "amount": 25000,
        "currency": "EUR",
    }
    assert not isinstance(body["amount"], str)  # a JSON number
    assert sent.headers["x-cof-policy-number"] == "1234567"
    assert (result.client_reference, result.insurer_request_ref) == ("tci-req-0100", "8000101")
    assert not result.pending
    assert result.decision is not None and result.decision.status is CoverStatus.APPROVED
    assert result.decision.tranches[0].expires_on == date(2025, 4, 10)


def test_order_pending_then_polled(retry: RetryPolicy) -> None:
    server = FixtureServer(
        {
            ("POST", ORDERS): (202, "order_pending.json"),
            ("GET", f"{ORDERS}/8000102"): (200, "order_decided_later.json"),
            ("GET", f"{ORDERS}/unknown"): (404, "error_envelope.json"),
        }
    )
    adapter = make_adapter(server, retry)
    result = adapter.request_cover(order("tci-req-0101", "71234568", 150000))
    assert result.pending and result.insurer_request_ref == "8000102"
    assert result.decision is not None and result.decision.status is CoverStatus.PENDING
    later = adapter.request_status(POLICY, "8000102")
    assert later is not None and not later.pending
    assert later.client_reference == "tci-req-0101"
    assert later.decision is not None
    assert later.decision.status is CoverStatus.PARTIALLY_APPROVED
    assert later.decision.granted_amount == eur(75000)
    assert adapter.request_status(POLICY, "unknown") is None


def test_202_with_only_an_order_id(retry: RetryPolicy) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, content=fixture_bytes("token.json"))
        return httpx.Response(202, json={"orderId": 8000103})

    result = make_adapter(handler, retry).request_cover(order("r-202", "71234568", 90000))
    assert (result.pending, result.insurer_request_ref, result.decision) == (True, "8000103", None)


def test_find_request_by_reference(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", ORDERS): (200, "orders_by_reference.json")})
    adapter = make_adapter(server, retry)
    found = adapter.find_request(POLICY, "tci-req-0101")
    assert dict(server.requests[-1].url.params) == {"customerReference": "tci-req-0101"}
    assert found is not None and found.pending and found.insurer_request_ref == "8000102"
    assert adapter.find_request(POLICY, "tci-req-other") is None  # filtered client-side too


def test_amendments_use_the_configured_actions(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", ORDERS): (201, "order_decided.json")})
    adapter = make_adapter(server, retry, options={"actions": {"CANCEL": "STOP"}})
    adapter.request_cover(order("r-inc", "71234568", 30000, CoverAction.INCREASE))
    adapter.request_cover(order("r-red", "71234568", 10000, CoverAction.REDUCE))
    adapter.request_cover(order("r-can", "71234568", None, CoverAction.CANCEL))
    bodies = [loads(r.content) for r in server.calls("POST", ORDERS)]
    assert [b["action"] for b in bodies] == ["UPDATE", "UPDATE", "STOP"]
    assert [b.get("amount") for b in bodies] == [30000, 10000, None]


def test_requests_refused_before_sending(retry: RetryPolicy) -> None:
    server = FixtureServer({})
    adapter = make_adapter(server, retry)
    with pytest.raises(RejectedError, match="RENEW"):
        adapter.request_cover(order("r1", "71234568", 1000, CoverAction.RENEW))
    with pytest.raises(RejectedError, match="needs an amount"):
        adapter.request_cover(order("r2", "71234568", None, CoverAction.INCREASE))
    grade = CoverRequest("r3", POLICY, "71234568", CoverAction.NEW, eur(1000), "GRADE")
    with pytest.raises(RejectedError, match="GRADE"):
        adapter.request_cover(grade)
    no_contract = PolicyRef(key="p", currency="EUR", external_ref={"customer_id": "1"})
    with pytest.raises(ConfigError, match="policy_number"):
        adapter.request_cover(CoverRequest("r4", no_contract, "1", CoverAction.NEW, eur(1)))
    assert server.requests == []


# -- portfolio paging ---------------------------------------------------------------------


class PagedServer(FixtureServer):
    """Answers the three portfolio pages (limit 3) with paging ``headers``: ``both``,
    ``count`` (X-Total-Count only), ``range`` (Content-Range only) or ``none``."""

    def __init__(self, headers: str, total: int = 8, ignore_offset: bool = False) -> None:
        super().__init__({})
        self.headers = headers
        self.total = total
        self.ignore_offset = ignore_offset

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != PORTFOLIO:
            return super().__call__(request)
        self.requests.append(request)
        offset = 0 if self.ignore_offset else int(request.url.params["offset"])
        content = fixture_bytes(f"portfolio_page_{offset // 3 + 1}.json")
        count = len(loads(content)["creditLimits"])
        extra = {}
        if self.headers in ("both", "range"):
            extra["Content-Range"] = f"items {offset}-{offset + count - 1}/{self.total}"
        if self.headers in ("both", "count"):
            extra["X-Total-Count"] = str(self.total)
        return httpx.Response(200, headers=extra, content=content)


@pytest.mark.parametrize("headers", ["both", "count", "range", "none"])
def test_offset_paging_across_pages(retry: RetryPolicy, headers: str) -> None:
    server = PagedServer(headers)
    adapter = make_adapter(server, retry, options={"page_limit": 3})
    items = adapter.fetch_portfolio(POLICY)
    assert len(server.calls("GET", PORTFOLIO)) == 1  # the first page is read at once
    entries = [i for i in items if isinstance(i, PortfolioEntry)]
    assert len(entries) == 8
    calls = server.calls("GET", PORTFOLIO)
    assert [dict(c.url.params) for c in calls] == [
        {"offset": "0", "limit": "3"},
        {"offset": "3", "limit": "3"},
        {"offset": "6", "limit": "3"},
    ]
    assert all(c.headers["x-cof-policy-number"] == "1234567" for c in calls)


def test_paging_stops_at_the_total(retry: RetryPolicy) -> None:
    server = PagedServer("both", total=3)
    adapter = make_adapter(server, retry, options={"page_limit": 3})
    assert len(list(adapter.fetch_portfolio(POLICY))) == 3
    assert len(server.calls("GET", PORTFOLIO)) == 1


@pytest.mark.parametrize("headers", ["range", "none"])
def test_a_server_ignoring_offset_is_a_protocol_error(retry: RetryPolicy, headers: str) -> None:
    server = PagedServer(headers, ignore_offset=True)
    adapter = make_adapter(server, retry, options={"page_limit": 3})
    with pytest.raises(ProtocolError, match="offset"):
        list(adapter.fetch_portfolio(POLICY))


def test_unreadable_paging_headers(retry: RetryPolicy) -> None:
    server = FixtureServer(
        {("GET", PORTFOLIO): (200, "portfolio_page_1.json", {"X-Total-Count": "lots"})}
    )
    with pytest.raises(ProtocolError, match="X-Total-Count"):
        make_adapter(server, retry).fetch_portfolio(POLICY)


# -- errors -------------------------------------------------------------------------------


def test_error_envelope_fills_the_error_fields(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", ORDERS): (400, "error_envelope.json")})
    with pytest.raises(RejectedError) as caught:
        make_adapter(server, retry).request_cover(order("ref-400", "71234568", 1000))
    error = caught.value
    sent = server.calls("POST", ORDERS)[0]
    assert (error.status, error.code, error.adapter) == (400, "INVALID_AMOUNT", "coface")
    assert error.message == "Amount must be positive"
    assert error.details == [
        "must be greater than 0 (field amount)",
        "the amount is in the policy currency",
    ]
    assert error.correlation_id == sent.headers["X-Correlation-Id"]
    assert error.body is not None and "INVALID_AMOUNT" in error.body


def test_gateway_answers_are_read_too(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", PORTFOLIO): (403, "error_gateway.json")})
    with pytest.raises(AuthError) as caught:
        make_adapter(server, retry).fetch_portfolio(POLICY)
    assert (caught.value.status, caught.value.message) == (403, "Forbidden")


def test_2xx_with_an_error_or_without_a_list(retry: RetryPolicy) -> None:
    server = FixtureServer(
        {
            ("GET", "/companies/identifier"): (200, "error_envelope.json"),
            ("GET", PORTFOLIO): (200, "policy.json"),
        }
    )
    adapter = make_adapter(server, retry)
    with pytest.raises(RejectedError) as caught:
        adapter.search_buyers(SIREN)
    assert caught.value.code == "INVALID_AMOUNT"
    with pytest.raises(ProtocolError, match="list of creditLimits"):
        adapter.fetch_portfolio(POLICY)
