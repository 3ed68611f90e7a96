"""The D&B client and adapter against the sandbox and fixture payloads: token flow and
the 00040 refresh, cleanseMatch, data blocks, and errors parsed into their fields."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest

from tci_adapters.dnb.client import DnbAdapter
from tci_adapters.dnb.plugin import PLUGIN, create_adapter
from tci_adapters.dnb.sandbox import DnbSandbox
from tci_gateway.adapters.contract import AdapterContext, CompanyQuery
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.errors import AuthError, ConfigError, RejectedError
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.retry import RetryPolicy

from .conftest import CREDENTIALS, FIXTURES

ALPHA = "219900311"
BRANCH = "219900646"


class Recorder:
    """Wraps a handler and records every request."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)


def make(
    handler: Callable[[httpx.Request], httpx.Response],
    retry: RetryPolicy,
    credentials: dict[str, str] | None = None,
    **options: object,
) -> DnbAdapter:
    return create_adapter(
        AdapterContext(
            name="dnb",
            base_url=PLUGIN.sandbox_base_url,
            environment="sandbox",
            credentials=credentials or CREDENTIALS,
            options=options,
            retry=retry,
            transport=httpx.MockTransport(handler),
        ),
        token_cache=TokenCache(),
    )


def fixture_reply(name: str, status: int) -> Callable[[httpx.Request], httpx.Response]:
    """Tokens from the fixture, every other call answered with ``name``."""

    def handler(request: httpx.Request) -> httpx.Response:
        file = "token.json" if request.url.path == "/v3/token" else name
        code = 200 if file == "token.json" else status
        content = (FIXTURES / file).read_bytes()
        return httpx.Response(code, headers={"Content-Type": "application/json"}, content=content)

    return handler


# -- tokens -----------------------------------------------------------------------------


