"""The Allianz client and adapter over fixture payloads (httpx.MockTransport): auth,
buyer search, asynchronous cover requests and job polling, look-ups, error envelopes,
token refresh under concurrency, plugin and configuration."""

from __future__ import annotations

import threading
from decimal import Decimal

import httpx
import pytest

from tci_adapters.allianz.auth import key_fingerprint
from tci_adapters.allianz.client import CAPABILITIES, AllianzAdapter
from tci_adapters.allianz.http_client import cover_id_from_url
from tci_adapters.allianz.plugin import PLUGIN
from tci_gateway.adapters.contract import (
    AdapterContext,
    BuyerQuery,
    CoverAction,
    CoverRequest,
    InsurerAdapter,
    OverdueFiling,
    PolicyRef,
)
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.errors import (
    AmbiguousOutcomeError,
    AuthError,
    ConfigError,
    InProgressError,
    NotFoundError,
    ProtocolError,
    RejectedError,
)
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.logs import redact_text

from .conftest import API_KEY, BASE, POLICY, FixtureServer, body_of, make_adapter

TOKEN = "/v1/idp/oauth2/authorize"
SEARCH = "/search/v2/companies/advancedSearch"
COVERS = "/riskinfo/v3/covers"
JOB = "/riskinfo/v3/jobs/5b0c2f9e-8d1a-4c3e-9f6b-0a1b2c3d4e5f"
REQUESTS = "/riskinfo/v3/coverRequests/search"
VAT = BuyerQuery(country="FR", identifier=parse_identifier(Scheme.VAT, "FR11123456782"))


def cover_request(
    action: CoverAction = CoverAction.NEW, amount: str | None = "150000.50", **extra: object
) -> CoverRequest:
    money = Money(Decimal(amount), "EUR") if amount is not None else None
    return CoverRequest("tci-cr-0009", POLICY, "400000009", action, money, **extra)  # type: ignore[arg-type]


# -- auth ---------------------------------------------------------------------------------


