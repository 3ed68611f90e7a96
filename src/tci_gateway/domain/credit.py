"""The credit workflow's shared value types: payment behaviour, a tier verdict, a
scorecard, the pre-screen's conditions and decision, a credit line.

Pure data (no I/O); the rules that produce them live beside them:
:mod:`~tci_gateway.domain.behaviour` (DSO, days beyond terms, ageing),
:mod:`~tci_gateway.domain.tiers`, :mod:`~tci_gateway.domain.scorecard`,
:mod:`~tci_gateway.domain.prescreen`, :mod:`~tci_gateway.domain.credit_line` and
:mod:`~tci_gateway.domain.progressive`. docs/credit.md explains each figure with a worked
example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Buckets:
    """Open invoice amounts aged by due date on a business date: ``current`` is not yet
    due (or due that day); the others are days past due."""

    current: Decimal = ZERO
    days_1_30: Decimal = ZERO
    days_31_60: Decimal = ZERO
    days_61_90: Decimal = ZERO
    days_over_90: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.current + self.days_1_30 + self.days_31_60 + self.days_61_90 + self.days_over_90

    @property
    def overdue(self) -> Decimal:
        return self.total - self.current

    def __add__(self, other: Buckets) -> Buckets:
        return Buckets(
            self.current + other.current,
            self.days_1_30 + other.days_1_30,
            self.days_31_60 + other.days_31_60,
            self.days_61_90 + other.days_61_90,
            self.days_over_90 + other.days_over_90,
        )


@dataclass(frozen=True, slots=True)
class MonthSales:
    """Credit sales (invoices less credit notes, by document date) of one calendar month
    counted back from a business date: ``days`` is the month's calendar days, or for the
    business date's own month the days up to and including it."""

    month: date  # the first day of the month
    days: int
    sales: Decimal


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Payment behaviour of a buyer, tier, policy or the portfolio on ``day``, in
    ``currency`` (the reporting currency). ``None`` means "cannot be computed" (no sales
    in the period, no invoice settled), never zero."""

    day: date
    currency: str
    receivables: Decimal
    """Net open receivables on ``day``: open invoices less open credit notes and
    unapplied payments."""
    buckets: Buckets
    sales: tuple[MonthSales, ...]
    """The months counted back, newest first (at most ``countback_max_months``)."""
    dso_countback: Decimal | None
    dso_countback_exhausted: bool
    """False when the receivables outran every month counted back: the DSO is then
    "over" the figure given."""
    dso_simple: Decimal | None
    best_possible_dso: Decimal | None
    average_days_delinquent: Decimal | None
    dbt_average: Decimal | None
    dbt_weighted: Decimal | None
    paid_on_time_share: Decimal | None
    """Share (0-1) by amount of the invoices settled in the window settled by their due
    date."""
    invoices_settled: int
    invoices_overdue: int
    disputed_amount: Decimal
    disputed_count: int
    disputed_oldest_days: int | None
    unapplied_credits: Decimal = ZERO
    """Open credit notes and unapplied payments (subtracted from ``receivables``)."""
    notes: tuple[str, ...] = ()
    """What the figures could not include (an FX rate missing, settled items without a
    known date), named."""


class Tier(StrEnum):
    """The default tier names (``[credit.tiers]`` may rename them)."""

    STRATEGIC = "strategic"
    GROWTH = "growth"
    WATCH = "watch"


@dataclass(frozen=True, slots=True)
class TierVerdict:
    """What the tier rules say of a buyer, and why (each rule that fired, with its
    figures, in ``details``)."""

    tier: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FactorScore:
    """One scorecard factor as applied: ``value`` is ``None`` when its input was
    missing (then ``points`` and ``contribution`` are 0 and ``missing`` is true)."""

    name: str
    input: str
    weight: Decimal
    value: Decimal | None
    points: Decimal
    contribution: Decimal
    required: bool = False

    @property
    def missing(self) -> bool:
        return self.value is None


@dataclass(frozen=True, slots=True)
class Scorecard:
    """The weighted score (0-100, 2 places), the pass mark and every factor."""

    score: Decimal
    threshold: Decimal
    factors: tuple[FactorScore, ...]

    @property
    def passed(self) -> bool:
        return self.score >= self.threshold

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors if f.missing)

    @property
    def missing_required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors if f.missing and f.required)


@dataclass(frozen=True, slots=True)
class Condition:
    """One DCL condition as checked: its name, whether it holds, and why."""

    name: str
    passed: bool
    detail: str


class Route(StrEnum):
    """Who decides: granted at once within the DCL, sent to the insurer, or a person."""

    DCL = "dcl"
    INSURER = "insurer"
    PERSON = "person"


@dataclass(frozen=True, slots=True)
class Screen:
    """The pre-screen's decision: the route, the conditions, the scorecard, the amount
    granted at once (DCL route), a provisional internal amount while the insurer decides
    (or zero), and a one-line reason a person can read."""

    route: Route
    conditions: tuple[Condition, ...]
    scorecard: Scorecard
    granted: Decimal
    provisional: Decimal
    reason: str

    @property
    def failed(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if not c.passed)


@dataclass(frozen=True, slots=True)
class CreditLine:
    """What a buyer may use under one policy: the insured part plus internal and
    provisional (uninsured) lines a risk manager approved. The insured part is the
    insurer's limit in force when the insurer has a decision on the buyer (``None``: it
    has none), even 0 after a refusal, else the DCL line the gateway granted."""

    currency: str
    insurer_limit: Decimal | None
    dcl: Decimal
    internal: Decimal
    provisional: Decimal

    @property
    def insured(self) -> Decimal:
        return self.insurer_limit if self.insurer_limit is not None else self.dcl

    @property
    def uninsured(self) -> Decimal:
        return self.internal + self.provisional

    @property
    def total(self) -> Decimal:
        return self.insured + self.uninsured