def test_token_request_shape_and_reuse(sandbox: DnbSandbox, retry: RetryPolicy) -> None:
    recorder = Recorder(sandbox.handle)
    adapter = make(recorder, retry)
    adapter.get_company(ALPHA)
    adapter.get_company(ALPHA)
    tokens = [r for r in recorder.requests if r.url.path == "/v3/token"]
    assert len(tokens) == 1
    expected = base64.b64encode(b"dnb-key-123:dnb-s3cret-value").decode()
    assert tokens[0].headers["Authorization"] == f"Basic {expected}"
    assert tokens[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert tokens[0].content == b"grant_type=client_credentials"
    data = [r for r in recorder.requests if r.url.path.startswith("/v1/data")]
    assert data[0].headers["Authorization"].startswith("Bearer ")


def test_expired_token_401_is_refreshed(adapter: DnbAdapter, sandbox: DnbSandbox) -> None:
    adapter.get_company(ALPHA)
    sandbox.advance(86401)
    assert adapter.get_company(ALPHA) is not None
    assert sandbox.received[("POST", "/v3/token")] == 2


def test_expired_token_code_on_another_status_is_refreshed(retry: RetryPolicy) -> None:
    sandbox = DnbSandbox.from_seed(
        FIXTURES / "seed.json", credentials=CREDENTIALS, expired_token_status=403
    )
    adapter = make(sandbox.handle, retry)
    adapter.get_company(ALPHA)
    sandbox.advance(86401)
    assert adapter.get_company(ALPHA) is not None  # 403 + 00040: dropped, fetched, retried
    assert sandbox.received[("POST", "/v3/token")] == 2
    assert sandbox.received[("GET", f"/v1/data/duns/{ALPHA}")] == 3


def test_bad_credentials_are_an_auth_error(sandbox: DnbSandbox, retry: RetryPolicy) -> None:
    adapter = make(sandbox.handle, retry, credentials={"key": "k", "secret": "wrong"})
    with pytest.raises(AuthError) as caught:
        adapter.get_company(ALPHA)
    assert caught.value.code == "00041"


# -- errors -----------------------------------------------------------------------------


def test_error_envelope_is_parsed_into_the_error_fields(retry: RetryPolicy) -> None:
    adapter = make(fixture_reply("error_envelope.json", 403), retry)
    with pytest.raises(AuthError) as caught:
        adapter.assess(ALPHA)
    error = caught.value
    assert (error.status, error.code) == (403, "00004")
    assert error.message == "User is not entitled to the requested data"
    assert error.details == [
        "blockIDs: paymentinsight_L3_v1 is not part of the contract",
        "Contact your D&B representative",
    ]
    assert error.request_id == "rrt-0000000000000007"
    assert error.adapter == "dnb"


def test_error_inside_a_success_is_a_refusal(retry: RetryPolicy) -> None:
    adapter = make(fixture_reply("error_envelope.json", 200), retry)
    with pytest.raises(RejectedError) as caught:
        adapter.get_company(ALPHA)
    assert caught.value.code == "00004" and caught.value.request_id == "rrt-0000000000000007"


def test_no_match_404_is_an_empty_list(retry: RetryPolicy) -> None:
    adapter = make(fixture_reply("error_no_match.json", 404), retry)
    assert adapter.search_companies(CompanyQuery(country="GB", name="nobody")) == []


def test_sandbox_refusals_carry_codes(adapter: DnbAdapter) -> None:
    with pytest.raises(RejectedError) as caught:
        adapter.client.request("GET", "/v1/data/duns/219900311", params={"blockIDs": "nope_L1_v1"})
    assert caught.value.code == "10001" and caught.value.request_id
    with pytest.raises(RejectedError):
        adapter.client.request("GET", "/v1/match/cleanseMatch", params={"name": "x", "duns": "1"})


# -- match ------------------------------------------------------------------------------


def test_match_by_registration_number(adapter: DnbAdapter) -> None:
    query = CompanyQuery(country="GB", identifier=parse_identifier(Scheme.GB_CRN, "09990311"))
    (found,) = adapter.search_companies(query)
    assert (found.provider_id, found.confidence, found.rank) == (ALPHA, 10, 1)
    assert Identifier(Scheme.GB_CRN, "09990311") in found.identifiers


def test_match_by_name_keeps_quality_and_marks_the_branch(
    adapter: DnbAdapter, sandbox: DnbSandbox
) -> None:
    query = CompanyQuery(country="GB", name="Alpha Widgets Limited", postcode="EC1A 1BB")
    found = adapter.search_companies(query)
    assert [c.provider_id for c in found] == [ALPHA, BRANCH]
    head, branch = found
    assert head.confidence == 9 and head.match_grade == "AZZZZZZAZZZ"
    assert branch.confidence == 7 and branch.match_grade == "AZZZZZZFZZZ"
    assert branch.is_site and branch.direct_parent == Identifier(Scheme.DUNS, ALPHA)
    assert not head.is_site


def test_match_parameters(sandbox: DnbSandbox, retry: RetryPolicy) -> None:
    recorder = Recorder(sandbox.handle)
    adapter = make(recorder, retry, candidate_maximum=3, confidence_threshold=8)
    query = CompanyQuery(country="gb", name="Alpha Widgets Limited", city="London")
    found = adapter.search_companies(query)
    assert [c.provider_id for c in found] == [ALPHA]  # the branch (city differs) is below 8
    match = next(r for r in recorder.requests if r.url.path == "/v1/match/cleanseMatch")
    assert dict(match.url.params) == {
        "countryISOAlpha2Code": "GB",
        "name": "Alpha Widgets Limited",
        "addressLocality": "London",
        "candidateMaximumQuantity": "3",
        "confidenceLowerLevelThresholdValue": "8",
    }


def test_search_by_duns_reads_the_company(adapter: DnbAdapter) -> None:
    query = CompanyQuery(country="GB", identifier=parse_identifier(Scheme.DUNS, BRANCH))
    (found,) = adapter.search_companies(query)
    assert found.is_site and found.provider_id == BRANCH
    unknown = CompanyQuery(country="GB", identifier=parse_identifier(Scheme.DUNS, "999999999"))
    assert adapter.search_companies(unknown) == []


def test_unsupported_queries(adapter: DnbAdapter) -> None:
    lei = CompanyQuery(
        country="GB", identifier=parse_identifier(Scheme.LEI, "5299000TCIGWALPHA040")
    )
    with pytest.raises(RejectedError, match="LEI"):
        adapter.search_companies(lei)
    with pytest.raises(RejectedError, match="country"):
        adapter.search_companies(CompanyQuery(country="ZZ", name="x"))
    with pytest.raises(RejectedError, match="not a DUNS"):
        adapter.get_company("12-345")


# -- data blocks ------------------------------------------------------------------------


def test_get_company_asks_the_company_blocks_only(sandbox: DnbSandbox, retry: RetryPolicy) -> None:
    recorder = Recorder(sandbox.handle)
    adapter = make(recorder, retry, order_reason="6332", trade_up="hq")
    found = adapter.get_company(ALPHA)
    assert found is not None
    assert found.ultimate_parent == Identifier(Scheme.DUNS, "319900535")
    call = next(r for r in recorder.requests if r.url.path.startswith("/v1/data"))
    assert dict(call.url.params) == {
        "blockIDs": "companyinfo_L2_v1",
        "orderReason": "6332",
        "tradeUp": "hq",
    }
    assert adapter.get_company("999999999") is None


def test_assessment_through_the_adapter(adapter: DnbAdapter) -> None:
    result = adapter.assess(ALPHA)
    assert result is not None
    assert result.recommended_limit == Money.of("25000", "GBP")
    assert (result.score_raw, result.band, result.paydex, result.missing) == ("2", "3A2", 78, ())
    assert adapter.assess("999999999") is None


def test_empty_blocks_through_the_adapter(adapter: DnbAdapter) -> None:
    result = adapter.assess("319900757")
    assert result is not None and result.recommended_limit is None
    assert "dnbAssessment.failureScore" in result.missing
    assert "dnbAssessment.delinquencyScore" in result.missing


def test_block_options(sandbox: DnbSandbox, retry: RetryPolicy) -> None:
    recorder = Recorder(sandbox.handle)
    adapter = make(recorder, retry, assessment_blocks="financialstrengthinsight_L2_v1")
    result = adapter.assess(ALPHA)
    assert result is not None and result.paydex is None  # payment block not asked
    call = next(r for r in recorder.requests if r.url.path.startswith("/v1/data"))
    assert call.url.params["blockIDs"] == "financialstrengthinsight_L2_v1"


def test_options_and_credentials_are_checked() -> None:
    base = {"name": "dnb", "base_url": PLUGIN.sandbox_base_url, "environment": "t"}
    with pytest.raises(ConfigError, match="TCI_BUREAUS__DNB__CREDENTIALS__SECRET"):
        create_adapter(AdapterContext(**base, credentials={"key": "k"}))
    for options in (
        {"candidate_maximum": 0},
        {"confidence_threshold": 11},
        {"company_blocks": []},
        {"registration_types": {"1": "NOPE"}},
    ):
        with pytest.raises(ConfigError):
            create_adapter(AdapterContext(**base, credentials=CREDENTIALS, options=options))
