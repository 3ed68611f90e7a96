"""Atradius buyers, identifiers, countries and policy details to domain objects (pure).

Countries: Atradius speaks ISO 3166 alpha-3, the domain alpha-2 (via pycountry).
Identifiers: ``uidType`` is a closed enum (VAT, NRN, CR, DB, FC, SN, TK). VAT becomes
``Scheme.VAT`` (prefixed with the country's VAT prefix when the uid lacks it), SN
``Scheme.FR_SIREN``, DB ``Scheme.DUNS``, CR and NRN the country's registration scheme
when the domain has one; FC and TK have no domain scheme. An identifier that fails
validation is skipped, never a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pycountry

from tci_gateway.adapters.contract import BuyerMatch
from tci_gateway.domain.identifiers import (
    REGISTRATION_SCHEME_BY_COUNTRY,
    Identifier,
    IdentifierError,
    Scheme,
    parse_identifier,
)
from tci_gateway.domain.money import MoneyError, check_currency

from .wire import Buyer, PolicyDetails, UniqueIdentifier


class MappingError(ValueError):
    """A record that is valid JSON but cannot be mapped; ``field`` names the culprit."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# -- countries and identifiers ----------------------------------------------------------


def alpha2(alpha3: str) -> str:
    """ISO 3166 alpha-3 (Atradius) to alpha-2 (the domain)."""
    country = pycountry.countries.get(alpha_3=alpha3.upper())
    if country is None:
        raise MappingError("country", f"unknown ISO 3166 alpha-3 country code {alpha3!r}")
    return str(country.alpha_2)


def alpha3(alpha2_code: str) -> str:
    """ISO 3166 alpha-2 (the domain) to alpha-3 (Atradius)."""
    country = pycountry.countries.get(alpha_2=alpha2_code.upper())
    if country is None:
        raise MappingError("country", f"unknown ISO 3166 alpha-2 country code {alpha2_code!r}")
    return str(country.alpha_3)


UID_TYPES = frozenset({"VAT", "NRN", "CR", "DB", "FC", "SN", "TK"})
"""Atradius ``uidType``: a closed enum."""

_VAT_PREFIX = {"GR": "EL"}  # Greek VAT numbers carry EL, not GR
_SEPARATORS = re.compile(r"[\s.\-/]")


def vat_prefix(country: str) -> str:
    """The VAT number prefix of an alpha-2 country."""
    return _VAT_PREFIX.get(country.upper(), country.upper())


def map_identifier(uid: UniqueIdentifier, country: str) -> Identifier | None:
    """An Atradius unique identifier as a validated domain identifier, or ``None`` when
    it has no domain scheme or fails validation (``country`` is alpha-2)."""
    kind = uid.uidType
    raw = uid.uid
    scheme: Scheme | None
    if kind == "VAT":
        scheme = Scheme.VAT
        prefix = vat_prefix(country)
        compact = _SEPARATORS.sub("", raw).upper()
        raw = compact if compact.startswith(prefix) else prefix + compact
    elif kind == "SN":
        scheme = Scheme.FR_SIREN
    elif kind == "DB":
        scheme = Scheme.DUNS
    elif kind in ("CR", "NRN"):
        scheme = REGISTRATION_SCHEME_BY_COUNTRY.get(country.upper())
    else:
        scheme = None
    if scheme is None:
        return None
    try:
        return parse_identifier(scheme, raw)
    except IdentifierError:
        return None


_REVERSE: dict[Scheme, str] = {
    Scheme.VAT: "VAT",
    Scheme.FR_SIREN: "SN",
    Scheme.DUNS: "DB",
    Scheme.GB_CRN: "CR",
    Scheme.CN_USCC: "CR",
}


def identifier_to_uid(identifier: Identifier) -> tuple[str, str] | None:
    """``(uid, uidType)`` for a buyer search, or ``None`` when Atradius has no
    ``uidType`` for the scheme (LEI, insurer ids)."""
    kind = _REVERSE.get(identifier.scheme)
    return (identifier.value, kind) if kind is not None else None


def map_buyer(buyer: Buyer, insurer: str) -> BuyerMatch:
    """A buyer record as a :class:`BuyerMatch`; identifiers that fail validation or have
    no domain scheme are left out."""
    country = alpha2(buyer.country)
    identifiers: dict[Identifier, None] = {}
    for uid in buyer.uniqueIdentifiers:
        found = map_identifier(uid, country)
        if found is not None:
            identifiers.setdefault(found)
    return BuyerMatch(
        insurer=insurer,
        insurer_buyer_id=str(buyer.buyerId),
        name=buyer.buyerName,
        country=country,
        identifiers=tuple(identifiers),
        rating=buyer.currentBuyerRating,
    )


# -- policy -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyInfo:
    """What ``policies/details`` says about a policy."""

    policy_id: str
    status: str | None
    currency: str
    start: date | None
    expiry: date | None


def map_policy(details: PolicyDetails) -> PolicyInfo:
    """Policy details as :class:`PolicyInfo` (the currency checked against ISO 4217)."""
    try:
        currency = check_currency(details.policyCurrency)
    except MoneyError as exc:
        raise MappingError("policyCurrency", str(exc)) from exc
    return PolicyInfo(
        policy_id=details.policyId,
        status=details.policyStatus,
        currency=currency,
        start=details.policyStartDate.date() if details.policyStartDate else None,
        expiry=details.policyExpiryDate.date() if details.policyExpiryDate else None,
    )
