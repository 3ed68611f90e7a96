"""``[credit]``: payment behaviour, tier rules, the pre-screen's scorecard and DCL
conditions, provisional limits and progressive-limit plans (docs/credit.md).

Every default comes from the guidance the gateway serves (service-and-workflow.md, Parts
1c and 1d); where a real policy wording is uncertain (an insurer refusal ending
self-assessment, the age of a bureau report) the rule is a setting, never a constant.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tci_gateway.domain.money import check_currency
from tci_gateway.domain.prescreen import DclRules, dcl_limit
from tci_gateway.domain.progressive import PlanRules
from tci_gateway.domain.scorecard import Factor


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BehaviourSettings(_Section):
    """``[credit.behaviour]``: how payment behaviour is measured."""

    dso_months: int = Field(default=3, ge=1, le=12)
    """The simple DSO's period: the business date's month and the months before it."""
    countback_max_months: int = Field(default=12, ge=1, le=36)
    """The countback stops after this many months (its DSO is then "over N months")."""
    dbt_window_months: int = Field(default=12, ge=1, le=36)
    """Days beyond terms and the share paid on time look at invoices settled in this
    window, plus those open and overdue on the date."""
    snapshot_scopes: list[str] = Field(
        default_factory=lambda: ["buyer", "tier", "policy", "portfolio"]
    )

    @field_validator("snapshot_scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"buyer", "tier", "policy", "portfolio"})
        if unknown:
            raise ValueError(f"unknown scope(s) {', '.join(unknown)}")
        return value


class TierPolicySettings(_Section):
    """``[credit.tier_rules.<tier>]``: what a tier means for reviews and the pre-screen."""

    review_months: int = Field(default=12, ge=1)
    """A buyer of this tier is due for a credit review this long after its last one."""
    prescreen: bool = True
    """Whether the pre-screen may grant within the DCL for this tier (off: a person)."""
    score_threshold: Decimal | None = None
    """This tier's pass mark, instead of the scorecard's."""
    progressive: bool = False
    """Whether new lines of this tier follow the progressive plan."""


def _default_tier_rules() -> dict[str, TierPolicySettings]:
    return {
        "strategic": TierPolicySettings(review_months=12),
        "growth": TierPolicySettings(review_months=6, progressive=True),
        "watch": TierPolicySettings(review_months=3, prescreen=False),
    }


class TierSettings(_Section):
    """``[credit.tiers]``: the tier rules evaluated nightly (first match wins: watch, then
    strategic, else growth). A tier pinned by a risk manager is left alone."""

    strategic_purchases_12m: Decimal = Decimal(5_000_000)
    """Strategic when invoiced purchases over the last 12 months exceed this, in the
    reporting currency."""
    watch_dbt_days: Decimal = Decimal(30)
    """Watch when the weighted days beyond terms exceed this."""
    watch_rating_drop: Decimal = Decimal(10)
    """Watch when a bureau's numeric score fell by at least this many points between its
    two latest assessments (scores where higher is better)."""
    watch_insurer_months: int = Field(default=6, ge=0)
    """Watch when an insurer refused, reduced or withdrew cover within this many months."""
    strategic: str = "strategic"
    growth: str = "growth"
    watch: str = "watch"


class FactorSettings(_Section):
    """One scorecard factor: the input it reads, its weight, and the points (0-100) its
    value earns, as ``[[value, points], ...]`` interpolated linearly and clamped at both
    ends. ``required``: when its input is missing the application goes to a person."""

    name: str
    input: str
    weight: Decimal = Field(gt=0)
    points: list[tuple[Decimal, Decimal]] = Field(min_length=1)
    required: bool = False

    @field_validator("points")
    @classmethod
    def _sorted(cls, value: list[tuple[Decimal, Decimal]]) -> list[tuple[Decimal, Decimal]]:
        xs = [x for x, _ in value]
        if xs != sorted(xs) or len(set(xs)) != len(xs):
            raise ValueError("points must be in strictly increasing order of value")
        if any(not Decimal(0) <= p <= Decimal(100) for _, p in value):
            raise ValueError("points must be between 0 and 100")
        return value


def _default_factors() -> list[FactorSettings]:
    d = Decimal
    return [
        FactorSettings(
            name="Bureau score",
            input="bureau.creditsafe.score",
            weight=d(30),
            points=[(d(20), d(0)), (d(50), d(50)), (d(80), d(100))],
        ),
        FactorSettings(
            name="Failure percentile",
            input="bureau.dnb.failure_score",
            weight=d(20),
            points=[(d(10), d(0)), (d(50), d(60)), (d(90), d(100))],
        ),
        FactorSettings(
            name="PAYDEX",
            input="bureau.dnb.paydex",
            weight=d(10),
            points=[(d(50), d(0)), (d(70), d(60)), (d(80), d(100))],
        ),
        FactorSettings(
            name="Days beyond terms (weighted)",
            input="behaviour.dbt_weighted",
            weight=d(20),
            points=[(d(0), d(100)), (d(15), d(60)), (d(45), d(0))],
        ),
        FactorSettings(
            name="Paid on time",
            input="behaviour.paid_on_time_share",
            weight=d(10),
            points=[(d("0.5"), d(0)), (d("0.9"), d(80)), (d(1), d(100))],
        ),
        FactorSettings(
            name="Months of trading",
            input="trading.months",
            weight=d(10),
            points=[(d(0), d(0)), (d(12), d(70)), (d(36), d(100))],
        ),
    ]


class ScorecardSettings(_Section):
    """``[credit.scorecard]``: the transparent scorecard (``[[credit.scorecard.factors]]``)
    and its pass mark. The score is the weighted mean of the factors' points (0-100); a
    missing input earns no points and is named."""

    threshold: Decimal = Decimal(60)
    factors: list[FactorSettings] = Field(default_factory=_default_factors)

    def domain_factors(self) -> tuple[Factor, ...]:
        """The factors as the domain's :class:`~tci_gateway.domain.scorecard.Factor`."""
        return tuple(
            Factor(f.name, f.input, f.weight, tuple(f.points), f.required) for f in self.factors
        )


