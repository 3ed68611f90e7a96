"""The GLEIF client and adapter: fixture payloads, the sandbox (filters, paging, parents,
rate limit) and errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import tenacity

from tci_adapters.gleif.client import GleifAdapter, NameSuggestion
from tci_adapters.gleif.plugin import PLUGIN, create_adapter
from tci_adapters.gleif.sandbox import GleifSandbox
from tci_gateway.adapters.contract import AdapterContext, CompanyQuery, CompanyStatus
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.errors import ConfigError, NotFoundError, RateLimitedError, RejectedError
from tci_gateway.http.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gleif"
ALPHA = "5299000TCIGWALPHA040"
HOLDING = "5299000TCIGWHOLD0010"
ULTIMATE = "5299000TCIGWBETA0052"


def make(
    handler: Callable[[httpx.Request], httpx.Response],
    retry: RetryPolicy,
    base_url: str = "https://api.gleif.invalid/api/v1",
    **options: object,
) -> GleifAdapter:
    return create_adapter(
        AdapterContext(
            name="gleif",
            base_url=base_url,
            environment="test",
            credentials={},
            options=options,
            retry=retry,
            transport=httpx.MockTransport(handler),
        )
    )


class FixtureServer:
    """Answers routes with fixture files; records the requests."""

    def __init__(self, routes: dict[str, tuple[int, str]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, name = self.routes.get(request.url.path, (404, "error_not_found.json"))
        content = (FIXTURES / name).read_bytes()
        return httpx.Response(
            status, headers={"Content-Type": "application/vnd.api+json"}, content=content
        )


# -- against recorded-shape payloads ----------------------------------------------------


def test_get_company_reads_record_and_both_parents(retry: RetryPolicy) -> None:
    base = "/api/v1/lei-records/" + ALPHA
    server = FixtureServer(
        {
            base: (200, "lei_record.json"),
            base + "/direct-parent": (200, "direct_parent.json"),
            base + "/ultimate-parent": (200, "ultimate_parent.json"),
        }
    )
    adapter = make(server, retry)
    found = adapter.get_company(ALPHA)
    assert found is not None
    assert found.direct_parent == Identifier(Scheme.LEI, HOLDING)
    assert found.ultimate_parent == Identifier(Scheme.LEI, ULTIMATE)
    assert Identifier(Scheme.GB_CRN, "09990311") in found.identifiers
    assert [r.url.path for r in server.requests] == [
        base,
        base + "/direct-parent",
        base + "/ultimate-parent",
    ]


def test_missing_parents_are_none(retry: RetryPolicy) -> None:
    server = FixtureServer({"/api/v1/lei-records/" + ALPHA: (200, "lei_record.json")})
    found = make(server, retry).get_company(ALPHA)
    assert found is not None and found.direct_parent is None and found.ultimate_parent is None


def test_unknown_lei_is_none_and_malformed_lei_refused(retry: RetryPolicy) -> None:
    adapter = make(FixtureServer({}), retry)
    assert adapter.get_company(ALPHA) is None
    with pytest.raises(RejectedError):
        adapter.get_company("not-an-lei")


def test_name_search_reads_every_record_with_ranks(retry: RetryPolicy) -> None:
    server = FixtureServer({"/api/v1/lei-records": (200, "lei_records_search.json")})
    found = make(server, retry).search_companies(CompanyQuery(country="GB", name="alpha"))
    assert [c.rank for c in found] == list(range(1, 10))
    params = server.requests[0].url.params
    assert params["filter[fulltext]"] == "alpha"
    assert params["filter[entity.legalAddress.country]"] == "GB"
    assert (params["page[size]"], params["page[number]"]) == ("10", "1")
    by_id = {c.provider_id: c for c in found}
    assert by_id["5299000TCIGWOLDCO039"].status is CompanyStatus.DISSOLVED
    assert by_id["5299000TCIGWBRNCH029"].is_site


def test_error_envelope_is_parsed(retry: RetryPolicy) -> None:
    server = FixtureServer({"/api/v1/lei-records": (404, "error_not_found.json")})
    adapter = make(server, retry)
    with pytest.raises(NotFoundError) as caught:
        adapter.client.request("GET", "/lei-records")
    assert caught.value.message == "Not Found" and caught.value.code == "404"


def test_fuzzy_completions(retry: RetryPolicy) -> None:
    server = FixtureServer({"/api/v1/fuzzycompletions": (200, "fuzzycompletions.json")})
    suggestions = make(server, retry).suggest_names("alpha")
    assert suggestions == [
        NameSuggestion("ALPHA WIDGETS LIMITED", ALPHA),
        NameSuggestion("ALPHA GROUP HOLDINGS PLC", HOLDING),
        NameSuggestion("ALPHA WIDGETS", None),
    ]
    assert dict(server.requests[0].url.params) == {"field": "entity.legalName", "q": "alpha"}


# -- against the sandbox ----------------------------------------------------------------


def test_search_by_company_number_uses_the_crosswalk(
    adapter: GleifAdapter, sandbox: GleifSandbox
) -> None:
    query = CompanyQuery(country="GB", identifier=parse_identifier(Scheme.GB_CRN, "9990311"))
    found = adapter.search_companies(query)
    assert [c.provider_id for c in found] == [ALPHA]
    assert sandbox.received[("GET", "/lei-records")] == 1


def test_same_number_in_another_register_is_not_a_match(
    adapter: GleifAdapter, sandbox: GleifSandbox
) -> None:
    # The Scottish company's number under another authority code is not this company.
    sandbox.records["5299000TCIGWDELTA069"]["attributes"]["entity"]["registeredAt"]["id"] = (
        "RA000001"
    )
    query = CompanyQuery(country="GB", identifier=parse_identifier(Scheme.GB_CRN, "SC999031"))
    assert adapter.search_companies(query) == []


def test_search_by_lei_and_by_siren(adapter: GleifAdapter) -> None:
    by_lei = CompanyQuery(country="GB", identifier=parse_identifier(Scheme.LEI, ALPHA))
    assert [c.provider_id for c in adapter.search_companies(by_lei)] == [ALPHA]
    siren = CompanyQuery(country="FR", identifier=parse_identifier(Scheme.FR_SIREN, "123456782"))
    assert [c.provider_id for c in adapter.search_companies(siren)] == ["9695000TCIGWFRANC069"]


def test_identifier_then_name(adapter: GleifAdapter) -> None:
    query = CompanyQuery(
        country="GB", identifier=parse_identifier(Scheme.GB_CRN, "09990999"), name="alpha widgets"
    )
    assert [c.provider_id for c in adapter.search_companies(query)] == [ALPHA]
    duns = CompanyQuery(
        country="GB", identifier=parse_identifier(Scheme.DUNS, "219900101"), name="alpha widgets"
    )
    assert [c.provider_id for c in adapter.search_companies(duns)] == [ALPHA]


def test_unsupported_queries_are_refused(adapter: GleifAdapter) -> None:
    with pytest.raises(RejectedError, match="DUNS"):
        adapter.search_companies(
            CompanyQuery(country="GB", identifier=parse_identifier(Scheme.DUNS, "219900101"))
        )
    with pytest.raises(RejectedError, match="name"):
        adapter.search_companies(CompanyQuery(country="GB"))
    with pytest.raises(RejectedError, match="country"):
        adapter.search_companies(CompanyQuery(country="XX", name="alpha"))


def test_legal_name_mode(sandbox: GleifSandbox, retry: RetryPolicy) -> None:
    adapter = make(sandbox.handle, retry, name_search="legalName")
    assert adapter.search_companies(CompanyQuery(country="GB", name="alpha")) == []
    found = adapter.search_companies(CompanyQuery(country="GB", name="Alpha Widgets Limited"))
    assert [c.provider_id for c in found] == [ALPHA]


def test_paging_follows_pages_up_to_max_pages(sandbox: GleifSandbox, retry: RetryPolicy) -> None:
    adapter = make(sandbox.handle, retry, page_size=2, max_pages=10)
    found = adapter.search_companies(CompanyQuery(country="GB", name="limited"))
    assert len(found) == 5  # five GB records have "limited" in their name
    assert [c.rank for c in found] == [1, 2, 3, 4, 5]
    assert sandbox.received[("GET", "/api/v1/lei-records")] == 3
    few = make(sandbox.handle, retry, page_size=2, max_pages=1)
    assert len(few.search_companies(CompanyQuery(country="GB", name="limited"))) == 2


def test_parents_from_the_sandbox(adapter: GleifAdapter) -> None:
    assert adapter.parents(ALPHA) == (HOLDING, ULTIMATE)
    assert adapter.parents(ULTIMATE) == (None, None)
    found = adapter.lookup(ALPHA)
    assert found is not None and found.candidate.ultimate_parent == Identifier(Scheme.LEI, ULTIMATE)


def test_parents_in_search(sandbox: GleifSandbox, retry: RetryPolicy) -> None:
    adapter = make(sandbox.handle, retry, parents_in_search=True)
    query = CompanyQuery(country="GB", identifier=parse_identifier(Scheme.GB_CRN, "09990311"))
    (found,) = adapter.search_companies(query)
    assert found.direct_parent == Identifier(Scheme.LEI, HOLDING)


def test_lookup_reports_stale_records(adapter: GleifAdapter) -> None:
    found = adapter.lookup("213800TCIGWLAPSE0015")
    assert found is not None and found.stale and found.candidate.status is CompanyStatus.ACTIVE


def test_assess_is_none(adapter: GleifAdapter) -> None:
    assert not adapter.capabilities.assessment
    assert adapter.assess(ALPHA) is None


def test_sandbox_rate_limit_answers_429_with_retry_after(sandbox: GleifSandbox) -> None:
    limited = GleifSandbox.from_seed(FIXTURES / "seed.json", clock=sandbox.clock, rate_limit=3)
    calls: list[float] = []
    policy = RetryPolicy(wait=tenacity.wait_none(), sleep=calls.append, max_attempts=3)
    adapter = make(limited.handle, policy)
    assert adapter.get_company(ALPHA) is not None  # three calls: the record and two parents
    with pytest.raises(RateLimitedError) as caught:  # the clock never moves: 429 until the end
        adapter.get_company(ALPHA)
    assert caught.value.retry_after == 60.0 and caught.value.status == 429
    assert calls and all(wait == 60.0 for wait in calls)


def test_rate_limited_call_succeeds_once_the_window_passes(sandbox: GleifSandbox) -> None:
    limited = GleifSandbox.from_seed(FIXTURES / "seed.json", clock=sandbox.clock, rate_limit=1)
    policy = RetryPolicy(wait=tenacity.wait_none(), sleep=limited.advance)  # waiting moves time
    adapter = make(limited.handle, policy)
    query = CompanyQuery(country="GB", name="alpha widgets")
    assert adapter.search_companies(query)
    assert adapter.search_companies(query)  # 429 first, then served after Retry-After
    assert limited.received[("GET", "/api/v1/lei-records")] == 3


def test_sandbox_refuses_unknown_filters_and_big_pages(adapter: GleifAdapter) -> None:
    with pytest.raises(RejectedError, match="Unsupported parameter"):
        adapter.client.request("GET", "/lei-records", params={"filter[bic]": "X"})
    with pytest.raises(RejectedError, match="page"):
        adapter.client.request("GET", "/lei-records", params={"page[size]": "500"})
    with pytest.raises(NotFoundError):
        adapter.client.request("GET", "/nowhere")


def test_options_are_checked() -> None:
    context = AdapterContext(
        name="gleif", base_url=PLUGIN.sandbox_base_url, environment="t", credentials={}
    )
    for options in ({"page_size": 0}, {"name_search": "soundex"}, {"max_pages": True}):
        with pytest.raises(ConfigError):
            create_adapter(AdapterContext(**{**context.__dict__, "options": options}))
    with pytest.raises(ConfigError, match="RA code"):
        create_adapter(
            AdapterContext(
                **{**context.__dict__, "options": {"registration_authorities": {"x": 1}}}
            )
        )
    with pytest.raises(ConfigError, match="not a URL"):
        create_adapter(AdapterContext(**{**context.__dict__, "base_url": "ftp://x"}))
