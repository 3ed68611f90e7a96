"""What the risk team is told: alert kinds, their severity, and cover-change events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from tci_gateway.domain.cover import (
    ENDED_STATUSES,
    CoverDecision,
    CoverStatus,
    DecisionVersion,
    PendingAction,
    covered_limit,
    is_decision,
    limit_in_force,
)
from tci_gateway.domain.money import Money


class AlertKind(StrEnum):
    # Raised by the limit sync, one per change of a buyer's cover.
    COVER_NEW = "cover_new"
    COVER_INCREASED = "cover_increased"
    COVER_REDUCED = "cover_reduced"
    COVER_REFUSED = "cover_refused"
    COVER_WITHDRAWN = "cover_withdrawn"
    COVER_EXPIRED = "cover_expired"
    COVER_PENDING = "cover_pending"
    PENDING_WITHDRAWAL = "pending_withdrawal"
    UNKNOWN_STATUS_CODE = "unknown_status_code"
    UNKNOWN_BUYER = "unknown_buyer"
    COVER_MISSING = "cover_missing"
    # Raised from exposure against cover.
    OVER_LIMIT = "over_limit"
    UNCOVERED = "uncovered"
    FX_RATE_MISSING = "fx_rate_missing"
    LIMIT_EXPIRING = "limit_expiring"
    RENEWAL_DUE = "renewal_due"
    INACTIVE_BUYER = "inactive_buyer"
    # Raised by the deadline clock and the claims run.
    OVERDUE_REMINDER = "overdue_reminder"
    DEADLINE_APPROACHING = "deadline_approaching"
    DEADLINE_LATE = "deadline_late"
    STOP_DELIVERIES = "stop_deliveries"
    MANUAL_FILING = "manual_filing"
    FILING_REJECTED = "filing_rejected"
    CLAIM_CHANGED = "claim_changed"
    CASE_CLOSED = "case_closed"
    # Raised by the scheduler when a job's run fails (or only partly succeeds).
    SCHEDULER_JOB_FAILED = "scheduler_job_failed"
    # Raised by the webhook relay when it disables an ERP subscription that keeps failing.
    WEBHOOK_DISABLED = "webhook_disabled"
    # Raised by the credit workflow (issue 14): the nightly tier rules, reviews due,
    # exposure above the credit line (insured plus internal), applications waiting for a
    # person, a progressive plan frozen by late payment.
    TIER_CHANGED = "tier_changed"
    CREDIT_REVIEW_DUE = "credit_review_due"
    OVER_CREDIT_LINE = "over_credit_line"
    CREDIT_REFERRED = "credit_referred"
    PLAN_FROZEN = "plan_frozen"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.COVER_NEW: Severity.INFO,
    AlertKind.COVER_INCREASED: Severity.INFO,
    AlertKind.COVER_REDUCED: Severity.WARNING,
    AlertKind.COVER_REFUSED: Severity.WARNING,
    AlertKind.COVER_WITHDRAWN: Severity.CRITICAL,
    AlertKind.COVER_EXPIRED: Severity.CRITICAL,
    AlertKind.COVER_PENDING: Severity.INFO,
    AlertKind.PENDING_WITHDRAWAL: Severity.CRITICAL,
    AlertKind.UNKNOWN_STATUS_CODE: Severity.WARNING,
    AlertKind.UNKNOWN_BUYER: Severity.WARNING,
    AlertKind.COVER_MISSING: Severity.CRITICAL,
    AlertKind.OVER_LIMIT: Severity.WARNING,
    AlertKind.UNCOVERED: Severity.WARNING,
    AlertKind.FX_RATE_MISSING: Severity.WARNING,
    AlertKind.LIMIT_EXPIRING: Severity.WARNING,
    AlertKind.RENEWAL_DUE: Severity.INFO,
    AlertKind.INACTIVE_BUYER: Severity.INFO,
    AlertKind.OVERDUE_REMINDER: Severity.INFO,
    AlertKind.DEADLINE_APPROACHING: Severity.WARNING,
    AlertKind.DEADLINE_LATE: Severity.CRITICAL,
    AlertKind.STOP_DELIVERIES: Severity.CRITICAL,
    AlertKind.MANUAL_FILING: Severity.WARNING,
    AlertKind.FILING_REJECTED: Severity.CRITICAL,
    AlertKind.CLAIM_CHANGED: Severity.WARNING,
    AlertKind.CASE_CLOSED: Severity.INFO,
    AlertKind.SCHEDULER_JOB_FAILED: Severity.CRITICAL,
    AlertKind.WEBHOOK_DISABLED: Severity.CRITICAL,
    AlertKind.TIER_CHANGED: Severity.INFO,
    AlertKind.CREDIT_REVIEW_DUE: Severity.INFO,
    AlertKind.OVER_CREDIT_LINE: Severity.WARNING,
    AlertKind.CREDIT_REFERRED: Severity.WARNING,
    AlertKind.PLAN_FROZEN: Severity.WARNING,
}

_STATUS_EVENT: dict[CoverStatus, AlertKind] = {
    CoverStatus.REFUSED: AlertKind.COVER_REFUSED,
    CoverStatus.WITHDRAWN: AlertKind.COVER_WITHDRAWN,
    CoverStatus.CANCELLED_BY_INSURED: AlertKind.COVER_WITHDRAWN,
    CoverStatus.EXPIRED: AlertKind.COVER_EXPIRED,
    CoverStatus.PENDING: AlertKind.COVER_PENDING,
}


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    message: str

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]


_STARTS_AFTER = frozenset({CoverStatus.REFUSED, *ENDED_STATUSES})
"""A limit from zero under one of these is new cover, not an increase."""


@dataclass(frozen=True, slots=True)
class CoverChange:
    """What one new version changes for a buyer under a policy.

    The limit in force is judged on ``judged_on``: the business date of the sync, or the
    new version's ``effective_from`` when that is later (a future-dated increase is an
    increase, not a drop to zero until it takes effect). ``before`` is the limit in
    force without the new version (``None``: no history), ``after`` with it, and
    ``today`` with it on the business date: the amount every alert quotes."""

    events: tuple[AlertKind, ...]
    on: date
    judged_on: date
    before: Money | None
    after: Money
    today: Money
    refused_increase: bool


def cover_change(history: Sequence[DecisionVersion], new: DecisionVersion, on: date) -> CoverChange:
    """The events ``new`` raises against the versions recorded before it (``history``),
    judged by the limit in force (:func:`tci_gateway.domain.cover.limit_in_force`): a
    pending version or one with unknown codes never changes the limit; a refused
    increase that keeps the existing cover (Atradius DC05 and its equivalents: REFUSED
    with an amount) raises ``cover_refused`` once, then ``cover_increased`` or
    ``cover_reduced`` when the amount kept changes."""
    d = new.decision
    previous = max(history, key=lambda v: v.sequence).decision if history else None
    judged_on = max(on, d.effective_from)
    before = limit_in_force(history, judged_on)
    after = limit_in_force([*history, new], judged_on)
    today = limit_in_force([*history, new], on)
    assert after.amount is not None and today.amount is not None
    own = covered_limit(d, judged_on)
    refused_increase = (
        d.status is CoverStatus.REFUSED and is_decision(d) and own is not None and not own.is_zero()
    )
    events: list[AlertKind] = []
    if d.unknown_codes:
        events.append(AlertKind.UNKNOWN_STATUS_CODE)
    status_event = _STATUS_EVENT.get(d.status)
    if status_event and (previous is None or previous.status != d.status):
        events.append(status_event)
    old, new_limit = before.amount, after.amount
    if status_event is None or refused_increase:
        starts = old is None or (
            old.is_zero()
            and (before.governing is None or before.governing.decision.status in _STARTS_AFTER)
        )
        if starts:
            if not new_limit.is_zero() and not refused_increase:
                events.append(AlertKind.COVER_NEW)
        elif old is not None and old.currency == new_limit.currency:
            if new_limit > old:
                events.append(AlertKind.COVER_INCREASED)
            elif new_limit < old:
                events.append(AlertKind.COVER_REDUCED)
    announced = (PendingAction.WITHDRAWAL_NOTICE, PendingAction.CANCELLATION_PENDING)
    if d.pending_action in announced and (
        previous is None or previous.pending_action != d.pending_action
    ):
        events.append(AlertKind.PENDING_WITHDRAWAL)
    return CoverChange(tuple(events), on, judged_on, old, new_limit, today.amount, refused_increase)


def cover_events(previous: CoverDecision | None, new: CoverDecision, on: date) -> list[AlertKind]:
    """:func:`cover_change` against a history of one version (``previous``), or none."""
    history = [DecisionVersion(previous, 0)] if previous is not None else []
    return list(cover_change(history, DecisionVersion(new, 1), on).events)


def event_message(kind: AlertKind, who: str, decision: CoverDecision, change: CoverChange) -> str:
    """The text of a cover event: it quotes the limit in force on the business date
    (an expired tranche is never quoted) and, for a future-dated change, the amount
    from the day it takes effect. Only the text of ``kind`` is made (a sync writes one
    per event it raises)."""
    now = change.today
    then = (
        f"{change.after} from {change.judged_on}; in force today: {now}"
        if change.judged_on > change.on
        else None
    )
    if kind is AlertKind.COVER_NEW:
        return f"new cover for {who}: {then or now}"
    if kind is AlertKind.COVER_INCREASED:
        return f"cover for {who} increased from {change.before} to {then or now}"
    if kind is AlertKind.COVER_REDUCED:
        return f"cover for {who} reduced from {change.before} to {then or now}"
    if kind is AlertKind.COVER_REFUSED:
        if not change.refused_increase:
            return f"cover for {who} refused: the limit in force is {now}"
        requested = decision.requested_amount
        to = f" to {requested}" if requested is not None else ""
        return f"increase of cover for {who}{to} refused: the existing cover of {now} stands"
    if kind is AlertKind.COVER_WITHDRAWN:
        return f"cover for {who} withdrawn: the limit in force is {now}"
    if kind is AlertKind.COVER_EXPIRED:
        return f"cover for {who} expired: the limit in force is {now}"
    if kind is AlertKind.COVER_PENDING:
        return (
            f"cover request for {who} is pending at the insurer: the limit in force stays at {now}"
        )
    if kind is AlertKind.PENDING_WITHDRAWAL:
        until = f" from {decision.effective_to}" if decision.effective_to else ""
        return (
            f"the insurer announced a withdrawal of cover for {who}{until}: {now} is in force "
            "until then"
        )
    if kind is AlertKind.UNKNOWN_STATUS_CODE:
        codes = ", ".join(decision.unknown_codes)
        return (
            f"unknown status code(s) {codes} for {who}: treated as pending; the limit in force "
            f"stays at {now} until a status override maps the code"
        )
    return f"{kind.value} for {who}: the limit in force is {now}"
