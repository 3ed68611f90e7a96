"""Cover decisions, effective-dated, and the covered limit on a date.

docs/domain.md, section 3. Every insurer's statuses are normalised to
:class:`CoverStatus`; the insurer's raw codes are kept beside it in ``raw_codes``.

The limit in force on a date is conservative: only a *decision* adds cover
(:func:`is_decision`: not PENDING, to which REFERRED maps, and no unknown raw code). It is
:func:`covered_limit` of the last known decision :func:`in_force` on that date, zero when
there is none, and :func:`limit_in_force` is the one function every caller (exposure, the
ERP export, the limits kept in the ledger, alerts, the indemnity) asks for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Generic, TypeVar

from tci_gateway.domain.money import Money, total


class CoverStatus(StrEnum):
    """Normalised decision status, one set for every insurer (``docs/domain.md``,
    section 3, "Statuses")."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    PARTIALLY_APPROVED = "PARTIALLY_APPROVED"
    REFUSED = "REFUSED"
    REDUCED = "REDUCED"
    WITHDRAWN = "WITHDRAWN"
    CANCELLED_BY_INSURED = "CANCELLED_BY_INSURED"
    SUPERSEDED = "SUPERSEDED"
    EXPIRED = "EXPIRED"
    INDICATION_ONLY = "INDICATION_ONLY"


class PendingAction(StrEnum):
    """An announced change that is not yet in force: the limit still counts."""

    WITHDRAWAL_NOTICE = "WITHDRAWAL_NOTICE"
    CANCELLATION_PENDING = "CANCELLATION_PENDING"
    REACTIVATION_PENDING = "REACTIVATION_PENDING"
    TRANSFER_PENDING = "TRANSFER_PENDING"
    OTHER = "OTHER"


class CoverAction(StrEnum):
    """What a cover request asks the insurer for."""

    NEW = "NEW"
    INCREASE = "INCREASE"
    REDUCE = "REDUCE"
    CANCEL = "CANCEL"
    RENEW = "RENEW"


class CoverRequestState(StrEnum):
    """A cover request in the outbox (``cover_requests.state``).

    ``QUEUED`` written with its client reference, not (known to be) sent; ``AMBIGUOUS``
    sent, outcome unknown (looked up by reference before a resend); ``PENDING`` the
    insurer has it and has not decided; ``DECIDED`` the insurer decided; ``REJECTED`` the
    insurer refused the request itself (4xx).
    """

    QUEUED = "QUEUED"
    AMBIGUOUS = "AMBIGUOUS"
    PENDING = "PENDING"
    DECIDED = "DECIDED"
    REJECTED = "REJECTED"


OPEN_REQUEST_STATES = (
    CoverRequestState.QUEUED,
    CoverRequestState.AMBIGUOUS,
    CoverRequestState.PENDING,
)
"""Cover requests still waiting for the insurer's answer."""

UNANSWERED = (
    CoverRequestState.QUEUED,
    CoverRequestState.AMBIGUOUS,
    CoverRequestState.REJECTED,
)
"""Cover requests the insurer has not (knowingly) taken: not sent, outcome unknown, or
refused. ``tci cover request`` exits 1 when its request ends in one of these."""


class LimitChangeReason(StrEnum):
    """Why a limit in force changed (``limit_changes.reason``): a sync brought a new
    decision, the business date moved past a change, or two buyers were merged."""

    SYNC = "sync"
    DATE = "date"
    MERGE = "merge"


NO_COVER = "NO_COVER"
"""The status of a limit in force for a buyer with no decision in force or pending."""


# Statuses whose tranches never count. REFUSED is deliberately absent: a plain refusal
# carries no amount, while a refused *increase* (Atradius DC05) keeps the existing
# cover, which the insurer reports as the decision's amount.
ENDED_STATUSES = frozenset(
    {
        CoverStatus.WITHDRAWN,
        CoverStatus.CANCELLED_BY_INSURED,
        CoverStatus.SUPERSEDED,
        CoverStatus.EXPIRED,
        CoverStatus.INDICATION_ONLY,
    }
)


@dataclass(frozen=True, slots=True)
class Tranche:
    """Part of a decision with its own validity. ``expires_on`` is the first day it no
    longer counts: cover is conservatively not counted on the expiry date itself."""

    amount: Money
    valid_from: date
    expires_on: date | None = None

    def valid_on(self, on: date) -> bool:
        return self.valid_from <= on and (self.expires_on is None or on < self.expires_on)


@dataclass(frozen=True, slots=True)
class Condition:
    code: str
    text: str = ""
    type: str = ""


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(sorted(mapping.items())))


@dataclass(frozen=True, slots=True)
class CoverDecision:
    """One version of an insurer's decision on one buyer under one policy.

    Amounts are in the policy currency. ``effective_to`` is the first day the cover no
    longer applies (a withdrawal date), ``None`` when open-ended.
    """

    insurer_cover_ref: str
    status: CoverStatus
    currency: str
    granted_amount: Money
    effective_from: date
    tranches: tuple[Tranche, ...] = ()
    requested_amount: Money | None = None
    is_preliminary: bool = False
    conditions: tuple[Condition, ...] = ()
    pending_action: PendingAction | None = None
    raw_codes: Mapping[str, str] = field(default_factory=dict)
    unknown_codes: tuple[str, ...] = ()
    effective_to: date | None = None
    decided_at: datetime | None = None
    last_changed_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw_codes", _frozen(self.raw_codes))

    def __hash__(self) -> int:
        return hash((self.insurer_cover_ref, self.status, self.granted_amount, self.effective_from))

    def same_content(self, other: CoverDecision) -> bool:
        """True when nothing a risk team or the ERP relies on differs."""
        return self == other


