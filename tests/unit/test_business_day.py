"""``--as-of DATE``: a :class:`BusinessDay` is that date under every policy, whatever its
time zone (no single instant is 30 November in both UTC+13 and UTC-8)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.policy import BusinessDay

from .policy_terms import atradius_terms as make_terms

ZONES = [
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Auckland",  # UTC+12/+13
    "Asia/Tokyo",
    "Europe/Paris",
    "UTC",
    "America/Los_Angeles",  # UTC-8/-7
    "Pacific/Pago_Pago",  # UTC-11
]
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@given(days, st.sampled_from(ZONES))
def test_a_business_day_is_its_date_in_every_zone(day: date, zone: str) -> None:
    assert make_terms(timezone=zone).business_date(BusinessDay.of(day)) == day


@given(days, st.integers(min_value=-400, max_value=400), st.sampled_from(ZONES))
def test_arithmetic_keeps_it_a_business_day(day: date, shift: int, zone: str) -> None:
    later = BusinessDay.of(day) + timedelta(days=shift)
    assert isinstance(later, BusinessDay)
    assert make_terms(timezone=zone).business_date(later) == day + timedelta(days=shift)


def test_it_is_still_an_instant_at_noon_utc() -> None:
    now = BusinessDay.of(date(2026, 11, 30))
    assert now == datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert now.astimezone(UTC).date() == date(2026, 11, 30)
    # The plain instant is another day in Auckland; the business day is not.
    noon = datetime(2026, 11, 30, 12, tzinfo=UTC)
    auckland = make_terms(timezone="Pacific/Auckland")
    assert noon.astimezone(ZoneInfo("Pacific/Auckland")).date() == date(2026, 12, 1)
    assert auckland.business_date(noon) == date(2026, 12, 1)
    assert auckland.business_date(now) == date(2026, 11, 30)
