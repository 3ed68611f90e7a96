"""A credit-insurance policy and its terms.

The terms are the insured's contract with the insurer and drive every deadline and
the indemnity; they come from configuration (no insurer API exposes them reliably).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tci_gateway.domain.money import Money, check_currency


class PolicyError(ValueError):
    """Policy terms that cannot be used."""


class BusinessDay(datetime):
    """A date given without a time (``--as-of 2026-11-30``): as an instant, noon UTC of
    that date (for timestamps); as a business date, that same date in EVERY time zone,
    so a policy in Pacific/Auckland and one in America/Los_Angeles both see 2026-11-30
    (no single instant does). Arithmetic keeps the type: a ``BusinessDay`` plus 7 days is
    the date 7 days later everywhere."""

    @classmethod
    def of(cls, day: date) -> BusinessDay:
        """The business day ``day``."""
        return cls(day.year, day.month, day.day, 12, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PolicyTerms:
    """Contract terms. Day counts are calendar days from the invoice's original due date
    (moved by an insurer-granted extension when ``extension_moves_deadlines``)."""

    currency: str
    insured_percentage: Decimal
    max_credit_period_days: int
    max_extension_days: int
    overdue_notification_days: int
    waiting_days: int
    claim_filing_days: int
    discretionary_limit: Money
    claim_threshold: Money
    deductible: Money
    timezone: str
    renewal_months: int | None = None
    extension_moves_deadlines: bool = True

    def __post_init__(self) -> None:
        check_currency(self.currency)
        pct = self.insured_percentage
        if not isinstance(pct, Decimal) or not pct.is_finite():
            raise PolicyError(
                f"insured percentage must be a finite Decimal, got {self.insured_percentage!r}"
            )
        if not (Decimal(0) < self.insured_percentage <= Decimal(100)):
            raise PolicyError(f"insured percentage {self.insured_percentage} is not in (0, 100]")
        for name in (
            "max_credit_period_days",
            "max_extension_days",
            "overdue_notification_days",
            "waiting_days",
            "claim_filing_days",
        ):
            if getattr(self, name) < 0:
                raise PolicyError(f"{name} must not be negative")
        for name in ("discretionary_limit", "claim_threshold", "deductible"):
            money: Money = getattr(self, name)
            if money.currency != self.currency:
                raise PolicyError(f"{name} is in {money.currency}, the policy in {self.currency}")
            if money.amount < 0:
                raise PolicyError(f"{name} must not be negative")
        if self.waiting_days > self.claim_filing_days:
            raise PolicyError(
                f"waiting_days ({self.waiting_days}) after claim_filing_days "
                f"({self.claim_filing_days}): no claim could ever be filed in time"
            )
        # OSError: with the tzdata package installed, a region name such as "Europe" is
        # a directory there and ZoneInfo raises IsADirectoryError.
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise PolicyError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def business_date(self, now: datetime) -> date:
        """Today in the policy's time zone: the date every deadline is measured on (for a
        :class:`BusinessDay`, its date, whatever the zone)."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise PolicyError("business_date needs an aware datetime")
        if isinstance(now, BusinessDay):
            return now.astimezone(UTC).date()
        return now.astimezone(self.zone).date()


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy as the gateway knows it: our key, the insurer (adapter configuration
    name) and the insurer's own reference (e.g. Atradius customerId + policyId)."""

    key: str
    insurer: str
    terms: PolicyTerms
    external_ref: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "external_ref", MappingProxyType(dict(self.external_ref)))

    def __hash__(self) -> int:
        return hash((self.key, self.insurer))