def covered_limit(decision: CoverDecision | None, on: date) -> Money | None:
    """The covered limit a decision gives on ``on``; ``None`` when there is no decision.

    Zero when the status has ended the cover, before ``effective_from`` and from
    ``effective_to``; otherwise the sum of the tranches valid on that date. A decision
    reported without tranches counts its granted amount as one open-ended tranche.
    """
    if decision is None:
        return None
    zero = Money.zero(decision.currency)
    if decision.status in ENDED_STATUSES:
        return zero
    if on < decision.effective_from:
        return zero
    if decision.effective_to is not None and on >= decision.effective_to:
        return zero
    if not decision.tranches:
        return decision.granted_amount
    return total((t.amount for t in decision.tranches if t.valid_on(on)), decision.currency)


@dataclass(frozen=True, slots=True)
class DecisionVersion:
    """A stored decision with the order the ledger recorded it in."""

    decision: CoverDecision
    sequence: int


_NEVER = datetime.min.replace(tzinfo=UTC)


def _version_key(v: DecisionVersion) -> tuple[date, datetime, int]:
    changed = v.decision.last_changed_at or v.decision.decided_at or _NEVER
    return (v.decision.effective_from, changed, v.sequence)


V = TypeVar("V", bound=DecisionVersion)


def in_force(versions: Iterable[V], on: date) -> V | None:
    """The version that governs ``on``: among versions effective by then, the one with the
    latest ``effective_from``, then the latest insurer change time, then the latest
    recorded. A reduction effective 1 June therefore governs from 1 June, while deliveries
    before then stay under the earlier version."""
    candidates = [v for v in versions if v.decision.effective_from <= on]
    if not candidates:
        return None
    return max(candidates, key=_version_key)


def is_stale(incoming: CoverDecision, latest: CoverDecision) -> bool:
    """True when ``incoming`` is older than what the ledger already holds: a sync never
    replaces newer data with older."""
    a, b = incoming.last_changed_at, latest.last_changed_at
    if a is None or b is None:
        return False
    return a < b


def is_decision(decision: CoverDecision) -> bool:
    """True when a version is an insurer's decision: not PENDING (REFERRED maps to it)
    and carrying no unknown raw code. Only a decision adds (or takes away) cover; any
    other version leaves the limit in force what the last known decision gives."""
    return decision.status is not CoverStatus.PENDING and not decision.unknown_codes


VC = TypeVar("VC", bound=DecisionVersion, covariant=True)


@dataclass(frozen=True, slots=True)
class LimitInForce(Generic[VC]):
    """The limit in force on ``on`` and where it comes from.

    ``amount`` is ``None`` only when there is no version at all (no cover history);
    ``governing`` is the last known decision in force (``None``: the amount is zero);
    ``latest`` the version in force among all, pending ones included, for display;
    ``next_change`` the first later date on which the amount or the governing decision
    changes (a tranche ending, an announced withdrawal, a later-dated decision taking
    effect), with ``next_amount`` the amount from then; both ``None`` when nothing is due.
    """

    on: date
    amount: Money | None
    governing: VC | None
    latest: VC | None
    next_change: date | None = None
    next_amount: Money | None = None

    @property
    def currency(self) -> str | None:
        return self.amount.currency if self.amount is not None else None

    @property
    def status(self) -> CoverStatus | None:
        """The status of the limit in force: the governing decision's, except once its
        cover has ended by date (``effective_to`` passed): ``WITHDRAWN`` when a withdrawal
        or cancellation was announced, else ``EXPIRED``. ``None`` without a decision."""
        if self.governing is None:
            return None
        decision = self.governing.decision
        if decision.effective_to is None or self.on < decision.effective_to:
            return decision.status
        if decision.status in ENDED_STATUSES:
            return decision.status
        announced = (PendingAction.WITHDRAWAL_NOTICE, PendingAction.CANCELLATION_PENDING)
        return (
            CoverStatus.WITHDRAWN if decision.pending_action in announced else CoverStatus.EXPIRED
        )


def _boundaries(decision: CoverDecision) -> Iterable[date]:
    yield decision.effective_from
    if decision.effective_to is not None:
        yield decision.effective_to
    for t in decision.tranches:
        yield t.valid_from
        if t.expires_on is not None:
            yield t.expires_on


def _known_state(known: Sequence[V], on: date, currency: str) -> tuple[V | None, Money]:
    version = in_force(known, on)
    limit = covered_limit(version.decision, on) if version is not None else None
    return version, limit if limit is not None else Money.zero(currency)


def limit_in_force(versions: Iterable[V], on: date) -> LimitInForce[V]:
    """The limit in force on ``on`` from a buyer's decision history under one policy
    (docs/domain.md, section 3): what the last known decision still in force gives, zero when
    there is none. PENDING, REFERRED and versions with unknown codes never add cover."""
    history = list(versions)
    if not history:
        return LimitInForce(on, None, None, None)
    currency = history[-1].decision.currency
    known = [v for v in history if is_decision(v.decision)]
    governing, amount = _known_state(known, on, currency)
    latest = in_force(history, on)
    for day in sorted({d for v in known for d in _boundaries(v.decision) if d > on}):
        then, then_amount = _known_state(known, day, currency)
        if then is not governing or then_amount != amount:
            return LimitInForce(on, amount, governing, latest, day, then_amount)
    return LimitInForce(on, amount, governing, latest)


def as_history(
    cover: Sequence[DecisionVersion] | CoverDecision | None,
) -> Sequence[DecisionVersion]:
    """What the rules that use a limit take, as versions: a buyer's versions under one
    policy as they are, a lone decision as a history of one version, ``None`` as none."""
    if cover is None:
        return ()
    if isinstance(cover, CoverDecision):
        return (DecisionVersion(cover, 0),)
    return cover
