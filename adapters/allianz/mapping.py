"""Allianz Trade records to domain objects: pure functions, table-driven.

Status codes (``fixtures/allianz/README.md``, "Observed" and "Uncertain"). Only ``Agreement`` (V2
``coverStatusCode``), ``AlreadyAgreed`` (V3 ``technicalDecisionStatusCode``), the job
status ``pending`` and the request status ``InProgress`` have been observed. **The
full enum is not public**: every other entry of :data:`STATUS_CODES` is SYNTHETIC and
can be corrected with the option ``status_overrides`` (raw code -> status name) without
a release. Codes are compared case-insensitively (the toolkit's one rule, see
:mod:`tci_gateway.adapters.overrides`) and kept raw in ``raw_codes``. An
unknown code maps to PENDING and is listed in ``CoverDecision.unknown_codes``. A
granting code with amount 0 is a refusal.

A cover's ``creditLimits`` are its limit decisions over time. The one in force is the
latest by ``startDate`` (then ``decisionDate``, then list order) that has started by
``observed_at``; a later, future entry that ends the cover (WITHDRAWN, EXPIRED) becomes
``pending_action`` WITHDRAWAL_NOTICE and ``effective_to``: the limit still counts
until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from tci_gateway.adapters.contract import BuyerMatch
from tci_gateway.adapters.toolkit import MappingError as MappingError
from tci_gateway.adapters.toolkit import find_alpha2, find_identifier, money, utc
from tci_gateway.adapters.toolkit import parse_status_overrides as parse_status_overrides
from tci_gateway.domain.cover import CoverDecision, CoverStatus, PendingAction, Tranche
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.domain.money import Money

from .wire import Company, Cover, CoverRequestRecord, CreditLimit

S = CoverStatus

OBSERVED_CODES = frozenset({"Agreement", "AlreadyAgreed", "InProgress"})
"""Codes seen in public client code (M); every other table entry is SYNTHETIC."""

STATUS_CODES: dict[str, CoverStatus] = {
    "Agreement": S.APPROVED,  # observed: V2 coverStatusCode
    "AlreadyAgreed": S.APPROVED,  # observed: V3 technicalDecisionStatusCode
    "InProgress": S.PENDING,  # observed: coverRequests requestStatusCode
    # SYNTHETIC below: plausible names, not seen in any public payload.
    "Pending": S.PENDING,
    "PartialAgreement": S.PARTIALLY_APPROVED,
    "Refusal": S.REFUSED,
    "Reduction": S.REDUCED,
    "Withdrawal": S.WITHDRAWN,
    "Cancellation": S.WITHDRAWN,
    "Expiry": S.EXPIRED,
}

JOB_PENDING = frozenset({"pending"})  # observed
JOB_PROCESSED = frozenset({"processed"})  # observed
JOB_FAILED = frozenset({"failed", "error", "rejected"})  # SYNTHETIC

REQUEST_PENDING = frozenset({"inprogress", "pending"})  # InProgress observed
REQUEST_DECIDED = frozenset({"processed", "completed", "closed", "done"})  # SYNTHETIC

_GRANTING = frozenset({S.APPROVED, S.PARTIALLY_APPROVED, S.REDUCED})
_ENDING = frozenset({S.WITHDRAWN, S.EXPIRED})
_FOLDED = {code.casefold(): status for code, status in STATUS_CODES.items()}
_NEVER = datetime.min.replace(tzinfo=UTC)


def resolve_code(
    code: str, overrides: Mapping[str, CoverStatus] | None = None
) -> tuple[CoverStatus, tuple[str, ...]]:
    """``(status, unknown codes)`` for one raw status code."""
    key = code.strip().casefold()
    found = (overrides or {}).get(key) or _FOLDED.get(key)
    if found is None:
        return S.PENDING, (code,)
    return found, ()


def _order(item: tuple[int, CreditLimit]) -> tuple[datetime, datetime, int]:
    index, limit = item
    return (limit.startDate or _NEVER, limit.decisionDate or _NEVER, index)


def current_limit(
    cover: Cover, observed_at: datetime | None = None
) -> tuple[CreditLimit, list[CreditLimit]]:
    """The credit limit in force at ``observed_at`` (default: the latest) and the later,
    future ones. Raises :class:`MappingError` when the cover has none."""
    ordered = sorted(enumerate(cover.limits), key=_order)
    if not ordered:
        raise MappingError("creditLimitsAggregation.creditLimits", "the cover has no credit limit")
    started = [
        item
        for item in ordered
        if observed_at is None or item[1].startDate is None or item[1].startDate <= observed_at
    ]
    chosen = started[-1] if started else ordered[0]
    later = [limit for index, limit in ordered if _order((index, limit)) > _order(chosen)]
    return chosen[1], later


def map_cover(
    cover: Cover,
    currency: str,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
    observed_at: datetime | None = None,
) -> CoverDecision:
    """One Allianz cover as a :class:`CoverDecision` in the policy ``currency``.

    Raises :class:`MappingError` for a cover that cannot be mapped (no credit limit,
    no status code, no start date, another currency than the policy's)."""
    limit, later = current_limit(cover, observed_at)
    agg = cover.creditLimitsAggregation
    record_currency = limit.currencyCode or (agg.currencyCode if agg is not None else None)
    if record_currency is not None and record_currency.upper() != currency:
        raise MappingError(
            "currencyCode", f"cover is in {record_currency}, the policy in {currency}"
        )
    code = limit.technicalDecisionStatusCode or cover.coverStatusCode
    if code is None:
        raise MappingError(
            "creditLimits.technicalDecisionStatusCode", "the credit limit has no status code"
        )
    status, unknown = resolve_code(code, status_overrides)
    if status in _GRANTING and limit.amount == 0:
        status = S.REFUSED
    start = limit.startDate or limit.decisionDate or cover.lastUpdateDate
    if start is None:
        raise MappingError("creditLimits.startDate", "the credit limit has no startDate")
    granted = money(limit.amount, currency)
    end = limit.endDate
    action: PendingAction | None = None
    for future in later:
        if future.technicalDecisionStatusCode is None:
            continue
        future_status, _ = resolve_code(future.technicalDecisionStatusCode, status_overrides)
        if future_status in _ENDING and future.startDate is not None:
            action = PendingAction.WITHDRAWAL_NOTICE
            end = min(end, future.startDate) if end is not None else future.startDate
            break
    tranches: tuple[Tranche, ...] = ()
    if limit.amount > 0:
        tranches = (Tranche(granted, start.date(), end.date() if end else None),)
    raw = {"technicalDecisionStatusCode": limit.technicalDecisionStatusCode}
    raw["coverStatusCode"] = cover.coverStatusCode
    moments = [m for m in (cover.lastUpdateDate, limit.decisionDate) if m is not None]
    return CoverDecision(
        insurer_cover_ref=cover.coverId,
        status=status,
        currency=currency,
        granted_amount=granted,
        effective_from=start.date(),
        tranches=tranches,
        pending_action=action if status not in _ENDING else None,
        raw_codes={k: v for k, v in raw.items() if v is not None},
        unknown_codes=unknown,
        effective_to=end.date() if end is not None else None,
        decided_at=utc(limit.decisionDate),
        last_changed_at=utc(max(moments)) if moments else None,
    )


def past_versions(
    cover: Cover,
    currency: str,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
    observed_at: datetime | None = None,
) -> list[CoverDecision]:
    """The credit limits of a cover that came before the one in force at ``observed_at``
    (an earlier ``Agreement`` before the ``AlreadyAgreed`` that replaced it), each as a
    version of its own, newest first: the limit on a past delivery date is read from them.
    Raises :class:`MappingError` for a past limit that cannot be mapped."""
    current, _ = current_limit(cover, observed_at)
    ordered = sorted(enumerate(cover.limits), key=_order)
    chosen = next(item for item in ordered if item[1] is current)
    versions: list[CoverDecision] = []
    for _, limit in reversed([item for item in ordered if _order(item) < _order(chosen)]):
        agg = cover.creditLimitsAggregation
        record_currency = limit.currencyCode or (agg.currencyCode if agg is not None else None)
        if record_currency is not None and record_currency.upper() != currency:
            raise MappingError(
                "currencyCode",
                f"a past credit limit is in {record_currency}, the policy in {currency}",
            )
        code = limit.technicalDecisionStatusCode or cover.coverStatusCode
        start = limit.startDate or limit.decisionDate
        if code is None or start is None:
            raise MappingError(
                "creditLimits", "a past credit limit has no status code or no start date"
            )
        status, unknown = resolve_code(code, status_overrides)
        if status in _GRANTING and limit.amount == 0:
            status = S.REFUSED
        granted = money(limit.amount, currency)
        end = limit.endDate.date() if limit.endDate is not None else None
        tranches = (Tranche(granted, start.date(), end),) if limit.amount > 0 else ()
        raw = {"technicalDecisionStatusCode": limit.technicalDecisionStatusCode}
        decided = utc(limit.decisionDate)
        versions.append(
            CoverDecision(
                insurer_cover_ref=cover.coverId,
                status=status,
                currency=currency,
                granted_amount=granted,
                effective_from=start.date(),
                tranches=tranches,
                raw_codes={k: v for k, v in raw.items() if v is not None},
                unknown_codes=unknown,
                effective_to=end,
                decided_at=decided,
                last_changed_at=decided or utc(start),
            )
        )
    return versions


def request_state(code: str) -> str:
    """``"pending"``, ``"decided"`` or ``"closed"`` for a ``requestStatusCode``; an
    unknown code counts as pending (keep polling rather than lose a request)."""
    key = code.strip().casefold()
    if key in REQUEST_DECIDED:
        return "decided"
    if key in REQUEST_PENDING:
        return "pending"
    if key in ("cancelled", "canceled", "rejected"):  # SYNTHETIC
        return "closed"
    return "pending"


def map_pending_request(
    record: CoverRequestRecord,
    currency: str,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
) -> CoverDecision:
    """A cover request still in progress as a PENDING :class:`CoverDecision` (no cover
    yet: the reference is ``request:<requestId>``)."""
    details = record.creditLimitDetails
    requested = details.requestedAmount if details is not None else None
    if details is not None and details.currencyCode and details.currencyCode.upper() != currency:
        raise MappingError(
            "creditLimitDetails.currencyCode",
            f"request is in {details.currencyCode}, the policy in {currency}",
        )
    status, unknown = resolve_code(record.requestStatusCode, status_overrides)
    if status is not S.PENDING:
        unknown = unknown or (record.requestStatusCode,)
        status = S.PENDING
    start = record.creationDate or record.lastUpdateDate
    if start is None:
        raise MappingError("creationDate", "the request has no creationDate")
    moments = [m for m in (record.creationDate, record.lastUpdateDate) if m is not None]
    return CoverDecision(
        insurer_cover_ref=f"request:{record.requestId}",
        status=status,
        currency=currency,
        granted_amount=Money.zero(currency),
        effective_from=start.date(),
        requested_amount=money(requested, currency) if requested is not None else None,
        raw_codes={"requestStatusCode": record.requestStatusCode},
        unknown_codes=unknown,
        last_changed_at=utc(max(moments)),
    )


# -- companies --------------------------------------------------------------------------


country_alpha2 = find_alpha2
"""An ISO 3166 country code (alpha-2, or alpha-3 converted) as alpha-2, or ``None``."""


def map_identifier(
    id_type: str, value: str, country: str | None, id_types: Mapping[Scheme, str]
) -> Identifier | None:
    """A company identifier as a validated domain identifier, or ``None`` when its
    ``idTypeCode`` has no domain scheme or the value fails validation. The EH id is not
    mapped here (it is the buyer key)."""
    reverse = {code.casefold(): scheme for scheme, code in id_types.items()}
    scheme = reverse.get(id_type.strip().casefold())
    if scheme is None or scheme is Scheme.INSURER:
        return None
    return find_identifier(scheme, value, country)


def map_company(
    company: Company, insurer: str, id_types: Mapping[Scheme, str], fallback_country: str
) -> BuyerMatch:
    """A search result's company as a :class:`BuyerMatch` (the buyer key is
    ``companyId``, the EH id). Identifiers that fail validation are left out."""
    address = company.address
    country = country_alpha2(address.countryCode if address else None) or fallback_country
    name = company.legalData.companyName if company.legalData else None
    identifiers: dict[Identifier, None] = {}
    for item in company.companyIdentifiers:
        found = map_identifier(item.idTypeCode, item.idValue, country, id_types)
        if found is not None:
            identifiers.setdefault(found)
    return BuyerMatch(
        insurer=insurer,
        insurer_buyer_id=company.companyId,
        name=name or "",
        country=country,
        identifiers=tuple(identifiers),
    )
