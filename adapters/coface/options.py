"""Adapter options: every uncertain CofaServe fact is a setting with a documented default.

CofaServe paths and fields are login-gated (reference/insurers.md, section 7), so the
paths, header names, token field, identifier types, order actions and overdue types
below are defaults to be checked against the handbook once credentials exist. Each can
be set in the insurer's ``options`` table; an unknown option is refused (a typo must not
silently fall back to a synthetic default).

======================  ====================================================  ==========
option                  default                                               confidence
======================  ====================================================  ==========
``paths``               :data:`DEFAULT_PATHS` (logical name -> path)          token M,
                                                                              companies L,
                                                                              rest SYNTHETIC
``policy_number``       none: the contract number sent on buyer searches      H (concept)
                        and the login when no policy is in scope
``token_field``         ``idToken`` (or ``accessToken``)                      M
``auth_scheme``         ``""``: ``Authorization: <token>`` without "Bearer"   M
``grant_type_field``    ``grant_type`` (an integrator writes ``grantType``)   M / L
``api_key_header``      ``x-api-key``                                         M
``policy_header``       ``x-cof-policy-number``                               M
``token_per_policy``    false: one token per user, not per contract           unknown
``country_format``      ``alpha3`` (or ``alpha2``)                            L
``identifier_types``    :data:`DEFAULT_IDENTIFIER_TYPES` (scheme -> type)     SYNTHETIC
``actions``             :data:`DEFAULT_ACTIONS` (cover action -> action)      L (CofaNet)
``overdue_types``       :data:`DEFAULT_OVERDUE_TYPES` (kind -> type)          SYNTHETIC
``status_overrides``    none (raw decision code -> CoverStatus name)          -
``overdue_statuses``    none (raw overdue status -> normalised status)        -
``page_limit``          20 (ICON's maximum ``limit``)                         H (ICON)
======================  ====================================================  ==========
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import quote

from tci_gateway.adapters.contract import CoverAction, OverdueKind
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.domain.identifiers import Scheme

# Logical name -> (default path template, placeholders it must carry).
PATH_SPECS: Mapping[str, tuple[str, frozenset[str]]] = MappingProxyType(
    {
        "token": ("/authentication/v1/token", frozenset()),
        "company_by_identifier": ("/companies/identifier", frozenset()),
        "company_search": ("/companies", frozenset()),
        "company": ("/companies/{easy_number}", frozenset({"easy_number"})),
        "policy": ("/policies/{policy_number}", frozenset({"policy_number"})),
        "portfolio": ("/policies/{policy_number}/credit-limits", frozenset({"policy_number"})),
        "orders": ("/products/credit-limits", frozenset()),
        "order": ("/products/credit-limits/{order_id}", frozenset({"order_id"})),
        "overdues": ("/overdues", frozenset()),
        "overdue": ("/overdues/{overdue_id}", frozenset({"overdue_id"})),
    }
)
DEFAULT_PATHS: Mapping[str, str] = MappingProxyType({k: v[0] for k, v in PATH_SPECS.items()})
"""The synthetic default paths (only ``token`` and ``company_by_identifier`` come from
public material)."""

DEFAULT_IDENTIFIER_TYPES: Mapping[Scheme, str] = MappingProxyType(
    {
        Scheme.VAT: "VAT",
        Scheme.FR_SIREN: "SIREN",
        Scheme.GB_CRN: "CRN",
        Scheme.CN_USCC: "USCC",
        Scheme.DUNS: "DUNS",
        Scheme.LEI: "LEI",
    }
)
DEFAULT_ACTIONS: Mapping[CoverAction, str] = MappingProxyType(
    {
        CoverAction.NEW: "ORDER",
        CoverAction.INCREASE: "UPDATE",
        CoverAction.REDUCE: "UPDATE",
        CoverAction.CANCEL: "CANCEL",
    }
)
DEFAULT_OVERDUE_TYPES: Mapping[OverdueKind, str] = MappingProxyType(
    {OverdueKind.OVERDUE: "OVERDUE"}
)
OVERDUE_RESULT_STATUSES = frozenset(
    {"DRAFT", "SUBMITTED", "ACKNOWLEDGED", "ACCEPTED", "REJECTED", "CLOSED"}
)

_CODE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")
_HEADER_RE = re.compile(r"^[A-Za-z0-9-]{1,64}\Z")


class OptionError(ValueError):
    """A bad option; the message names it."""


def _placeholders(template: str) -> set[str]:
    names: set[str] = set()
    for _literal, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise OptionError(f"paths: {template!r} has a bad placeholder {{{name}}}")
        names.add(name)
    return names


@dataclass(frozen=True)
class Paths:
    """Path templates by logical name (see :data:`PATH_SPECS`)."""

    templates: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PATHS))

    @classmethod
    def parse(cls, raw: Any) -> Paths:
        """Defaults overridden by ``raw`` (logical name -> template); raises
        :class:`OptionError` for an unknown name, a relative path, a query string or a
        template without the placeholders its name needs."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise OptionError("paths must be a table of logical name = path")
        templates = dict(DEFAULT_PATHS)
        for name, value in raw.items():
            if name not in PATH_SPECS:
                raise OptionError(f"paths: unknown name {name!r} (known: {', '.join(PATH_SPECS)})")
            template = str(value).strip()
            if not template.startswith("/") or "?" in template or "#" in template:
                raise OptionError(f"paths.{name}: {template!r} must be a path starting with /")
            needed = PATH_SPECS[name][1]
            found = _placeholders(template)
            if found != needed:
                want = ", ".join(f"{{{n}}}" for n in sorted(needed)) or "no placeholder"
                raise OptionError(f"paths.{name}: {template!r} must carry {want}")
            templates[name] = template
        return cls(MappingProxyType(templates))

    def __getitem__(self, name: str) -> str:
        return self.templates[name]

    def format(self, name: str, **values: str) -> str:
        """The path ``name`` with its placeholders filled, each value URL-quoted."""
        return self.templates[name].format(**{k: quote(v, safe="") for k, v in values.items()})

    def pattern(self, name: str) -> re.Pattern[str]:
        """A regular expression matching the path, placeholders as named groups."""
        parts: list[str] = []
        for literal, placeholder, _spec, _conv in string.Formatter().parse(self.templates[name]):
            parts.append(re.escape(literal))
            if placeholder is not None:
                parts.append(f"(?P<{placeholder}>[^/]+)")
        return re.compile("".join(parts))


