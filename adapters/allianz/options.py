"""Adapter options: routes, codes and field names that are not (fully) public.

Everything the reference marks M/L or does not know is an option with a default here
(``fixtures/allianz/README.md`` lists which defaults are SYNTHETIC). Options come from
the insurer's ``options`` table in the configuration; :meth:`AllianzOptions.parse` (a
toolkit :class:`~tci_gateway.adapters.options.AdapterOptions`) checks them and raises
:class:`~tci_gateway.errors.ConfigError` naming a bad entry.

Routes (option ``paths``, a table of logical name -> path, over the preset chosen by
``path_preset``: ``production`` (default) or ``uat``, whose paths carry the ``uatm``
prefix). ``{coverId}`` and ``{jobId}`` are placeholders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import model_validator

from tci_gateway.adapters.contract import CoverAction
from tci_gateway.adapters.toolkit import (
    AdapterOptions,
    CodeTable,
    StatusOverrides,
    flag,
    https_url,
    option,
    optional_text,
    plain_text,
    table,
    whole_number,
)
from tci_gateway.adapters.toolkit import decimal_option as toolkit_decimal
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.errors import ConfigError
from tci_gateway.http.addresses import is_loopback

K = TypeVar("K")

PRODUCTION_PATHS: dict[str, str] = {
    "token": "/v1/idp/oauth2/authorize",  # H
    "company_search": "/search/v2/companies/advancedSearch",  # M
    "covers": "/riskinfo/v3/covers",  # M: cover requests (POST)
    "cover": "/riskinfo/v3/covers/{coverId}",  # M
    "job": "/riskinfo/v3/jobs/{jobId}",  # H/M
    "covers_search": "/riskinfo/v3/covers/search",  # M
    "cover_requests_search": "/riskinfo/v3/coverRequests/search",  # M
    # L: increase, reduce and cancel go to the covers endpoint with their own
    # requestTypeCode unless these are set to other routes.
    "cover_increase": "/riskinfo/v3/covers",
    "cover_reduce": "/riskinfo/v3/covers",
    "cover_cancel": "/riskinfo/v3/covers",
    # SYNTHETIC: the Payment Overdues API's routes are not public.
    "overdues": "/payment-overdues/v1/overdues",
    "overdues_search": "/payment-overdues/v1/overdues/search",
}

UAT_PATHS: dict[str, str] = {
    "token": "/uatm/v1/idp/oauth2/authorize",
    "company_search": "/search/uatm-v2/companies/advancedSearch",
    "covers": "/uatm/riskinfo/v3/covers",
    "cover": "/uatm/riskinfo/v3/covers/{coverId}",
    "job": "/uatm/riskinfo/v3/jobs/{jobId}",
    "covers_search": "/uatm/riskinfo/v3/covers/search",
    "cover_requests_search": "/uatm/riskinfo/v3/coverRequests/search",
    "cover_increase": "/uatm/riskinfo/v3/covers",
    "cover_reduce": "/uatm/riskinfo/v3/covers",
    "cover_cancel": "/uatm/riskinfo/v3/covers",
    "overdues": "/uatm/payment-overdues/v1/overdues",
    "overdues_search": "/uatm/payment-overdues/v1/overdues/search",
}

PATH_PRESETS: dict[str, dict[str, str]] = {"production": PRODUCTION_PATHS, "uat": UAT_PATHS}
_PLACEHOLDERS = {"cover": "{coverId}", "job": "{jobId}"}

# SYNTHETIC idTypeCode values (the enum is not public); "EH" is the Allianz company id.
ID_TYPE_CODES: dict[Scheme, str] = {
    Scheme.VAT: "VAT",
    Scheme.FR_SIREN: "SIREN",
    Scheme.GB_CRN: "CRN",
    Scheme.DUNS: "DUNS",
    Scheme.LEI: "LEI",
    Scheme.CN_USCC: "USCC",
    Scheme.INSURER: "EH",
}

# requestTypeCode per action: "Primary" and "GradeCover" are observed (M); the others
# are SYNTHETIC (L). RENEW has none: Allianz limits have no documented renewal.
REQUEST_TYPE_CODES: dict[str, str] = {
    CoverAction.NEW.value: "Primary",
    CoverAction.INCREASE.value: "Increase",
    CoverAction.REDUCE.value: "Reduction",
    CoverAction.CANCEL.value: "Cancellation",
    "GRADE": "GradeCover",
}

DEFAULT_PAGE_SIZE = 1000
DEFAULT_CALLBACK_HEADER = "X-Callback"  # SYNTHETIC: the header's name is not public
DEFAULT_REFERENCE_FIELD = "customerReference"  # SYNTHETIC


def resolve_paths(preset: Any = "production", overrides: Any = None) -> dict[str, str]:
    """The route table: ``preset`` (production or uat) with ``overrides`` on top. An
    unknown logical name, a path without a leading ``/`` or without its placeholder is
    a :class:`ConfigError`."""
    name = str(preset or "production").strip().lower()
    if name not in PATH_PRESETS:
        raise ConfigError(f"option path_preset must be one of {', '.join(PATH_PRESETS)}")
    paths = dict(PATH_PRESETS[name])
    for key, value in _table(overrides, "paths").items():
        if key not in paths:
            raise ConfigError(f"option paths: unknown route {key!r} (known: {', '.join(paths)})")
        if not isinstance(value, str) or not value.startswith("/"):
            raise ConfigError(f"option paths.{key} must be a path starting with '/'")
        paths[key] = value
    for key, placeholder in _PLACEHOLDERS.items():
        if placeholder not in paths[key]:
            raise ConfigError(f"option paths.{key} must contain {placeholder}")
    return paths


def _table(value: Any, name: str) -> Mapping[str, Any]:
    try:
        return table(value, name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _codes(
    value: Any, name: str, defaults: Mapping[K, str], key: Callable[[str], K]
) -> dict[K, str]:
    """``defaults`` with the codes of the table ``value`` on top; ``key`` reads a name
    (``ValueError`` for an unknown one)."""
    codes = dict(defaults)
    for name_, code_ in table(value, name).items():
        found = key(str(name_).strip().upper())
        if not isinstance(code_, str) or not code_.strip():
            raise ValueError(f"option {name}.{name_} must be a code")
        codes[found] = code_.strip()
    return codes


def _scheme(name: str) -> Scheme:
    try:
        return Scheme(name)
    except ValueError:
        known = ", ".join(s.value for s in Scheme)
        raise ValueError(f"option id_type_codes: {name!r} is not a scheme ({known})") from None


def _request_type(name: str) -> str:
    known = {a.value for a in CoverAction} | {"GRADE"}
    if name not in known:
        raise ValueError(f"option request_type_codes: {name!r} is not one of {sorted(known)}")
    return name


def check_callback_url(url: str) -> str:
    """A callback URL must be absolute ``https``: Allianz calls HTTPS only. A loopback
    ``http`` URL is let through for the sandbox (no real insurer reaches it)."""
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url
    try:
        return https_url(url, "callback_url")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _field_name(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"expected a field or header name, got {value!r}")
    return value.strip()


def _first_page(value: Any, name: str) -> int:
    if isinstance(value, bool) or str(value).strip() not in ("0", "1"):
        raise ValueError(f"option {name} must be 0 or 1, got {value!r}")
    return int(str(value).strip())


def _minimum_score(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    return whole_number(value, name, maximum=100, text=True)


def _callback_url(value: Any, name: str) -> str | None:
    return https_url(value, name) if value else None


def _id_types(value: Any, name: str) -> dict[Scheme, str]:
    return _codes(value, name, ID_TYPE_CODES, _scheme)


def _request_types(value: Any, name: str) -> dict[str, str]:
    return _codes(value, name, REQUEST_TYPE_CODES, _request_type)


Count = Annotated[int, option(whole_number, text=True)]
FieldName = Annotated[str, option(_field_name)]
AnyText = Annotated[str, option(plain_text)]


class AllianzOptions(AdapterOptions):
    """The adapter's options, checked (see the module docstring and the README)."""

    path_preset: str = "production"
    paths: Mapping[str, str] = PRODUCTION_PATHS
    status_overrides: StatusOverrides = CodeTable()
    business_unit_code: Annotated[str | None, option(optional_text, strip=True)] = None
    page_size: Annotated[int, option(whole_number, maximum=10000, text=True)] = DEFAULT_PAGE_SIZE
    first_page: Annotated[int, option(_first_page)] = 1
    max_pages: Count = 100_000
    id_type_codes: Annotated[Mapping[Scheme, str], option(_id_types)] = ID_TYPE_CODES
    company_identifier_type_code: AnyText = "EH"
    search_requested_size: Annotated[int, option(whole_number, maximum=1000, text=True)] = 10
    search_minimum_score: Annotated[int | None, option(_minimum_score)] = 80
    request_type_codes: Annotated[Mapping[str, str], option(_request_types)] = REQUEST_TYPE_CODES
    reference_field: FieldName = DEFAULT_REFERENCE_FIELD
    pending_request_status: AnyText = "InProgress"
    callback_url: Annotated[str | None, option(_callback_url)] = None
    callback_header: FieldName = DEFAULT_CALLBACK_HEADER
    callback_ttl_hours: Count = 24
    callback_extended: Annotated[bool, option(flag)] = True

    @model_validator(mode="before")
    @classmethod
    def _routes(cls, raw: Any) -> Any:
        if isinstance(raw, Mapping):
            preset = raw.get("path_preset", "production")
            raw = {
                **raw,
                "path_preset": str(preset or "production").strip().lower(),
                "paths": resolve_paths(preset, raw.get("paths")),
            }
        return raw


def decimal_option(value: Any, name: str) -> Decimal:
    """A number option (never through a float): ``"0.5"``, ``50000``... A bad one is a
    :class:`ConfigError`."""
    try:
        return toolkit_decimal(value, name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
