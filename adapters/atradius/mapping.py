"""Atradius cover records to domain decisions: pure functions, table-driven.

Buyers, identifiers, countries and policies are mapped in :mod:`.mapping_parties`
(re-exported here).

Status tables (``fixtures/atradius/README.md``, "Status codes", M) are module-level dicts. A
configuration can override the status of any raw code with ``status_overrides``
(raw code -> :class:`CoverStatus` name), parsed by the toolkit's
:func:`~tci_gateway.adapters.overrides.parse_status_overrides` (codes compared without
regard to case).

Precedence for a record's status: a ``historicCode`` that ends the cover (every
historic code except ACLD/ICLD/MCLD, which end a version only); else ``coverStatus``
REFERRED (an application not yet decided) is PENDING; else the ``decisionCode``. An
unknown code maps to PENDING and is listed in ``CoverDecision.unknown_codes``. A zero
total decision on an approval-like code is a refusal. ``pendingProcessIndicator``
gives the pending action and wins over the one a decision code implies (DC21).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from tci_gateway.adapters.toolkit import money, parse_status_overrides, utc
from tci_gateway.domain.cover import Condition, CoverDecision, CoverStatus, PendingAction, Tranche

from .mapping_parties import (
    UID_TYPES,
    MappingError,
    PolicyInfo,
    alpha2,
    alpha3,
    identifier_to_uid,
    map_buyer,
    map_identifier,
    map_policy,
    vat_prefix,
)
from .wire import COVER_STATUS_DECISION, COVER_STATUS_REFERRED, AmtDecision, Cover

__all__ = [
    "DECISION_CODES",
    "HISTORIC_CODES",
    "PENDING_INDICATORS",
    "UID_TYPES",
    "VERSION_ENDING_CODES",
    "MappingError",
    "PolicyInfo",
    "Rule",
    "alpha2",
    "alpha3",
    "identifier_to_uid",
    "is_referred",
    "map_buyer",
    "map_cover",
    "map_identifier",
    "map_policy",
    "parse_status_overrides",
    "raw_codes",
    "resolve_status",
    "vat_prefix",
]


class Rule(NamedTuple):
    """What a decision code means."""

    status: CoverStatus
    is_preliminary: bool = False
    pending_action: PendingAction | None = None


S = CoverStatus

DECISION_CODES: dict[str, Rule] = {
    "DC01": Rule(S.APPROVED),  # fully approved
    "DC02": Rule(S.APPROVED),  # approved with conditions (conditions listed separately)
    "DC03": Rule(S.REFUSED),
    "DC04": Rule(S.PARTIALLY_APPROVED),  # partial, final
    # Increase refused, existing cover unchanged: the decision amount is the existing
    # cover and keeps counting (REFUSED is not an ended status, see domain/cover.py).
    "DC05": Rule(S.REFUSED),
    "DC06": Rule(S.PARTIALLY_APPROVED, is_preliminary=True),
    "DC07": Rule(S.REFUSED, is_preliminary=True),
    "DC08": Rule(S.WITHDRAWN),  # withdrawn by the insurer
    "DC09": Rule(S.REDUCED),
    "DC10": Rule(S.APPROVED),  # revised terms
    "DC11": Rule(S.APPROVED),  # reissued
    # Advance notice of withdrawal: the cover still counts until it is withdrawn.
    "DC21": Rule(S.APPROVED, pending_action=PendingAction.WITHDRAWAL_NOTICE),
    "DC22": Rule(S.REDUCED),  # reduced by partial expiry
}

HISTORIC_CODES: dict[str, CoverStatus] = {
    # applications
    "CCLA": S.CANCELLED_BY_INSURED,
    "RCLA": S.REFUSED,
    "SCLA": S.SUPERSEDED,
    "TCLA": S.SUPERSEDED,  # transferred
    # decisions
    "CCLD": S.WITHDRAWN,
    "ECLD": S.EXPIRED,
    "PCLD": S.WITHDRAWN,  # policy cancelled
    "SCLD": S.SUPERSEDED,
    "TCLD": S.SUPERSEDED,  # transferred
    "WCLD": S.WITHDRAWN,
    "ARCH": S.EXPIRED,  # archived
    "CIND": S.CANCELLED_BY_INSURED,  # indication cancelled
}

VERSION_ENDING_CODES = frozenset({"ACLD", "ICLD", "MCLD"})
"""Historic codes that end a version of a cover, not the cover: the decision code
still says what the record is."""

PENDING_INDICATORS: dict[str, PendingAction] = {
    "C": PendingAction.CANCELLATION_PENDING,
    "W": PendingAction.WITHDRAWAL_NOTICE,
    "F": PendingAction.WITHDRAWAL_NOTICE,  # future withdrawal
    "R": PendingAction.REACTIVATION_PENDING,
    "T": PendingAction.TRANSFER_PENDING,
    "B": PendingAction.OTHER,  # batch conditions
    "V": PendingAction.OTHER,  # indication conversion
}

COVER_STATUSES = frozenset({COVER_STATUS_DECISION, COVER_STATUS_REFERRED})

_GRANTING = frozenset({S.APPROVED, S.PARTIALLY_APPROVED, S.REDUCED})


# -- cover ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resolved:
    status: CoverStatus
    is_preliminary: bool
    pending_action: PendingAction | None
    unknown_codes: tuple[str, ...]


def _upper(code: str | None) -> str | None:
    return code.upper() if code is not None else None


def is_referred(cover: Cover) -> bool:
    """True for an application not yet decided (``coverStatus`` REFERRED)."""
    return cover.coverStatus.upper() == COVER_STATUS_REFERRED


def resolve_status(
    cover: Cover,
    overrides: Mapping[str, CoverStatus] | None = None,
    *,
    version_ending: frozenset[str] = VERSION_ENDING_CODES,
) -> _Resolved:
    """The normalised status, preliminary flag, pending action and unknown codes.
    ``version_ending``: the historic codes that end a version, not the cover (the decision
    code then says what the record was)."""
    overrides = overrides or {}
    unknown: list[str] = []
    preliminary = False
    implied_action: PendingAction | None = None
    historic = _upper(cover.historicCode)
    cover_status = cover.coverStatus.upper()
    if historic is not None and (historic in overrides or historic not in version_ending):
        found = overrides.get(historic) or HISTORIC_CODES.get(historic)
        if found is None:
            unknown.append(historic)
        status = found or S.PENDING
    elif cover_status == COVER_STATUS_REFERRED:
        status = overrides.get(COVER_STATUS_REFERRED, S.PENDING)
    else:
        if cover_status not in COVER_STATUSES:
            unknown.append(cover.coverStatus)
        code = _upper(cover.decisionCode)
        rule = DECISION_CODES.get(code) if code is not None else None
        if code is not None and code in overrides:
            base = rule or Rule(S.PENDING)
            rule = base._replace(status=overrides[code])
        if rule is None:
            if code is None:
                raise MappingError("decisionCode", "no decisionCode on a decided cover")
            unknown.append(code)
            rule = Rule(S.PENDING)
        status = rule.status if not unknown else S.PENDING
        preliminary = rule.is_preliminary
        implied_action = rule.pending_action
    action = implied_action
    indicator = _upper(cover.pendingProcessIndicator)
    if indicator is not None:
        action = PENDING_INDICATORS.get(indicator)
        if action is None:
            unknown.append(f"pendingProcessIndicator={indicator}")
            action = PendingAction.OTHER
    return _Resolved(status, preliminary, action, tuple(unknown))


def raw_codes(cover: Cover) -> dict[str, str]:
    """Every raw code the record carries, under its Atradius field name."""
    codes = {
        "coverStatus": cover.coverStatus,
        "decisionCode": cover.decisionCode,
        "historicCode": cover.historicCode,
        "pendingProcessIndicator": cover.pendingProcessIndicator,
        "coverType": cover.coverType,
    }
    return {k: v for k, v in codes.items() if v is not None}


def _tranche(part: AmtDecision, valid_from: date, currency: str) -> Tranche:
    expiry = part.decisionExpiryDate.date() if part.decisionExpiryDate else None
    return Tranche(money(part.decisionAmtInPolicyCurrency, currency), valid_from, expiry)


def _conditions(parts: Iterable[AmtDecision | None]) -> tuple[Condition, ...]:
    seen: dict[Condition, None] = {}
    for part in parts:
        if part is None:
            continue
        for c in part.decisionConditions:
            seen.setdefault(
                Condition(c.conditionCode, c.conditionDescription or "", c.conditionType or "")
            )
    return tuple(seen)


def map_cover(
    cover: Cover,
    currency: str,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
    observed_at: datetime | None = None,
    version_ending: frozenset[str] = VERSION_ENDING_CODES,
) -> CoverDecision:
    """One Atradius cover record as a :class:`CoverDecision` in the policy currency.

    ``currency`` is the policy currency (from the PolicyRef). ``last_changed_at`` is
    the latest of decisionDate, applicationDate and withdrawalDate; ``observed_at``,
    when given, keeps a withdrawalDate later than it (a withdrawal announced for a
    future date) out of it, so a later sync is never judged stale against that date.
    ``version_ending`` as in :func:`resolve_status`. Raises :class:`MappingError` for a
    record that cannot be mapped.
    """
    if cover.policyCurrency is not None and cover.policyCurrency != currency:
        raise MappingError(
            "policyCurrency", f"record is in {cover.policyCurrency}, the policy in {currency}"
        )
    resolved = resolve_status(cover, status_overrides, version_ending=version_ending)
    start = cover.effectFromDate or cover.decisionDate or cover.applicationDate
    if start is None:
        raise MappingError("effectFromDate", "no effectFromDate, decisionDate or applicationDate")
    effective_from = start.date()
    end = cover.withdrawalDate or cover.effectiveToDate
    granted = cover.granted_in_policy_currency
    parts = [p for p in (cover.firstAmtDecision, cover.secondAmtDecision) if p is not None]
    if granted is None:
        granted = sum((p.decisionAmtInPolicyCurrency for p in parts), Decimal(0))
    tranche_from = (cover.effectFromDate or cover.decisionDate or start).date()
    if parts:
        tranches = tuple(_tranche(p, tranche_from, currency) for p in parts)
    elif granted > 0:
        tranches = (Tranche(money(granted, currency), tranche_from),)
    else:
        tranches = ()
    status = resolved.status
    if status in _GRANTING and granted == 0 and cover.coverStatus.upper() == COVER_STATUS_DECISION:
        status = S.REFUSED
    requested = cover.creditLimitApplicationAmountInPolicyCurrency
    moments = [m for m in (cover.decisionDate, cover.applicationDate) if m is not None]
    withdrawal = cover.withdrawalDate
    if withdrawal is not None and (observed_at is None or withdrawal <= observed_at):
        moments.append(withdrawal)
    return CoverDecision(
        insurer_cover_ref=cover.coverId,
        status=status,
        currency=currency,
        granted_amount=money(granted, currency),
        effective_from=effective_from,
        tranches=tranches,
        requested_amount=money(requested, currency) if requested is not None else None,
        is_preliminary=resolved.is_preliminary,
        conditions=_conditions((cover.firstAmtDecision, cover.secondAmtDecision)),
        pending_action=resolved.pending_action,
        raw_codes=raw_codes(cover),
        unknown_codes=resolved.unknown_codes,
        effective_to=end.date() if end is not None else None,
        decided_at=utc(cover.decisionDate),
        last_changed_at=utc(max(moments)) if moments else None,
    )
