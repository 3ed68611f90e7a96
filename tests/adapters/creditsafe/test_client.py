"""The Creditsafe client and adapter against the sandbox and fixture payloads: the one
criteria set rule (sandbox 400, adapter waterfall), tokens, reports and errors."""

from __future__ import annotations

import httpx
import pytest

from tci_adapters.creditsafe.auth import jwt_lifetime
from tci_adapters.creditsafe.client import CreditsafeAdapter
from tci_adapters.creditsafe.criteria import COMBINATION_NOT_ALLOWED, criteria_set
from tci_adapters.creditsafe.plugin import PLUGIN, create_adapter
from tci_adapters.creditsafe.sandbox import CreditsafeSandbox
from tci_gateway.adapters.contract import AdapterContext, CompanyQuery
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.errors import AuthError, ConfigError, RejectedError
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.jsonexact import loads
from tci_gateway.http.retry import RetryPolicy

from .conftest import CREDENTIALS, FIXTURES

ALPHA = "GB-0-09990311"


class Recorder:
    """Wraps the sandbox handler and records every request."""

    def __init__(self, sandbox: CreditsafeSandbox) -> None:
        self.sandbox = sandbox
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.sandbox.handle(request)

    def searches(self) -> list[dict[str, str]]:
        return [
            dict(r.url.params)
            for r in self.requests
            if r.method == "GET" and r.url.path == "/companies"
        ]


def make(
    handler: httpx.MockTransport | Recorder | CreditsafeSandbox,
    retry: RetryPolicy,
    credentials: dict[str, str] | None = None,
    **options: object,
) -> CreditsafeAdapter:
    serve = handler.handle if isinstance(handler, CreditsafeSandbox) else handler
    transport = serve if isinstance(serve, httpx.MockTransport) else httpx.MockTransport(serve)
    return create_adapter(
        AdapterContext(
            name="creditsafe",
            base_url=PLUGIN.sandbox_base_url,
            environment="sandbox",
            credentials=credentials or CREDENTIALS,
            options=options,
            retry=retry,
            transport=transport,
        ),
        token_cache=TokenCache(),
    )


# -- one criteria set per request ------------------------------------------------------


def test_sandbox_refuses_mixed_criteria_with_the_api_message(adapter: CreditsafeAdapter) -> None:
    with pytest.raises(RejectedError) as caught:
        adapter.client.request(
            "GET", "/companies", params={"countries": "GB", "regNo": "09990311", "name": "alpha"}
        )
    error = caught.value
    assert error.status == 400
    assert error.message.startswith(COMBINATION_NOT_ALLOWED)
    assert error.request_id  # Creditsafe's correlationId from the envelope
    assert error.details == ["Use GET /companies/searchcriteria"]


def test_waterfall_regno_then_name_and_postcode(
    sandbox: CreditsafeSandbox, retry: RetryPolicy
) -> None:
    recorder = Recorder(sandbox)
    adapter = make(recorder, retry)
    query = CompanyQuery(
        country="GB",
        identifier=parse_identifier(Scheme.GB_CRN, "09990999"),  # unknown number
        name="Alpha Widgets",
        postcode="EC1A 1BB",
    )
    found = adapter.search_companies(query)
    assert [c.provider_id for c in found] == [ALPHA]
    searches = recorder.searches()
    assert [criteria_set(s) for s in searches] == ["regNo", "name"]
    assert searches[1] == {
        "countries": "GB",
        "page": "1",
        "pageSize": "10",
        "name": "Alpha Widgets",
        "postCode": "EC1A 1BB",
    }
    for params in searches:
        criteria_set(params)  # exactly one set each time: the sandbox accepted them all


def test_waterfall_falls_back_to_the_looser_name(
    sandbox: CreditsafeSandbox, retry: RetryPolicy
) -> None:
    recorder = Recorder(sandbox)
    adapter = make(recorder, retry)
    query = CompanyQuery(country="GB", name="alpha widgets", postcode="ZZ9 9ZZ")
    assert [c.provider_id for c in adapter.search_companies(query)] == [ALPHA]
    assert [sorted(s) for s in recorder.searches()] == [
        ["countries", "name", "page", "pageSize", "postCode"],
        ["countries", "name", "page", "pageSize"],
    ]


def test_regno_hit_stops_the_waterfall(sandbox: CreditsafeSandbox, retry: RetryPolicy) -> None:
    recorder = Recorder(sandbox)
    query = CompanyQuery(
        country="GB", identifier=parse_identifier(Scheme.GB_CRN, "09990311"), name="Other"
    )
    assert [c.provider_id for c in make(recorder, retry).search_companies(query)] == [ALPHA]
    assert len(recorder.searches()) == 1


def test_search_by_vat_and_unsupported_queries(adapter: CreditsafeAdapter) -> None:
    vat = CompanyQuery(country="GB", identifier=parse_identifier(Scheme.VAT, "GB999030329"))
    assert [c.provider_id for c in adapter.search_companies(vat)] == [ALPHA]
    lei = CompanyQuery(
        country="GB", identifier=parse_identifier(Scheme.LEI, "5299000TCIGWALPHA040")
    )
    with pytest.raises(RejectedError, match="cannot search by LEI"):
        adapter.search_companies(lei)
    with pytest.raises(RejectedError, match="identifier or a name"):
        adapter.search_companies(CompanyQuery(country="GB"))
    with pytest.raises(RejectedError, match="country"):
        adapter.search_companies(CompanyQuery(country="UK", name="alpha"))


