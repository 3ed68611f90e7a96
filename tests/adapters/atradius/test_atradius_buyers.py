"""Atradius buyers: countries, identifiers (both ways) and buyer records."""

from __future__ import annotations

from pathlib import Path

import pytest

from tci_adapters.atradius.mapping import (
    MappingError,
    alpha2,
    alpha3,
    identifier_to_uid,
    map_buyer,
    map_identifier,
)
from tci_adapters.atradius.wire import Buyer, UniqueIdentifier
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.http.jsonexact import loads

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "atradius"


def test_countries() -> None:
    assert alpha2("FRA") == "FR"
    assert alpha3("gb") == "GBR"
    with pytest.raises(MappingError):
        alpha2("XXX")


@pytest.mark.parametrize(
    ("uid", "uid_type", "country", "expected"),
    [
        ("11123456782", "VAT", "FR", Identifier(Scheme.VAT, "FR11123456782")),
        ("FR 11 123 456 782", "VAT", "FR", Identifier(Scheme.VAT, "FR11123456782")),
        ("094259216", "VAT", "GR", Identifier(Scheme.VAT, "EL094259216")),
        ("123456782", "SN", "FR", Identifier(Scheme.FR_SIREN, "123456782")),
        ("123456782", "CR", "FR", Identifier(Scheme.FR_SIREN, "123456782")),
        ("1234567", "CR", "GB", Identifier(Scheme.GB_CRN, "01234567")),
        ("SC123456", "NRN", "GB", Identifier(Scheme.GB_CRN, "SC123456")),
        ("123-456-789", "DB", "DE", Identifier(Scheme.DUNS, "123456789")),
        ("HRB 12345", "CR", "DE", None),  # no German registration scheme in the domain
        ("FR00123456782", "VAT", "FR", None),  # bad check digits: skipped
        ("123", "DB", "FR", None),
        ("ZX-99", "FC", "IT", None),
        ("12345", "TK", "TR", None),
    ],
)
def test_identifiers(uid: str, uid_type: str, country: str, expected: Identifier | None) -> None:
    assert map_identifier(UniqueIdentifier(uid=uid, uidType=uid_type), country) == expected


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        (parse_identifier(Scheme.VAT, "FR11123456782"), ("FR11123456782", "VAT")),
        (parse_identifier(Scheme.FR_SIREN, "123456782"), ("123456782", "SN")),
        (parse_identifier(Scheme.DUNS, "123456789"), ("123456789", "DB")),
        (parse_identifier(Scheme.GB_CRN, "01234567"), ("01234567", "CR")),
        (parse_identifier(Scheme.LEI, "529900T8BM49AURSDO55"), None),
        (parse_identifier(Scheme.INSURER, "20001", "atradius"), None),
    ],
)
def test_identifier_to_uid(identifier: Identifier, expected: tuple[str, str] | None) -> None:
    assert identifier_to_uid(identifier) == expected


def test_buyer_from_the_fixture() -> None:
    record = loads((FIXTURES / "buyers_search.json").read_bytes())["data"][0]
    match = map_buyer(Buyer.from_record(record), "atradius")
    assert match.insurer == "atradius"
    assert match.insurer_buyer_id == "20001"
    assert match.country == "FR"
    assert match.rating == "62"
    assert match.identifiers == (
        Identifier(Scheme.VAT, "FR11123456782"),
        Identifier(Scheme.FR_SIREN, "123456782"),
        Identifier(Scheme.DUNS, "123456789"),
    )
