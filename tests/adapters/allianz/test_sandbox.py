"""The Allianz sandbox's behaviour through the adapter: auth, routes, asynchronous
decisions, 409 while pending, paging with 206, callbacks, overdues, faults, seeding and
the UAT routes."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tci_adapters.allianz.client import AllianzAdapter
from tci_adapters.allianz.plugin import PLUGIN, create_sandbox
from tci_adapters.allianz.sandbox import AllianzSandbox
from tci_adapters.allianz.webhooks import build_callback_header
from tci_gateway.adapters.contract import (
    AdapterContext,
    BuyerQuery,
    CoverAction,
    CoverRequest,
    OverdueInvoice,
    OverdueKind,
    OverdueNotice,
    PortfolioEntry,
)
from tci_gateway.adapters.contract_testing import ContractSandbox, Fault, SandboxClock
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.identifiers import Scheme, parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.errors import (
    AmbiguousOutcomeError,
    AuthError,
    InProgressError,
    NotFoundError,
    RejectedError,
)
from tci_gateway.http.retry import RetryPolicy

from .conftest import CREDENTIALS, POLICY, SEED, START, sandbox_adapter

TOKEN = ("POST", "/v1/idp/oauth2/authorize")
S = CoverStatus


def eur(amount: int | str) -> Money:
    return Money(Decimal(amount), "EUR")


def new(
    reference: str, company: str, amount: int | None, action: CoverAction = CoverAction.NEW
) -> CoverRequest:
    money = eur(amount) if amount is not None else None
    return CoverRequest(reference, POLICY, company, action, money)


def decide(adapter: AllianzAdapter, sandbox: AllianzSandbox, request: CoverRequest) -> Any:
    """Send, wait for the decision, poll: the decision."""
    sent = adapter.request_cover(request)
    assert sent.pending and sent.insurer_request_ref
    sandbox.advance(60)
    done = adapter.request_status(POLICY, sent.insurer_request_ref)
    assert done is not None and not done.pending and done.decision is not None
    return done.decision


def test_the_sandbox_is_a_contract_sandbox(sandbox: AllianzSandbox) -> None:
    assert isinstance(sandbox, ContractSandbox)
    fixture = sandbox.seed_contract_fixture()
    again = sandbox.seed_contract_fixture()  # seeding twice adds nothing
    assert fixture == again and fixture.token_lifetime == 3600
    assert fixture.auth_request == TOKEN and fixture.decision_delay == 60
    assert len(sandbox.book.companies) == 14


# -- auth and routes ----------------------------------------------------------------------


def test_wrong_key_and_expired_tokens(sandbox: AllianzSandbox, retry: RetryPolicy) -> None:
    context = AdapterContext(
        name="allianz",
        base_url=PLUGIN.sandbox_base_url,
        environment="sandbox",
        credentials={"api_key": "wrong"},
        retry=retry,
        transport=httpx.MockTransport(sandbox.handle),
    )
    wrong = PLUGIN.create(context)
    with pytest.raises(AuthError, match="Invalid API key"):
        wrong.search_buyers(BuyerQuery(country="FR", name="Exemple"))
    response = sandbox.handle(httpx.Request("POST", "https://x/riskinfo/v3/covers/search"))
    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
    adapter = sandbox_adapter(sandbox, retry)
    assert list(adapter.fetch_portfolio(POLICY))
    before = sandbox.received[TOKEN]
    sandbox.advance(3601)
    assert list(adapter.fetch_portfolio(POLICY))  # 401, then a new token, then the call
    assert sandbox.received[TOKEN] == before + 1


def test_unknown_route_and_wrong_method(adapter: AllianzAdapter) -> None:
    with pytest.raises(NotFoundError) as caught:
        adapter.client.request("GET", "/v1/claims")
    assert (caught.value.message, caught.value.code) == ("Resource not found", None)
    with pytest.raises(RejectedError) as wrong:
        adapter.client.request("DELETE", "/riskinfo/v3/covers")
    assert wrong.value.status == 405
    with pytest.raises(NotFoundError) as unknown_cover:
        adapter.read_cover(POLICY, "999")
    assert unknown_cover.value.code == "COVER_NOT_FOUND"


def test_fifty_threads_with_an_expired_token(sandbox: AllianzSandbox, retry: RetryPolicy) -> None:
    adapter = sandbox_adapter(sandbox, retry)
    query = BuyerQuery(country="FR", identifier=parse_identifier(Scheme.FR_SIREN, "123456782"))
    assert len(adapter.search_buyers(query)) == 1
    sandbox.advance(3601)
    barrier = threading.Barrier(50)
    results: list[int] = []

    def work() -> None:
        barrier.wait()
        results.append(len(adapter.search_buyers(query)))

    threads = [threading.Thread(target=work) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [1] * 50
    assert sandbox.received[TOKEN] == 2


# -- buyer search -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (BuyerQuery("FR", parse_identifier(Scheme.VAT, "FR11123456782")), ["400000001"]),
        (BuyerQuery("DE", parse_identifier(Scheme.VAT, "DE123456788")), ["400000002"]),
        (BuyerQuery("GB", parse_identifier(Scheme.GB_CRN, "1234567")), ["400000005"]),
        (BuyerQuery("NL", parse_identifier(Scheme.LEI, "529900T8BM49AURSDO55")), ["400000009"]),
        (BuyerQuery("CN", parse_identifier(Scheme.CN_USCC, "91110000600037341L")), ["400000012"]),
        (BuyerQuery("FR", parse_identifier(Scheme.INSURER, "400000010", "allianz")), ["400000010"]),
        (BuyerQuery("DE", parse_identifier(Scheme.VAT, "FR11123456782")), []),  # other country
        (BuyerQuery("FR", name="Exemple Industries SAS"), ["400000001"]),
        (BuyerQuery("FR", name="exemple"), []),  # below the minimum score
    ],
)
def test_company_search(adapter: AllianzAdapter, query: BuyerQuery, expected: list[str]) -> None:
    assert [m.insurer_buyer_id for m in adapter.search_buyers(query)] == expected


def test_name_search_returns_candidates_best_first(
    sandbox: AllianzSandbox, retry: RetryPolicy
) -> None:
    adapter = sandbox_adapter(sandbox, retry, search_minimum_score=40)
    names = [m.name for m in adapter.search_buyers(BuyerQuery("FR", name="Exemple Industries"))]
    assert names[0] == "Exemple Industries SAS" and "Exemple Services SARL" in names


# -- asynchronous decisions ---------------------------------------------------------------


def test_every_request_is_pending_then_decided(
    adapter: AllianzAdapter, sandbox: AllianzSandbox
) -> None:
    sent = adapter.request_cover(new("r-small", "400000009", 25000))
    assert sent.pending and sent.decision is None
    polled = adapter.request_status(POLICY, sent.insurer_request_ref or "")
    assert polled is not None and polled.pending
    sandbox.advance(59)
    assert adapter.request_status(POLICY, sent.insurer_request_ref or "").pending  # type: ignore[union-attr]
    sandbox.advance(1)
    done = adapter.request_status(POLICY, sent.insurer_request_ref or "")
    assert done is not None and done.decision is not None
    assert (done.decision.status, done.decision.granted_amount) == (S.APPROVED, eur(25000))
    assert done.decision.effective_from == date(2024, 4, 10)
    assert done.decision.raw_codes["technicalDecisionStatusCode"] == "Agreement"


@pytest.mark.parametrize(
    ("company", "amount", "action", "status", "granted", "code"),
    [
        ("400000009", 150000, CoverAction.NEW, S.PARTIALLY_APPROVED, 75000, "PartialAgreement"),
        ("400000002", 80000, CoverAction.NEW, S.APPROVED, 80000, "AlreadyAgreed"),
        ("400000001", 160000, CoverAction.INCREASE, S.REFUSED, 100000, "Refusal"),
        (
            "400000001",
            250000,
            CoverAction.INCREASE,
            S.PARTIALLY_APPROVED,
            125000,
            "PartialAgreement",
        ),
        ("400000001", 30000, CoverAction.REDUCE, S.REDUCED, 30000, "Reduction"),
        ("400000006", None, CoverAction.CANCEL, S.WITHDRAWN, 0, "Cancellation"),
    ],
)
def test_decision_rules(
    sandbox: AllianzSandbox,
    retry: RetryPolicy,
    company: str,
    amount: int | None,
    action: CoverAction,
    status: CoverStatus,
    granted: int,
    code: str,
) -> None:
    sandbox.advance(60)  # the seeded requests are decided first
    adapter = sandbox_adapter(sandbox, retry)
    decision = decide(adapter, sandbox, new(f"r-{company}", company, amount, action))
    assert decision.status is status
    assert decision.granted_amount == eur(granted)
    assert decision.raw_codes["technicalDecisionStatusCode"] == code


def test_options_change_the_rules(retry: RetryPolicy) -> None:
    sandbox = create_sandbox(
        {
            "seed": str(SEED),
            "credentials": CREDENTIALS,
            "clock": SandboxClock(START),
            "auto_approve_up_to": "200000",
            "decision_delay": 5,
            "partial_ratio": 0.25,
        }
    )
    adapter = sandbox_adapter(sandbox, retry)
    sent = adapter.request_cover(new("r-1", "400000009", 150000))
    sandbox.advance(5)
    done = adapter.request_status(POLICY, sent.insurer_request_ref or "")
    assert done is not None and done.decision is not None
    assert done.decision.granted_amount == eur(150000)
    big = decide(adapter, sandbox, new("r-2", "400000010", 300000))
    assert big.granted_amount == eur(75000)


def test_a_second_request_while_one_is_pending_is_in_progress_not_refused(
    adapter: AllianzAdapter, sandbox: AllianzSandbox
) -> None:
    adapter.request_cover(new("r-1", "400000009", 25000))
    with pytest.raises(InProgressError) as caught:  # the one pending may be ours: look it up
        adapter.request_cover(new("r-2", "400000009", 30000))
    assert (caught.value.status, caught.value.code) == (409, "REQUEST_IN_PROGRESS")
    assert caught.value.client_reference == "r-2"
    with pytest.raises(InProgressError, match="already in progress"):  # seeded, still pending
        adapter.request_cover(new("r-3", "400000007", 30000))
    sandbox.advance(60)
    assert adapter.request_cover(new("r-4", "400000009", 30000)).pending


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (new("r", "400000009", 5000, CoverAction.INCREASE), "NO_COVER"),
        (new("r", "400000002", 90000, CoverAction.REDUCE), "INVALID_AMOUNT"),
        (new("r", "499999999", 5000), "UNKNOWN_COMPANY"),
        (
            CoverRequest("r", POLICY, "400000009", CoverAction.NEW, Money(Decimal(5000), "USD")),
            "INVALID_CURRENCY",
        ),
        (CoverRequest("r", POLICY, "400000009", CoverAction.NEW, eur("0.001")), "INVALID_AMOUNT"),
    ],
)
def test_requests_the_sandbox_refuses(
    adapter: AllianzAdapter, request_: CoverRequest, code: str
) -> None:
    with pytest.raises(RejectedError) as caught:
        adapter.request_cover(request_)
    assert (caught.value.status, caught.value.code) == (400, code)


def test_find_request_after_an_ambiguous_post(
    adapter: AllianzAdapter, sandbox: AllianzSandbox
) -> None:
    sandbox.inject(
        Fault(status=503, method="POST", path_prefix="/riskinfo/v3/covers", after_processing=True)
    )
    with pytest.raises(AmbiguousOutcomeError):
        adapter.request_cover(new("r-amb", "400000009", 25000))
    found = adapter.find_request(POLICY, "r-amb")
    assert found is not None and found.pending and found.client_reference == "r-amb"
    assert found.insurer_request_ref == "request:5000009"
    sandbox.advance(60)
    later = adapter.request_status(POLICY, found.insurer_request_ref or "")
    assert later is not None and not later.pending and later.client_reference == "r-amb"
    assert later.decision is not None and later.decision.status is S.APPROVED
    assert sandbox.received[("POST", "/riskinfo/v3/covers")] == 1


# -- portfolio ----------------------------------------------------------------------------


def test_portfolio_pages_with_206(sandbox: AllianzSandbox, retry: RetryPolicy) -> None:
    statuses: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        response = sandbox.handle(request)
        if request.url.path.endswith("/covers/search"):
            statuses.append(response.status_code)
        return response

    context = AdapterContext(
        name="allianz",
        base_url=PLUGIN.sandbox_base_url,
        environment="sandbox",
        credentials=CREDENTIALS,
        options={"page_size": 4},
        retry=retry,
        transport=httpx.MockTransport(handler),
    )
    adapter = PLUGIN.create(context)
    assert isinstance(adapter, AllianzAdapter)
    adapter.clock = sandbox.clock
    entries = [e for e in adapter.fetch_portfolio(POLICY) if isinstance(e, PortfolioEntry)]
    companies = list(dict.fromkeys(e.insurer_buyer_id for e in entries))
    assert companies == [f"40000000{n}" for n in range(1, 8)]
    assert len(entries) == 9  # 400000002 and 400000006 each with an older credit limit
    assert statuses == [206, 200]
    sandbox.advance(60)  # 400000007 gets its cover; 400000001's increase is refused
    after: dict[str, PortfolioEntry] = {}  # each company's limit in force comes first
    for e in adapter.fetch_portfolio(POLICY):
        if isinstance(e, PortfolioEntry):
            after.setdefault(e.insurer_buyer_id, e)
    assert after["400000007"].decision.status is S.PARTIALLY_APPROVED
    assert after["400000001"].decision.status is S.REFUSED
    assert after["400000001"].decision.granted_amount == eur("100000.00")  # still counts


def test_page_size_above_the_maximum_is_refused(
    sandbox: AllianzSandbox, retry: RetryPolicy
) -> None:
    sandbox.max_page_size = 5000
    adapter = sandbox_adapter(sandbox, retry, page_size=10000)
    with pytest.raises(RejectedError) as caught:
        adapter.fetch_portfolio(POLICY)
    assert caught.value.code == "INVALID_PAGINATION"


def test_unknown_code_fault_rewrites_cover_reads(
    adapter: AllianzAdapter, sandbox: AllianzSandbox
) -> None:
    sandbox.inject(Fault(unknown_code="ZZ42"))
    decision = adapter.read_cover(POLICY, "8000001")
    assert decision.status is S.PENDING and decision.unknown_codes == ("ZZ42",)
    assert adapter.read_cover(POLICY, "8000001").status is S.APPROVED  # applied once


# -- callbacks ----------------------------------------------------------------------------


@pytest.mark.parametrize("extended", [True, False])
def test_callbacks_are_recorded_and_parse(
    sandbox: AllianzSandbox, retry: RetryPolicy, extended: bool
) -> None:
    adapter = sandbox_adapter(
        sandbox, retry, callback_url="https://hooks.example.invalid/a", callback_extended=extended
    )
    sent = adapter.request_cover(new("r-cb", "400000009", 25000))
    assert sandbox.notifications == []
    sandbox.advance(60)
    adapter.request_status(POLICY, sent.insurer_request_ref or "")  # any call decides
    [note] = [n for n in sandbox.notifications if n["body"]["jobId"] == sent.insurer_request_ref]
    assert note["callback"]["callbackUrl"] == "https://hooks.example.invalid/a"
    result = adapter.parse_webhook({}, note["body"])
    assert result.insurer_request_ref == sent.insurer_request_ref
    assert result.client_reference == "r-cb"
    if extended:
        assert not result.pending and result.decision is not None
        assert result.decision.granted_amount == eur(25000)
    else:
        assert result.pending and result.decision is None


def test_a_bad_callback_header_is_refused(adapter: AllianzAdapter, sandbox: AllianzSandbox) -> None:
    header = build_callback_header("https://hooks.example.invalid/a").replace("e", "!")
    with pytest.raises(RejectedError) as caught:
        adapter.client.request(
            "POST",
            "/riskinfo/v3/covers",
            json_body={},
            idempotent=False,
            headers={"X-Callback": header},
        )
    assert caught.value.code == "INVALID_CALLBACK"


# -- overdues -----------------------------------------------------------------------------


def overdue(
    reference: str, kind: OverdueKind = OverdueKind.OVERDUE, new_due: date | None = None
) -> OverdueNotice:
    line = OverdueInvoice(
        "F-1", date(2024, 1, 1), date(2024, 2, 29), eur("1500.00"), eur("1200.50"), new_due
    )
    return OverdueNotice(reference, POLICY, "400000001", kind, (line,), date(2024, 3, 1))


def test_overdues_are_filed_and_found(adapter: AllianzAdapter, sandbox: AllianzSandbox) -> None:
    assert adapter.find_overdue(POLICY, "o-1") is None
    filed = adapter.submit_overdue(overdue("o-1"))
    assert (filed.status, filed.raw_status) == ("SUBMITTED", "Submitted")
    found = adapter.find_overdue(POLICY, "o-1")
    assert found is not None and found.insurer_reference == filed.insurer_reference
    ext = adapter.submit_overdue(overdue("o-2", OverdueKind.EXTENSION_REQUEST, date(2024, 4, 30)))
    assert ext.insurer_reference != filed.insurer_reference
    assert sandbox.overdues.records[-1]["overdueCategoryTypeCode"] == "EXP"
    with pytest.raises(RejectedError) as caught:
        adapter.submit_overdue(overdue("o-1"))
    assert (caught.value.status, caught.value.code) == (409, "DUPLICATE_REFERENCE")


def test_an_applied_then_ambiguous_overdue_is_found(
    adapter: AllianzAdapter, sandbox: AllianzSandbox
) -> None:
    sandbox.inject(
        Fault(raise_exc=httpx.ReadTimeout, method="POST", path_prefix="/payment-overdues")
    )
    with pytest.raises(AmbiguousOutcomeError):
        adapter.submit_overdue(overdue("o-3"))
    assert adapter.find_overdue(POLICY, "o-3") is None  # the timeout came before processing
    sandbox.inject(
        Fault(
            status=502,
            method="POST",
            path_prefix="/payment-overdues/v1/overdues",
            after_processing=True,
        )
    )
    with pytest.raises(AmbiguousOutcomeError):
        adapter.submit_overdue(overdue("o-4"))
    assert adapter.find_overdue(POLICY, "o-4") is not None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"overdueCategoryTypeCode": "XXX"}, "INVALID_FIELD"),
        (
            {
                "invoices": [
                    {
                        "invoiceNumber": "F",
                        "originalDueDate": "2024-02-29",
                        "outstandingAmount": 1,
                        "currencyCode": "EUR",
                    }
                ]
            },
            "MANDATORY_FIELD",
        ),
        ({"overdueCategoryTypeCode": "OVD", "firstDefaultDate": "soon"}, "INVALID_DATE"),
    ],
)
def test_overdue_bodies_the_sandbox_refuses(
    adapter: AllianzAdapter, body: dict[str, Any], code: str
) -> None:
    base: dict[str, Any] = {
        "overdueCategoryTypeCode": "EXP",
        "policy": {"businessUnitCode": "ACI", "policyId": "5550001"},
        "companyId": "400000001",
        "invoices": [
            {
                "invoiceNumber": "F",
                "originalDueDate": "2024-02-29",
                "outstandingAmount": 1,
                "currencyCode": "EUR",
            }
        ],
    }
    with pytest.raises(RejectedError) as caught:
        adapter.client.request(
            "POST", "/payment-overdues/v1/overdues", json_body={**base, **body}, idempotent=False
        )
    assert caught.value.code == code


# -- UAT routes and loopback ---------------------------------------------------------------


def test_uat_routes_end_to_end(retry: RetryPolicy) -> None:
    sandbox = AllianzSandbox.from_seed(
        SEED, credentials=CREDENTIALS, clock=SandboxClock(START), path_preset="uat"
    )
    context = AdapterContext(
        name="allianz",
        base_url=PLUGIN.sandbox_base_url,
        environment="uat",
        credentials=CREDENTIALS,
        options={"path_preset": "uat"},
        retry=retry,
        transport=httpx.MockTransport(sandbox.handle),
    )
    adapter = PLUGIN.create(context)
    assert len(list(adapter.fetch_portfolio(POLICY))) == 9  # 7 companies, 2 older limits
    sent = adapter.request_cover(new("r-uat", "400000009", 1000))
    sandbox.advance(60)
    done = adapter.request_status(POLICY, sent.insurer_request_ref or "")
    assert done is not None and not done.pending
    assert sandbox.received[("POST", "/uatm/v1/idp/oauth2/authorize")] == 1
    assert any(
        m == "GET" and p.startswith("/uatm/riskinfo/v3/covers/") for m, p in sandbox.received
    )
    assert all(path.startswith(("/uatm/", "/search/uatm-v2/")) for _m, path in sandbox.received)
    # The production routes are not served by a UAT sandbox.
    prod = PLUGIN.create(
        AdapterContext(
            name="allianz",
            base_url=PLUGIN.sandbox_base_url,
            environment="uat",
            credentials=CREDENTIALS,
            retry=retry,
            transport=httpx.MockTransport(sandbox.handle),
        ),
    )
    with pytest.raises(NotFoundError):
        prod.search_buyers(BuyerQuery("FR", name="x"))


def test_random_credentials_and_seed_mapping() -> None:
    one, two = (
        create_sandbox({}),
        create_sandbox(
            {
                "seed": {
                    "policies": [{"businessUnitCode": "X", "policyId": "1", "currencyCode": "GBP"}]
                }
            }
        ),
    )
    assert one.credentials["api_key"] != two.credentials["api_key"]
    assert list(two.book.policies) == [("X", "1", "")]
    with pytest.raises(TypeError, match="advance"):
        AllianzSandbox(clock=lambda: START).advance(1)


def test_read_only_requests_name_the_searches() -> None:
    assert AllianzSandbox().read_only_requests == {
        ("POST", "/search/v2/companies/advancedSearch"),
        ("POST", "/riskinfo/v3/covers/search"),
        ("POST", "/riskinfo/v3/coverRequests/search"),
        ("POST", "/payment-overdues/v1/overdues/search"),
    }
    uat = AllianzSandbox(path_preset="uat").read_only_requests
    assert ("POST", "/uatm/riskinfo/v3/covers/search") in uat
    assert ("POST", "/riskinfo/v3/covers") not in uat


def test_unknown_sandbox_options_are_a_config_error() -> None:
    from tci_gateway.errors import ConfigError

    with pytest.raises(ConfigError, match="decision_dely"):
        create_sandbox({"decision_dely": 5})