def test_french_search_by_siren(sandbox: CreditsafeSandbox, retry: RetryPolicy) -> None:
    recorder = Recorder(sandbox)
    query = CompanyQuery(
        country="FR", identifier=parse_identifier(Scheme.FR_SIREN, "123456782"), name="gamma"
    )
    (found,) = make(recorder, retry).search_companies(query)
    assert Identifier(Scheme.FR_SIREN, "123456782") in found.identifiers
    assert [criteria_set(s) for s in recorder.searches()] == ["regNo"]


def test_empty_search_answered_404(retry: RetryPolicy) -> None:
    sandbox = CreditsafeSandbox.from_seed(
        FIXTURES / "seed.json", credentials=CREDENTIALS, empty_search_status=404
    )
    adapter = make(sandbox, retry)
    assert adapter.search_companies(CompanyQuery(country="GB", name="nobody here")) == []


# -- company and report -----------------------------------------------------------------


def test_get_company_by_connect_id(adapter: CreditsafeAdapter, sandbox: CreditsafeSandbox) -> None:
    found = adapter.get_company(ALPHA)
    assert found is not None and found.provider_id == ALPHA
    assert adapter.get_company("GB-0-00000001") is None
    assert sandbox.received[("GET", f"/companies/{ALPHA}")] == 0  # no report ordered


def test_assessment_from_the_report(adapter: CreditsafeAdapter, sandbox: CreditsafeSandbox) -> None:
    result = adapter.assess(ALPHA)
    assert result is not None
    assert result.recommended_limit == Money.of("25000", "GBP")
    assert (result.band, result.score_raw, result.missing) == ("B", "64", ())
    assert result.provider_reference  # the report's correlationId
    assert adapter.assess("GB-0-00000001") is None
    with pytest.raises(RejectedError):
        adapter.assess("../x")


def test_text_credit_limit_through_the_adapter(adapter: CreditsafeAdapter) -> None:
    result = adapter.assess("FR-X-12345678200015")
    assert result is not None and result.recommended_limit is None
    assert any("Credit Limit not applicable" in m for m in result.missing)


def test_failed_section_report(adapter: CreditsafeAdapter) -> None:
    result = adapter.assess("GB-0-09990642")
    assert result is not None and "creditScore" in result.missing


# -- tokens -----------------------------------------------------------------------------


def test_token_is_reused_then_renewed_on_expiry(
    adapter: CreditsafeAdapter, sandbox: CreditsafeSandbox
) -> None:
    adapter.get_company(ALPHA)
    adapter.get_company(ALPHA)
    assert sandbox.received[("POST", "/authenticate")] == 1
    sandbox.advance(3601)  # the sandbox refuses the token (401), the client renews it
    assert adapter.get_company(ALPHA) is not None
    assert sandbox.received[("POST", "/authenticate")] == 2


def test_bare_token_in_authorization(sandbox: CreditsafeSandbox, retry: RetryPolicy) -> None:
    recorder = Recorder(sandbox)
    make(recorder, retry).get_company(ALPHA)
    sent = next(r for r in recorder.requests if r.url.path == "/companies")
    assert sent.headers["Authorization"].count(".") == 2  # a JWT, no "Bearer "
    auth = next(r for r in recorder.requests if r.url.path == "/authenticate")
    assert loads(auth.content) == CREDENTIALS
    prefixed = Recorder(sandbox)
    make(prefixed, retry, token_prefix="Bearer").get_company(ALPHA)
    sent = next(r for r in prefixed.requests if r.url.path == "/companies")
    assert sent.headers["Authorization"].startswith("Bearer ")


def test_bad_credentials_are_an_auth_error(sandbox: CreditsafeSandbox, retry: RetryPolicy) -> None:
    adapter = make(sandbox, retry, credentials={"username": "u", "password": "wrong"})
    with pytest.raises(AuthError) as caught:
        adapter.get_company(ALPHA)
    assert "Invalid credentials" in caught.value.message
    assert "wrong" not in str(caught.value)


def test_jwt_lifetime() -> None:
    token = loads((FIXTURES / "token.json").read_bytes())["token"]
    assert jwt_lifetime(token) == 3600.0
    assert jwt_lifetime("not-a-jwt") is None
    assert jwt_lifetime("a.!!!.c") is None
    assert jwt_lifetime("a.eyJleHAiOjF9.c") is None  # {"exp": 1}: no iat


def test_error_envelope_fixtures() -> None:
    from tci_adapters.creditsafe.auth import parse_envelope

    parsed, correlation = parse_envelope(
        loads((FIXTURES / "error_criteria.json").read_bytes()), "x"
    )
    assert parsed.message.startswith(COMBINATION_NOT_ALLOWED + ": Check GET")
    assert correlation == "5f1c2a7e-0c2b-4c3e-9b61-2a9d1e0f0005"
    parsed, _ = parse_envelope(loads((FIXTURES / "error_unauthorized.json").read_bytes()), "x")
    assert parsed.details == ["Token has expired"]


def test_missing_credentials_and_bad_options() -> None:
    base = {"name": "creditsafe", "base_url": PLUGIN.sandbox_base_url, "environment": "t"}
    with pytest.raises(ConfigError, match="TCI_BUREAUS__CREDITSAFE__CREDENTIALS__PASSWORD"):
        create_adapter(AdapterContext(**base, credentials={"username": "u"}))
    for options in ({"page_size": 0}, {"rating_bands": {"A": [9, 1]}}, {"token_lifetime": -1}):
        with pytest.raises(ConfigError):
            create_adapter(AdapterContext(**base, credentials=CREDENTIALS, options=options))
