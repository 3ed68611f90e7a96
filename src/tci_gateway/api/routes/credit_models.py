"""The request and response models of the credit workflow's endpoints: payment behaviour,
credit applications with their scorecard, conditions and steps, time-to-decision
statistics, tiers and a buyer's credit position.

As everywhere in the API, amounts are strings in the currency's minor units beside a
``currency`` field. Day counts (DSO, days beyond terms) are strings with 2 places and
shares (0-1) strings with 4 places, as stored: exact figures, never binary floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tci_gateway.domain.credit import Behaviour, Buckets
from tci_gateway.domain.money import amount_text

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
"""A text field: printable (a NUL never reaches PostgreSQL)."""
AMOUNT_PATTERN = r"^[0-9]{1,15}(\.[0-9]{1,4})?$"
"""An amount asked for: a plain positive decimal (the ledger holds 15 integer digits)."""
REFERENCE_PATTERN = r"^CA-[0-9]{8}-[0-9]{6,10}$"
_DAYS = Decimal("0.01")
_SHARE = Decimal("0.0001")


def days_text(value: Decimal | None) -> str | None:
    """A day count as stored: 2 places, half up."""
    return None if value is None else str(value.quantize(_DAYS, rounding=ROUND_HALF_UP))


def share_text(value: Decimal | None) -> str | None:
    """A share (0-1) as stored: 4 places, half up."""
    return None if value is None else str(value.quantize(_SHARE, rounding=ROUND_HALF_UP))


# -- payment behaviour -------------------------------------------------------------------


class AgeingOut(BaseModel):
    """Open invoice amounts by days past their due date (``current``: not yet due)."""

    current: str
    days_1_30: str
    days_31_60: str
    days_61_90: str
    days_over_90: str
    overdue: str = Field(description="every bucket but current")
    total: str

    @classmethod
    def of(cls, b: Buckets, currency: str) -> AgeingOut:
        return cls(
            current=amount_text(b.current, currency),
            days_1_30=amount_text(b.days_1_30, currency),
            days_31_60=amount_text(b.days_31_60, currency),
            days_61_90=amount_text(b.days_61_90, currency),
            days_over_90=amount_text(b.days_over_90, currency),
            overdue=amount_text(b.overdue, currency),
            total=amount_text(b.total, currency),
        )


class MonthSalesOut(BaseModel):
    """Credit sales of one month counted back (the business date's own month: to that
    day)."""

    month: date = Field(description="the month's first day")
    days: int
    sales: str


class BehaviourOut(BaseModel):
    """Payment behaviour of one scope on ``day`` in the reporting currency. A null
    figure cannot be computed (no sales, nothing settled): it is never shown as 0."""

    scope: Literal["buyer", "tier", "policy", "portfolio"]
    key: str = Field(description="buyer id, tier name, policy key or `all`")
    label: str
    day: date
    currency: str
    receivables: str = Field(description="net open receivables (invoices less credits)")
    unapplied_credits: str
    ageing: AgeingOut
    sales: list[MonthSalesOut] = Field(description="months counted back, newest first")
    dso_countback: str | None = Field(description="days, countback method")
    dso_countback_exhausted: bool = Field(
        description="false when the receivables outran every month counted back: the DSO "
        "is then more than the figure given"
    )
    dso_simple: str | None = Field(description="days: receivables / sales x days")
    best_possible_dso: str | None = Field(description="days: current receivables only")
    average_days_delinquent: str | None = Field(description="DSO simple - best possible DSO")
    dbt_average: str | None = Field(description="days beyond terms, mean per invoice")
    dbt_weighted: str | None = Field(description="days beyond terms weighted by amount")
    paid_on_time_share: str | None = Field(description="0-1 by amount, 4 places")
    invoices_settled: int
    invoices_overdue: int
    disputed_amount: str
    disputed_count: int
    disputed_oldest_days: int | None = Field(description="null: the dispute's start unknown")
    notes: list[str] = Field(description="what the figures could not include, named")

    @classmethod
    def of(cls, scope: str, key: str, label: str, b: Behaviour) -> BehaviourOut:
        cur = b.currency
        return cls(
            scope=scope,
            key=key,
            label=label,
            day=b.day,
            currency=cur,
            receivables=amount_text(b.receivables, cur),
            unapplied_credits=amount_text(b.unapplied_credits, cur),
            ageing=AgeingOut.of(b.buckets, cur),
            sales=[
                MonthSalesOut(month=m.month, days=m.days, sales=amount_text(m.sales, cur))
                for m in b.sales
            ],
            dso_countback=days_text(b.dso_countback),
            dso_countback_exhausted=b.dso_countback_exhausted,
            dso_simple=days_text(b.dso_simple),
            best_possible_dso=days_text(b.best_possible_dso),
            average_days_delinquent=days_text(b.average_days_delinquent),
            dbt_average=days_text(b.dbt_average),
            dbt_weighted=days_text(b.dbt_weighted),
            paid_on_time_share=share_text(b.paid_on_time_share),
            invoices_settled=b.invoices_settled,
            invoices_overdue=b.invoices_overdue,
            disputed_amount=amount_text(b.disputed_amount, cur),
            disputed_count=b.disputed_count,
            disputed_oldest_days=b.disputed_oldest_days,
            notes=list(b.notes),
        )


class BehaviourReportOut(BaseModel):
    """The figures of the scope asked for on ``as_of``: one entry per buyer, tier or
    policy (or the portfolio)."""

    as_of: date
    scope: Literal["buyer", "tier", "policy", "portfolio"]
    key: str | None
    items: list[BehaviourOut] = Field(description="sorted by label, then key")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class BehaviourTrendOut(BaseModel):
    """The stored snapshots of one scope, oldest first (month-ends and the latest)."""

    scope: Literal["buyer", "tier", "policy", "portfolio"]
    key: str
    months: int
    points: list[BehaviourOut]


# -- credit applications -------------------------------------------------------------------


class ApplicationIn(BaseModel):
    """An application for a credit line: the whole line asked for, not an increment."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"buyer": "C1001", "amount": "40000.00", "currency": "EUR", "policy": None}
            ]
        },
    )

    buyer: str = Field(
        min_length=1, max_length=64, pattern=PRINTABLE, description="ERP account or buyer id"
    )
    amount: str = Field(
        max_length=20, pattern=AMOUNT_PATTERN, description="the line asked for, a decimal string"
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    policy: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=PRINTABLE,
        description="policy key; by default the buyer's (its ERP accounts')",
    )


