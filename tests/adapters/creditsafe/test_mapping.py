"""Creditsafe wire -> domain mapping, and the criteria-set rules (pure)."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tci_adapters.creditsafe.criteria import (
    COMBINATION_NOT_ALLOWED,
    CriteriaError,
    criteria_set,
    waterfall,
)
from tci_adapters.creditsafe.mapping import (
    DEFAULT_BANDS,
    DEFAULT_REGISTRATION_SCHEMES,
    DEFAULT_STATUS_MAP,
    band_for_score,
    map_assessment,
    map_search_company,
    map_status,
    parse_bands,
    parse_registration_schemes,
    parse_status_map,
)
from tci_adapters.creditsafe.wire import ReportReply, SearchCompany
from tci_gateway.adapters.contract import CompanyQuery, CompanyStatus
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.http.jsonexact import loads

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "creditsafe"


def fixture(name: str) -> Any:
    return loads((FIXTURES / name).read_bytes())


def candidates() -> dict[str, Any]:
    found = {}
    for rank, record in enumerate(fixture("companies_search.json")["companies"], start=1):
        mapped = map_search_company(
            SearchCompany.from_record(record),
            "creditsafe",
            rank=rank,
            statuses=DEFAULT_STATUS_MAP,
            schemes=DEFAULT_REGISTRATION_SCHEMES,
        )
        found[mapped.candidate.provider_id] = mapped
    return found


def assessment(name: str, **changes: Any) -> Any:
    reply = fixture(name)
    rating = reply["report"].get("creditScore", {}).get("currentCreditRating")
    for key, value in changes.items():
        rating[key] = value
    return map_assessment(ReportReply.from_record(reply), "creditsafe", DEFAULT_BANDS)


# -- search results ---------------------------------------------------------------------


def test_search_result_identifiers_status_and_rank() -> None:
    alpha = candidates()["GB-0-09990311"]
    candidate = alpha.candidate
    assert candidate.identifiers == (
        Identifier(Scheme.GB_CRN, "09990311"),
        Identifier(Scheme.VAT, "GB999030329"),
    )
    assert (candidate.name, candidate.country, candidate.rank) == ("ALPHA WIDGETS LIMITED", "GB", 1)
    assert (candidate.city, candidate.postcode) == ("LONDON", "EC1A 1BB")
    assert candidate.other_names == ("ALPHA WIDGETS",)
    assert candidate.status is CompanyStatus.ACTIVE and not candidate.is_site
    assert candidate.confidence is None and alpha.notes == ()


def test_invalid_vat_is_skipped_and_noted() -> None:
    mapped = candidates()["GB-0-09990428"]
    assert mapped.candidate.identifiers == (Identifier(Scheme.GB_CRN, "09990428"),)
    assert any("GB123456789" in note for note in mapped.notes)


def test_non_active_and_branch() -> None:
    found = candidates()
    assert found["GB-0-09990642"].candidate.status is CompanyStatus.INACTIVE
    branch = found["GB-1-BR999001"]
    assert branch.candidate.is_site and branch.candidate.identifiers == ()
    assert any("BR999001" in note for note in branch.notes)


def test_french_siret_gives_the_siren_and_vat_gets_its_prefix() -> None:
    candidate = candidates()["FR-X-12345678200015"].candidate
    assert candidate.identifiers == (
        Identifier(Scheme.FR_SIREN, "123456782"),
        Identifier(Scheme.VAT, "FR11123456782"),
    )


def test_unknown_country_scheme_is_noted() -> None:
    record = fixture("companies_search.json")["companies"][0]
    record.update(id="DE-X-HRB1", country="DE", regNo="HRB 1", vatNo=[])
    mapped = map_search_company(
        SearchCompany.from_record(record),
        "creditsafe",
        rank=1,
        statuses=DEFAULT_STATUS_MAP,
        schemes=DEFAULT_REGISTRATION_SCHEMES,
    )
    assert mapped.candidate.identifiers == ()
    assert "no registration scheme for country DE" in mapped.notes[0]


def test_record_without_name_is_refused() -> None:
    record = fixture("companies_search.json")["companies"][0]
    record["name"] = None
    with pytest.raises(ValueError, match="no name"):
        map_search_company(
            SearchCompany.from_record(record),
            "creditsafe",
            rank=1,
            statuses=DEFAULT_STATUS_MAP,
            schemes=DEFAULT_REGISTRATION_SCHEMES,
        )


@pytest.mark.parametrize(
    ("status", "description", "expected"),
    [
        ("Active", None, CompanyStatus.ACTIVE),
        ("NonActive", "Closed", CompanyStatus.INACTIVE),
        ("NonActive", "Dissolved", CompanyStatus.DISSOLVED),
        ("Active", "In Liquidation", CompanyStatus.DISTRESSED),
        ("Something new", None, CompanyStatus.UNKNOWN),
        (None, None, CompanyStatus.UNKNOWN),
    ],
)
def test_status_text(status: str | None, description: str | None, expected: CompanyStatus) -> None:
    assert map_status(status, description, DEFAULT_STATUS_MAP) is expected


def test_status_map_option() -> None:
    table = parse_status_map({"Something new": "distressed"})
    assert map_status("Something new", None, table) is CompanyStatus.DISTRESSED
    with pytest.raises(ValueError, match="unknown status"):
        parse_status_map({"x": "MAYBE"})


def test_registration_schemes_option() -> None:
    table = parse_registration_schemes({"de": "GB_CRN"})
    assert table["DE"] is Scheme.GB_CRN and table["FR"] is Scheme.FR_SIREN
    with pytest.raises(ValueError):
        parse_registration_schemes({"DE": "HRB"})


# -- assessments ------------------------------------------------------------------------


def test_full_report() -> None:
    result = assessment("company_report.json")
    assert result.provider_id == "GB-0-09990311"
    assert result.provider_reference == "5f1c2a7e-0c2b-4c3e-9b61-2a9d1e0f0002"
    assert (result.scale, result.band, result.score_raw) == ("A-E / 0-100", "B", "64")
    assert result.recommended_limit == Money(Decimal(25000), "GBP")
    assert isinstance(result.recommended_limit.amount, Decimal)
    assert result.as_of == date(2024, 4, 10)
    assert result.missing == ()


def test_credit_limit_given_as_text_is_recorded_as_missing() -> None:
    result = assessment("company_report_not_applicable.json")
    assert result.recommended_limit is None
    assert result.band == "E" and result.score_raw is None
    assert any(
        "creditLimit.value" in m and "Credit Limit not applicable" in m for m in result.missing
    )
    assert any("providerValue.value" in m and "Not Rated" in m for m in result.missing)


def test_failed_and_empty_credit_score() -> None:
    result = assessment("company_report_no_score.json")
    assert result.missing == ("report section creditScore failed", "creditScore")
    assert result.band is None and result.recommended_limit is None


@pytest.mark.parametrize(
    ("limit", "missing_part"),
    [
        ({"value": "25000"}, "creditLimit.currency"),
        ({"value": "25000", "currency": "XXY"}, "creditLimit.currency"),
        ({"value": "-5", "currency": "GBP"}, "negative"),
        ({"value": "25,000", "currency": "GBP"}, "not a number"),
        ({}, "not a number"),
    ],
)
def test_unusable_limits_are_missing(limit: dict[str, Any], missing_part: str) -> None:
    result = assessment("company_report.json", creditLimit=limit)
    assert result.recommended_limit is None
    assert any(missing_part in m for m in result.missing)


def test_exact_decimal_limit_and_numeric_score() -> None:
    result = assessment(
        "company_report.json",
        creditLimit={"value": Decimal("25000.50"), "currency": "eur"},
        providerValue={"value": 80},
    )
    assert result.recommended_limit == Money(Decimal("25000.50"), "EUR")
    assert result.score_raw == "80"


def test_band_from_score_when_no_common_value() -> None:
    result = assessment("company_report.json", commonValue=None, providerValue={"value": "45"})
    assert result.band == "C"
    unknown = assessment("company_report.json", commonValue="Z")
    assert unknown.band == "B"  # derived from the score, 64
    assert any("unknown band 'Z'" in m for m in unknown.missing)


def test_bands() -> None:
    assert [band_for_score(s, DEFAULT_BANDS) for s in (100, 71, 70, 30, 29, 1, 0)] == [
        "A",
        "A",
        "B",
        "C",
        "D",
        "D",
        None,
    ]
    custom = parse_bands({"A": [80, 100], "B": [0, 79], "X": None})
    assert band_for_score(75, custom) == "B"
    with pytest.raises(ValueError, match="above"):
        parse_bands({"A": [10, 1]})


def test_report_with_a_rating_object_missing() -> None:
    reply = copy.deepcopy(fixture("company_report.json"))
    reply["report"]["creditScore"] = {"latestRatingChangeDate": "2024-02-15T00:00:00Z"}
    result = map_assessment(ReportReply.from_record(reply), "creditsafe", DEFAULT_BANDS)
    assert result.missing == ("creditScore.currentCreditRating",)


# -- criteria sets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"countries", "id"}, "id"),
        ({"countries", "safeNo", "page"}, "safeNo"),
        ({"countries", "regNo", "pageSize"}, "regNo"),
        ({"countries", "vatNo"}, "vatNo"),
        ({"countries", "name", "postCode", "street"}, "name"),
        ({"countries", "tradeName", "city", "exact"}, "name"),
    ],
)
def test_one_criteria_set(params: set[str], expected: str) -> None:
    assert criteria_set(params) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"countries", "regNo", "name"},
        {"countries", "regNo", "vatNo"},
        {"countries", "id", "postCode"},
        {"countries", "postCode", "city"},
    ],
)
def test_mixed_criteria_sets_are_not_allowed(params: set[str]) -> None:
    with pytest.raises(CriteriaError, match=COMBINATION_NOT_ALLOWED):
        criteria_set(params)


def test_no_or_unknown_criteria() -> None:
    with pytest.raises(CriteriaError, match="No search criteria"):
        criteria_set({"countries", "page"})
    with pytest.raises(CriteriaError, match="Unknown search parameter"):
        criteria_set({"countries", "duns"})


def test_waterfall_steps() -> None:
    crn = parse_identifier(Scheme.GB_CRN, "09990311")
    query = CompanyQuery(country="GB", identifier=crn, name=" Alpha ", postcode="EC1A 1BB")
    assert waterfall(query) == [
        {"regNo": "09990311"},
        {"name": "Alpha", "postCode": "EC1A 1BB"},
        {"name": "Alpha"},
    ]
    vat = CompanyQuery(country="GB", identifier=parse_identifier(Scheme.VAT, "GB999030329"))
    assert waterfall(vat) == [{"vatNo": "GB999030329"}]
    lei = CompanyQuery(
        country="GB", identifier=parse_identifier(Scheme.LEI, "5299000TCIGWALPHA040")
    )
    assert waterfall(lei) == []
    for step in waterfall(CompanyQuery(country="GB", identifier=crn, name="x", city="Leeds")):
        criteria_set({"countries", *step})  # every step is exactly one set
