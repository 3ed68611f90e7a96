"""Allianz adapter options: defaults, path presets, overrides and refusals."""

from __future__ import annotations

from typing import Any

import pytest

from tci_adapters.allianz.options import (
    ID_TYPE_CODES,
    PRODUCTION_PATHS,
    REQUEST_TYPE_CODES,
    UAT_PATHS,
    AllianzOptions,
    decimal_option,
    resolve_paths,
)
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.errors import ConfigError


def test_defaults() -> None:
    opts = AllianzOptions.parse({})
    assert opts == AllianzOptions()
    assert opts.paths == PRODUCTION_PATHS
    assert opts.paths["token"] == "/v1/idp/oauth2/authorize"
    assert opts.paths["covers_search"] == "/riskinfo/v3/covers/search"
    assert opts.page_size == 1000 and opts.first_page == 1
    assert opts.reference_field == "customerReference"
    assert opts.callback_url is None and opts.callback_header == "X-Callback"
    assert opts.request_type_codes["NEW"] == "Primary"
    assert opts.request_type_codes["GRADE"] == "GradeCover"
    assert opts.id_type_codes[Scheme.INSURER] == "EH"
    assert opts.pending_request_status == "InProgress"


def test_uat_preset_prefixes_every_path() -> None:
    paths = resolve_paths("uat")
    assert paths == UAT_PATHS
    assert paths["company_search"] == "/search/uatm-v2/companies/advancedSearch"
    assert all(p.startswith(("/uatm/", "/search/uatm-v2/")) for p in paths.values())
    assert set(UAT_PATHS) == set(PRODUCTION_PATHS)


def test_path_overrides() -> None:
    opts = AllianzOptions.parse(
        {"path_preset": "UAT", "paths": {"cover_cancel": "/uatm/riskinfo/v3/covers/cancel"}}
    )
    assert opts.paths["cover_cancel"] == "/uatm/riskinfo/v3/covers/cancel"
    assert opts.paths["covers"] == "/uatm/riskinfo/v3/covers"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"path_preset": "staging"}, "path_preset"),
        ({"paths": {"claims": "/v1/claims"}}, "unknown route 'claims'"),
        ({"paths": {"covers": "riskinfo/v3/covers"}}, "starting with '/'"),
        ({"paths": {"job": "/riskinfo/v3/jobs"}}, "{jobId}"),
        ({"paths": ["x"]}, "table"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 20000}, "at most 10000"),
        ({"page_size": "ten"}, "page_size"),
        ({"page_size": True}, "page_size"),
        ({"first_page": 2}, "first_page"),
        ({"status_overrides": {"Agreement": "NOPE"}}, "NOPE"),
        ({"id_type_codes": {"SIRET": "SIRET"}}, "not a scheme"),
        ({"id_type_codes": {"VAT": ""}}, "id_type_codes.VAT"),
        ({"request_type_codes": {"EXTEND": "Extension"}}, "request_type_codes"),
        ({"callback_url": "http://hooks.example.invalid/x"}, "https"),
        ({"callback_url": "https:///x"}, "https"),
        ({"callback_extended": "maybe"}, "callback_extended"),
        ({"callback_ttl_hours": -1}, "callback_ttl_hours"),
        ({"reference_field": "customer reference"}, "field"),
        ({"search_minimum_score": 101}, "search_minimum_score"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        AllianzOptions.parse(options)


def test_overrides_are_merged_over_the_defaults() -> None:
    opts = AllianzOptions.parse(
        {
            "status_overrides": {"Refusal": "withdrawn"},
            "id_type_codes": {"fr_siren": "SRN"},
            "request_type_codes": {"increase": "Primary", "RENEW": "Renewal"},
            "business_unit_code": "EHSE",
            "page_size": "5000",
            "first_page": 0,
            "search_minimum_score": "",
            "callback_url": "https://hooks.example.invalid/allianz",
            "callback_extended": "false",
            "callback_ttl_hours": 48,
        }
    )
    assert opts.status_overrides == {"refusal": CoverStatus.WITHDRAWN}
    assert opts.id_type_codes == {**ID_TYPE_CODES, Scheme.FR_SIREN: "SRN"}
    assert opts.request_type_codes == {
        **REQUEST_TYPE_CODES,
        "INCREASE": "Primary",
        "RENEW": "Renewal",
    }
    assert opts.business_unit_code == "EHSE"
    assert (opts.page_size, opts.first_page, opts.search_minimum_score) == (5000, 0, None)
    assert (opts.callback_extended, opts.callback_ttl_hours) == (False, 48)


def test_decimal_option_never_goes_through_a_float_it_does_not_have() -> None:
    assert str(decimal_option("0.35", "x")) == "0.35"
    assert str(decimal_option(50000, "x")) == "50000"
    for bad in (True, "half", "NaN"):
        with pytest.raises(ConfigError):
            decimal_option(bad, "x")
