"""Policy terms and the business date in the policy's time zone."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tci_gateway.domain.money import Money, MoneyError
from tci_gateway.domain.policy import Policy, PolicyError, PolicyTerms

from .policy_terms import atradius_terms


def eur(value: int | str) -> Money:
    return Money(Decimal(value), "EUR")


def terms(**changes: Any) -> PolicyTerms:
    return atradius_terms(**changes)


def test_valid_terms() -> None:
    t = terms()
    assert t.zone == ZoneInfo("Europe/Paris")
    assert terms(insured_percentage=Decimal("100")).insured_percentage == 100
    assert terms(insured_percentage=Decimal("0.01")).insured_percentage == Decimal("0.01")
    assert terms(max_extension_days=0).max_extension_days == 0


@pytest.mark.parametrize("pct", ["0", "-1", "100.01", "150"])
def test_insured_percentage_bounds(pct: str) -> None:
    with pytest.raises(PolicyError, match="insured percentage"):
        terms(insured_percentage=Decimal(pct))


@pytest.mark.parametrize("pct", [90.0, Decimal("NaN"), Decimal("Infinity")])
def test_insured_percentage_must_be_a_finite_decimal(pct: object) -> None:
    with pytest.raises(PolicyError, match="insured percentage"):
        terms(insured_percentage=pct)


@pytest.mark.parametrize(
    "field",
    [
        "max_credit_period_days",
        "max_extension_days",
        "overdue_notification_days",
        "waiting_days",
        "claim_filing_days",
    ],
)
def test_day_counts_must_not_be_negative(field: str) -> None:
    with pytest.raises(PolicyError, match=field):
        terms(**{field: -1})


@pytest.mark.parametrize("field", ["discretionary_limit", "claim_threshold", "deductible"])
def test_amounts_must_be_in_the_policy_currency(field: str) -> None:
    with pytest.raises(PolicyError, match=f"{field} is in USD"):
        terms(**{field: Money(Decimal(1), "USD")})


@pytest.mark.parametrize("field", ["discretionary_limit", "claim_threshold", "deductible"])
def test_amounts_must_not_be_negative(field: str) -> None:
    with pytest.raises(PolicyError, match=f"{field} must not be negative"):
        terms(**{field: eur(-1)})


def test_currency_must_be_iso_4217() -> None:
    with pytest.raises(MoneyError):
        terms(currency="EURO")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "Europe", "../etc/passwd", "/etc/localtime"])
def test_unknown_time_zone(zone: str) -> None:
    with pytest.raises(PolicyError, match="unknown time zone"):
        terms(timezone=zone)


def test_terms_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        terms().waiting_days = 1  # type: ignore[misc]


# -- business date --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # the night Europe moves to summer time (02:00 -> 03:00 local on 29 March 2026)
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "Europe/Paris", date(2026, 3, 29)),
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "America/Los_Angeles", date(2026, 3, 28)),
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "Europe/Paris", date(2026, 3, 29)),
        (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), "Europe/Paris", date(2026, 3, 28)),
        (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), "Europe/Paris", date(2026, 3, 29)),
        # summer time: Paris is UTC+2, so 22:00 UTC is already the next day
        (datetime(2026, 7, 14, 21, 59, tzinfo=UTC), "Europe/Paris", date(2026, 7, 14)),
        (datetime(2026, 7, 14, 22, 0, tzinfo=UTC), "Europe/Paris", date(2026, 7, 15)),
        # back to winter time (25 October 2026)
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), "Europe/Paris", date(2026, 10, 25)),
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), "Europe/Paris", date(2026, 10, 26)),
        # US DST starts 8 March 2026
        (datetime(2026, 3, 8, 7, 59, tzinfo=UTC), "America/Los_Angeles", date(2026, 3, 7)),
        (datetime(2026, 3, 8, 8, 0, tzinfo=UTC), "America/Los_Angeles", date(2026, 3, 8)),
        (datetime(2026, 1, 1, 15, 0, tzinfo=UTC), "Asia/Shanghai", date(2026, 1, 1)),
        (datetime(2026, 1, 1, 16, 0, tzinfo=UTC), "Asia/Shanghai", date(2026, 1, 2)),
        (datetime(2026, 1, 1, 10, 0, tzinfo=UTC), "Pacific/Kiritimati", date(2026, 1, 2)),
    ],
)
def test_business_date(now: datetime, zone: str, expected: date) -> None:
    assert terms(timezone=zone).business_date(now) == expected


def test_business_date_of_a_non_utc_aware_datetime() -> None:
    tokyo = datetime(2026, 3, 29, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 23:00 UTC on the 28th
    assert terms(timezone="UTC").business_date(tokyo) == date(2026, 3, 28)
    assert terms(timezone="Europe/Paris").business_date(tokyo) == date(2026, 3, 29)


def test_business_date_refuses_naive_datetimes() -> None:
    with pytest.raises(PolicyError, match="aware"):
        terms().business_date(datetime(2026, 3, 29, 0, 30))


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


def test_business_date_refuses_a_tzinfo_without_an_offset() -> None:
    # Python treats such a datetime as naive: astimezone() would use the host's zone.
    with pytest.raises(PolicyError, match="aware"):
        terms().business_date(datetime(2026, 3, 29, 0, 30, tzinfo=_NoOffset()))


ZONES = ["Europe/Paris", "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2050, 12, 31),
        timezones=st.sampled_from([ZoneInfo(z) for z in [*ZONES, "America/St_Johns"]]),
    ),
    st.sampled_from(ZONES),
)
def test_business_date_is_the_local_date(now: datetime, zone: str) -> None:
    assert terms(timezone=zone).business_date(now) == now.astimezone(ZoneInfo(zone)).date()


def test_policy_freezes_its_external_ref() -> None:
    ref = {"customerId": "1", "policyId": "2"}
    p = Policy("P1", "atradius", terms(), ref)
    ref["policyId"] = "changed"
    assert p.external_ref["policyId"] == "2"
    with pytest.raises(TypeError):
        p.external_ref["x"] = "y"  # type: ignore[index]
    assert hash(p) == hash(Policy("P1", "atradius", terms(), {}))