class DecisionIn(BaseModel):
    """A person's decision on a referred application (or one with the insurer)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"decision": "grant", "amount": "25000.00", "reason": "paid well"}]
        },
    )

    decision: Literal["grant", "refuse", "send_to_insurer"]
    amount: str | None = Field(
        None,
        max_length=20,
        pattern=AMOUNT_PATTERN,
        description="for grant: the line granted (by default the amount applied for), in "
        "the application's currency",
    )
    reason: str = Field(min_length=1, max_length=500, pattern=PRINTABLE)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class FactorOut(BaseModel):
    """One scorecard factor: its input's value, the points it earned (0-100) and its
    contribution (weight x points / sum of weights). A missing input earns nothing and
    is named (``missing``), never silently zero."""

    name: str
    input: str
    weight: str
    value: str | None
    points: str
    contribution: str
    required: bool
    missing: bool

    @classmethod
    def of(cls, f: Mapping[str, Any]) -> FactorOut:
        """From the factor as stored with the application (figures as decimal text)."""
        return cls(
            name=str(f.get("name", "")),
            input=str(f.get("input", "")),
            weight=str(f.get("weight", "0")),
            value=_text(f.get("value")),
            points=str(f.get("points", "0")),
            contribution=str(f.get("contribution", "0")),
            required=bool(f.get("required", False)),
            missing=bool(f.get("missing", f.get("value") is None)),
        )


class ScorecardOut(BaseModel):
    score: str = Field(description="0-100, 2 places, rounded down")
    threshold: str
    passed: bool
    factors: list[FactorOut]
    missing: list[str] = Field(description="factors whose input was missing")
    missing_required: list[str] = Field(description="missing factors that send it to a person")

    @classmethod
    def of(cls, s: Mapping[str, Any]) -> ScorecardOut | None:
        """From the scorecard as stored (``None`` before the application was scored)."""
        if not s or "score" not in s:
            return None
        return cls(
            score=str(s["score"]),
            threshold=str(s.get("threshold", "")),
            passed=bool(s.get("passed", False)),
            factors=[FactorOut.of(f) for f in s.get("factors", [])],
            missing=[str(m) for m in s.get("missing", [])],
            missing_required=[str(m) for m in s.get("missing_required", [])],
        )


class ConditionOut(BaseModel):
    """One DCL condition as checked, and why it holds or not."""

    name: str
    passed: bool
    detail: str

    @classmethod
    def of(cls, c: Mapping[str, Any]) -> ConditionOut:
        return cls(
            name=str(c.get("name", "")),
            passed=bool(c.get("passed", False)),
            detail=str(c.get("detail", "")),
        )


class EventOut(BaseModel):
    """One time-stamped step (received, assessment:<bureau>, behaviour, scored,
    screened, granted_dcl, cover_request_queued, provisional_line, referred,
    insurer_decided, person_decided), with what it found and its ``duration_ms`` where
    measured."""

    step: str
    at: datetime
    detail: dict[str, Any]


ApplicationStateName = Literal[
    "received", "granted", "with_insurer", "referred", "refused", "withdrawn"
]


class ApplicationOut(BaseModel):
    """A credit application: who asked, how it was routed and decided, with the
    evidence (scorecard, conditions) and every step."""

    reference: str
    url: str
    buyer_id: int
    buyer_name: str
    policy: str
    amount: str
    currency: str
    tier: str
    state: ApplicationStateName
    route: Literal["dcl", "insurer", "person"] | None
    reason: str | None
    granted_amount: str | None
    provisional_amount: str | None = Field(
        description="an internal line granted while the insurer decides"
    )
    cover_request_id: int | None = Field(description="the cover request queued to the insurer")
    cover_request_reference: str | None
    cover_request_state: str | None
    scorecard: ScorecardOut | None = Field(description="null until it was scored")
    conditions: list[ConditionOut]
    evidence: dict[str, Any] = Field(
        description="what the decision rests on: each bureau's answer (live or stored), "
        "payment behaviour, trading facts, adverse information, insurer refusals and limit"
    )
    requested_by: str
    channel: str
    plan_id: int | None
    received_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    hours_to_decision: str | None = Field(description="received to decided, 2 places")
    updated_at: datetime
    events: list[EventOut] = Field(description="every step in order (empty in a list)")


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    next_cursor: str | None = Field(description="pass as `before` for the next page")


# -- statistics ----------------------------------------------------------------------------


class StatsRowOut(BaseModel):
    """Applications of one tier and route: how many, how many decided, and the hours
    from received to decided."""

    tier: str
    route: str
    count: int
    decided: int
    pending: int
    p50_hours: str | None
    p90_hours: str | None
    mean_hours: str | None


class StatsOut(BaseModel):
    since: date | None
    rows: list[StatsRowOut]
    total: StatsRowOut | None = Field(description="every tier and route together")


# -- tiers and a buyer's credit position --------------------------------------------------------


class TierIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tier": "watch", "reason": "profit warning"}]},
    )

    tier: str = Field(min_length=1, max_length=16, pattern=PRINTABLE)
    reason: str = Field(min_length=1, max_length=500, pattern=PRINTABLE)


class TierChangeOut(BaseModel):
    """A tier change: by the nightly rules (``source`` rules) or by a person (pin,
    unpin)."""

    business_date: date
    old_tier: str | None
    new_tier: str
    reason: str
    source: str
    changed_by: str | None
    at: datetime
    details: dict[str, Any]


class TierOut(BaseModel):
    """A buyer's tier after a pin or an unpin."""

    buyer_id: int
    tier: str
    pinned: bool
    change: TierChangeOut | None = Field(description="the change recorded (null: none)")


