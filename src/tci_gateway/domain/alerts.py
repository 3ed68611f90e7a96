"""What the risk team is told: alert kinds, their severity, and cover-change events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from tci_gateway.domain.cover import (
    ENDED_STATUSES,
    CoverDecision,
    CoverStatus,
    PendingAction,
    covered_limit,
)


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


def cover_events(previous: CoverDecision | None, new: CoverDecision, on: date) -> list[AlertKind]:
    """The events a new decision version raises against the previous one, judged by the
    limit each gives on ``on`` (the business date of the sync), or on the new version's
    ``effective_from`` when that is later: a future-dated increase is an increase, not a
    drop to zero until it takes effect."""
    events: list[AlertKind] = []
    if new.unknown_codes:
        events.append(AlertKind.UNKNOWN_STATUS_CODE)
    status_event = _STATUS_EVENT.get(new.status)
    if status_event and (previous is None or previous.status != new.status):
        events.append(status_event)
    judged_on = max(on, new.effective_from)
    new_limit = covered_limit(new, judged_on)
    assert new_limit is not None
    old_limit = covered_limit(previous, judged_on)
    if old_limit is None or (
        old_limit.is_zero()
        and previous is not None
        and (
            previous.status in (CoverStatus.PENDING, CoverStatus.REFUSED)
            or previous.status in ENDED_STATUSES
        )
    ):
        if not new_limit.is_zero():
            events.append(AlertKind.COVER_NEW)
    elif old_limit.currency == new_limit.currency and status_event is None:
        if new_limit > old_limit:
            events.append(AlertKind.COVER_INCREASED)
        elif new_limit < old_limit:
            events.append(AlertKind.COVER_REDUCED)
    announced = (PendingAction.WITHDRAWAL_NOTICE, PendingAction.CANCELLATION_PENDING)
    if new.pending_action in announced and (
        previous is None or previous.pending_action != new.pending_action
    ):
        events.append(AlertKind.PENDING_WITHDRAWAL)
    return events
