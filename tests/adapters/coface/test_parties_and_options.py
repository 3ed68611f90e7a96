"""Coface companies, identifiers (both ways), countries, policies, and the adapter
options that make every uncertain fact configurable."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tci_adapters.coface.mapping import (
    IdentifierTable,
    MappingError,
    country_alpha2,
    country_param,
    map_company,
    map_policy,
)
from tci_adapters.coface.options import (
    DEFAULT_IDENTIFIER_TYPES,
    DEFAULT_PATHS,
    CofaceOptions,
    Paths,
)
from tci_adapters.coface.wire import Company, PolicyRecord
from tci_gateway.adapters.contract import CoverAction, OverdueKind
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.errors import ConfigError
from tci_gateway.http.jsonexact import loads

from .helpers import FIXTURES

TABLE = IdentifierTable(DEFAULT_IDENTIFIER_TYPES)


def test_countries() -> None:
    assert country_alpha2("FRA") == "FR"
    assert country_alpha2("gb") == "GB"
    assert country_param("FR") == "FRA"
    assert country_param("fr", "alpha2") == "FR"
    with pytest.raises(MappingError):
        country_alpha2("XXX")
    with pytest.raises(MappingError):
        country_param("ZZ")


@pytest.mark.parametrize(
    ("kind", "value", "country", "expected"),
    [
        ("VAT", "11123456782", "FR", Identifier(Scheme.VAT, "FR11123456782")),
        ("VAT", "FR 11 123 456 782", "FR", Identifier(Scheme.VAT, "FR11123456782")),
        ("vat", "094259216", "GR", Identifier(Scheme.VAT, "EL094259216")),
        ("SIREN", "123 456 782", "FR", Identifier(Scheme.FR_SIREN, "123456782")),
        ("CRN", "1234567", "GB", Identifier(Scheme.GB_CRN, "01234567")),
        ("USCC", "9132050012345678X2", "CN", Identifier(Scheme.CN_USCC, "9132050012345678X2")),
        ("DUNS", "123-456-789", "DE", Identifier(Scheme.DUNS, "123456789")),
        ("LEI", "529900T8BM49AURSDO55", "GB", Identifier(Scheme.LEI, "529900T8BM49AURSDO55")),
        ("SIRET", "12345678200010", "FR", None),  # a site, not a legal entity
        ("SIREN", "12345678200010", "FR", None),  # a SIRET given as SIREN is refused
        ("VAT", "FR00123456782", "FR", None),  # bad check digits: skipped
        ("RUC_ECU", "1790012345001", "EC", None),  # no domain scheme
    ],
)
def test_identifiers_from_coface(
    kind: str, value: str, country: str, expected: Identifier | None
) -> None:
    assert TABLE.from_coface(kind, value, country) == expected


def test_one_type_for_several_schemes_prefers_the_country_registration() -> None:
    table = IdentifierTable({Scheme.GB_CRN: "REG", Scheme.FR_SIREN: "REG", Scheme.VAT: "VAT"})
    assert table.from_coface("REG", "123456782", "FR") == Identifier(Scheme.FR_SIREN, "123456782")
    assert table.from_coface("REG", "SC123456", "GB") == Identifier(Scheme.GB_CRN, "SC123456")
    # elsewhere the first scheme whose validation passes
    assert table.from_coface("REG", "123456782", "DE") == Identifier(Scheme.FR_SIREN, "123456782")
    assert table.from_coface("REG", "not-a-number", "DE") is None


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        (parse_identifier(Scheme.VAT, "FR11123456782"), ("VAT", "FR11123456782")),
        (parse_identifier(Scheme.FR_SIREN, "123456782"), ("SIREN", "123456782")),
        (parse_identifier(Scheme.GB_CRN, "01234567"), ("CRN", "01234567")),
        (parse_identifier(Scheme.CN_USCC, "9132050012345678X2"), ("USCC", "9132050012345678X2")),
        (parse_identifier(Scheme.DUNS, "123456789"), ("DUNS", "123456789")),
        (parse_identifier(Scheme.LEI, "529900T8BM49AURSDO55"), ("LEI", "529900T8BM49AURSDO55")),
        (parse_identifier(Scheme.INSURER, "71234567", "coface"), None),
    ],
)
def test_identifiers_to_coface(identifier: Identifier, expected: tuple[str, str] | None) -> None:
    assert TABLE.to_coface(identifier) == expected


def test_company_from_the_fixture() -> None:
    record = loads((FIXTURES / "companies_identifier.json").read_bytes())["companies"][0]
    match = map_company(Company.from_record(record), "coface", TABLE)
    assert match.insurer == "coface"
    assert match.insurer_buyer_id == "71234567"  # a JSON number on the wire
    assert match.name == "Exemple Industries SAS"
    assert match.country == "FR"
    assert match.identifiers == (
        Identifier(Scheme.VAT, "FR11123456782"),
        Identifier(Scheme.FR_SIREN, "123456782"),
        Identifier(Scheme.DUNS, "123456789"),
    )


def test_company_country_from_the_top_level_or_missing() -> None:
    top = Company.from_record({"easyNumber": "1", "companyName": "X", "countryCode": "DEU"})
    assert map_company(top, "coface", TABLE).country == "DE"
    nowhere = Company.from_record({"easyNumber": "1", "companyName": "X"})
    with pytest.raises(MappingError, match="no country"):
        map_company(nowhere, "coface", TABLE)


def test_policy_from_the_fixture() -> None:
    info = map_policy(PolicyRecord.from_record(loads((FIXTURES / "policy.json").read_bytes())))
    assert (info.policy_number, info.currency, info.status) == ("1234567", "EUR", "ACTIVE")
    assert (info.start, info.end) == (date(2024, 1, 1), date(2024, 12, 31))
    with pytest.raises(MappingError):
        map_policy(PolicyRecord.from_record({"policyNumber": "1", "currency": "EURO"}))


# -- options ----------------------------------------------------------------------------


def test_default_options() -> None:
    options = CofaceOptions.parse({})
    assert dict(options.paths.templates) == dict(DEFAULT_PATHS)
    assert options.paths["token"] == "/authentication/v1/token"
    assert options.token_field == "idToken" and options.auth_scheme == ""
    assert options.api_key_header == "x-api-key"
    assert options.policy_header == "x-cof-policy-number"
    assert options.page_limit == 20
    assert options.actions[CoverAction.INCREASE] == "UPDATE"
    assert CoverAction.RENEW not in options.actions
    assert dict(options.overdue_types) == {OverdueKind.OVERDUE: "OVERDUE"}


def test_options_override_the_synthetic_defaults() -> None:
    options = CofaceOptions.parse(
        {
            "paths": {"portfolio": "/v2/contracts/{policy_number}/limits"},
            "policy_number": " 1234567 ",
            "token_field": "accessToken",
            "auth_scheme": "Bearer",
            "identifier_types": {"fr_siren": "SIREN_FR", "LEI": ""},
            "actions": {"renew": "ORDER", "cancel": "STOP"},
            "overdue_types": {"EXTENSION_REQUEST": "EXTENSION"},
            "page_limit": 5,
        }
    )
    assert options.paths.format("portfolio", policy_number="A/1") == "/v2/contracts/A%2F1/limits"
    assert options.paths["token"] == DEFAULT_PATHS["token"]
    assert options.policy_number == "1234567"
    assert options.identifier_types[Scheme.FR_SIREN] == "SIREN_FR"
    assert Scheme.LEI not in options.identifier_types
    assert options.actions[CoverAction.RENEW] == "ORDER"
    assert options.actions[CoverAction.CANCEL] == "STOP"
    assert options.overdue_types[OverdueKind.EXTENSION_REQUEST] == "EXTENSION"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"pathz": {}}, "unknown option"),
        ({"paths": {"nope": "/x"}}, "unknown name"),
        ({"paths": {"token": "token"}}, "starting with /"),
        ({"paths": {"token": "/t?x=1"}}, "starting with /"),
        ({"paths": {"portfolio": "/policies/credit-limits"}}, "policy_number"),
        ({"paths": {"orders": "/orders/{order_id}"}}, "no placeholder"),
        ({"paths": {"order": "/orders/{order_id!r}"}}, "bad placeholder"),
        ({"token_field": "jwt"}, "token_field"),
        ({"country_format": "numeric"}, "country_format"),
        ({"auth_scheme": "Bearer x"}, "auth_scheme"),
        ({"page_limit": 0}, "page_limit"),
        ({"page_limit": "20"}, "page_limit"),
        ({"identifier_types": {"SIRET": "SIRET"}}, "identifier_types"),
        ({"actions": {"NEW": "ORDER NOW"}}, "not a code"),
        ({"overdue_types": ["OVERDUE"]}, "must be a table"),
        ({"overdue_statuses": {"FILED": "DONE"}}, "overdue_statuses"),
        ({"policy_header": "x cof"}, "header"),
    ],
)
def test_bad_options_are_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CofaceOptions.parse(raw)


def test_path_patterns_match_formatted_paths() -> None:
    paths = Paths.parse({"order": "/p/orders/{order_id}/view"})
    match = paths.pattern("order").fullmatch(paths.format("order", order_id="8000102"))
    assert match is not None and match["order_id"] == "8000102"
    assert paths.pattern("order").fullmatch("/p/orders/a/b/view") is None