class DclSettings(_Section):
    """``[credit.dcl]``: the conditions under which the pre-screen grants within the
    policy's discretionary credit limit (the amount is each policy's
    ``discretionary_limit``; ``by_country`` caps it per buyer country)."""

    report_max_age_months: int = Field(default=6, ge=1)
    """A bureau report younger than this is evidence (Coface CoverCredit: 6 months)."""
    approved_bureaus: list[str] = Field(default_factory=list)
    """The bureaus whose report counts as evidence (empty: every configured bureau)."""
    experience_months: int = Field(default=12, ge=1)
    experience_min_paid_invoices: int = Field(default=2, ge=1)
    """Trading experience as evidence: at least this many invoices paid within terms in
    the last ``experience_months`` (Allianz Trade CH: twice in 12 months)."""
    experience_balance_uplift: Decimal | None = Decimal("0.25")
    """With trading experience alone, the line may reach the highest month-end balance
    of the last 12 months plus this share (Coface: +25 %); none: no such cap."""
    insurer_refusal_months: int = Field(default=12, ge=0)
    """No self-assessment when an insurer refused, reduced or withdrew cover on the buyer
    within this many months (common practice, no verbatim wording found: a setting)."""
    adverse_months: int = Field(default=12, ge=0)
    """No self-assessment after an overdue notification or claim within this many
    months, or with an invoice past the policy's maximum extension period."""
    countries: list[str] = Field(default_factory=list)
    """The DCL country list (empty: every country)."""
    by_country: dict[str, Decimal] = Field(default_factory=dict)
    """A lower DCL for a country (ISO code -> amount in the policy currency)."""

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        return [c.upper() for c in value]

    def rules(
        self,
        policy_limit: Decimal,
        country: str,
        *,
        tier_prescreen: bool = True,
        provisional: ProvisionalSettings | None = None,
    ) -> DclRules:
        """The domain's :class:`~tci_gateway.domain.prescreen.DclRules` for a buyer in
        ``country`` under a policy whose DCL is ``policy_limit`` (capped by
        ``by_country``)."""
        prov = provisional or ProvisionalSettings()
        return DclRules(
            limit=dcl_limit(policy_limit, country, self.by_country),
            report_max_age_months=self.report_max_age_months,
            approved_bureaus=frozenset(self.approved_bureaus),
            experience_min_paid_invoices=self.experience_min_paid_invoices,
            experience_balance_uplift=self.experience_balance_uplift,
            countries=frozenset(self.countries),
            tier_prescreen=tier_prescreen,
            provisional_enabled=prov.enabled,
            provisional_share=prov.share,
            provisional_maximum=prov.maximum,
            experience_months=self.experience_months,
            insurer_refusal_months=self.insurer_refusal_months,
            adverse_months=self.adverse_months,
        )


