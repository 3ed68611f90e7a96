"""The deadlines calendar (``/deadlines``): every cover-stop, notify-by, date-of-loss and
claim-by date of the next 90 days, from the service behind ``GET /v1/deadlines`` and
``tci deadlines`` (each policy scanned on its own business date, in its time zone).

A month grid per month (a table: one row a week), then the same entries as a list in
date order for screen readers and for reading. An entry within 7 days is marked "soon",
one already past "late" (in words and style). Each entry opens its case; an overdue
buyer with no case yet links the buyer (its case opens on the next claims run).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import Problem
from tci_gateway.domain.cases import CaseState
from tci_gateway.domain.deadlines import Deadline
from tci_gateway.ledger.tables import ClaimCaseRow, PolicyRow
from tci_gateway.services.deadline_views import (
    DeadlineRow,
    deadlines_within,
    upcoming_deadlines,
)
from tci_gateway.web.render import page
from tci_gateway.web.session import Viewer

router = APIRouter()

HORIZON = 90
SOON = 7
PER_DAY = 4
"""Entries shown in a day of the grid; the others are in the list under it."""
PAGE = 500
_CHUNK = 500
MAX_ROWS = 5000
"""At most this many overdue buyers on the page (the page says when there are more)."""

LABELS = {
    Deadline.COVER_STOP: "Cover stop (stop deliveries)",
    Deadline.NOTIFY_BY: "Notify by",
    Deadline.DATE_OF_LOSS: "Date of loss",
    Deadline.CLAIM_BY: "Claim by",
}


@dataclass(frozen=True)
class Entry:
    """One deadline of one overdue buyer under one policy."""

    on: date
    deadline: Deadline
    policy: str
    timezone: str
    buyer_id: int
    buyer: str
    case_id: int | None
    days_left: int
    bites_at: datetime

    @property
    def label(self) -> str:
        return LABELS[self.deadline]

    @property
    def late(self) -> bool:
        return self.days_left < 0

    @property
    def soon(self) -> bool:
        return 0 <= self.days_left <= SOON

    @property
    def href(self) -> str:
        return f"/cases/{self.case_id}" if self.case_id else f"/buyers/{self.buyer_id}"

    @property
    def when(self) -> str:
        """``today``, ``in 3 days``, ``2 days late``."""
        if self.days_left == 0:
            return "today"
        if self.days_left < 0:
            n = -self.days_left
            return f"{n} day{'s' if n != 1 else ''} late"
        return f"in {self.days_left} day{'s' if self.days_left != 1 else ''}"


@dataclass
class Cell:
    on: date | None
    in_range: bool = False
    today: bool = False
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Month:
    title: str
    anchor: str
    weeks: list[list[Cell]]
    count: int


def _rows(ctx: ApiContext, policy: str | None) -> tuple[list[DeadlineRow], bool]:
    """The overdue buyers with a deadline within the horizon (every page of the
    service's, up to :data:`MAX_ROWS`) and whether there were more."""
    settings = ctx.settings
    rows: list[DeadlineRow] = []
    after: tuple[str, int] | None = None
    while True:
        found = upcoming_deadlines(
            ctx.ledger,
            settings.domain_policies(),
            settings.escalation_paths(),
            default_tier=settings.escalation.default_tier,
            now=ctx.now(),
            within=HORIZON,
            lead_days=tuple(settings.alerts.deadline_lead_days),
            policy=policy,
            after=after,
            limit=PAGE,
        )
        rows += found.rows
        if found.next_after is None:
            return rows, False
        if len(rows) >= MAX_ROWS:
            return rows, True
        after = found.next_after


def _open_cases(ctx: ApiContext, rows: list[DeadlineRow]) -> dict[tuple[str, int], int]:
    """The newest open case of each (policy, buyer) among ``rows`` whose clock is not a
    notified case's (those rows name their case already): a case opened before the
    insurer was notified still opens from the calendar."""
    wanted = sorted({r.buyer.buyer_id for r in rows if r.buyer.case_id is None})
    found: dict[tuple[str, int], int] = {}
    with ctx.ledger.reading() as session:
        for start in range(0, len(wanted), _CHUNK):
            stmt = (
                select(ClaimCaseRow.id, PolicyRow.key, ClaimCaseRow.buyer_id)
                .join(PolicyRow, PolicyRow.id == ClaimCaseRow.policy_id)
                .where(
                    ClaimCaseRow.state == CaseState.OPEN,
                    ClaimCaseRow.buyer_id.in_(wanted[start : start + _CHUNK]),
                )
                .order_by(ClaimCaseRow.id.desc())
            )
            for case_id, key, buyer_id in session.execute(stmt):
                found.setdefault((key, buyer_id), case_id)
    return found


def entries_of(rows: Iterable[DeadlineRow], cases: dict[tuple[str, int], int]) -> list[Entry]:
    """Each row's deadlines within the horizon and those already past (late), in date
    order; the case is the row's (a notified case's clock) or the buyer's open case."""
    out: list[Entry] = []
    for row in rows:
        ob = row.buyer
        case_id = ob.case_id or cases.get((ob.policy.key, ob.buyer_id))
        late = [u for u in deadlines_within(ob.clock, ob.today, None) if u.days_left < 0]
        for u in (*late, *row.upcoming):
            out.append(
                Entry(
                    u.on,
                    u.deadline,
                    ob.policy.key,
                    ob.clock.timezone,
                    ob.buyer_id,
                    ob.buyer_name,
                    case_id,
                    u.days_left,
                    u.bites_at,
                )
            )
    out.sort(key=lambda e: (e.on, list(Deadline).index(e.deadline), e.policy, e.buyer))
    return out


def months_of(entries: list[Entry], first: date, last: date, today: date) -> list[Month]:
    """A month grid (weeks from Monday) for each month from ``first`` to ``last``."""
    by_day: dict[date, list[Entry]] = {}
    for e in entries:
        by_day.setdefault(e.on, []).append(e)
    months: list[Month] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        weeks = []
        count = 0
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
            cells = []
            for d in week:
                if d.month != month:
                    cells.append(Cell(None))
                    continue
                found = by_day.get(d, [])
                count += len(found)
                cells.append(Cell(d, first <= d <= last, d == today, found))
            weeks.append(cells)
        title = f"{calendar.month_name[month]} {year}"
        months.append(Month(title, f"month-{year}-{month:02d}", weeks, count))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


@router.get("/deadlines", response_class=HTMLResponse)
def deadlines(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    policy: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The calendar of the next 90 days, optionally of one policy."""
    settings = ctx.settings
    policy = policy or None
    if policy is not None and policy not in settings.policies:
        known = ", ".join(sorted(settings.policies)) or "none"
        raise Problem(422, f"unknown policy {policy!r} (configured: {known})")
    rows, truncated = _rows(ctx, policy)
    entries = entries_of(rows, _open_cases(ctx, rows))
    now = ctx.now()
    domain = settings.domain_policies()
    shown = [policy] if policy is not None else sorted(domain)
    dates = {key: domain[key].terms.business_date(now) for key in shown if key in domain}
    today = min(dates.values(), default=now.date())
    last = max(dates.values(), default=today) + timedelta(days=HORIZON)
    upcoming = [e for e in entries if not e.late]
    return page(
        request,
        "deadlines.html",
        me,
        title="Deadlines",
        policies=sorted(settings.policies),
        policy=policy or "",
        business_dates=[(key, domain[key].terms.timezone, d) for key, d in dates.items()],
        horizon=HORIZON,
        soon_days=SOON,
        per_day=PER_DAY,
        today=today,
        last=last,
        entries=entries,
        late=[e for e in entries if e.late],
        soon=[e for e in upcoming if e.soon],
        months=months_of(upcoming, today, last, today) if upcoming else [],
        truncated=truncated,
        max_rows=MAX_ROWS,
    )
