"""The Credendo-shape API's JSON (wire models) and its mapping to the domain."""

from __future__ import annotations

from datetime import date

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from tci_gateway.adapters.contract import BuyerMatch
from tci_gateway.adapters.toolkit import (
    Amount,
    CodeTable,
    MappingError,
    OptText,
    Text,
    Timestamp,
    WireModel,
    find_alpha2,
    find_identifier,
    money,
    require,
)
from tci_gateway.domain.cover import CoverDecision, CoverStatus
from tci_gateway.domain.identifiers import Scheme

DEFAULT_STATUSES: CodeTable[CoverStatus] = CodeTable(
    {
        "ACCEPTED": CoverStatus.APPROVED,
        "PARTIALLY_ACCEPTED": CoverStatus.PARTIALLY_APPROVED,
        "REFUSED": CoverStatus.REFUSED,
        "CANCELLED": CoverStatus.WITHDRAWN,
        "EXPIRED": CoverStatus.EXPIRED,
        "APPLICATION": CoverStatus.PENDING,
    }
)
"""The decision codes (``status_overrides`` may add or correct entries)."""


class Wire(WireModel):
    """camelCase on the wire, snake_case here."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class MoneyField(Wire):
    value: Amount
    currency: Text


class NationalId(Wire):
    type: Text
    value: Text


class Debtor(Wire):
    debtor_id: Text
    name: Text
    country_code: Text
    national_ids: list[NationalId] = []
    rating: OptText = None


class Limit(Wire):
    limit_id: Text
    debtor_id: Text
    debtor_name: Text
    debtor_country: OptText = None
    decision: OptText = None
    requested_amount: MoneyField | None = None
    granted_amount: MoneyField | None = None
    valid_from: date
    valid_to: date | None = None
    decided_at: Timestamp = None
    updated_at: Timestamp = None


class Application(Wire):
    application_id: Text
    customer_reference: Text
    status: Text
    limit: Limit | None = None


def _money(amount: MoneyField | None, currency: str, field: str) -> MoneyField:
    found = require(amount, field)
    if found.currency != currency:
        raise MappingError(field, f"{found.currency} is not the policy currency {currency}")
    return found


def to_decision(limit: Limit, currency: str, overrides: CodeTable[CoverStatus]) -> CoverDecision:
    """One limit record as a decision in the policy currency; an unknown decision code
    is PENDING with the code kept."""
    code = require(limit.decision, "decision")
    status = overrides.get(code) or DEFAULT_STATUSES.get(code)
    granted = _money(limit.granted_amount, currency, "grantedAmount")
    requested = limit.requested_amount
    return CoverDecision(
        insurer_cover_ref=limit.limit_id,
        status=status or CoverStatus.PENDING,
        currency=currency,
        granted_amount=money(granted.value, currency, "grantedAmount"),
        requested_amount=None
        if requested is None
        else money(_money(requested, currency, "requestedAmount").value, currency),
        effective_from=limit.valid_from,
        effective_to=limit.valid_to,
        raw_codes={"decision": code},
        unknown_codes=() if status else (f"decision={code}",),
        decided_at=limit.decided_at,
        last_changed_at=limit.updated_at,
    )


def to_match(debtor: Debtor, insurer: str) -> BuyerMatch:
    """A debtor as a buyer match: alpha-2 country, VAT numbers with their prefix."""
    country = find_alpha2(debtor.country_code)
    if country is None:
        raise MappingError("countryCode", f"unknown country {debtor.country_code!r}")
    found = (find_identifier(Scheme.VAT, n.value, country) for n in debtor.national_ids)
    identifiers = [ident for ident in found if ident is not None]  # invalid ones dropped
    return BuyerMatch(
        insurer=insurer,
        insurer_buyer_id=debtor.debtor_id,
        name=debtor.name,
        country=country,
        identifiers=tuple(identifiers),
        rating=debtor.rating,
    )
