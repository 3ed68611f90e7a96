"""D&B wire -> domain mapping: match quality kept raw, the registration-number crosswalk,
sites and parents, empty blocks recorded as missing, the error envelope (pure)."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tci_adapters.dnb.auth import parse_envelope
from tci_adapters.dnb.mapping import (
    DEFAULT_PAYDEX_PATH,
    DEFAULT_REGISTRATION_TYPES,
    dig,
    map_assessment,
    map_match_candidate,
    map_organization,
    parse_registration_types,
)
from tci_adapters.dnb.wire import DataReply, MatchCandidate
from tci_gateway.adapters.contract import CompanyStatus
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.domain.money import Money
from tci_gateway.http.jsonexact import loads

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "dnb"
TABLE = DEFAULT_REGISTRATION_TYPES


def fixture(name: str) -> Any:
    return loads((FIXTURES / name).read_bytes())


def organization(name: str) -> Any:
    reply = DataReply.from_record(fixture(name))
    return map_organization(reply.organization, "dnb", TABLE)


def assess(payload: Any, path: str = DEFAULT_PAYDEX_PATH) -> Any:
    return map_assessment(DataReply.from_record(payload), "dnb", path)


# -- match candidates -------------------------------------------------------------------


def test_confidence_code_and_match_grade_are_kept_raw() -> None:
    items = fixture("cleanse_match.json")["matchCandidates"]
    first = map_match_candidate(MatchCandidate.from_record(items[0]), "dnb", TABLE).candidate
    assert (first.confidence, first.match_grade, first.rank) == (9, "AZZAZZZAZZF", 1)
    assert first.provider_id == "219900311" and not first.is_site
    second = map_match_candidate(MatchCandidate.from_record(items[1]), "dnb", TABLE).candidate
    assert (second.confidence, second.match_grade, second.rank) == (6, "AZZFZZZFZZF", 2)


def test_branch_candidate_is_a_site_with_its_headquarters_as_parent() -> None:
    items = fixture("cleanse_match.json")["matchCandidates"]
    branch = map_match_candidate(MatchCandidate.from_record(items[1]), "dnb", TABLE).candidate
    assert branch.is_site
    assert branch.direct_parent == Identifier(Scheme.DUNS, "219900311")
    assert branch.ultimate_parent == Identifier(Scheme.DUNS, "319900535")


def test_candidate_with_a_bad_duns_is_refused() -> None:
    items = fixture("cleanse_match.json")["matchCandidates"]
    with pytest.raises(ValueError, match="invalid DUNS"):
        map_match_candidate(MatchCandidate.from_record(items[2]), "dnb", TABLE)


# -- organizations ----------------------------------------------------------------------


def test_full_organization_identifiers_parents_and_status() -> None:
    mapped = organization("data_full.json")
    candidate = mapped.candidate
    assert candidate.identifiers == (
        Identifier(Scheme.DUNS, "219900311"),
        Identifier(Scheme.GB_CRN, "09990311"),
        Identifier(Scheme.VAT, "GB999030329"),  # the GB prefix added
    )
    assert any("12345" in note for note in mapped.notes)  # an invalid VAT number, skipped
    assert candidate.direct_parent == Identifier(Scheme.DUNS, "219900428")
    assert candidate.ultimate_parent == Identifier(Scheme.DUNS, "319900535")
    assert candidate.other_names == ("ALPHA WIDGETS",)
    assert candidate.status is CompanyStatus.ACTIVE
    assert (candidate.city, candidate.postcode) == ("LONDON", "EC1A 1BB")
    assert not candidate.is_site


def test_branch_duns_is_marked_as_a_site() -> None:
    candidate = organization("data_branch.json").candidate
    assert candidate.is_site
    assert candidate.direct_parent == Identifier(Scheme.DUNS, "219900311")


def test_headquarters_alone_marks_a_site() -> None:
    payload = fixture("data_branch.json")
    payload["organization"]["corporateLinkage"]["familytreeRolesPlayed"] = []
    reply = DataReply.from_record(payload)
    assert map_organization(reply.organization, "dnb", TABLE).candidate.is_site


def test_global_ultimate_of_itself_is_not_a_parent() -> None:
    payload = fixture("data_full.json")
    payload["organization"]["corporateLinkage"] = {"globalUltimate": {"duns": "219900311"}}
    candidate = map_organization(DataReply.from_record(payload).organization, "dnb", TABLE)
    assert candidate.candidate.ultimate_parent is None
    assert candidate.candidate.direct_parent is None


def test_crosswalk_by_dnb_code_and_by_description() -> None:
    assert (
        Identifier(Scheme.CN_USCC, "91310000999900011P")
        in organization("data_crosswalk.json").candidate.identifiers
    )
    french = organization("data_siret.json").candidate  # "SIRET Number (FR)": a site number
    assert french.identifiers == (
        Identifier(Scheme.DUNS, "519900979"),
        Identifier(Scheme.FR_SIREN, "123456782"),
    )


def test_unknown_registration_types_are_skipped() -> None:
    candidate = organization("data_empty_blocks.json").candidate  # Handelsregisternummer
    assert candidate.identifiers == (Identifier(Scheme.DUNS, "319900757"),)


def test_registration_type_table_is_configurable() -> None:
    table = parse_registration_types({"6867": None, "Handelsregister": None, "2541": None})
    assert "2541" not in table
    payload = fixture("data_full.json")
    mapped = map_organization(DataReply.from_record(payload).organization, "dnb", table)
    # 2541 dropped, but its description still matches "companies registry office number"
    assert Identifier(Scheme.GB_CRN, "09990311") in mapped.candidate.identifiers
    custom = parse_registration_types({"companies registry office number": None, "2541": None})
    mapped = map_organization(DataReply.from_record(payload).organization, "dnb", custom)
    assert Identifier(Scheme.GB_CRN, "09990311") not in mapped.candidate.identifiers
    with pytest.raises(ValueError, match="unknown scheme"):
        parse_registration_types({"6867": "HRB"})


# -- assessments ------------------------------------------------------------------------


def test_full_assessment() -> None:
    result = assess(fixture("data_full.json"))
    assert result.provider_id == "219900311"
    assert result.provider_reference == "rrt-0000000000000002"
    assert (result.score_raw, result.failure_score, result.band) == ("2", "81", "3A2")
    assert result.paydex == 78
    assert result.recommended_limit == Money(Decimal(25000), "GBP")
    assert result.as_of == date(2024, 3, 20)
    assert result.missing == ()


def test_empty_blocks_are_recorded_as_missing() -> None:
    result = assess(fixture("data_empty_blocks.json"))
    assert result.missing == (
        "block paymentinsight_L1_v1: Not Entitled (Data not available for this country)",
        "dnbAssessment.failureScore",
        "dnbAssessment.delinquencyScore",
        "dnbAssessment.standardRating",
        "dnbAssessment.creditLimitRecommendation.maximumRecommendedLimit",
        f"paydex ({DEFAULT_PAYDEX_PATH})",
    )
    assert result.recommended_limit is None and result.paydex is None
    assert result.score_raw is None and result.band is None
    assert result.as_of == date(2024, 4, 10)  # from the transaction timestamp


def test_whole_assessment_object_empty() -> None:
    payload = fixture("data_full.json")
    payload["organization"]["dnbAssessment"] = {}
    result = assess(payload)
    assert "dnbAssessment" in result.missing and result.paydex == 78


@pytest.mark.parametrize(
    ("limit", "part"),
    [
        ({"value": "n/a", "currency": "GBP"}, "not an amount"),
        ({"value": -1, "currency": "GBP"}, "not an amount"),
        ({"value": 1000, "currency": "POUNDS"}, "currency"),
        ({"value": 1000}, "currency"),
    ],
)
def test_unusable_limits(limit: dict[str, Any], part: str) -> None:
    payload = fixture("data_full.json")
    recommendation = payload["organization"]["dnbAssessment"]["creditLimitRecommendation"]
    recommendation["maximumRecommendedLimit"] = limit
    result = assess(payload)
    assert result.recommended_limit is None
    assert any(part in m for m in result.missing)


def test_exact_decimal_limit() -> None:
    payload = fixture("data_full.json")
    recommendation = payload["organization"]["dnbAssessment"]["creditLimitRecommendation"]
    recommendation["maximumRecommendedLimit"] = {"value": Decimal("1234.56"), "currency": "usd"}
    assert assess(payload).recommended_limit == Money(Decimal("1234.56"), "USD")


def test_paydex_out_of_range_and_other_path() -> None:
    payload = fixture("data_full.json")
    payload["organization"]["businessTrading"][0]["summary"][0]["paydexScore"] = 120
    result = assess(payload)
    assert result.paydex is None and any("0-100" in m for m in result.missing)
    payload = copy.deepcopy(fixture("data_full.json"))
    payload["organization"]["businessTrading"] = [{"paydex": {"score": 55}}]
    assert assess(payload, "businessTrading.0.paydex.score").paydex == 55


def test_dig() -> None:
    data = {"a": [{"b": 1}]}
    assert dig(data, "a.0.b") == 1
    assert dig(data, "a.5.b") is None and dig(data, "a.0.b.c") is None


# -- errors -----------------------------------------------------------------------------


def test_error_envelope_into_fields() -> None:
    parsed, transaction = parse_envelope(fixture("error_envelope.json"), "x")
    assert parsed.code == "00004"
    assert parsed.message == "User is not entitled to the requested data"
    assert parsed.details == [
        "blockIDs: paymentinsight_L3_v1 is not part of the contract",
        "Contact your D&B representative",
    ]
    assert transaction == "rrt-0000000000000007"
    expired, _ = parse_envelope(fixture("error_expired_token.json"), "x")
    assert expired.code == "00040"