class ProvisionalSettings(_Section):
    """``[credit.provisional]``: an internal (uninsured) limit granted while the insurer
    decides an application above the DCL, when the score passes and nothing adverse is
    known. Off by default: an uninsured line is a risk manager's choice."""

    enabled: bool = False
    share: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    maximum: Decimal | None = None


class ProgressiveSettings(_Section):
    """``[credit.progressive]``: progressive limits for new and growth customers."""

    enabled: bool = True
    new_customer_months: int = Field(default=12, ge=1)
    """A buyer with less trading history than this is new."""
    start_share: Decimal = Field(default=Decimal("0.25"), gt=0, le=1)
    step_share: Decimal = Field(default=Decimal("0.25"), gt=0, le=1)
    step_after_paid_invoices: int = Field(default=3, ge=1)
    """Step up after this many invoices paid within terms since the last step ..."""
    step_after_months_clean: int = Field(default=3, ge=1)
    """... or after this many months without an overdue invoice."""
    late_grace_days: int = Field(default=0, ge=0)
    """An invoice this many days past due (or paid that late) counts as late payment."""
    on_late: str = "freeze"
    """``freeze`` the plan, or ``step_down`` by one step."""

    @field_validator("on_late")
    @classmethod
    def _on_late(cls, value: str) -> str:
        if value not in {"freeze", "step_down"}:
            raise ValueError("on_late must be 'freeze' or 'step_down'")
        return value

    def rules(self) -> PlanRules:
        """The domain's :class:`~tci_gateway.domain.progressive.PlanRules`."""
        return PlanRules(
            start_share=self.start_share,
            step_share=self.step_share,
            step_after_paid_invoices=self.step_after_paid_invoices,
            step_after_months_clean=self.step_after_months_clean,
            late_grace_days=self.late_grace_days,
            on_late=self.on_late,
        )


class CreditSettings(_Section):
    """``[credit]``: the credit workflow (docs/credit.md)."""

    reporting_currency: str = "EUR"
    behaviour: BehaviourSettings = Field(default_factory=BehaviourSettings)
    tiers: TierSettings = Field(default_factory=TierSettings)
    tier_rules: dict[str, TierPolicySettings] = Field(default_factory=_default_tier_rules)
    scorecard: ScorecardSettings = Field(default_factory=ScorecardSettings)
    dcl: DclSettings = Field(default_factory=DclSettings)
    provisional: ProvisionalSettings = Field(default_factory=ProvisionalSettings)
    progressive: ProgressiveSettings = Field(default_factory=ProgressiveSettings)

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        check_currency(value)
        return value

    @model_validator(mode="after")
    def _tiers_known(self) -> CreditSettings:
        named = {self.tiers.strategic, self.tiers.growth, self.tiers.watch}
        missing = sorted(named - set(self.tier_rules))
        if missing:
            raise ValueError(f"credit.tier_rules has no entry for tier(s) {', '.join(missing)}")
        return self
