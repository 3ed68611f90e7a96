"""Atradius buyers, identifiers, countries and policy details to domain objects (pure).

Countries: Atradius speaks ISO 3166 alpha-3, the domain alpha-2 (the toolkit's
country helper).
Identifiers: ``uidType`` is a closed enum (VAT, NRN, CR, DB, FC, SN, TK). VAT becomes
``Scheme.VAT`` (prefixed with the country's VAT prefix when the uid lacks it), SN
``Scheme.FR_SIREN``, DB ``Scheme.DUNS``, CR and NRN the country's registration scheme
when the domain has one; FC and TK have no domain scheme. An identifier that fails
validation is skipped, never a crash.
"""

from __future__ import annotations

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

from .wire import Buyer, PolicyDetails, UniqueIdentifier

__all__ = [
    "UID_TYPES",
    "MappingError",
    "PolicyInfo",
    "alpha2",
    "alpha3",
    "identifier_to_uid",
    "map_buyer",
    "map_identifier",
    "map_policy",
    "vat_prefix",
]

# -- countries and identifiers ----------------------------------------------------------


alpha2 = to_alpha2
"""ISO 3166 alpha-3 (Atradius) to alpha-2 (the domain)."""
alpha3 = to_alpha3
"""ISO 3166 alpha-2 (the domain) to alpha-3 (Atradius)."""


UID_TYPES = frozenset({"VAT", "NRN", "CR", "DB", "FC", "SN", "TK"})
"""Atradius ``uidType``: a closed enum."""


_UID_SCHEMES = {"VAT": Scheme.VAT, "SN": Scheme.FR_SIREN, "DB": Scheme.DUNS}


def map_identifier(uid: UniqueIdentifier, country: str) -> Identifier | None:
    """An Atradius unique identifier as a validated domain identifier, or ``None`` when
    it has no domain scheme or fails validation (``country`` is alpha-2)."""
    scheme = _UID_SCHEMES.get(uid.uidType)
    if uid.uidType in ("CR", "NRN"):
        scheme = REGISTRATION_SCHEME_BY_COUNTRY.get(country.upper())
    return find_identifier(scheme, uid.uid, country) if scheme is not None else None


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
    return PolicyInfo(
        policy_id=details.policyId,
        status=details.policyStatus,
        currency=currency(details.policyCurrency, "policyCurrency"),
        start=details.policyStartDate.date() if details.policyStartDate else None,
        expiry=details.policyExpiryDate.date() if details.policyExpiryDate else None,
    )
