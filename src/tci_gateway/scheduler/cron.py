"""Crontab schedules: croniter's reading of a 5-field crontab, as fire times.

A schedule is a standard 5-field crontab string (minute, hour, day of month, month, day
of week), read by :mod:`croniter` with crontab's own meaning: day of week 0 and 7 are
Sunday, and when both the day of month and the day of week are restricted the job fires
when *either* matches. The configuration checks the string
(:func:`tci_gateway.config.check_crontab`); this module answers the two questions the
scheduler asks, in the job's time zone:

* :func:`next_fire`: the first fire at or after now (APScheduler's punctual fires, via
  :class:`CrontabTrigger`, and ``tci scheduler status``);
* :func:`latest_fire`: the most recent fire at or before now, which the catch-up after
  downtime (and every fire) keys its business date on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from croniter import croniter

from tci_gateway.config import CronError, check_crontab

__all__ = [
    "CronError",
    "CrontabTrigger",
    "business_date",
    "latest_fire",
    "next_fire",
    "trigger",
]

_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Schedule:
    """A checked crontab string in a time zone."""

    expr: str
    timezone: ZoneInfo

    def __str__(self) -> str:
        return f"crontab[{self.expr!r} {self.timezone.key}]"


def trigger(expr: str, timezone: str) -> Schedule:
    """The schedule of a crontab string in a time zone (raises :class:`CronError`)."""
    return Schedule(check_crontab(expr), ZoneInfo(timezone))


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def next_fire(schedule: Schedule, now: datetime) -> datetime:
    """The first fire time at or after ``now`` (an aware datetime), in the schedule's
    zone."""
    local = now.astimezone(schedule.timezone)
    floor = _floor_minute(local)
    start = floor - _MINUTE if floor == local else floor  # croniter's next is strictly after
    fire: datetime = croniter(schedule.expr, start).get_next(datetime)
    return fire


def latest_fire(schedule: Schedule, now: datetime) -> datetime:
    """The most recent fire time at or before ``now`` (an aware datetime), in the
    schedule's zone."""
    start = _floor_minute(now.astimezone(schedule.timezone)) + _MINUTE
    fire: datetime = croniter(schedule.expr, start).get_prev(datetime)  # strictly before
    return fire


def business_date(fire_time: datetime, timezone: str) -> date:
    """The date of a fire time in the job's time zone: the key of its run."""
    return fire_time.astimezone(ZoneInfo(timezone)).date()


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger that fires on a :class:`Schedule` (croniter's times)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.timezone: tzinfo = schedule.timezone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first fire after the previous one, or at or after ``now``."""
        if previous_fire_time is not None:  # APScheduler coalesces or reports missed fires
            return next_fire(self.schedule, previous_fire_time + _MINUTE)
        return next_fire(self.schedule, now)

    def __str__(self) -> str:
        return str(self.schedule)
