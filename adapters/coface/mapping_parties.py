"""Coface companies, identifiers, countries and policies to domain objects (pure).

Countries: the company identification takes ``countryCode`` in ISO 3166 alpha-3 (L: one
integrator's ``countryCode=ECU``); the domain speaks alpha-2. Answers are read in either.

Identifiers: a table maps domain schemes to Coface ``identifierType`` values (SYNTHETIC
defaults, option ``identifier_types``). Read back, a type may stand for several schemes
(the same ``CRN`` for GB and CN registrations, say): the first scheme whose validation
the value passes wins, the country's registration scheme first. A VAT number gets the
country's VAT prefix when it lacks one. An identifier that fails validation or has no
domain scheme is skipped, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from tci_gateway.adapters.contract import BuyerMatch
from tci_gateway.adapters.toolkit import (
    MappingError,
    currency,
    find_identifier,
    to_alpha2,
    to_alpha3,
    vat_prefix,
)
from tci_gateway.domain.identifiers import REGISTRATION_SCHEME_BY_COUNTRY, Identifier, Scheme

from .wire import Company, PolicyRecord

__all__ = [
    "IdentifierTable",
    "MappingError",
    "PolicyInfo",
    "country_alpha2",
    "country_param",
    "map_company",
    "map_policy",
    "vat_prefix",
]


# -- countries --------------------------------------------------------------------------


def country_alpha2(code: str) -> str:
    """An alpha-3 or alpha-2 country code (as Coface wrote it) as alpha-2."""
    return to_alpha2(code, field="countryCode")


def country_param(alpha2: str, country_format: str = "alpha3") -> str:
    """The domain's alpha-2 country as Coface's ``countryCode`` query value."""
    return to_alpha3(alpha2) if country_format == "alpha3" else to_alpha2(alpha2)


# -- identifiers ------------------------------------------------------------------------


class IdentifierTable:
    """Domain scheme <-> Coface ``identifierType``, both ways."""

    def __init__(self, types: Mapping[Scheme, str]) -> None:
        self.types = dict(types)
        self._reverse: dict[str, list[Scheme]] = {}
        for scheme, kind in self.types.items():
            self._reverse.setdefault(kind.upper(), []).append(scheme)

    def to_coface(self, identifier: Identifier) -> tuple[str, str] | None:
        """``(identifierType, identifierValue)`` for a search, or ``None`` when the
        scheme has no Coface type."""
        kind = self.types.get(identifier.scheme)
        return (kind, identifier.value) if kind is not None else None

    def from_coface(self, kind: str, raw: str, country: str | None) -> Identifier | None:
        """A Coface identifier as a validated domain identifier (``country`` alpha-2),
        or ``None`` when no scheme fits."""
        schemes = list(self._reverse.get(kind.strip().upper(), ()))
        preferred = REGISTRATION_SCHEME_BY_COUNTRY.get((country or "").upper())
        if preferred in schemes:
            schemes.remove(preferred)
            schemes.insert(0, preferred)
        found = (find_identifier(s, raw, country) for s in schemes if s is not Scheme.INSURER)
        return next((identifier for identifier in found if identifier is not None), None)


def map_company(company: Company, insurer: str, table: IdentifierTable) -> BuyerMatch:
    """A company record as a :class:`BuyerMatch`; identifiers that fail validation or
    have no domain scheme are left out. A company without a country is refused."""
    written = company.country
    if written is None:
        raise MappingError("address.countryCode", "the company has no country")
    country = country_alpha2(written)
    identifiers: dict[Identifier, None] = {}
    for item in company.identifiers:
        found = table.from_coface(item.type, item.value, country)
        if found is not None:
            identifiers.setdefault(found)
    return BuyerMatch(
        insurer=insurer,
        insurer_buyer_id=company.easyNumber,
        name=company.companyName,
        country=country,
        identifiers=tuple(identifiers),
    )


# -- policy -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyInfo:
    """What ``GET /policies/{policy_number}`` says about a contract."""

    policy_number: str
    status: str | None
    currency: str
    start: date | None
    end: date | None


def map_policy(record: PolicyRecord) -> PolicyInfo:
    """A policy record as :class:`PolicyInfo` (the currency checked against ISO 4217)."""
    return PolicyInfo(
        policy_number=record.policyNumber,
        status=record.status,
        currency=currency(record.currency.upper(), "currency"),
        start=record.startDate,
        end=record.endDate,
    )
