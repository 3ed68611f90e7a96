"""GLEIF wire -> domain mapping: the crosswalk table, statuses, sites, parents, notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tci_adapters.gleif.mapping import (
    DEFAULT_AUTHORITIES,
    crosswalk,
    map_record,
    parse_authorities,
)
from tci_adapters.gleif.wire import LeiRecord
from tci_gateway.adapters.contract import CompanyStatus
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.http.jsonexact import loads

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gleif"


def fixture(name: str) -> Any:
    return loads((FIXTURES / name).read_bytes())


def records() -> dict[str, LeiRecord]:
    data = fixture("lei_records_search.json")["data"]
    return {item["id"]: LeiRecord.from_record(item) for item in data}


def mapped(lei: str, **kwargs: Any) -> Any:
    return map_record(records()[lei], "gleif", DEFAULT_AUTHORITIES, **kwargs)


def test_every_search_record_maps() -> None:
    for record in records().values():
        result = map_record(record, "gleif", DEFAULT_AUTHORITIES)
        assert result.candidate.provider_id == record.id
        assert result.candidate.identifiers[0] == Identifier(Scheme.LEI, record.id)
        assert record.raw.startswith('{"type":"lei-records"')


def test_ra000585_crosswalks_to_a_gb_company_number() -> None:
    result = mapped("5299000TCIGWALPHA040")
    candidate = result.candidate
    assert candidate.identifiers == (
        parse_identifier(Scheme.LEI, "5299000TCIGWALPHA040"),
        parse_identifier(Scheme.GB_CRN, "09990311"),
    )
    assert candidate.name == "ALPHA WIDGETS LIMITED"
    assert candidate.other_names == ("ALPHA WIDGETS",)
    assert (candidate.country, candidate.city, candidate.postcode) == ("GB", "LONDON", "EC1A 1BB")
    assert candidate.status is CompanyStatus.ACTIVE
    assert not candidate.is_site
    assert (result.registered_at, result.registered_as) == ("RA000585", "09990311")
    assert result.notes == ()


@pytest.mark.parametrize(
    ("lei", "expected"),
    [
        ("5299000TCIGWDELTA069", Identifier(Scheme.GB_CRN, "SC999031")),  # RA000587
        ("9695000TCIGWFRANC069", Identifier(Scheme.FR_SIREN, "123456782")),  # RA000189
        ("5299000TCIGWGAMMA065", Identifier(Scheme.FR_SIREN, "987654324")),  # RA000192 text
    ],
)
def test_other_known_authorities(lei: str, expected: Identifier) -> None:
    assert expected in mapped(lei).candidate.identifiers


def test_unknown_authority_is_kept_raw_and_skipped() -> None:
    result = mapped("5299000TCIGWINDIA075")
    assert [i.scheme for i in result.candidate.identifiers] == [Scheme.LEI]
    assert result.registered_at == "RA000754"
    assert result.registered_as == "27AAACE9999Q1Z9"
    assert any("RA000754" in note and "kept raw" in note for note in result.notes)


def test_invalid_registered_number_is_skipped_and_noted() -> None:
    result = mapped("5299000TCIGWUNKN0070")
    assert [i.scheme for i in result.candidate.identifiers] == [Scheme.LEI]
    assert any("ABC-12" in note for note in result.notes)


def test_lapsed_registration_is_stale_not_dead() -> None:
    result = mapped("213800TCIGWLAPSE0015")
    assert result.candidate.status is CompanyStatus.ACTIVE
    assert result.stale and result.registration_status == "LAPSED"
    assert any("LAPSED" in note for note in result.notes)


def test_inactive_dissolved_entity() -> None:
    result = mapped("5299000TCIGWOLDCO039")
    assert result.candidate.status is CompanyStatus.DISSOLVED
    assert not result.stale  # RETIRED is not LAPSED


def test_inactive_without_reason_is_inactive() -> None:
    record = fixture("lei_record.json")["data"]
    record["attributes"]["entity"]["status"] = "INACTIVE"
    result = map_record(LeiRecord.from_record(record), "gleif", DEFAULT_AUTHORITIES)
    assert result.candidate.status is CompanyStatus.INACTIVE


def test_branch_category_is_a_site() -> None:
    result = mapped("5299000TCIGWBRNCH029")
    assert result.candidate.is_site
    assert any("BR999001" in note for note in result.notes)  # not a GB company number


def test_parents_are_validated_leis() -> None:
    result = mapped(
        "5299000TCIGWALPHA040",
        direct_parent="5299000TCIGWHOLD0010",
        ultimate_parent="NOT-AN-LEI",
    )
    assert result.candidate.direct_parent == Identifier(Scheme.LEI, "5299000TCIGWHOLD0010")
    assert result.candidate.ultimate_parent is None


def test_record_without_name_or_country_is_refused() -> None:
    record = fixture("lei_record.json")["data"]
    record["attributes"]["entity"]["legalName"] = None
    with pytest.raises(ValueError, match="no legal name"):
        map_record(LeiRecord.from_record(record), "gleif", DEFAULT_AUTHORITIES)
    record = fixture("lei_record.json")["data"]
    record["attributes"]["entity"]["legalAddress"]["country"] = None
    record["attributes"]["entity"]["jurisdiction"] = None
    with pytest.raises(ValueError, match="no country"):
        map_record(LeiRecord.from_record(record), "gleif", DEFAULT_AUTHORITIES)


def test_authority_table_is_configurable() -> None:
    table = parse_authorities(
        {
            "ra000754": {"scheme": "CN_USCC", "register": "test", "confidence": "L"},
            "RA000585": None,
            "RA000999": "FR_SIREN",
        }
    )
    assert "RA000585" not in table
    assert table["RA000754"].scheme is Scheme.CN_USCC
    assert table["RA000999"].confidence == "L"
    entity = records()["5299000TCIGWALPHA040"].attributes.entity
    assert crosswalk(entity, table) == (
        None,
        "registration authority RA000585 is not in the crosswalk table (kept raw)",
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"XX1": "GB_CRN"}, "not an RA code"),
        ({"RA000001": "NOPE"}, "unknown scheme"),
        ({"RA000001": "VAT"}, "not a register"),
        ({"RA000001": {"scheme": "GB_CRN", "confidence": "Z"}}, "confidence"),
        (["RA000001"], "table"),
    ],
)
def test_bad_authority_tables_are_refused(option: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_authorities(option)


def test_default_table_confidence_is_marked() -> None:
    assert DEFAULT_AUTHORITIES["RA000585"].confidence == "H"
    assert {a.confidence for a in DEFAULT_AUTHORITIES.values()} <= {"H", "M", "L"}
