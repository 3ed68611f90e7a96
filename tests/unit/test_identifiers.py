"""Identifiers with a scheme, validated before they are trusted (docs/domain.md, section 2)."""

from __future__ import annotations

import pytest

from tci_gateway.domain.identifiers import (
    REGISTRATION_SCHEME_BY_COUNTRY,
    Identifier,
    IdentifierError,
    Scheme,
    parse_identifier,
)

VALID = [
    # (scheme, raw, compact form)
    (Scheme.LEI, "529900T8BM49AURSDO55", "529900T8BM49AURSDO55"),
    (Scheme.LEI, "5299 00T8 BM49 AURS DO55", "529900T8BM49AURSDO55"),
    (Scheme.LEI, "529900t8bm49aursdo55", "529900T8BM49AURSDO55"),
    (Scheme.VAT, "FR40303265045", "FR40303265045"),
    (Scheme.VAT, "fr 40 303 265 045", "FR40303265045"),
    (Scheme.VAT, "DE136695976", "DE136695976"),
    (Scheme.VAT, "GB980780684", "GB980780684"),
    (Scheme.VAT, "NL004495445B01", "NL004495445B01"),
    (Scheme.VAT, "IT00743110157", "IT00743110157"),
    (Scheme.VAT, "BE0403019261", "BE0403019261"),
    (Scheme.VAT, "ESA28015865", "ESA28015865"),
    (Scheme.VAT, "ATU13585627", "ATU13585627"),
    (Scheme.FR_SIREN, "303265045", "303265045"),
    (Scheme.FR_SIREN, "303 265 045", "303265045"),
    (Scheme.FR_SIREN, "303.265.045", "303265045"),
    (Scheme.CN_USCC, "91110000600037341L", "91110000600037341L"),
    (Scheme.GB_CRN, "SC123456", "SC123456"),
    (Scheme.GB_CRN, "sc123456", "SC123456"),
    (Scheme.GB_CRN, "NI012345", "NI012345"),
    (Scheme.GB_CRN, "OC301234", "OC301234"),
    (Scheme.GB_CRN, "00445790", "00445790"),
    (Scheme.GB_CRN, "445790", "00445790"),  # leading zeros lost by a spreadsheet
    (Scheme.GB_CRN, "1234567", "01234567"),
    (Scheme.GB_CRN, "0123 4567", "01234567"),
    (Scheme.DUNS, "150483782", "150483782"),
    (Scheme.DUNS, "15-048-3782", "150483782"),
    (Scheme.DUNS, "15 048 3782", "150483782"),
]


@pytest.mark.parametrize(("scheme", "raw", "compact"), VALID)
def test_valid_identifiers_come_back_compact(scheme: Scheme, raw: str, compact: str) -> None:
    ident = parse_identifier(scheme, raw)
    assert ident == Identifier(scheme, compact)
    assert ident.issuer == ""
    assert str(ident) == f"{scheme}:{compact}"


def test_scheme_may_be_given_as_text() -> None:
    assert parse_identifier("LEI", "529900T8BM49AURSDO55").scheme is Scheme.LEI


# "12345678" and "123456789" in full-width digits, which str.isdigit and \\d accept
FULL_WIDTH_8 = "".join(chr(0xFF10 + int(c)) for c in "12345678")
FULL_WIDTH_9 = "".join(chr(0xFF10 + int(c)) for c in "123456789")