def test_token_exchange_and_bearer_calls(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", SEARCH): (200, "company_search.json")})
    adapter = make_adapter(server, retry)
    adapter.search_buyers(VAT)
    token, call = server.requests
    assert (token.method, token.url.path) == ("POST", TOKEN)
    assert body_of(token) == {"apiKey": API_KEY}
    assert token.headers["Content-Type"] == "application/json"
    assert "Authorization" not in token.headers
    assert call.headers["Authorization"] == "Bearer synthetic-allianz-token-0001"
    assert call.headers["X-Correlation-Id"]
    adapter.search_buyers(VAT)
    assert len(server.calls("POST", TOKEN)) == 1  # cached


def test_the_token_cache_key_never_holds_the_key(retry: RetryPolicy) -> None:
    adapter = make_adapter(FixtureServer(), retry)
    assert adapter.client.auth is not None
    key = adapter.client.auth.cache_key
    assert key[:4] == ("allianz", "uat", BASE, TOKEN)
    assert all(API_KEY not in part for part in key)
    assert key[4] == key_fingerprint(API_KEY) != key_fingerprint(API_KEY + "x")
    assert API_KEY not in redact_text(f"the key is {API_KEY}")


def test_a_401_is_retried_once_with_a_new_token(retry: RetryPolicy) -> None:
    answers = iter([(401, "error_plain.json"), (200, "company_search.json")])
    server = FixtureServer({("POST", SEARCH): lambda _r: next(answers)})
    adapter = make_adapter(server, retry)
    assert len(adapter.search_buyers(VAT)) == 2
    assert len(server.calls("POST", TOKEN)) == 2


def test_refused_credentials_are_an_auth_error(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", TOKEN): (401, "error_plain.json")})
    adapter = make_adapter(server, retry)
    with pytest.raises(AuthError) as caught:
        adapter.search_buyers(VAT)
    assert caught.value.status == 401
    assert "Unauthorized" in caught.value.message


def test_fifty_threads_with_an_expired_token_fetch_exactly_one(retry: RetryPolicy) -> None:
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    server = FixtureServer({("POST", SEARCH): (200, "company_search.json")})
    adapter = make_adapter(server, retry, cache=cache)
    adapter.search_buyers(VAT)
    now[0] += 3601  # token.json says expires_in 3600
    barrier = threading.Barrier(50)
    failures: list[BaseException] = []
    results: list[int] = []

    def work() -> None:
        try:
            barrier.wait()
            results.append(len(adapter.search_buyers(VAT)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert results == [2] * 50
    assert len(server.calls("POST", TOKEN)) == 2  # the first token and exactly one refresh


# -- buyer search -------------------------------------------------------------------------


def test_search_by_identifier(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", SEARCH): (200, "company_search.json")})
    matches = make_adapter(server, retry).search_buyers(VAT)
    [call] = server.calls("POST", SEARCH)
    assert body_of(call) == {
        "countryCode": "FR",
        "companyIdentifierTypeCode": "EH",
        "requestedSize": 10,
        "minimumScore": 80,
        "companyIdentifiers": [{"idTypeCode": "VAT", "idValue": "FR11123456782"}],
    }
    assert [m.insurer_buyer_id for m in matches] == ["400000001", "400000011"]  # no id: skipped
    assert matches[0].identifiers == (
        Identifier(Scheme.VAT, "FR11123456782"),
        Identifier(Scheme.FR_SIREN, "123456782"),
        Identifier(Scheme.DUNS, "123456789"),
    )
    assert matches[1].name == "Exemple Industries Sud SARL" and matches[1].identifiers == ()


def test_search_by_name_by_eh_id_and_with_options(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", SEARCH): (200, "company_search_empty.json")})
    adapter = make_adapter(
        server,
        retry,
        options={
            "search_minimum_score": "",
            "search_requested_size": 3,
            "id_type_codes": {"FR_SIREN": "SRN"},
        },
    )
    assert adapter.search_buyers(BuyerQuery(country="fr", name=" Exemple Industries ")) == []
    eh = parse_identifier(Scheme.INSURER, "400000001", "allianz")
    adapter.search_buyers(BuyerQuery(country="FR", identifier=eh))
    siren = parse_identifier(Scheme.FR_SIREN, "123456782")
    adapter.search_buyers(BuyerQuery(country="FR", identifier=siren, name="Exemple"))
    by_name, by_eh, both = (body_of(r) for r in server.calls("POST", SEARCH))
    assert by_name == {
        "countryCode": "FR",
        "companyIdentifierTypeCode": "EH",
        "requestedSize": 3,
        "companyName": "Exemple Industries",
    }
    assert by_eh["companyIdentifiers"] == [{"idTypeCode": "EH", "idValue": "400000001"}]
    assert both["companyIdentifiers"] == [{"idTypeCode": "SRN", "idValue": "123456782"}]
    assert both["companyName"] == "Exemple"


def test_searches_that_cannot_be_made_are_refused_before_sending(retry: RetryPolicy) -> None:
    server = FixtureServer()
    adapter = make_adapter(server, retry, options={"id_type_codes": {}})
    other = parse_identifier(Scheme.INSURER, "20001", "atradius")
    with pytest.raises(RejectedError, match="not an Allianz"):
        adapter.search_buyers(BuyerQuery(country="FR", identifier=other))
    with pytest.raises(RejectedError, match="identifier or a name"):
        adapter.search_buyers(BuyerQuery(country="FR", name="  "))
    assert server.requests == []


def test_no_match_is_an_empty_list(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", SEARCH): (404, "error_not_found.json")})
    assert make_adapter(server, retry).search_buyers(VAT) == []
    server = FixtureServer({("POST", SEARCH): (200, "job_pending.json")})
    with pytest.raises(ProtocolError, match="no results"):
        make_adapter(server, retry).search_buyers(VAT)


# -- cover requests and jobs --------------------------------------------------------------


def test_request_cover_is_an_asynchronous_job(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", COVERS): (202, "cover_request_accepted.json")})
    adapter = make_adapter(server, retry)
    policy = PolicyRef("p", "EUR", {**POLICY.external_ref, "extension_id": "DCL"})
    request = CoverRequest(
        "tci-cr-0009",
        policy,
        "400000009",
        CoverAction.NEW,
        Money(Decimal("150000.50"), "EUR"),
        urgent=True,
    )
    result = adapter.request_cover(request)
    assert result.pending and result.decision is None
    assert result.insurer_request_ref == "5b0c2f9e-8d1a-4c3e-9f6b-0a1b2c3d4e5f"
    assert result.client_reference == "tci-cr-0009"
    [call] = server.calls("POST", COVERS)
    assert b'"requestedAmount":150000.50' in call.content  # exact, never a float
    assert body_of(call) == {
        "requestTypeCode": "Primary",
        "policy": {"businessUnitCode": "ACI", "policyId": "5550001", "extensionId": "DCL"},
        "companyId": "400000009",
        "isRequestUrgent": True,
        "customerReference": "tci-cr-0009",
        "creditLimitDetails": {"requestedAmount": Decimal("150000.50"), "currencyCode": "EUR"},
    }
    assert "X-Callback" not in call.headers


@pytest.mark.parametrize(
    ("action", "cover_type", "code"),
    [
        (CoverAction.INCREASE, "CREDIT_LIMIT", "Increase"),
        (CoverAction.REDUCE, "CREDIT_LIMIT", "Reduction"),
        (CoverAction.CANCEL, "CREDIT_LIMIT", "Cancellation"),
        (CoverAction.NEW, "GRADE", "GradeCover"),
        (CoverAction.RENEW, "CREDIT_LIMIT", "Renewal"),  # configured below
    ],
)
def test_request_types(retry: RetryPolicy, action: CoverAction, cover_type: str, code: str) -> None:
    server = FixtureServer({("POST", COVERS): (202, "cover_request_accepted.json")})
    amount = None if action is CoverAction.CANCEL else "20000"
    adapter = make_adapter(server, retry, options={"request_type_codes": {"RENEW": "Renewal"}})
    adapter.request_cover(cover_request(action, amount, cover_type=cover_type))
    body = body_of(server.calls("POST", COVERS)[0])
    assert body["requestTypeCode"] == code
    assert ("creditLimitDetails" in body) is (action is not CoverAction.CANCEL)


def test_requests_that_cannot_be_made(retry: RetryPolicy) -> None:
    server = FixtureServer()
    adapter = make_adapter(server, retry)
    with pytest.raises(RejectedError, match="RENEW"):
        adapter.request_cover(cover_request(CoverAction.RENEW))
    with pytest.raises(RejectedError, match="credit-check"):
        adapter.request_cover(cover_request(cover_type="CREDIT_CHECK"))
    with pytest.raises(RejectedError, match="positive amount"):
        adapter.request_cover(cover_request(amount=None))
    assert server.requests == []


def test_configured_route_and_code_for_an_action(retry: RetryPolicy) -> None:
    server = FixtureServer(
        {("POST", "/riskinfo/v3/covers/cancel"): (202, "cover_request_accepted.json")}
    )
    adapter = make_adapter(
        server,
        retry,
        options={
            "paths": {"cover_cancel": "/riskinfo/v3/covers/cancel"},
            "request_type_codes": {"CANCEL": "Withdrawal"},
            "reference_field": "externalReference",
        },
    )
    adapter.request_cover(cover_request(CoverAction.CANCEL, None))
    body = body_of(server.calls("POST", "/riskinfo/v3/covers/cancel")[0])
    assert body["requestTypeCode"] == "Withdrawal"
    assert body["externalReference"] == "tci-cr-0009" and "customerReference" not in body


def test_callback_header_goes_with_cover_posts_only(retry: RetryPolicy) -> None:
    from tci_adapters.allianz.webhooks import decode_callback_header

    server = FixtureServer(
        {
            ("POST", COVERS): (202, "cover_request_accepted.json"),
            ("POST", SEARCH): (200, "company_search.json"),
        }
    )
    adapter = make_adapter(
        server,
        retry,
        options={
            "callback_url": "https://hooks.example.invalid/allianz/s3cr3t",
            "callback_header": "X-Allianz-Callback",
            "callback_ttl_hours": 12,
        },
    )
    adapter.request_cover(cover_request())
    adapter.search_buyers(VAT)
    token, post, search = server.requests
    assert decode_callback_header(post.headers["X-Allianz-Callback"]) == {
        "callbackUrl": "https://hooks.example.invalid/allianz/s3cr3t",
        "timeToLive": 12,
        "extendedNotification": True,
    }
    assert "X-Allianz-Callback" not in token.headers
    assert "X-Allianz-Callback" not in search.headers


def test_a_pending_request_blocks_another_one(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", COVERS): (409, "error_in_progress.json")})
    with pytest.raises(InProgressError) as caught:  # ambiguous (it may be ours), not refused
        make_adapter(server, retry).request_cover(cover_request())
    assert (caught.value.status, caught.value.code) == (409, "REQUEST_IN_PROGRESS")
    assert len(server.calls("POST", COVERS)) == 1


def test_a_post_answered_502_is_ambiguous_and_not_resent(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", COVERS): (502, "error_plain.json")})
    with pytest.raises(AmbiguousOutcomeError) as caught:
        make_adapter(server, retry).request_cover(cover_request())
    assert caught.value.client_reference == "tci-cr-0009"
    assert len(server.calls("POST", COVERS)) == 1


def test_job_polling_then_the_cover(retry: RetryPolicy) -> None:
    jobs = iter(["job_pending.json", "job_processed.json"])
    server = FixtureServer(
        {
            ("GET", JOB): lambda _r: (200, next(jobs)),
            ("GET", "/riskinfo/v3/covers/8000009"): (200, "cover.json"),
        }
    )
    adapter = make_adapter(server, retry)
    ref = "5b0c2f9e-8d1a-4c3e-9f6b-0a1b2c3d4e5f"
    first = adapter.request_status(POLICY, ref)
    assert first is not None and first.pending and first.insurer_request_ref == ref
    done = adapter.request_status(POLICY, ref)
    assert done is not None and not done.pending and done.decision is not None
    assert done.decision.status is CoverStatus.PARTIALLY_APPROVED
    assert done.decision.granted_amount == Money(Decimal("75000.00"), "EUR")
    # The cover is read through the configured route on our host, not the URL's host.
    cover_call = server.calls("GET", "/riskinfo/v3/covers/8000009")[0]
    assert cover_call.url.host == "api.allianz-trade.invalid"


def test_unknown_jobs_and_ids_that_would_escape_the_route(retry: RetryPolicy) -> None:
    server = FixtureServer()
    server.routes[("GET", "/riskinfo/v3/jobs/no-such-job")] = (404, "error_not_found.json")
    server.routes[("GET", "/riskinfo/v3/jobs/../../v1/idp")] = (404, "error_not_found.json")
    adapter = make_adapter(server, retry)
    assert adapter.request_status(POLICY, "no-such-job") is None
    assert adapter.request_status(POLICY, "../../v1/idp") is None
    assert server.requests[-1].url.raw_path == b"/riskinfo/v3/jobs/..%2F..%2Fv1%2Fidp"


def test_a_bare_404_is_never_read_as_unknown(retry: RetryPolicy) -> None:
    # A plain gateway 404 (wrong route) must not look like "Allianz has no such job":
    # the caller would send the request again.
    server = FixtureServer()
    adapter = make_adapter(server, retry)
    with pytest.raises(NotFoundError):
        adapter.request_status(POLICY, "some-job")
    misrouted = make_adapter(
        FixtureServer({("POST", SEARCH): (200, "company_search.json")}),
        retry,
        options={"paths": {"token": "/v2/idp/oauth2/authorize"}},
    )
    with pytest.raises(NotFoundError):
        misrouted.search_buyers(VAT)


@pytest.mark.parametrize(
    ("job_status", "outcome"),
    [("failed", RejectedError), ("queued", None), ("processed", ProtocolError)],
)
def test_failed_unknown_and_unusable_jobs(
    retry: RetryPolicy, job_status: str, outcome: type[Exception] | None
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN:
            return httpx.Response(200, content=b'{"access_token":"t","expires_in":3600}')
        return httpx.Response(200, json={"jobId": "j1", "jobStatusCode": job_status})

    adapter = make_adapter(handler, retry)
    if outcome is None:  # an unknown job status: keep polling
        result = adapter.request_status(POLICY, "j1")
        assert result is not None and result.pending
    else:  # failed; or processed without a resourceUrl
        with pytest.raises(outcome):
            adapter.request_status(POLICY, "j1")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.allianz-trade.com/riskinfo/v3/covers/8000009", "8000009"),
        ("/uatm/riskinfo/v3/covers/8000009/", "8000009"),
        ("/riskinfo/v3/covers/ab-12_c", "ab-12_c"),
        ("/riskinfo/v3/covers/a%2Fb", None),
        ("", None),
        (None, None),
    ],
)
def test_cover_id_from_url(url: str | None, expected: str | None) -> None:
    assert cover_id_from_url(url) == expected


# -- look-up by client reference ----------------------------------------------------------


def test_find_request_by_reference(retry: RetryPolicy) -> None:
    server = FixtureServer(
        {
            ("POST", REQUESTS): (200, "cover_requests_by_reference.json"),
            ("GET", "/riskinfo/v3/covers/8000009"): (200, "cover.json"),
        }
    )
    adapter = make_adapter(server, retry)
    decided = adapter.find_request(POLICY, "tci-cr-0009")
    assert decided is not None and not decided.pending
    assert decided.client_reference == "tci-cr-0009"
    assert decided.insurer_request_ref == "request:5000009"
    assert decided.decision is not None and decided.decision.insurer_cover_ref == "8000009"
    pending = adapter.find_request(POLICY, "tci-cr-0010")
    assert (
        pending is not None and pending.pending and pending.insurer_request_ref == "request:5000010"
    )
    assert (
        adapter.find_request(POLICY, "tci-cr-9999") is None
    )  # the filter was ignored: matched here
    body = body_of(server.calls("POST", REQUESTS)[0])
    assert body == {
        "policies": [{"businessUnitCode": "ACI", "policyId": "5550001"}],
        "customerReference": "tci-cr-0009",
        "pagination": {"page": 1, "pageSize": 1000, "isTotalRequired": True},
    }
    # A "request:" reference is polled through the same search, by requestId.
    polled = adapter.request_status(POLICY, "request:5000010")
    assert polled is not None and polled.pending and polled.client_reference == "tci-cr-0010"
    assert body_of(server.calls("POST", REQUESTS)[-1])["requestId"] == "5000010"
    assert adapter.request_status(POLICY, "request:404") is None
    assert not any(r.url.path.startswith("/riskinfo/v3/jobs") for r in server.requests)


# -- errors -------------------------------------------------------------------------------


def test_the_error_envelope_becomes_error_fields(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", COVERS): (400, "error_envelope.json")})
    with pytest.raises(RejectedError) as caught:
        make_adapter(server, retry).request_cover(cover_request())
    error = caught.value
    assert error.status == 400 and error.code == "INVALID_AMOUNT"
    assert error.message == (
        "The amount must be a positive amount; The currency must be the policy currency"
    )
    assert error.details == [
        "The amount must be a positive amount (field creditLimitDetails.requestedAmount)",
        "The currency must be the policy currency (field creditLimitDetails.currencyCode)",
    ]
    assert error.body is not None and "INVALID_CURRENCY" in error.body
    assert error.adapter == "allianz" and error.correlation_id


def test_a_plain_message_and_an_unreadable_error_body(retry: RetryPolicy) -> None:
    server = FixtureServer({("GET", "/riskinfo/v3/covers/1"): (403, "error_plain.json")})
    adapter = make_adapter(server, retry)
    with pytest.raises(AuthError) as caught:
        adapter.read_cover(POLICY, "1")
    assert (caught.value.message, caught.value.code) == ("Unauthorized", None)

    def html(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN:
            return httpx.Response(200, content=b'{"access_token":"t","expires_in":3600}')
        return httpx.Response(422, content=b"<html>nope</html>")

    with pytest.raises(RejectedError) as refused:
        make_adapter(html, retry).read_cover(POLICY, "1")
    assert refused.value.message == "Unprocessable Entity"


def test_errors_inside_a_success_are_a_refusal(retry: RetryPolicy) -> None:
    server = FixtureServer({("POST", SEARCH): (200, "error_envelope.json")})
    with pytest.raises(RejectedError) as caught:
        make_adapter(server, retry).search_buyers(VAT)
    assert caught.value.code == "INVALID_AMOUNT" and caught.value.status == 200


def test_unreadable_answers_are_protocol_errors(retry: RetryPolicy) -> None:
    server = FixtureServer(
        {
            ("POST", COVERS): (202, "job_processed.json"),
            ("GET", "/riskinfo/v3/covers/1"): (200, "job_pending.json"),
        }
    )
    adapter = make_adapter(server, retry)
    with pytest.raises(ProtocolError, match="unreadable cover 1"):
        adapter.read_cover(POLICY, "1")
    server.routes[("POST", COVERS)] = (202, "company_search_empty.json")
    with pytest.raises(ProtocolError, match="jobId"):
        adapter.request_cover(cover_request())

    def bad_token(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b'{"access_token":"t","token_type":"MAC","expires_in":1}'
        )

    with pytest.raises(ProtocolError, match="token type"):
        make_adapter(bad_token, retry).search_buyers(VAT)


# -- plugin and configuration -------------------------------------------------------------


def test_plugin_and_capabilities(retry: RetryPolicy) -> None:
    assert load_plugin("allianz") is PLUGIN
    assert PLUGIN.credential_names == ("api_key",)
    assert PLUGIN.sandbox_base_url == "https://sandbox.allianz-trade.invalid"
    adapter = make_adapter(FixtureServer(), retry)
    assert isinstance(adapter, InsurerAdapter) and isinstance(adapter, OverdueFiling)
    assert adapter.capabilities is CAPABILITIES
    assert (CAPABILITIES.pagination, CAPABILITIES.async_cover_requests) == ("page", True)
    assert (CAPABILITIES.webhooks, CAPABILITIES.overdue_api, CAPABILITIES.claims_api) == (
        True,
        True,
        False,
    )
    assert not CAPABILITIES.delta_endpoint
    assert CAPABILITIES.buyer_search and CAPABILITIES.cover_requests and CAPABILITIES.portfolio


def test_missing_credentials_name_the_environment_variable() -> None:
    context = AdapterContext(name="allianz_de", base_url=BASE, environment="uat", credentials={})
    with pytest.raises(ConfigError) as caught:
        PLUGIN.create(context)
    assert "TCI_INSURERS__ALLIANZ_DE__CREDENTIALS__API_KEY" in str(caught.value)
    bad_url = AdapterContext(
        name="allianz",
        base_url="api.allianz-trade.com",
        environment="uat",
        credentials={"api_key": "canary-XYZ"},
    )
    with pytest.raises(ConfigError, match="not a URL") as url_error:
        PLUGIN.create(bad_url)
    assert "canary-XYZ" not in str(url_error.value)
    bad_option = AdapterContext(
        name="allianz_fr",
        base_url=BASE,
        environment="uat",
        credentials={"api_key": "k"},
        options={"page_size": 0},
    )
    with pytest.raises(ConfigError, match=r"'allianz_fr' .*page_size"):
        PLUGIN.create(bad_option)


def test_policy_triple(retry: RetryPolicy) -> None:
    adapter = make_adapter(FixtureServer(), retry, options={"business_unit_code": "EHSE"})
    ref = PolicyRef("p", "EUR", {"policy_id": "42", "extension_id": "CAP"})
    assert adapter.policy_body(ref) == {
        "businessUnitCode": "EHSE",
        "policyId": "42",
        "extensionId": "CAP",
    }
    strict: AllianzAdapter = make_adapter(FixtureServer(), retry)
    with pytest.raises(ConfigError, match="business_unit_code in the policy's external_ref"):
        strict.fetch_portfolio(ref)
    with pytest.raises(ConfigError, match="business_unit_code and policy_id"):
        strict.request_cover(
            CoverRequest("r", PolicyRef("q", "EUR"), "1", CoverAction.NEW, Money.of("1", "EUR"))
        )


def test_uat_preset_routes(retry: RetryPolicy) -> None:
    server = FixtureServer(
        {
            ("POST", "/uatm/v1/idp/oauth2/authorize"): (200, "token.json"),
            ("POST", "/search/uatm-v2/companies/advancedSearch"): (200, "company_search.json"),
        }
    )
    adapter = make_adapter(server, retry, options={"path_preset": "uat"})
    assert len(adapter.search_buyers(VAT)) == 2
    assert [r.url.path for r in server.requests] == [
        "/uatm/v1/idp/oauth2/authorize",
        "/search/uatm-v2/companies/advancedSearch",
    ]
