"""What a credit application needs from the configuration, as typed values (the wiring
builds them from ``[credit]``: :func:`tci_gateway.wiring.credit_options`; services never
read settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from tci_gateway.domain.prescreen import DclRules, dcl_limit
from tci_gateway.domain.progressive import PlanRules
from tci_gateway.domain.scorecard import Factor

if TYPE_CHECKING:
    from tci_gateway.services.behaviour import BehaviourOptions
    from tci_gateway.services.tiers import TierOptions


@dataclass(frozen=True)
class DclOptions:
    """``[credit.dcl]``: the conditions of self-assessment within a policy's DCL (the
    amount itself is each policy's ``discretionary_limit``, capped by ``by_country``)."""

    report_max_age_months: int = 6
    approved_bureaus: frozenset[str] = frozenset()
    experience_months: int = 12
    experience_min_paid_invoices: int = 2
    experience_balance_uplift: Decimal | None = Decimal("0.25")
    insurer_refusal_months: int = 12
    adverse_months: int = 12
    countries: frozenset[str] = frozenset()
    by_country: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class CreditOptions:
    """The pre-screen's options. ``bureau_id_schemes`` names, per configured bureau, the
    identifier scheme that is its own company id (D&B: the DUNS), so a buyer never
    assessed there can still be asked by that identifier."""

    behaviour: BehaviourOptions
    factors: tuple[Factor, ...]
    threshold: Decimal = Decimal(60)
    tier_thresholds: Mapping[str, Decimal] = field(default_factory=dict)
    tier_prescreen: Mapping[str, bool] = field(default_factory=dict)
    tier_progressive: Mapping[str, bool] = field(default_factory=dict)
    default_tier: str = "growth"
    dcl: DclOptions = field(default_factory=DclOptions)
    provisional_enabled: bool = False
    provisional_share: Decimal = Decimal("0.5")
    provisional_maximum: Decimal | None = None
    progressive: PlanRules | None = None
    new_customer_months: int = 12
    tiers: TierOptions | None = None
    bureau_id_schemes: Mapping[str, str] = field(default_factory=dict)

    def threshold_of(self, tier: str) -> Decimal:
        return self.tier_thresholds.get(tier, self.threshold)

    def dcl_rules(self, policy_limit: Decimal, country: str, tier: str) -> DclRules:
        """The DCL rules for one policy, buyer country and tier."""
        d = self.dcl
        return DclRules(
            limit=dcl_limit(policy_limit, country, d.by_country),
            report_max_age_months=d.report_max_age_months,
            approved_bureaus=d.approved_bureaus,
            experience_min_paid_invoices=d.experience_min_paid_invoices,
            experience_balance_uplift=d.experience_balance_uplift,
            countries=d.countries,
            tier_prescreen=self.tier_prescreen.get(tier, True),
            provisional_enabled=self.provisional_enabled,
            provisional_share=self.provisional_share,
            provisional_maximum=self.provisional_maximum,
            experience_months=d.experience_months,
            insurer_refusal_months=d.insurer_refusal_months,
            adverse_months=d.adverse_months,
        )
