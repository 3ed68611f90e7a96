"""Crontab schedules: validation, APScheduler triggers, and fire times.

A schedule is a standard 5-field crontab string (minute, hour, day of month, month, day
of week). APScheduler 3.x reads the day-of-week field with 0 = Monday, while crontab
means 0 (and 7) = Sunday; :func:`parse_crontab` rewrites that field into weekday names
so ``1-5`` keeps meaning Monday to Friday. Restricting both the day of month and the day
of week is refused: crontab fires when *either* matches, APScheduler when *both* do.

:func:`latest_fire` answers "when should this job last have run?", which is what the
catch-up after downtime (and every fire) keys its business date on.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FULL_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
# APScheduler's weekday order (0 = Monday), for the names it is given.
_APS_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ITEM_RE = re.compile(r"^(?P<base>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")
# Windows tried, shortest first, when looking back for the latest fire time.
_LOOKBACK = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
    timedelta(days=4 * 366 + 1),
)
_ONE_US = timedelta(microseconds=1)


class CronError(ValueError):
    """A crontab string that cannot be scheduled."""


def _weekday(token: str, expr: str) -> int:
    if token.isdigit():
        number = int(token)
        if number > 7:
            raise CronError(f"day of week {token!r} in {expr!r} is not 0-7")
        return number
    for index, name in enumerate(_DAYS):
        if token in (name, _FULL_DAYS[index]):
            return index
    raise CronError(f"day of week {token!r} in {expr!r} is not a number 0-7 or a day name")


def _weekdays(field: str, expr: str) -> set[int]:
    """The crontab day-of-week field as a set of days, 0 = Sunday."""
    days: set[int] = set()
    for item in field.lower().split(","):
        match = _ITEM_RE.match(item)
        if not match:
            raise CronError(f"day of week {item!r} in {expr!r} is not understood")
        base, step = match["base"], int(match["step"] or 1)
        if step < 1:
            raise CronError(f"step {step} in {expr!r} must be at least 1")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            low, high = base.split("-")
            first, last = _weekday(low, expr), _weekday(high, expr)
            if first > last:
                raise CronError(f"day-of-week range {base!r} in {expr!r} runs backwards")
        else:
            first = _weekday(base, expr)
            last = 6 if match["step"] else first
        days.update(day % 7 for day in range(first, last + 1, step))
    return days


def parse_crontab(expr: str) -> str:
    """Check a 5-field crontab string; returns it with the day of week in names, ready
    for ``CronTrigger.from_crontab``. Raises :class:`CronError`."""
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(
            f"{expr!r} is not a 5-field crontab (minute hour day-of-month month day-of-week)"
        )
    day, dow = fields[2], fields[4]
    if day not in ("*", "?") and dow not in ("*", "?"):
        raise CronError(
            f"{expr!r} restricts both the day of month and the day of week; crontab would "
            "fire on either, APScheduler only on both: restrict one of them"
        )
    if dow in ("*", "?"):
        fields[4] = "*"
    else:
        days = _weekdays(dow, expr)
        fields[4] = ",".join(name for name in _APS_ORDER if _DAYS.index(name) in days)
    fields[2] = "*" if day == "?" else day
    translated = " ".join(fields)
    try:
        CronTrigger.from_crontab(translated, timezone="UTC")
    except ValueError as exc:
        raise CronError(f"{expr!r}: {exc}") from None
    return translated


def trigger(expr: str, timezone: str) -> CronTrigger:
    """The APScheduler trigger for a crontab string in a time zone."""
    return CronTrigger.from_crontab(parse_crontab(expr), timezone=ZoneInfo(timezone))


def next_fire(cron: CronTrigger, now: datetime) -> datetime | None:
    """The first fire time at or after ``now`` (an aware datetime)."""
    fire: datetime | None = cron.get_next_fire_time(None, now)
    return fire


def latest_fire(cron: CronTrigger, now: datetime) -> datetime | None:
    """The most recent fire time at or before ``now`` (an aware datetime), or ``None``
    when the schedule has not fired in the last four years."""
    for window in _LOOKBACK:
        fire = next_fire(cron, now - window)
        if fire is None or fire > now:
            continue
        while True:
            following = next_fire(cron, fire + _ONE_US)
            if following is None or following > now:
                return fire
            fire = following
    return None


def business_date(fire_time: datetime, timezone: str) -> date:
    """The date of a fire time in the job's time zone: the key of its run."""
    return fire_time.astimezone(ZoneInfo(timezone)).date()
