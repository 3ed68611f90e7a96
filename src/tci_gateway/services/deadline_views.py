"""Upcoming deadlines as the risk team reads them (``tci deadlines --within N`` and
``GET /v1/deadlines``): the overdue buyers of the deadline scan
(:func:`~tci_gateway.services.deadlines.scan_policy`) whose clock has a deadline within
N days of the policy's business date (its time zone's "today"), in (policy, buyer)
order, a page at a time (keyset: the position after the last buyer of a page).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from tci_gateway.domain.deadlines import Deadline, DeadlineClock
from tci_gateway.domain.escalation import EscalationPath
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.services.deadlines import OverdueBuyer, scan_policy


@dataclass(frozen=True)
class UpcomingDeadline:
    """One deadline of a clock within the horizon."""

    deadline: Deadline
    on: date
    days_left: int
    bites_at: datetime
    """The instant (UTC) it bites: the midnight ending an act's last day, or beginning an
    event's day, in the policy's time zone."""


def deadlines_within(
    clock: DeadlineClock, today: date, within: int | None
) -> tuple[UpcomingDeadline, ...]:
    """The deadlines of ``clock`` from ``today`` (the policy's business date) to
    ``within`` days ahead, both included, in date order; every deadline when ``within``
    is ``None``. A deadline already past is not upcoming."""
    found = [
        UpcomingDeadline(d, clock.on(d), clock.days_left(d, today), clock.instant(d))
        for d in Deadline
        if within is None or 0 <= clock.days_left(d, today) <= within
    ]
    return tuple(sorted(found, key=lambda u: (u.on, list(Deadline).index(u.deadline))))


@dataclass(frozen=True)
class DeadlineRow:
    """An overdue buyer (its clock, due steps, case) and its deadlines within the
    horizon."""

    buyer: OverdueBuyer
    upcoming: tuple[UpcomingDeadline, ...]


@dataclass(frozen=True)
class DeadlinePage:
    rows: list[DeadlineRow]
    next_after: tuple[str, int] | None
    """Where the next page starts (policy key, buyer id), ``None`` after the last."""


def upcoming_deadlines(
    ledger: Ledger,
    policies: Mapping[str, Policy],
    paths: Mapping[str, EscalationPath],
    *,
    default_tier: str,
    now: datetime,
    within: int,
    lead_days: tuple[int, ...] = (14, 7, 2),
    allowed: Collection[str] | None = None,
    policy: str | None = None,
    after: tuple[str, int] | None = None,
    limit: int = 100,
) -> DeadlinePage:
    """The overdue buyers with a deadline within ``within`` days, ``limit`` at most,
    after the position ``after`` (policy key, buyer id). ``allowed`` restricts the
    policies (an API key's), ``policy`` picks one. Each policy is scanned on its own
    business date at ``now``. Memory holds the page asked for and one page of the scan
    (:func:`~tci_gateway.services.deadlines.scan_policy` reads a policy in pages)."""
    rows: list[DeadlineRow] = []
    with ledger.reading() as session:
        ids = policy_ids(session)
        for key, pol in sorted(policies.items()):
            if key not in ids or (allowed is not None and key not in allowed):
                continue
            if (policy is not None and key != policy) or (after is not None and key < after[0]):
                continue
            today = pol.terms.business_date(now)
            start = after[1] if after is not None and key == after[0] else None
            for ob in scan_policy(
                session, pol, ids[key], paths, default_tier, today, lead_days, after_buyer=start
            ):
                upcoming = deadlines_within(ob.clock, today, within)
                if not upcoming:
                    continue
                if len(rows) == limit:
                    last = rows[-1].buyer
                    return DeadlinePage(rows, (last.policy.key, last.buyer_id))
                rows.append(DeadlineRow(ob, upcoming))
    return DeadlinePage(rows, None)
