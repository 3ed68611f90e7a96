"""The Atradius client and adapter: fixture payloads, the sandbox and injected faults."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tci_adapters.atradius.client import AtradiusAdapter
from tci_adapters.atradius.plugin import PLUGIN, create_adapter
from tci_adapters.atradius.sandbox import AtradiusSandbox
from tci_adapters.atradius.wire import (
    BUYERS_PATH,
    CORRELATION_HEADER,
    COVERS_PATH,
    POLICY_DETAILS_PATH,
    TOKEN_PATH,
)
from tci_gateway.adapters.contract import (
    AdapterContext,
    BuyerQuery,
    CoverAction,
    CoverRequest,
    PolicyRef,
    PortfolioEntry,
)
from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.adapters.loopback import serve_on_loopback
from tci_gateway.domain.cover import CoverStatus, PendingAction
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.errors import (
    AmbiguousOutcomeError,
    AuthError,
    ConfigError,
    ProtocolError,
    RecordError,
    RejectedError,
)
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.client import Timeouts
from tci_gateway.http.jsonexact import loads
from tci_gateway.http.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "atradius"
BASE = "https://api-uat.atradius.invalid"
CREDENTIALS = {"client_id": "cid-123", "client_secret": "s3cret-value", "app_key": "app-key-789"}
POLICY = PolicyRef(
    key="fr-main", currency="EUR", external_ref={"customer_id": "1000123", "policy_id": "5550001"}
)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FixtureServer:
    """A MockTransport handler answering routes with fixture files; records requests."""

    def __init__(self, routes: dict[tuple[str, str], tuple[int, str]]) -> None:
        self.routes = {("POST", TOKEN_PATH): (200, "token.json"), **routes}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        status, name = self.routes.get((request.method, request.url.path), (403, ""))
        if not name:
            return httpx.Response(403, json={"errors": [{"detail": "Forbidden"}]})
        return httpx.Response(
            status, headers={"Content-Type": "application/json"}, content=fixture_bytes(name)
        )


def make_adapter(
    handler: Callable[[httpx.Request], httpx.Response],
    retry: RetryPolicy,
    *,
    base_url: str = BASE,
    credentials: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
    cache: TokenCache | None = None,
) -> AtradiusAdapter:
    context = AdapterContext(
        name="atradius",
        base_url=base_url,
        environment="uat",
        credentials=credentials or CREDENTIALS,
        options=options or {},
        retry=retry,
        transport=httpx.MockTransport(handler),
    )
    return create_adapter(context, token_cache=cache or TokenCache())


def new_cover(
    reference: str, buyer: str, amount: int, action: CoverAction = CoverAction.NEW
) -> CoverRequest:
    return CoverRequest(reference, POLICY, buyer, action, Money(Decimal(amount), "EUR"))


# -- fixtures through MockTransport -------------------------------------------------------


def test_token_request_and_authenticated_calls(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", BUYERS_PATH): (200, "buyers_search.json")})
    adapter = make_adapter(server, retry)
    query = BuyerQuery(country="FR", identifier=parse_identifier(Scheme.FR_SIREN, "123456782"))
    [match] = adapter.search_buyers(query)
    token, call = server.requests
    assert token.method == "POST" and token.url.path == TOKEN_PATH
    expected = base64.b64encode(b"cid-123:s3cret-value").decode()
    assert token.headers["Authorization"] == f"Basic {expected}"
    assert token.headers["Atradius-App-Key"] == "app-key-789"
    assert token.headers["Content-Type"] == "application/json"
    assert token.content == b""
    assert call.headers["Authorization"] == "Bearer synthetic-access-token-0001"
    assert call.headers["Atradius-App-Key"] == "app-key-789"
    assert call.headers[CORRELATION_HEADER]
    assert dict(call.url.params) == {"country": "FRA", "uid": "123456782", "uidType": "SN"}
    assert match.insurer_buyer_id == "20001"
    assert Identifier(Scheme.VAT, "FR11123456782") in match.identifiers


def test_buyer_detail_by_atradius_id(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", f"{BUYERS_PATH}/20012"): (200, "buyer_detail.json")})
    adapter = make_adapter(server, retry)
    ident = parse_identifier(Scheme.INSURER, "20012", "atradius")
    [match] = adapter.search_buyers(BuyerQuery(country="GB", identifier=ident))
    assert match.country == "GB"
    assert match.identifiers == (
        Identifier(Scheme.VAT, "GB123456727"),
        Identifier(Scheme.GB_CRN, "01234567"),
    )


def test_no_buyer_match_is_an_empty_list(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", BUYERS_PATH): (404, "error_no_buyer.json")})
    adapter = make_adapter(server, retry)
    query = BuyerQuery(country="DE", identifier=parse_identifier(Scheme.VAT, "DE123456788"))
    assert adapter.search_buyers(query) == []


def test_searches_atradius_cannot_make_are_refused(retry: RetryPolicy) -> None:
    server = FixtureServer({})
    adapter = make_adapter(server, retry)
    with pytest.raises(RejectedError, match="identifier"):
        adapter.search_buyers(BuyerQuery(country="FR", name="Exemple"))
    lei = parse_identifier(Scheme.LEI, "529900T8BM49AURSDO55")
    with pytest.raises(RejectedError, match="LEI"):
        adapter.search_buyers(BuyerQuery(country="FR", identifier=lei))
    assert server.requests == []


ENTRIES = 12  # 11 buyers; 20005 has two versions (ACLD-ended 2023, DC05 2024)


def test_portfolio_from_the_fixture(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", COVERS_PATH): (200, "covers_portfolio.json")})
    adapter = make_adapter(server, retry)
    entries = list(adapter.fetch_portfolio(POLICY))
    assert all(isinstance(e, PortfolioEntry) for e in entries)
    by_buyer: dict[str, PortfolioEntry] = {}  # each buyer's newest version comes first
    for e in entries:
        if isinstance(e, PortfolioEntry):
            by_buyer.setdefault(e.insurer_buyer_id, e)
    assert dict(server.requests[-1].url.params) == {"customerId": "1000123", "policyId": "5550001"}
    statuses = {buyer: e.decision.status for buyer, e in by_buyer.items()}
    assert statuses == {
        "20001": CoverStatus.APPROVED,
        "20002": CoverStatus.APPROVED,
        "20003": CoverStatus.APPROVED,
        "20004": CoverStatus.PENDING,
        "20005": CoverStatus.REFUSED,
        "20006": CoverStatus.REFUSED,
        "20007": CoverStatus.REFUSED,
        "20008": CoverStatus.WITHDRAWN,
        "20009": CoverStatus.REDUCED,
        "20010": CoverStatus.APPROVED,
        "20011": CoverStatus.PARTIALLY_APPROVED,
    }
    assert by_buyer["20003"].decision.pending_action is PendingAction.WITHDRAWAL_NOTICE
    assert by_buyer["20005"].decision.insurer_cover_ref == "410006"  # DC05, not the ACLD version
    versions = [e.decision for e in entries if e.insurer_buyer_id == "20005"]  # type: ignore[union-attr]
    assert [(d.insurer_cover_ref, d.status, str(d.effective_from)) for d in versions] == [
        ("410006", CoverStatus.REFUSED, "2024-03-05"),  # the newest first
        ("410005", CoverStatus.APPROVED, "2023-09-01"),  # the version ACLD ended: history
    ]
    assert by_buyer["20010"].decision.insurer_cover_ref == "410011"  # decision over application
    assert by_buyer["20011"].decision.is_preliminary
    assert by_buyer["20001"].buyer_name == "Exemple Industries SAS"
    assert '"decisionAmtInPolicyCurrency":100000.00' in by_buyer["20001"].raw


def test_unreadable_records_are_errors_as_data(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", COVERS_PATH): (200, "covers_bad_records.json")})
    adapter = make_adapter(server, retry)
    items = list(adapter.fetch_portfolio(POLICY))
    entries = [i for i in items if isinstance(i, PortfolioEntry)]
    errors = [i for i in items if isinstance(i, RecordError)]
    assert [e.insurer_buyer_id for e in entries] == ["30001"]
    assert {(e.row, e.column) for e in errors} == {
        (1, "totalDecision.decisionAmtInPolicyCurrency"),
        (2, "buyerId"),
        (3, "policyCurrency"),
        (None, None),  # buyer 30002 left out: its other record is unreadable
    }
    assert all(e.source == "atradius covers" for e in errors)


def test_policy_details(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", POLICY_DETAILS_PATH): (200, "policy_details.json")})
    info = make_adapter(server, retry).policy_details("5550001")
    assert (info.policy_id, info.currency, info.status) == ("5550001", "EUR", "live")
    assert str(info.expiry) == "2024-12-31"


def test_error_envelope_fills_the_error_fields(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", COVERS_PATH): (400, "error_envelope.json")})
    adapter = make_adapter(server, retry)
    with pytest.raises(RejectedError) as caught:
        adapter.request_cover(new_cover("ref-400", "20001", 1000))
    error = caught.value
    sent = server.requests[-1]
    assert error.status == 400
    assert error.code == "creditLimitAmount"
    assert error.message == "Must be positive number greater than zero and a multiple of 1000."
    assert error.details == [
        "Must be positive number greater than zero and a multiple of 1000. "
        "(parameter creditLimitAmount)"
    ]
    assert error.correlation_id == sent.headers[CORRELATION_HEADER]
    assert error.body is not None and "multiple of 1000" in error.body
    assert error.adapter == "atradius"


@pytest.mark.parametrize(
    ("status", "name"), [(201, "cover_created.json"), (202, "cover_referred.json")]
)
def test_201_is_decided_and_202_pending(retry: RetryPolicy, status: int, name: str) -> None:
    server = FixtureServer({("POST", COVERS_PATH): (status, name)})
    result = make_adapter(server, retry).request_cover(new_cover("tci-req-0100", "20012", 25000))
    body = server.requests[-1].read()
    sent = loads(body)["creditLimitAmount"]
    assert sent == 25000 and not isinstance(sent, str)  # a JSON number, not a string
    assert loads(body)["customerRefNumber"] == "tci-req-0100"
    assert loads(body)["coverType"] == "credit-limit"
    assert result.client_reference == "tci-req-0100"
    assert result.pending is (status == 202)
    assert result.decision is not None
    expected = CoverStatus.APPROVED if status == 201 else CoverStatus.PENDING
    assert result.decision.status is expected


def test_2xx_with_errors_or_without_data(retry: RetryPolicy) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, content=fixture_bytes("token.json"))
        if request.url.path == BUYERS_PATH:
            return httpx.Response(200, content=fixture_bytes("error_exists.json"))
        return httpx.Response(200, json={"items": []})

    adapter = make_adapter(handler, retry)
    query = BuyerQuery(country="FR", identifier=parse_identifier(Scheme.FR_SIREN, "123456782"))
    with pytest.raises(RejectedError) as caught:
        adapter.search_buyers(query)
    assert caught.value.code == "buyerId"
    with pytest.raises(ProtocolError, match="data envelope"):
        list(adapter.fetch_portfolio(POLICY))


# -- against the sandbox ------------------------------------------------------------------


def test_html_page_instead_of_json(adapter: AtradiusAdapter, sandbox: AtradiusSandbox) -> None:
    sandbox.inject(Fault(html=True, status=200))
    with pytest.raises(ProtocolError, match="HTML"):
        adapter.fetch_portfolio(POLICY)


def test_html_502_on_a_get_is_retried(adapter: AtradiusAdapter, sandbox: AtradiusSandbox) -> None:
    sandbox.inject(Fault(html=True))
    assert len(list(adapter.fetch_portfolio(POLICY))) == ENTRIES
    assert sandbox.received[("GET", COVERS_PATH)] == 2


def test_malformed_json(adapter: AtradiusAdapter, sandbox: AtradiusSandbox) -> None:
    sandbox.inject(Fault(malformed_json=True))
    with pytest.raises(ProtocolError, match="malformed JSON"):
        adapter.fetch_portfolio(POLICY)


def test_unknown_route_is_403(adapter: AtradiusAdapter) -> None:
    with pytest.raises(AuthError) as caught:
        adapter.client.request("GET", "/credit-insurance/cover-management/v1/covers/410001")
    assert caught.value.status == 403


def test_concurrent_calls_with_an_expired_token_fetch_one_token(
    sandbox: AtradiusSandbox, retry: RetryPolicy
) -> None:
    adapter = make_adapter(sandbox.handle, retry, base_url=PLUGIN.sandbox_base_url)
    query = BuyerQuery(country="FR", identifier=parse_identifier(Scheme.FR_SIREN, "123456782"))
    adapter.search_buyers(query)
    assert sandbox.received[("POST", TOKEN_PATH)] == 1
    sandbox.advance(1801)
    barrier = threading.Barrier(50)
    results: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            results.append(len(adapter.search_buyers(query)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert results == [1] * 50
    assert sandbox.received[("POST", TOKEN_PATH)] == 2  # exactly one refresh


def test_read_timeout_on_get_is_retried(adapter: AtradiusAdapter, sandbox: AtradiusSandbox) -> None:
    sandbox.inject(Fault(raise_exc=httpx.ReadTimeout))
    assert len(list(adapter.fetch_portfolio(POLICY))) == ENTRIES
    assert sandbox.received[("GET", COVERS_PATH)] == 2


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_lost_answer_to_a_post_is_ambiguous(
    adapter: AtradiusAdapter, sandbox: AtradiusSandbox, exc: type[httpx.TransportError]
) -> None:
    sandbox.inject(Fault(raise_exc=exc, method="POST"))
    with pytest.raises(AmbiguousOutcomeError) as caught:
        adapter.request_cover(new_cover("ref-timeout", "20012", 25000))
    assert caught.value.client_reference == "ref-timeout"
    assert sandbox.received[("POST", COVERS_PATH)] == 1


def test_connect_error_on_a_post_is_retried(
    adapter: AtradiusAdapter, sandbox: AtradiusSandbox
) -> None:
    # Nothing was sent, so nothing can have been applied: a resend is safe.
    sandbox.inject(Fault(raise_exc=httpx.ConnectError, method="POST"))
    result = adapter.request_cover(new_cover("ref-connect", "20012", 25000))
    assert not result.pending
    assert sandbox.received[("POST", COVERS_PATH)] == 2


def test_correlation_id_is_sent_and_echoed(sandbox: AtradiusSandbox, retry: RetryPolicy) -> None:
    seen: list[tuple[str | None, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        response = sandbox.handle(request)
        seen.append(
            (request.headers.get(CORRELATION_HEADER), response.headers.get(CORRELATION_HEADER))
        )
        return response

    adapter = make_adapter(handler, retry, base_url=PLUGIN.sandbox_base_url)
    list(adapter.fetch_portfolio(POLICY))
    sent, echoed = seen[-1]
    assert sent and sent == echoed
    response = adapter.client.request("GET", POLICY_DETAILS_PATH, params={"policyId": "5550001"})
    assert response.correlation_id == seen[-1][0] == response.headers[CORRELATION_HEADER]


def test_bad_app_key_is_refused(sandbox: AtradiusSandbox, retry: RetryPolicy) -> None:
    adapter = make_adapter(
        sandbox.handle,
        retry,
        base_url=PLUGIN.sandbox_base_url,
        credentials={**CREDENTIALS, "app_key": "wrong"},
    )
    with pytest.raises(AuthError, match="App-Key"):
        adapter.policy_details("5550001")


# -- plugin and configuration -------------------------------------------------------------


def test_missing_credentials_name_the_environment_variables() -> None:
    context = AdapterContext(
        name="atradius_fr",
        base_url=BASE,
        environment="uat",
        credentials={"client_id": "cid-123", "client_secret": "canary-secret-XYZ"},
    )
    with pytest.raises(ConfigError) as caught:
        PLUGIN.create(context)
    message = str(caught.value)
    assert "TCI_INSURERS__ATRADIUS_FR__CREDENTIALS__APP_KEY" in message
    assert "CLIENT_ID" not in message
    assert "canary-secret-XYZ" not in message


def test_bad_options_and_missing_policy_refs(retry: RetryPolicy) -> None:
    with pytest.raises(ConfigError, match="status_overrides"):
        make_adapter(FixtureServer({}), retry, options={"status_overrides": {"DC01": "NOPE"}})
    adapter = make_adapter(FixtureServer({}), retry, options={"customer_id": "1000123"})
    with pytest.raises(ConfigError, match="policy_id"):
        adapter.fetch_portfolio(PolicyRef(key="p", currency="EUR"))
    server = FixtureServer({("GET", COVERS_PATH): (200, "covers_portfolio.json")})
    adapter = make_adapter(server, retry, options={"customer_id": "1000123"})
    ref = PolicyRef(key="p", currency="EUR", external_ref={"policy_id": "5550001"})
    assert len(list(adapter.fetch_portfolio(ref))) == ENTRIES


def test_faults_on_the_wire_over_loopback(sandbox: AtradiusSandbox, retry: RetryPolicy) -> None:
    with serve_on_loopback(sandbox, hang_seconds=5.0) as server:
        context = AdapterContext(
            name="atradius",
            base_url=server.url,
            environment="sandbox",
            credentials=CREDENTIALS,
            retry=retry,
            timeouts=Timeouts(connect=2.0, read=0.3, deadline=20.0),
        )
        adapter = create_adapter(context, token_cache=TokenCache())
        sandbox.inject(Fault(raise_exc=httpx.ReadTimeout, method="GET"))
        assert len(list(adapter.fetch_portfolio(POLICY))) == ENTRIES
        assert sandbox.received[("GET", COVERS_PATH)] == 2
        sandbox.inject(Fault(raise_exc=httpx.RemoteProtocolError, method="POST"))
        with pytest.raises(AmbiguousOutcomeError):
            adapter.request_cover(new_cover("ref-wire", "20012", 25000))
        assert sandbox.received[("POST", COVERS_PATH)] == 1
        adapter.close()
