"""Adapter options: routes, codes and field names that are not (fully) public.

Everything the reference marks M/L or does not know is an option with a default here
(``fixtures/allianz/README.md`` lists which defaults are SYNTHETIC). Options come from
the insurer's ``options`` table in the configuration; :meth:`AllianzOptions.parse`
checks them and raises :class:`~tci_gateway.errors.ConfigError` naming a bad entry.

Routes (option ``paths``, a table of logical name -> path, over the preset chosen by
``path_preset``: ``production`` (default) or ``uat``, whose paths carry the ``uatm``
prefix). ``{coverId}`` and ``{jobId}`` are placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from tci_gateway.adapters.contract import CoverAction
from tci_gateway.adapters.options import refuse_unknown
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.errors import ConfigError

from .mapping import parse_status_overrides

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


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    raise ConfigError(f"option {name} must be true or false, got {value!r}")


def _positive_int(value: Any, name: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise ConfigError(f"option {name} must be a whole number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"option {name} must be a whole number, got {value!r}") from None
    if number <= 0 or (maximum is not None and number > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigError(f"option {name} must be positive{limit}, got {value!r}")
    return number


def _table(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"option {name} must be a table")
    return value


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


def _id_types(value: Any) -> dict[Scheme, str]:
    table = dict(ID_TYPE_CODES)
    for key, code in _table(value, "id_type_codes").items():
        try:
            scheme = Scheme(str(key).strip().upper())
        except ValueError:
            known = ", ".join(s.value for s in Scheme)
            raise ConfigError(f"option id_type_codes: {key!r} is not a scheme ({known})") from None
        if not isinstance(code, str) or not code.strip():
            raise ConfigError(f"option id_type_codes.{key} must be a code")
        table[scheme] = code.strip()
    return table


def _request_types(value: Any) -> dict[str, str]:
    table = dict(REQUEST_TYPE_CODES)
    known = {a.value for a in CoverAction} | {"GRADE"}
    for key, code in _table(value, "request_type_codes").items():
        action = str(key).strip().upper()
        if action not in known:
            raise ConfigError(f"option request_type_codes: {key!r} is not one of {sorted(known)}")
        if not isinstance(code, str) or not code.strip():
            raise ConfigError(f"option request_type_codes.{key} must be a code")
        table[action] = code.strip()
    return table


def check_callback_url(url: str) -> str:
    """A callback URL must be absolute ``https``: Allianz calls HTTPS only."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise ConfigError(f"callback_url must be an absolute https URL, got {url!r}")
    return url


@dataclass(frozen=True)
class AllianzOptions:
    """The adapter's options, checked (see the module docstring and the README)."""

    paths: Mapping[str, str] = field(default_factory=lambda: dict(PRODUCTION_PATHS))
    status_overrides: Mapping[str, CoverStatus] = field(default_factory=dict)
    business_unit_code: str | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    first_page: int = 1
    max_pages: int = 100_000
    id_type_codes: Mapping[Scheme, str] = field(default_factory=lambda: dict(ID_TYPE_CODES))
    company_identifier_type_code: str = "EH"
    search_requested_size: int = 10
    search_minimum_score: int | None = 80
    request_type_codes: Mapping[str, str] = field(default_factory=lambda: dict(REQUEST_TYPE_CODES))
    reference_field: str = DEFAULT_REFERENCE_FIELD
    pending_request_status: str = "InProgress"
    callback_url: str | None = None
    callback_header: str = DEFAULT_CALLBACK_HEADER
    callback_ttl_hours: int = 24
    callback_extended: bool = True

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> AllianzOptions:
        """Options from configuration; a bad one (or an unknown name) is a
        :class:`ConfigError`."""
        raw = raw or {}
        refuse_unknown(raw, {*cls.__dataclass_fields__, "path_preset"})
        try:
            overrides = parse_status_overrides(raw.get("status_overrides"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        score = raw.get("search_minimum_score", 80)
        callback = raw.get("callback_url")
        first_page = raw.get("first_page", 1)
        if isinstance(first_page, bool) or str(first_page).strip() not in ("0", "1"):
            raise ConfigError(f"option first_page must be 0 or 1, got {first_page!r}")
        bu = raw.get("business_unit_code")
        return cls(
            paths=resolve_paths(raw.get("path_preset", "production"), raw.get("paths")),
            status_overrides=overrides,
            business_unit_code=str(bu).strip() if bu else None,
            page_size=_positive_int(raw.get("page_size", DEFAULT_PAGE_SIZE), "page_size", 10000),
            first_page=int(str(first_page).strip()),
            max_pages=_positive_int(raw.get("max_pages", 100_000), "max_pages"),
            id_type_codes=_id_types(raw.get("id_type_codes")),
            company_identifier_type_code=str(raw.get("company_identifier_type_code", "EH")),
            search_requested_size=_positive_int(
                raw.get("search_requested_size", 10), "search_requested_size", 1000
            ),
            search_minimum_score=None
            if score is None or score == ""
            else _positive_int(score, "search_minimum_score", 100),
            request_type_codes=_request_types(raw.get("request_type_codes")),
            reference_field=_field_name(raw.get("reference_field", DEFAULT_REFERENCE_FIELD)),
            pending_request_status=str(raw.get("pending_request_status", "InProgress")),
            callback_url=check_callback_url(str(callback)) if callback else None,
            callback_header=_field_name(raw.get("callback_header", DEFAULT_CALLBACK_HEADER)),
            callback_ttl_hours=_positive_int(
                raw.get("callback_ttl_hours", 24), "callback_ttl_hours"
            ),
            callback_extended=_flag(raw.get("callback_extended", True), "callback_extended"),
        )


def _field_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ConfigError(f"expected a field or header name, got {value!r}")
    return value.strip()


def decimal_option(value: Any, name: str) -> Decimal:
    """A number option (never through a float): ``"0.5"``, ``50000``..."""
    if isinstance(value, bool):
        raise ConfigError(f"option {name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"option {name} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ConfigError(f"option {name} must be finite")
    return number
