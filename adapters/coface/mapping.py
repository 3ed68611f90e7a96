"""Coface credit-limit records to domain decisions: pure functions, table-driven.

The decision codes are SYNTHETIC (confidence L): CofaServe does not publish them. The
table :data:`DECISION_CODES` holds the defaults; a configuration overrides any code
with ``status_overrides`` (raw code -> :class:`CoverStatus` name). Codes are read
case-insensitively (the toolkit's one rule) and kept raw in ``CoverDecision.raw_codes``.
An unknown code maps to PENDING and is listed in ``CoverDecision.unknown_codes`` (the sync raises an
alert). A decided record granting 0 is a refusal. The granted amount with the record's
``expiryDate`` is the decision's one tranche.

Companies, identifiers, countries and policies: :mod:`.mapping_parties`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from tci_gateway.adapters.toolkit import money, utc
from tci_gateway.domain.cover import CoverDecision, CoverStatus, Tranche

from .mapping_parties import (
    IdentifierTable,
    MappingError,
    PolicyInfo,
    country_alpha2,
    country_param,
    map_company,
    map_policy,
    vat_prefix,
)
from .options import OVERDUE_RESULT_STATUSES
from .wire import CreditLimit

__all__ = [
    "DECISION_CODES",
    "OVERDUE_STATUSES",
    "IdentifierTable",
    "MappingError",
    "PolicyInfo",
    "country_alpha2",
    "country_param",
    "is_pending",
    "map_company",
    "map_credit_limit",
    "map_overdue_status",
    "map_policy",
    "resolve_status",
    "vat_prefix",
]

S = CoverStatus

DECISION_CODES: Mapping[str, CoverStatus] = {
    "AGREED": S.APPROVED,
    "FULL_AGREEMENT": S.APPROVED,
    "PARTIAL_AGREEMENT": S.PARTIALLY_APPROVED,
    "REFUSED": S.REFUSED,
    "REDUCED": S.REDUCED,
    "CANCELLED": S.WITHDRAWN,
    "STOPPED": S.WITHDRAWN,
    "EXPIRED": S.EXPIRED,
    "IN_PROGRESS": S.PENDING,
    "PENDING": S.PENDING,
    "INDICATION": S.INDICATION_ONLY,
}
"""Raw ``decisionCode`` -> normalised status (SYNTHETIC, L)."""

OVERDUE_STATUSES: Mapping[str, str] = {
    "RECEIVED": "SUBMITTED",
    "REGISTERED": "ACKNOWLEDGED",
    "IN_PROGRESS": "ACKNOWLEDGED",
    "ACCEPTED": "ACCEPTED",
    "REJECTED": "REJECTED",
    "CLOSED": "CLOSED",
}
"""Raw overdue ``status`` -> the normalised overdue status (SYNTHETIC, L)."""

_GRANTING = frozenset({S.APPROVED, S.PARTIALLY_APPROVED, S.REDUCED})


def resolve_status(
    code: str, overrides: Mapping[str, CoverStatus] | None = None
) -> tuple[CoverStatus, tuple[str, ...]]:
    """``(status, unknown codes)`` for a raw decision code: overrides first, then the
    table; an unknown code is PENDING and listed."""
    key = code.strip().upper()
    found = (overrides or {}).get(key) or DECISION_CODES.get(key)
    if found is None:
        return S.PENDING, (code,)
    return found, ()


def is_pending(record: CreditLimit, overrides: Mapping[str, CoverStatus] | None = None) -> bool:
    """True while an order awaits its decision: no code yet, or a code that resolves to
    PENDING (an unknown code too: keep polling, the alert says why)."""
    if record.decisionCode is None:
        return True
    return resolve_status(record.decisionCode, overrides)[0] is S.PENDING


def map_overdue_status(raw: str, overrides: Mapping[str, str] | None = None) -> str | None:
    """The normalised overdue status of a raw one, ``None`` when unknown."""
    key = raw.strip().upper()
    found = (overrides or {}).get(key) or OVERDUE_STATUSES.get(key)
    if found is None and key in OVERDUE_RESULT_STATUSES:
        return key
    return found


def map_credit_limit(
    record: CreditLimit,
    currency: str,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
) -> CoverDecision:
    """One credit-limit record as a :class:`CoverDecision` in the policy currency.

    ``currency`` is the policy currency; a record in another one is refused.
    ``effective_from`` is ``effectiveDate`` (else the decision or order date),
    ``effective_to`` the record's ``endDate``; ``insurer_cover_ref`` the ``orderId``
    (else the EasyNumber). Raises :class:`MappingError` for a record that cannot be
    mapped (no decision code, no date, another currency).
    """
    if record.currency is not None and record.currency.upper() != currency:
        raise MappingError("currency", f"record is in {record.currency}, the policy in {currency}")
    if record.decisionCode is None:
        raise MappingError("decisionCode", "no decisionCode")
    status, unknown = resolve_status(record.decisionCode, status_overrides)
    start = record.effectiveDate
    if start is None:
        moment = record.decisionDate or record.orderDate
        start = moment.date() if moment is not None else None
    if start is None:
        raise MappingError("effectiveDate", "no effectiveDate, decisionDate or orderDate")
    granted = record.amount if record.amount is not None else Decimal(0)
    if status in _GRANTING and granted == 0:
        status = S.REFUSED
    tranches: tuple[Tranche, ...] = ()
    if granted > 0:
        tranches = (Tranche(money(granted, currency, "amount"), start, record.expiryDate),)
    requested = record.requestedAmount
    moments = [m for m in (record.decisionDate, record.orderDate) if m is not None]
    return CoverDecision(
        insurer_cover_ref=record.orderId or record.easyNumber,
        status=status,
        currency=currency,
        granted_amount=money(granted, currency, "amount"),
        effective_from=start,
        tranches=tranches,
        requested_amount=(
            money(requested, currency, "requestedAmount") if requested is not None else None
        ),
        raw_codes={"decisionCode": record.decisionCode},
        unknown_codes=unknown,
        effective_to=record.endDate,
        decided_at=utc(record.decisionDate),
        last_changed_at=utc(max(moments)) if moments else None,
    )
