"""Calendar months, the one home of month arithmetic: the credit workflow's windows
(12 months of purchases, a report younger than 6 months, months of trading, review
frequencies) and the limit alerts' renewal date all count months the same way."""

from __future__ import annotations

import calendar
from datetime import date
from functools import lru_cache


@lru_cache(maxsize=256)
def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months (negative: back), the day of the month
    clamped to the target month's last day (31 January + 1 month = 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def whole_months(start: date, end: date) -> int:
    """Whole calendar months from ``start`` to ``end`` (0 when ``end`` is before
    ``start`` + 1 month): 15 Jan -> 14 Mar is 1, -> 15 Mar is 2."""
    if end < start:
        return 0
    months = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, months) > end:  # the clamped day overshoots by less than a month
        months -= 1
    return max(0, months)
