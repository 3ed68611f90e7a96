"""The deadline clock of an overdue invoice (docs/domain.md, section 5)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.deadlines import (
    Deadline,
    DeadlineClock,
    DeadlineWarning,
    deadline_clock,
    warnings,
)
from tci_gateway.domain.policy import PolicyTerms

from .policy_terms import atradius_terms


def terms(**changes: Any) -> PolicyTerms:
    """Atradius-style terms: D+60 cover stop, D+90 notify, D+180 loss, D+360 claim."""
    return atradius_terms(**({"timezone": "Europe/Berlin"} | changes))


ACTS = (Deadline.NOTIFY_BY, Deadline.CLAIM_BY)
EVENTS = (Deadline.COVER_STOP, Deadline.DATE_OF_LOSS)
DUE = date(2026, 1, 15)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def days_of(t: PolicyTerms) -> dict[Deadline, int]:
    return {
        Deadline.COVER_STOP: t.max_extension_days,
        Deadline.NOTIFY_BY: t.overdue_notification_days,
        Deadline.DATE_OF_LOSS: t.waiting_days,
        Deadline.CLAIM_BY: t.claim_filing_days,
    }


# -- golden: the Atradius example --------------------------------------------------------------


def test_golden_atradius_clock() -> None:
    # Hand count from D = 15 January 2026 (2026 is not a leap year: February has 28 days).
    #   D+60:  16 days to 31 Jan (+16), 28 in Feb (+44), 16 more -> 16 March 2026.
    #   D+90:  16 Mar +15 -> 31 Mar (+75), +15 -> 15 April 2026.
    #   D+180: 15 Apr +15 -> 30 Apr (+105), May +31 (+136), Jun +30 (+166), +14 -> 14 July.
    #   D+360: 14 Jul +17 -> 31 Jul (+197), Aug 31 (+228), Sep 30 (+258), Oct 31 (+289),
    #          Nov 30 (+319), Dec 31 (+350), +10 -> 10 January 2027.
    clock = deadline_clock(terms(), DUE)
    assert clock.original_due_date == DUE
    assert clock.due_date == DUE
    assert clock.cover_stop == date(2026, 3, 16)
    assert clock.notify_by == date(2026, 4, 15)
    assert clock.date_of_loss == date(2026, 7, 14)
    assert clock.claim_by == date(2027, 1, 10)
    assert clock.timezone == "Europe/Berlin"
    assert {d: clock.on(d) for d in Deadline} == {
        Deadline.COVER_STOP: date(2026, 3, 16),
        Deadline.NOTIFY_BY: date(2026, 4, 15),
        Deadline.DATE_OF_LOSS: date(2026, 7, 14),
        Deadline.CLAIM_BY: date(2027, 1, 10),
    }


def test_the_clock_comes_from_the_terms_not_from_constants() -> None:
    clock = deadline_clock(
        terms(
            max_extension_days=30,
            overdue_notification_days=45,
            waiting_days=120,
            claim_filing_days=150,
        ),
        DUE,
    )
    assert clock.cover_stop == date(2026, 2, 14)
    assert clock.notify_by == date(2026, 3, 1)
    assert clock.date_of_loss == date(2026, 5, 15)
    assert clock.claim_by == date(2026, 6, 14)


def test_leap_year_february_counts() -> None:
    # 2028 is a leap year: 15 Jan + 60 days = 15 March (16 + 29 + 15).
    assert deadline_clock(terms(), date(2028, 1, 15)).cover_stop == date(2028, 3, 15)


def test_clock_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        deadline_clock(terms(), DUE).notify_by = DUE  # type: ignore[misc]


def test_days_overdue_and_days_left() -> None:
    clock = deadline_clock(terms(), DUE)
    assert clock.days_overdue(date(2026, 1, 14)) == -1
    assert clock.days_overdue(DUE) == 0
    assert clock.days_overdue(date(2026, 4, 15)) == 90
    assert clock.days_left(Deadline.NOTIFY_BY, date(2026, 4, 1)) == 14
    assert clock.days_left(Deadline.NOTIFY_BY, date(2026, 4, 15)) == 0
    assert clock.days_left(Deadline.NOTIFY_BY, date(2026, 4, 16)) == -1


# -- golden: instants across DST -----------------------------------------------------------


def berlin_clock_with(deadline: Deadline, on: date) -> DeadlineClock:
    t = terms()
    clock = deadline_clock(t, on - timedelta(days=days_of(t)[deadline]))
    assert clock.on(deadline) == on
    return clock


def test_berlin_notify_by_in_summer_time_ends_at_22_utc() -> None:
    # DST started 29 March 2026: 31 March 00:00 +02:00 is 30 March 22:00 UTC.
    clock = berlin_clock_with(Deadline.NOTIFY_BY, date(2026, 3, 30))
    assert clock.due_date == date(2025, 12, 30)
    assert clock.instant(Deadline.NOTIFY_BY) == utc(2026, 3, 30, 22, 0)


def test_berlin_notify_by_before_dst_ends_at_23_utc() -> None:
    # 29 March 00:00 is still +01:00 (the clocks jump at 02:00): 28 March 23:00 UTC.
    clock = berlin_clock_with(Deadline.NOTIFY_BY, date(2026, 3, 28))
    assert clock.instant(Deadline.NOTIFY_BY) == utc(2026, 3, 28, 23, 0)


def test_berlin_notify_by_on_the_dst_day_itself() -> None:
    # Last day 29 March (23 hours long): ends 30 March 00:00 +02:00 = 29 March 22:00 UTC.
    clock = berlin_clock_with(Deadline.NOTIFY_BY, date(2026, 3, 29))
    assert clock.instant(Deadline.NOTIFY_BY) == utc(2026, 3, 29, 22, 0)


def test_berlin_cover_stop_after_dst_ends_begins_at_23_utc() -> None:
    # DST ended 25 October 2026: 26 October 00:00 +01:00 is 25 October 23:00 UTC.
    clock = berlin_clock_with(Deadline.COVER_STOP, date(2026, 10, 26))
    assert clock.instant(Deadline.COVER_STOP) == utc(2026, 10, 25, 23, 0)


def test_berlin_date_of_loss_in_summer_begins_at_22_utc() -> None:
    clock = berlin_clock_with(Deadline.DATE_OF_LOSS, date(2026, 10, 25))
    # 25 October 00:00 is still +02:00 (the clocks go back at 03:00).
    assert clock.instant(Deadline.DATE_OF_LOSS) == utc(2026, 10, 24, 22, 0)


def test_berlin_business_date_decides_missed_not_the_utc_date() -> None:
    t = terms()
    clock = berlin_clock_with(Deadline.NOTIFY_BY, date(2026, 3, 30))
    now = utc(2026, 3, 30, 22, 30)  # 31 March 00:30 in Berlin
    today = t.business_date(now)
    assert today == date(2026, 3, 31)
    assert clock.missed(Deadline.NOTIFY_BY, today)
    # The UTC calendar date would wrongly say the notification is still in time.
    assert now.date() == date(2026, 3, 30)
    assert not clock.missed(Deadline.NOTIFY_BY, now.date())
    # One minute before the instant, Berlin is still on the last day.
    before = t.business_date(utc(2026, 3, 30, 21, 59))
    assert before == date(2026, 3, 30)
    assert not clock.missed(Deadline.NOTIFY_BY, before)


@pytest.mark.parametrize(
    ("deadline", "on", "instant"),
    [
        # US DST starts 8 March 2026 at 02:00 (PST -08:00 -> PDT -07:00).
        (Deadline.NOTIFY_BY, date(2026, 3, 7), utc(2026, 3, 8, 8, 0)),  # 8 Mar 00:00 -08
        (Deadline.NOTIFY_BY, date(2026, 3, 8), utc(2026, 3, 9, 7, 0)),  # 9 Mar 00:00 -07
        (Deadline.CLAIM_BY, date(2026, 3, 8), utc(2026, 3, 9, 7, 0)),
        (Deadline.COVER_STOP, date(2026, 3, 8), utc(2026, 3, 8, 8, 0)),  # 8 Mar 00:00 -08
        (Deadline.COVER_STOP, date(2026, 3, 9), utc(2026, 3, 9, 7, 0)),  # 9 Mar 00:00 -07
        # US DST ends 1 November 2026 at 02:00.
        (Deadline.DATE_OF_LOSS, date(2026, 11, 1), utc(2026, 11, 1, 7, 0)),
        (Deadline.DATE_OF_LOSS, date(2026, 11, 2), utc(2026, 11, 2, 8, 0)),
    ],
)
def test_los_angeles_instants(deadline: Deadline, on: date, instant: datetime) -> None:
    t = terms(timezone="America/Los_Angeles")
    clock = deadline_clock(t, on - timedelta(days=days_of(t)[deadline]))
    assert clock.on(deadline) == on
    assert clock.instant(deadline) == instant
    assert clock.instant(deadline).tzinfo is UTC


def test_los_angeles_business_date_lags_utc() -> None:
    t = terms(timezone="America/Los_Angeles")
    on = date(2026, 3, 8)
    clock = deadline_clock(t, on - timedelta(days=90))
    now = utc(2026, 3, 9, 6, 30)  # 8 March 23:30 PDT: last day still running
    assert now.date() == date(2026, 3, 9)
    assert not clock.missed(Deadline.NOTIFY_BY, t.business_date(now))
    assert clock.missed(Deadline.NOTIFY_BY, t.business_date(utc(2026, 3, 9, 7, 0)))


# -- extensions -----------------------------------------------------------------------------


def test_a_later_extended_due_date_moves_all_four() -> None:
    extended = date(2026, 2, 14)  # D + 30
    clock = deadline_clock(terms(), DUE, extended)
    assert clock.original_due_date == DUE
    assert clock.due_date == extended
    assert clock.cover_stop == date(2026, 4, 15)
    assert clock.notify_by == date(2026, 5, 15)
    assert clock.date_of_loss == date(2026, 8, 13)
    assert clock.claim_by == date(2027, 2, 9)
    plain = deadline_clock(terms(), DUE)
    for d in Deadline:
        assert clock.on(d) - plain.on(d) == timedelta(days=30)


@pytest.mark.parametrize("extended", [date(2026, 1, 1), date(2026, 1, 14), DUE])
def test_an_extended_date_not_later_does_not_move(extended: date) -> None:
    assert deadline_clock(terms(), DUE, extended) == deadline_clock(terms(), DUE)


def test_extensions_do_not_move_when_the_policy_says_so() -> None:
    t = terms(extension_moves_deadlines=False)
    clock = deadline_clock(t, DUE, date(2026, 3, 1))
    assert clock.due_date == DUE
    assert clock == deadline_clock(t, DUE)
    assert clock.notify_by == date(2026, 4, 15)


def test_no_extension_is_the_original_clock() -> None:
    assert deadline_clock(terms(), DUE, None) == deadline_clock(terms(), DUE)


# -- missed ----------------------------------------------------------------------------------


@pytest.mark.parametrize("deadline", ACTS)
def test_an_act_is_in_time_on_its_own_day(deadline: Deadline) -> None:
    clock = deadline_clock(terms(), DUE)
    on = clock.on(deadline)
    assert not clock.missed(deadline, on - timedelta(days=1))
    assert not clock.missed(deadline, on)
    assert clock.missed(deadline, on + timedelta(days=1))
    assert clock.missed(deadline, on + timedelta(days=400))


@pytest.mark.parametrize("deadline", EVENTS)
def test_an_event_counts_from_its_day(deadline: Deadline) -> None:
    clock = deadline_clock(terms(), DUE)
    on = clock.on(deadline)
    assert not clock.missed(deadline, on - timedelta(days=1))
    assert clock.missed(deadline, on)
    assert clock.missed(deadline, on + timedelta(days=1))


def test_zero_day_deadlines_fall_on_the_due_date() -> None:
    t = terms(max_extension_days=0, overdue_notification_days=0, waiting_days=0)
    clock = deadline_clock(t, DUE)
    assert clock.cover_stop == clock.notify_by == clock.date_of_loss == DUE
    assert clock.missed(Deadline.COVER_STOP, DUE)
    assert not clock.missed(Deadline.NOTIFY_BY, DUE)
    assert clock.missed(Deadline.NOTIFY_BY, DUE + timedelta(days=1))


# -- warnings --------------------------------------------------------------------------------

LEADS = (14, 7, 2)


def warned(clock: DeadlineClock, today: date) -> dict[Deadline, tuple[int, int]]:
    return {w.deadline: (w.days_left, w.lead_days) for w in warnings(clock, today, LEADS)}


def test_warnings_pick_the_smallest_reached_lead() -> None:
    clock = deadline_clock(terms(), DUE)  # notify by 15 April 2026
    notify = clock.notify_by
    assert Deadline.NOTIFY_BY not in warned(clock, notify - timedelta(days=15))
    assert warned(clock, notify - timedelta(days=14))[Deadline.NOTIFY_BY] == (14, 14)
    assert warned(clock, notify - timedelta(days=8))[Deadline.NOTIFY_BY] == (8, 14)
    assert warned(clock, notify - timedelta(days=7))[Deadline.NOTIFY_BY] == (7, 7)
    assert warned(clock, notify - timedelta(days=5))[Deadline.NOTIFY_BY] == (5, 7)
    assert warned(clock, notify - timedelta(days=3))[Deadline.NOTIFY_BY] == (3, 7)
    assert warned(clock, notify - timedelta(days=2))[Deadline.NOTIFY_BY] == (2, 2)
    assert warned(clock, notify)[Deadline.NOTIFY_BY] == (0, 2)


def test_warnings_carry_the_deadline_and_its_date() -> None:
    clock = deadline_clock(terms(), DUE)
    today = date(2026, 4, 10)
    assert warnings(clock, today, LEADS) == [
        DeadlineWarning(Deadline.NOTIFY_BY, date(2026, 4, 15), 5, 7)
    ]


def test_lead_order_does_not_matter() -> None:
    clock = deadline_clock(terms(), DUE)
    today = date(2026, 4, 10)
    assert warnings(clock, today, (2, 14, 7)) == warnings(clock, today, LEADS)


def test_passed_deadlines_are_not_warned() -> None:
    clock = deadline_clock(terms(), DUE)
    # 17 March: cover stop (16 March) has passed; notify-by is 29 days away.
    assert warned(clock, date(2026, 3, 17)) == {}
    # 16 April: notify-by passed yesterday; nothing else within 14 days.
    assert warned(clock, date(2026, 4, 16)) == {}
    # After the claim-by day nothing is warned at all.
    assert warnings(clock, date(2027, 1, 11), LEADS) == []


def test_several_deadlines_warn_together() -> None:
    t = terms(max_extension_days=60, overdue_notification_days=65)
    clock = deadline_clock(t, DUE)  # cover stop 16 March, notify by 21 March
    assert warned(clock, date(2026, 3, 14)) == {
        Deadline.COVER_STOP: (2, 2),
        Deadline.NOTIFY_BY: (7, 7),
    }


def test_no_lead_times_no_warnings() -> None:
    clock = deadline_clock(terms(), DUE)
    assert warnings(clock, clock.notify_by, ()) == []


# -- properties -----------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/Los_Angeles", "Europe/Amsterdam", "Asia/Shanghai", "UTC"]


@st.composite
def random_terms(draw: st.DrawFn) -> PolicyTerms:
    waiting = draw(st.integers(0, 400))
    return terms(
        max_extension_days=draw(st.integers(0, 400)),
        overdue_notification_days=draw(st.integers(0, 400)),
        waiting_days=waiting,
        claim_filing_days=draw(st.integers(waiting, 400)),
        timezone=draw(st.sampled_from(ZONES)),
    )


@given(st.dates(date(2000, 1, 1), date(2100, 12, 31)), random_terms())
def test_deadlines_are_calendar_days_from_the_due_date(due: date, t: PolicyTerms) -> None:
    clock = deadline_clock(t, due)
    for deadline, days in days_of(t).items():
        assert (clock.on(deadline) - clock.due_date).days == days


@given(st.dates(date(2000, 1, 1), date(2100, 12, 31)), random_terms())
def test_an_act_ends_at_the_local_midnight_after_its_day(due: date, t: PolicyTerms) -> None:
    clock = deadline_clock(t, due)
    zone = ZoneInfo(t.timezone)
    for deadline in ACTS:
        instant = clock.instant(deadline)
        assert instant.utcoffset() == timedelta(0)
        local = instant.astimezone(zone)
        assert local.date() == clock.on(deadline) + timedelta(days=1)
        assert local.time() == time(0)
        # Never later than the contract: in time up to the instant, missed from it on.
        just_before = instant - timedelta(microseconds=1)
        assert t.business_date(just_before) == clock.on(deadline)
        assert not clock.missed(deadline, t.business_date(just_before))
        assert clock.missed(deadline, t.business_date(instant))


@given(st.dates(date(2000, 1, 1), date(2100, 12, 31)), random_terms())
def test_an_event_begins_at_the_local_midnight_of_its_day(due: date, t: PolicyTerms) -> None:
    clock = deadline_clock(t, due)
    zone = ZoneInfo(t.timezone)
    for deadline in EVENTS:
        instant = clock.instant(deadline)
        local = instant.astimezone(zone)
        assert local.date() == clock.on(deadline)
        assert local.time() == time(0)
        assert not clock.missed(deadline, t.business_date(instant - timedelta(microseconds=1)))
        assert clock.missed(deadline, t.business_date(instant))


@given(
    st.dates(date(2000, 1, 1), date(2100, 12, 31)),
    st.integers(-400, 400),
    random_terms(),
    st.booleans(),
)
def test_an_extension_never_moves_a_deadline_earlier(
    due: date, shift: int, t: PolicyTerms, moves: bool
) -> None:
    t = dataclasses.replace(t, extension_moves_deadlines=moves)
    extended = due + timedelta(days=shift)
    clock = deadline_clock(t, due, extended)
    plain = deadline_clock(t, due)
    expected_shift = max(shift, 0) if moves else 0
    for deadline in Deadline:
        assert (clock.on(deadline) - plain.on(deadline)).days == expected_shift
    assert clock.original_due_date == due