INVALID = [
    # (scheme, raw, words the reason must contain)
    (Scheme.LEI, "529900T8BM49AURSDO56", "checksum"),
    (Scheme.LEI, "529900T8BM49AURSDO5", "LEI"),
    (Scheme.VAT, "FR41303265045", "check"),  # bad key
    (Scheme.VAT, "DE136695977", "check"),
    (Scheme.VAT, "GB980780685", "check"),
    (Scheme.VAT, "NL004495446B01", "VAT"),
    (Scheme.VAT, "IT00743110158", "check"),
    (Scheme.VAT, "BE0403019262", "check"),
    (Scheme.VAT, "XX123456789", "VAT"),  # unknown country
    (Scheme.VAT, "303265045", "VAT"),  # no country prefix
    (Scheme.FR_SIREN, "303265046", "checksum"),
    (Scheme.FR_SIREN, "30326504", "length"),
    (Scheme.FR_SIREN, "3032650450", "SIREN"),
    (Scheme.FR_SIREN, "30326504500004", "expected 9 digits"),  # 14 digits, not a SIRET
    (Scheme.CN_USCC, "91110000600037341M", "checksum"),
    (Scheme.CN_USCC, "9111000060003734", "credit code"),
    (Scheme.GB_CRN, "XX123456", "register prefix"),
    (Scheme.GB_CRN, "123456789", "8 digits"),
    (Scheme.GB_CRN, "SC12345", "8 digits"),
    (Scheme.GB_CRN, "SC1234567", "8 digits"),
    (Scheme.GB_CRN, "0", "all zeros"),
    (Scheme.GB_CRN, "00000000", "all zeros"),
    (Scheme.GB_CRN, FULL_WIDTH_8, "8 digits"),
    (Scheme.DUNS, "12345678", "9 digits"),
    (Scheme.DUNS, "1234567890", "9 digits"),
    (Scheme.DUNS, "12345678A", "9 digits"),
    (Scheme.DUNS, "000000000", "all zeros"),
    (Scheme.DUNS, FULL_WIDTH_9, "9 digits"),
    (Scheme.LEI, "", "empty"),
    (Scheme.DUNS, "   ", "empty"),
]


@pytest.mark.parametrize(("scheme", "raw", "reason"), INVALID)
def test_invalid_identifiers_are_refused_with_a_reason(
    scheme: Scheme, raw: str, reason: str
) -> None:
    with pytest.raises(IdentifierError) as info:
        parse_identifier(scheme, raw)
    assert reason.lower() in str(info.value).lower()


def test_a_siret_is_refused_and_names_the_siren() -> None:
    with pytest.raises(IdentifierError) as info:
        parse_identifier(Scheme.FR_SIREN, "30326504500003")
    message = str(info.value)
    assert "SIRET" in message
    assert "site" in message
    assert "303265045" in message


def test_a_spaced_siret_is_refused_too() -> None:
    with pytest.raises(IdentifierError, match="use the SIREN 303265045"):
        parse_identifier(Scheme.FR_SIREN, "303 265 045 00003")


def test_insurer_ids_need_an_issuer() -> None:
    ident = parse_identifier(Scheme.INSURER, " 10023456 ", issuer="atradius")
    assert ident == Identifier(Scheme.INSURER, "10023456", "atradius")
    assert str(ident) == "INSURER/atradius:10023456"
    with pytest.raises(IdentifierError, match="insurer's name"):
        parse_identifier(Scheme.INSURER, "10023456")


@pytest.mark.parametrize("raw", ["-abc", "a b", "x" * 65, "ab\ncd", "ab;DROP"])
def test_insurer_ids_are_bounded_and_plain(raw: str) -> None:
    with pytest.raises(IdentifierError, match="atradius buyer id"):
        parse_identifier(Scheme.INSURER, raw, issuer="atradius")


def test_insurer_ids_keep_their_punctuation() -> None:
    assert parse_identifier("INSURER", "AB-12/3.4:5", issuer="coface").value == "AB-12/3.4:5"


def test_other_schemes_take_no_issuer() -> None:
    with pytest.raises(IdentifierError, match="no issuer"):
        parse_identifier(Scheme.DUNS, "150483782", issuer="atradius")


@pytest.mark.parametrize("scheme", ["SIRET", "lei", "", "IBAN"])
def test_unknown_scheme_is_refused_listing_the_known_ones(scheme: str) -> None:
    with pytest.raises(IdentifierError) as info:
        parse_identifier(scheme, "123")
    assert "unknown identifier scheme" in str(info.value)
    assert "LEI" in str(info.value) and "FR_SIREN" in str(info.value)


def test_identifiers_are_values() -> None:
    a = parse_identifier(Scheme.LEI, "529900T8BM49AURSDO55")
    b = parse_identifier(Scheme.LEI, "5299 00t8bm49aursdo55")
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    assert sorted([parse_identifier(Scheme.DUNS, "150483782"), a])[0].scheme is Scheme.DUNS


def test_registration_scheme_by_country() -> None:
    assert REGISTRATION_SCHEME_BY_COUNTRY["GB"] is Scheme.GB_CRN
    assert REGISTRATION_SCHEME_BY_COUNTRY["FR"] is Scheme.FR_SIREN
    assert REGISTRATION_SCHEME_BY_COUNTRY["CN"] is Scheme.CN_USCC
