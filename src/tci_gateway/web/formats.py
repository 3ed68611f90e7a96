"""How figures read on a page: amounts per currency, dates in the policy's time zone.

Locale-neutral on purpose (a gateway's users sit in several countries): an amount is its
ISO code, then digits grouped by commas with a point before the currency's minor units
(``EUR 1,234,567.89``, ``JPY 63,000``), the CLI's text of an amount; dates are ISO 8601
(``2026-12-01``), times ``HH:MM`` with the zone's abbreviation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from tci_gateway.domain.money import Money, amount_text


def money(amount: Decimal | Money | None, currency: str | None = None) -> str:
    """``EUR 1,234,567.89``; an em dash for a missing amount."""
    if amount is None:
        return "—"
    if isinstance(amount, Money):
        return f"{amount.currency} {amount_text(amount.amount, amount.currency, grouped=True)}"
    if not currency:
        return format(amount.quantize(Decimal("0.01")), ",f")
    return f"{currency} {amount_text(amount, currency, grouped=True)}"


def day(value: date | datetime | None, zone: str | None = None) -> str:
    """``2026-12-01``; a datetime is shown as its date in ``zone`` (UTC without one)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = _in_zone(value, zone).date()
    return value.isoformat()


def moment(value: datetime | None, zone: str | None = None) -> str:
    """``2026-12-01 13:05 CET``: a point in time in ``zone`` (UTC without one)."""
    if value is None:
        return "—"
    local = _in_zone(value, zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def _in_zone(value: datetime, zone: str | None) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(zone) if zone else UTC)


def percent(part: Decimal | None, whole: Decimal | None) -> str:
    """``84 %`` of ``whole``; an em dash when either is missing or ``whole`` is 0."""
    if part is None or whole is None or whole == 0:
        return "—"
    return f"{(part / whole * 100).quantize(Decimal('1'))} %"