def _code(value: Any, what: str) -> str:
    text = str(value).strip()
    if not _CODE_RE.match(text):
        raise OptionError(f"{what}: {value!r} is not a code")
    return text


def _table(raw: Any, what: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise OptionError(f"{what} must be a table")
    return raw


def _enum_table(
    raw: Any, what: str, enum: type[Any], defaults: Mapping[Any, str]
) -> dict[Any, str]:
    """Defaults overridden by ``raw`` (enum name -> code); an empty value removes one."""
    result: dict[Any, str] = dict(defaults)
    for key, value in _table(raw, what).items():
        try:
            member = enum(str(key).strip().upper())
        except ValueError:
            known = ", ".join(m.value for m in enum)
            raise OptionError(f"{what}: unknown key {key!r} (known: {known})") from None
        if value in (None, "", False):
            result.pop(member, None)
        else:
            result[member] = _code(value, f"{what}.{key}")
    return result


def parse_status_overrides(raw: Any) -> dict[str, CoverStatus]:
    """``{"AGREED": "REDUCED"}`` as a checked table (codes upper-cased)."""
    overrides: dict[str, CoverStatus] = {}
    for code, name in _table(raw, "status_overrides").items():
        try:
            overrides[str(code).strip().upper()] = CoverStatus(str(name).strip().upper())
        except ValueError:
            known = ", ".join(s.value for s in CoverStatus)
            raise OptionError(
                f"status_overrides: {code!r} maps to {name!r}, which is not a status ({known})"
            ) from None
    return overrides


def parse_overdue_statuses(raw: Any) -> dict[str, str]:
    """``{"FILED": "ACKNOWLEDGED"}`` as a checked table."""
    result: dict[str, str] = {}
    for code, name in _table(raw, "overdue_statuses").items():
        status = str(name).strip().upper()
        if status not in OVERDUE_RESULT_STATUSES:
            known = ", ".join(sorted(OVERDUE_RESULT_STATUSES))
            raise OptionError(f"overdue_statuses: {code!r} maps to {name!r} (known: {known})")
        result[str(code).strip().upper()] = status
    return result


def _header(raw: Any, what: str, default: str) -> str:
    value = default if raw is None else str(raw).strip()
    if not _HEADER_RE.match(value):
        raise OptionError(f"{what}: {raw!r} is not an HTTP header name")
    return value


@dataclass(frozen=True)
class CofaceOptions:
    """Parsed adapter options (see the module docstring for each and its default)."""

    paths: Paths = field(default_factory=Paths)
    policy_number: str | None = None
    token_field: Literal["idToken", "accessToken"] = "idToken"  # noqa: S105 (a field name)
    auth_scheme: str = ""
    grant_type_field: str = "grant_type"
    api_key_header: str = "x-api-key"
    policy_header: str = "x-cof-policy-number"
    token_per_policy: bool = False
    country_format: Literal["alpha2", "alpha3"] = "alpha3"
    identifier_types: Mapping[Scheme, str] = field(
        default_factory=lambda: dict(DEFAULT_IDENTIFIER_TYPES)
    )
    actions: Mapping[CoverAction, str] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    overdue_types: Mapping[OverdueKind, str] = field(
        default_factory=lambda: dict(DEFAULT_OVERDUE_TYPES)
    )
    status_overrides: Mapping[str, CoverStatus] = field(default_factory=dict)
    overdue_statuses: Mapping[str, str] = field(default_factory=dict)
    page_limit: int = 20

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> CofaceOptions:
        """Options from configuration; raises :class:`OptionError` naming the bad one."""
        raw = dict(raw or {})
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            known = ", ".join(cls.__dataclass_fields__)
            raise OptionError(f"unknown option(s) {', '.join(unknown)} (known: {known})")
        token_field = raw.get("token_field", "idToken")
        if token_field not in ("idToken", "accessToken"):
            raise OptionError(f"token_field: {token_field!r} is neither idToken nor accessToken")
        country_format = raw.get("country_format", "alpha3")
        if country_format not in ("alpha2", "alpha3"):
            raise OptionError(f"country_format: {country_format!r} is neither alpha2 nor alpha3")
        scheme = str(raw.get("auth_scheme") or "").strip()
        if scheme and not scheme.isalnum():
            raise OptionError(f"auth_scheme: {scheme!r} is not a scheme name such as Bearer")
        limit = raw.get("page_limit", 20)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise OptionError(f"page_limit: {limit!r} is not a whole number from 1 to 1000")
        policy = str(raw.get("policy_number") or "").strip() or None
        return cls(
            paths=Paths.parse(raw.get("paths")),
            policy_number=policy,
            token_field=token_field,
            auth_scheme=scheme,
            grant_type_field=_code(raw.get("grant_type_field", "grant_type"), "grant_type_field"),
            api_key_header=_header(raw.get("api_key_header"), "api_key_header", "x-api-key"),
            policy_header=_header(raw.get("policy_header"), "policy_header", "x-cof-policy-number"),
            token_per_policy=bool(raw.get("token_per_policy", False)),
            country_format=country_format,
            identifier_types=_enum_table(
                raw.get("identifier_types"), "identifier_types", Scheme, DEFAULT_IDENTIFIER_TYPES
            ),
            actions=_enum_table(raw.get("actions"), "actions", CoverAction, DEFAULT_ACTIONS),
            overdue_types=_enum_table(
                raw.get("overdue_types"), "overdue_types", OverdueKind, DEFAULT_OVERDUE_TYPES
            ),
            status_overrides=parse_status_overrides(raw.get("status_overrides")),
            overdue_statuses=parse_overdue_statuses(raw.get("overdue_statuses")),
            page_limit=limit,
        )
