"""The deadline clock of an overdue invoice (docs/domain.md, section 5).

Every deadline is counted in calendar days from the invoice's due date ``D``, from the
policy's terms, never from code constants:

================  =====================================  ================================
deadline          date                                   what is lost after it
================  =====================================  ================================
cover stop        ``D + max_extension_days``             new deliveries to the buyer are
                                                         uninsured from this date on
notify by         ``D + overdue_notification_days``      the indemnity, if not notified
date of loss      ``D + waiting_days``                   (a claim cannot be filed before)
claim by          ``D + claim_filing_days``              the indemnity, if not filed
================  =====================================  ================================

``D`` is the original due date, moved only by an extension the insurer granted, and
only when the policy's :attr:`~tci_gateway.domain.policy.PolicyTerms.extension_moves_deadlines`
says so. "Notify by" and "claim by" are the last days on which the act is in time; a
deadline ends at midnight at the end of that day **in the policy's time zone**
(:meth:`DeadlineClock.instant`), and "today" is the business date in that zone
(:meth:`~tci_gateway.domain.policy.PolicyTerms.business_date`). One published Atradius
policy reads D+60, D+90, D+180, D+360.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import overload
from zoneinfo import ZoneInfo

from tci_gateway.domain.policy import PolicyTerms


@overload
def effective_due_date(
    due_date: date, extended_due_date: date | None, *, extension_moves_deadlines: bool
) -> date: ...
@overload
def effective_due_date(
    due_date: date | None, extended_due_date: date | None, *, extension_moves_deadlines: bool
) -> date | None: ...
def effective_due_date(
    due_date: date | None, extended_due_date: date | None, *, extension_moves_deadlines: bool
) -> date | None:
    """The due date in force of an invoice (``D`` of its clock): its ERP ``due_date``,
    moved to ``extended_due_date`` (a new due date the insurer granted) only when the
    policy says extensions move the deadlines, and only when that is later.

    The one rule for the clock, the cases, the indemnity and the deadline scan; the scan's
    SQL (:func:`tci_gateway.services.deadlines.effective_due_sql`) mirrors it, and a test
    proves the two agree on every combination."""
    if (
        extension_moves_deadlines
        and due_date is not None
        and extended_due_date is not None
        and extended_due_date > due_date
    ):
        return extended_due_date
    return due_date


def is_overdue(due_date: date | None, today: date) -> bool:
    """An invoice is overdue from the day after its due date, on the policy's business
    date ``today`` (the deadline scan's SQL filter says the same: due < today)."""
    return due_date is not None and due_date < today


class Deadline(StrEnum):
    """The four dates of a clock."""

    COVER_STOP = "COVER_STOP"
    NOTIFY_BY = "NOTIFY_BY"
    DATE_OF_LOSS = "DATE_OF_LOSS"
    CLAIM_BY = "CLAIM_BY"


@dataclass(frozen=True, slots=True)
class DeadlineClock:
    """The deadlines of one overdue invoice under one policy's terms."""

    original_due_date: date
    due_date: date
    cover_stop: date
    notify_by: date
    date_of_loss: date
    claim_by: date
    timezone: str

    def on(self, deadline: Deadline) -> date:
        """The date of ``deadline``."""
        return {
            Deadline.COVER_STOP: self.cover_stop,
            Deadline.NOTIFY_BY: self.notify_by,
            Deadline.DATE_OF_LOSS: self.date_of_loss,
            Deadline.CLAIM_BY: self.claim_by,
        }[deadline]

    def days_overdue(self, today: date) -> int:
        """Calendar days past the due date on the business date ``today`` (0 or less when
        not yet overdue)."""
        return (today - self.due_date).days

    def instant(self, deadline: Deadline) -> datetime:
        """The instant, in UTC, a deadline bites: for an act (notify by, claim by) the
        midnight that ends its last day, for an event (cover stop, date of loss) the
        midnight that begins its day; both in the policy's time zone."""
        day = self.on(deadline)
        return _midnight(day if deadline in _EVENTS else day + timedelta(days=1), self.timezone)

    def days_left(self, deadline: Deadline, today: date) -> int:
        """Calendar days from ``today`` to the deadline's date (0 on the day itself,
        negative once past)."""
        return (self.on(deadline) - today).days

    def missed(self, deadline: Deadline, today: date) -> bool:
        """True once the last day of an act (notify by, claim by) has passed, or the day
        of an event (cover stop, date of loss) has come."""
        if deadline in _EVENTS:
            return today >= self.on(deadline)
        return today > self.on(deadline)


# Cover stop and date of loss are events that take effect *on* their date; notify-by and
# claim-by are last days on which the act is still in time.
_EVENTS = frozenset({Deadline.COVER_STOP, Deadline.DATE_OF_LOSS})


def _midnight(day: date, zone: str) -> datetime:
    # ZoneInfo resolves the local midnight with the offset in force on that date, so a
    # deadline after a DST change ends at 22:00 UTC in summer and 23:00 UTC in winter
    # for Europe/Berlin. (A zone whose clocks skip midnight itself resolves to the first
    # valid instant by fold rules; none of the policy zones in use do.)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def deadline_clock(
    terms: PolicyTerms, original_due_date: date, extended_due_date: date | None = None
) -> DeadlineClock:
    """The clock of an invoice due on ``original_due_date``; ``extended_due_date`` is a
    new due date the insurer granted (an EXP overdue), which moves ``D`` when the policy
    says extensions move the deadlines. An extension never moves them earlier."""
    due = effective_due_date(
        original_due_date,
        extended_due_date,
        extension_moves_deadlines=terms.extension_moves_deadlines,
    )

    def plus(days: int) -> date:
        return due + timedelta(days=days)

    return DeadlineClock(
        original_due_date=original_due_date,
        due_date=due,
        cover_stop=plus(terms.max_extension_days),
        notify_by=plus(terms.overdue_notification_days),
        date_of_loss=plus(terms.waiting_days),
        claim_by=plus(terms.claim_filing_days),
        timezone=terms.timezone,
    )


@dataclass(frozen=True, slots=True)
class DeadlineWarning:
    """A deadline within a lead time of the business date (or already past)."""

    deadline: Deadline
    on: date
    days_left: int
    lead_days: int


def warnings(
    clock: DeadlineClock, today: date, lead_days: tuple[int, ...]
) -> list[DeadlineWarning]:
    """The deadlines of ``clock`` within the largest lead time that has been reached:
    for lead times (14, 7, 2), a deadline 5 days away warns with lead 7. A deadline that
    has passed is not warned about (the case records it as missed)."""
    found = []
    for deadline in Deadline:
        left = clock.days_left(deadline, today)
        if left < 0:
            continue
        reached = [lead for lead in lead_days if left <= lead]
        if reached:
            found.append(DeadlineWarning(deadline, clock.on(deadline), left, min(reached)))
    return found
