"""Adapter options: every uncertain CofaServe fact is a setting with a documented default.

CofaServe paths and fields are login-gated (``fixtures/coface/README.md``), so the
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
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import BeforeValidator, Field

from tci_gateway.adapters.contract import CoverAction, OverdueKind
from tci_gateway.adapters.toolkit import (
    AdapterOptions,
    CodeTable,
    StatusOverrides,
    code,
    header_name,
    option,
    parse_code_table,
    table,
    whole_number,
)
from tci_gateway.adapters.toolkit import parse_status_overrides as parse_status_overrides
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.errors import ConfigError

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


_POLICY_HEADER = "x-cof-policy-number"


class OptionError(ConfigError, ValueError):
    """A bad option; the message names it (a :class:`ConfigError`, so a bad sandbox
    ``paths`` table is one line too)."""


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
    try:
        return code(value, what)
    except ValueError as exc:
        raise OptionError(str(exc)) from None


def _enum_table(
    raw: Any, what: str, *, enum: type[Any], defaults: Mapping[Any, str]
) -> dict[Any, str]:
    """Defaults overridden by ``raw`` (enum name -> code); an empty value removes one."""
    result: dict[Any, str] = dict(defaults)
    for key, value in table(raw, what).items():
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


def _overdue_status(code_: str, name: Any) -> str:
    status = str(name).strip().upper()
    if status not in OVERDUE_RESULT_STATUSES:
        known = ", ".join(sorted(OVERDUE_RESULT_STATUSES))
        raise ValueError(f"{code_!r} maps to {name!r} (known: {known})")
    return status


def parse_overdue_statuses(raw: Any) -> CodeTable[str]:
    """``{"FILED": "ACKNOWLEDGED"}`` as a checked table (codes compared without regard
    to case, as status codes are)."""
    return parse_code_table(raw, "overdue_statuses", _overdue_status)


def _paths(value: Any, name: str) -> Paths:
    return value if isinstance(value, Paths) else Paths.parse(value)


def _stripped_or_none(value: Any, name: str) -> str | None:
    return str(value or "").strip() or None


def _either(value: Any, name: str, *, first: str, second: str) -> Any:
    if value not in (first, second):
        raise ValueError(f"{name}: {value!r} is neither {first} nor {second}")
    return value


def _auth_scheme(value: Any, name: str) -> str:
    scheme = str(value or "").strip()
    if scheme and not scheme.isalnum():
        raise ValueError(f"{name}: {scheme!r} is not a scheme name such as Bearer")
    return scheme


def _header(value: Any, name: str, *, default: str) -> str:
    return header_name(default if value is None else value, name)


def _truthy(value: Any, name: str) -> bool:
    return bool(value)


TokenField = Annotated[
    Literal["idToken", "accessToken"], option(_either, first="idToken", second="accessToken")
]


class CofaceOptions(AdapterOptions):
    """Parsed adapter options (see the module docstring for each and its default)."""

    paths: Annotated[Paths, option(_paths)] = Field(default_factory=Paths)
    policy_number: Annotated[str | None, option(_stripped_or_none)] = None
    token_field: TokenField = "idToken"  # noqa: S105 (a field name)
    auth_scheme: Annotated[str, option(_auth_scheme)] = ""
    grant_type_field: Annotated[str, option(code)] = "grant_type"
    api_key_header: Annotated[str, option(_header, default="x-api-key")] = "x-api-key"
    policy_header: Annotated[str, option(_header, default=_POLICY_HEADER)] = _POLICY_HEADER
    token_per_policy: Annotated[bool, option(_truthy)] = False
    country_format: Annotated[
        Literal["alpha2", "alpha3"], option(_either, first="alpha2", second="alpha3")
    ] = "alpha3"
    identifier_types: Annotated[
        Mapping[Scheme, str],
        option(_enum_table, enum=Scheme, defaults=DEFAULT_IDENTIFIER_TYPES),
    ] = Field(default_factory=lambda: dict(DEFAULT_IDENTIFIER_TYPES))
    actions: Annotated[
        Mapping[CoverAction, str], option(_enum_table, enum=CoverAction, defaults=DEFAULT_ACTIONS)
    ] = Field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    overdue_types: Annotated[
        Mapping[OverdueKind, str],
        option(_enum_table, enum=OverdueKind, defaults=DEFAULT_OVERDUE_TYPES),
    ] = Field(default_factory=lambda: dict(DEFAULT_OVERDUE_TYPES))
    status_overrides: StatusOverrides = CodeTable()
    overdue_statuses: Annotated[CodeTable[str], BeforeValidator(parse_overdue_statuses)] = (
        CodeTable()
    )
    page_limit: Annotated[int, option(whole_number, maximum=1000)] = 20