class CreditLineOut(BaseModel):
    """What the buyer may use under one policy: the insured part (the insurer's limit in
    force, or the DCL line the gateway granted) plus uninsured internal and provisional
    lines."""

    policy: str
    currency: str
    insurer_limit: str | None = Field(description="null: no insurer decision on the buyer")
    dcl: str
    internal: str
    provisional: str
    insured: str
    uninsured: str
    total: str


class PlanOut(BaseModel):
    """A progressive-limit plan and its next step, as the last nightly evaluation said."""

    id: int
    policy: str
    currency: str
    target: str = Field(description="the line asked for at the start")
    current: str = Field(description="the line granted so far")
    state: str = Field(description="active, frozen, complete or ended")
    step: int
    last_step_on: date
    last_evaluated_on: date | None
    next_action: str = Field(description="hold, step_up, step_down, freeze or complete")
    next_amount: str | None = Field(description="the line after the next step")
    reason: str
    next_condition: str = Field(description="what the next step waits for")
    application: str | None = Field(description="a step's application still undecided")


class BuyerCreditOut(BaseModel):
    """A buyer's credit position: tier (pinned or not, its history with reasons), credit
    lines per policy, its progressive plan and payment behaviour."""

    buyer_id: int
    name: str
    tier: str
    tier_set: bool = Field(description="false when the buyer has the default tier")
    pinned: bool
    tier_history: list[TierChangeOut] = Field(description="newest first")
    lines: list[CreditLineOut] = Field(description="per policy with a line or a decision")
    plan: PlanOut | None = Field(description="the live plan, else the latest; null: none")
    behaviour: BehaviourOut | None = Field(
        description="today's figures; null without items or for a key restricted to policies"
    )
