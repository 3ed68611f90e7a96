"""Tiers by rule: strategic, growth or watch, and when a buyer's credit review is due.

The rules (``[credit.tiers]``, docs/credit.md), first match wins:

1. **watch** when any warning sign fired: the weighted days beyond terms exceed
   ``watch_dbt_days``; a bureau's numeric score fell by at least ``watch_rating_drop``
   points between its two latest assessments (scores where higher is better); an insurer
   refused, reduced or withdrew cover within the window the service looked at;
2. **strategic** when invoiced purchases over the last 12 months exceed
   ``strategic_purchases_12m`` in the reporting currency;
3. **growth** otherwise.

Watch comes first on purpose: a large customer paying late is a risk before it is an
opportunity (the conservative reading). The verdict's reason names every rule that fired
with its figures, so a person reading the alert sees why without opening the data.

Pure: no I/O; the service gathers :class:`TierInputs` for every buyer with set-based SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from tci_gateway.domain.credit import TierVerdict
from tci_gateway.domain.months import add_months as add_months

_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class TierRules:
    """The thresholds of the tier rules and the tiers' names (``[credit.tiers]``)."""

    strategic_purchases_12m: Decimal
    watch_dbt_days: Decimal
    watch_rating_drop: Decimal
    strategic: str = "strategic"
    growth: str = "growth"
    watch: str = "watch"

    @property
    def names(self) -> tuple[str, str, str]:
        return (self.strategic, self.growth, self.watch)


@dataclass(frozen=True, slots=True)
class TierInputs:
    """What the rules look at for one buyer.

    ``purchases_12m``: invoiced amounts of the last 12 months in the reporting currency
    (``None``: nothing could be counted). ``dbt_weighted``: days beyond terms weighted by
    amount (``None``: no invoice settled or overdue). ``rating_drops``: per bureau, its
    previous and latest numeric score ``(provider, previous, latest)``, whether or not it
    fell. ``insurer_reductions``: one description per insurer refusal, reduction or
    withdrawal within the window.
    """

    purchases_12m: Decimal | None
    dbt_weighted: Decimal | None
    rating_drops: tuple[tuple[str, Decimal, Decimal], ...] = ()
    insurer_reductions: tuple[str, ...] = ()


def _amount(value: Decimal) -> str:
    return f"{value.quantize(_CENT):,}"


def _figure(value: Decimal) -> str:
    return f"{value.quantize(_CENT)}"


def decide_tier(inputs: TierInputs, rules: TierRules) -> TierVerdict:
    """The tier the rules give ``inputs``: watch first, then strategic, else growth.

    ``details`` holds every figure looked at (as strings, exact) and ``fired``, the
    names of the rules that fired (``watch_dbt``, ``watch_rating:<bureau>``,
    ``watch_insurer``, ``strategic_purchases``); ``reason`` is one line naming each rule
    that fired with its figures (a strategic threshold met by a buyer on watch is named
    too: the person reading it sees both)."""
    fired: list[str] = []
    watch: list[str] = []
    details: dict[str, Any] = {
        "purchases_12m": None if inputs.purchases_12m is None else str(inputs.purchases_12m),
        "strategic_purchases_12m": str(rules.strategic_purchases_12m),
        "dbt_weighted": None if inputs.dbt_weighted is None else str(inputs.dbt_weighted),
        "watch_dbt_days": str(rules.watch_dbt_days),
        "watch_rating_drop": str(rules.watch_rating_drop),
        "ratings": [
            {"provider": p, "previous": str(prev), "latest": str(last)}
            for p, prev, last in inputs.rating_drops
        ],
        "insurer_reductions": list(inputs.insurer_reductions),
    }
    if inputs.dbt_weighted is not None and inputs.dbt_weighted > rules.watch_dbt_days:
        fired.append("watch_dbt")
        watch.append(
            f"days beyond terms {_figure(inputs.dbt_weighted)} (weighted) over "
            f"{_figure(rules.watch_dbt_days)}"
        )
    for provider, previous, latest in inputs.rating_drops:
        drop = previous - latest
        if drop >= rules.watch_rating_drop:
            fired.append(f"watch_rating:{provider}")
            watch.append(
                f"{provider} score fell {_figure(previous)} -> {_figure(latest)} "
                f"({_figure(drop)} points, at least {_figure(rules.watch_rating_drop)})"
            )
    if inputs.insurer_reductions:
        fired.append("watch_insurer")
        watch.append("insurer " + "; ".join(inputs.insurer_reductions))
    strategic = (
        inputs.purchases_12m is not None and inputs.purchases_12m > rules.strategic_purchases_12m
    )
    purchases = (
        f"purchases over 12 months {_amount(inputs.purchases_12m)} over "
        f"{_amount(rules.strategic_purchases_12m)}"
        if strategic and inputs.purchases_12m is not None
        else ""
    )
    if strategic:
        fired.append("strategic_purchases")
    details["fired"] = fired
    if watch:
        reason = "watch: " + "; ".join(watch)
        if strategic:
            reason += f" (strategic otherwise: {purchases})"
        return TierVerdict(rules.watch, reason, details)
    if strategic:
        return TierVerdict(rules.strategic, f"strategic: {purchases}", details)
    shown = "none counted" if inputs.purchases_12m is None else _amount(inputs.purchases_12m)
    return TierVerdict(
        rules.growth,
        f"growth: no rule fired (purchases over 12 months {shown}, strategic over "
        f"{_amount(rules.strategic_purchases_12m)})",
        details,
    )


def review_due(last_review: date | None, months: int, day: date) -> bool:
    """Whether a buyer last reviewed on ``last_review`` is due for a credit review on
    ``day``: ``months`` calendar months have passed (due on the anniversary itself).
    Never reviewed (``None``): due, the conservative answer."""
    if last_review is None:
        return True
    return add_months(last_review, months) <= day


__all__ = ["TierInputs", "TierRules", "add_months", "decide_tier", "review_due"]
