"""The pre-screen of a credit application against the policy's discretionary credit limit
(DCL) (docs/credit.md, "Pre-screen"; service-and-workflow.md, Part 1c).

A DCL is the amount, fixed in the policy schedule, up to which the policyholder may set
its own limit on a buyer without asking the insurer, provided it can justify the limit
from evidence the policy names. The conditions checked, in this order, and where each
comes from:

``within_dcl``
    The line applied for is at most the DCL (the policy's, or the country's when
    ``[credit.dcl.by_country]`` caps it lower: :func:`dcl_limit`). Every source.
``no_named_limit``
    The insurer has no decision on the buyer: with a named limit, the insurer decides
    any increase (a DCL is for buyers without one). Every source.
``evidence``
    A report from an approved bureau no older than ``report_max_age_months`` (Coface
    CoverCredit: 6 months; other policies vary, hence a setting), *or* trading
    experience: at least ``experience_min_paid_invoices`` invoices paid within terms in
    the last ``experience_months`` (Allianz Trade Switzerland: bought at least twice in
    12 months and paid by the agreed date) and, when ``experience_balance_uplift`` is
    set, a line no higher than the highest month-end balance of the last 12 months plus
    that share (Coface CoverCredit: +25 %). A report without a date is no evidence
    (its age cannot be shown).
``no_adverse_information``
    No negative information on the buyer: an overdue notification, a claim, an invoice
    past the maximum extension period (Atradius Belgium: once you hold negative
    information on a debtor you may no longer use self-assessment).
``no_insurer_refusal``
    No refusal, reduction or withdrawal by the insurer on the buyer within
    ``insurer_refusal_months``. **Uncertain**: common practice, but no verbatim policy
    wording was found, so it is a setting ([credit.dcl] insurer_refusal_months, 0 turns
    it off in the service that gathers the refusals).
``country_listed``
    The buyer's country is on the policy's DCL country list (Coface CoverCredit: listed
    countries only); an empty list means every country.
``tier_prescreen``
    The buyer's tier lets the engine decide (``[credit.tier_rules.<tier>] prescreen``;
    off for ``watch`` by default). The gateway's own rule, not a policy's.
``score``
    The scorecard passes its threshold and no required factor is missing. The
    gateway's own rule.

The route (:func:`screen`): a **person** when anything says "look closer" (adverse
information, an insurer refusal, a tier without pre-screen, a required factor missing, a
score below the pass mark): the engine never refuses on its own, it hands the evidence
to a person. Else **DCL** when every condition holds: the line is granted at once.
Else the **insurer** (above the DCL, a named limit, no evidence, a country not listed):
nothing granted, a cover request goes out and, when ``provisional_enabled``, a
provisional internal (uninsured) line of ``min(amount x share, maximum)`` rounded down to
whole currency units meanwhile (down: the uninsured risk is the smaller one), and never
more than what the insured part leaves to the amount applied for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal

from tci_gateway.domain.credit import Condition, Route, Scorecard, Screen
from tci_gateway.domain.months import add_months as add_months
from tci_gateway.domain.months import whole_months as whole_months

ZERO = Decimal(0)
ONE = Decimal(1)

CONDITIONS = (
    "within_dcl",
    "no_named_limit",
    "evidence",
    "no_adverse_information",
    "no_insurer_refusal",
    "country_listed",
    "tier_prescreen",
    "score",
)
"""The condition names, in the order :func:`screen` checks them."""


def money_text(amount: Decimal, currency: str = "") -> str:
    """An amount as a risk analyst reads it: ``EUR 8,000`` (whole amounts without
    decimals), ``EUR 8,000.50`` otherwise; without ``currency`` just the figure."""
    if amount == amount.to_integral_value():
        figure = f"{amount.quantize(ONE):,}"
    else:
        figure = f"{amount.quantize(Decimal('0.01')):,}"
    return f"{currency} {figure}" if currency else figure


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def down_to_units(amount: Decimal) -> Decimal:
    """``amount`` rounded down to whole currency units (conservative for a line)."""
    return amount.to_integral_value(rounding=ROUND_DOWN)


def dcl_limit(policy_limit: Decimal, country: str, by_country: Mapping[str, Decimal]) -> Decimal:
    """The DCL for a buyer in ``country``: the policy's, or the country's cap when lower."""
    cap = by_country.get(country.upper())
    return policy_limit if cap is None else min(policy_limit, cap)


@dataclass(frozen=True, slots=True)
class DclRules:
    """The DCL conditions of one policy for one buyer (built from ``[credit.dcl]``, the
    policy's ``discretionary_limit`` and the buyer's tier). ``limit`` is already the
    country cap when lower (:func:`dcl_limit`). ``experience_months``,
    ``insurer_refusal_months`` and ``adverse_months`` only word the details: the service
    gathers the facts over those periods."""

    limit: Decimal
    report_max_age_months: int = 6
    approved_bureaus: frozenset[str] = frozenset()
    experience_min_paid_invoices: int = 2
    experience_balance_uplift: Decimal | None = Decimal("0.25")
    countries: frozenset[str] = frozenset()
    tier_prescreen: bool = True
    provisional_enabled: bool = False
    provisional_share: Decimal = Decimal("0.5")
    provisional_maximum: Decimal | None = None
    experience_months: int = 12
    insurer_refusal_months: int = 12
    adverse_months: int = 12


@dataclass(frozen=True, slots=True)
class ScreenInputs:
    """What the pre-screen knows of one application: ``amount`` is the whole line
    applied for in the policy currency (``currency``, used in the details); ``reports``
    the bureau reports held (bureau, as-of date); ``paid_within_terms`` the invoices paid
    within terms in the experience period; ``adverse`` and ``insurer_refusals``
    descriptions of negative information and insurer refusals, reductions or
    withdrawals in their periods; ``insurer_limit`` the insurer's limit in force
    (``None``: the insurer has no decision on the buyer)."""

    day: date
    amount: Decimal
    country: str
    reports: tuple[tuple[str, date | None], ...]
    paid_within_terms: int
    highest_month_end_balance: Decimal | None
    adverse: tuple[str, ...]
    insurer_refusals: tuple[str, ...]
    insurer_limit: Decimal | None
    currency: str = ""
    tier: str | None = None


def _within_dcl(inputs: ScreenInputs, rules: DclRules) -> Condition:
    amount, limit = (
        money_text(inputs.amount, inputs.currency),
        money_text(rules.limit, inputs.currency),
    )
    if inputs.amount <= rules.limit:
        return Condition("within_dcl", True, f"{amount} requested, DCL {limit}.")
    over = money_text(inputs.amount - rules.limit, inputs.currency)
    return Condition("within_dcl", False, f"{amount} requested, {over} above the DCL of {limit}.")


def _no_named_limit(inputs: ScreenInputs) -> Condition:
    if inputs.insurer_limit is None:
        return Condition("no_named_limit", True, "The insurer has no decision on the buyer.")
    named = money_text(inputs.insurer_limit, inputs.currency)
    return Condition(
        "no_named_limit",
        False,
        f"The insurer has a named limit of {named} on the buyer: it decides any increase.",
    )


def _evidence(inputs: ScreenInputs, rules: DclRules) -> Condition:
    months = rules.report_max_age_months
    oldest = add_months(inputs.day, -months)
    considered = [
        (bureau, as_of)
        for bureau, as_of in inputs.reports
        if not rules.approved_bureaus or bureau in rules.approved_bureaus
    ]
    fresh = sorted(
        ((as_of, bureau) for bureau, as_of in considered if as_of is not None and as_of >= oldest),
        reverse=True,
    )
    if fresh:
        as_of, bureau = fresh[0]
        return Condition(
            "evidence",
            True,
            f"{bureau} report of {as_of.isoformat()}"
            f" ({_plural(whole_months(as_of, inputs.day), 'month')} old, at most {months}).",
        )
    report_part = _report_failure(inputs, rules, considered)
    needed = rules.experience_min_paid_invoices
    paid = inputs.paid_within_terms
    trading = (
        f"{_plural(paid, 'invoice')} paid within terms in"
        f" {_plural(rules.experience_months, 'month')} (at least {needed} needed)"
    )
    if paid < needed:
        return Condition("evidence", False, f"{report_part}; trading: {trading}.")
    uplift = rules.experience_balance_uplift
    if uplift is None:
        return Condition("evidence", True, f"Trading experience: {trading}.")
    highest = inputs.highest_month_end_balance
    share = f"{(uplift * 100).normalize():f} %"
    if highest is None:
        return Condition(
            "evidence",
            False,
            f"{report_part}; trading: {trading}, but no month-end balance is known to cap the"
            f" line at the highest one + {share}.",
        )
    cap = highest * (ONE + uplift)
    cap_text = (
        f"highest month-end balance {money_text(highest, inputs.currency)} + {share}"
        f" = {money_text(cap, inputs.currency)}"
    )
    amount = money_text(inputs.amount, inputs.currency)
    if inputs.amount <= cap:
        return Condition(
            "evidence", True, f"Trading experience: {trading}; {amount} within the {cap_text}."
        )
    return Condition(
        "evidence",
        False,
        f"{report_part}; trading: {trading}, but {amount} is above the {cap_text}.",
    )


def _report_failure(
    inputs: ScreenInputs, rules: DclRules, considered: list[tuple[str, date | None]]
) -> str:
    months = _plural(rules.report_max_age_months, "month")
    if not considered:
        if inputs.reports and rules.approved_bureaus:
            approved = ", ".join(sorted(rules.approved_bureaus))
            return f"No report from an approved bureau ({approved})"
        return "No bureau report"
    held = ", ".join(
        f"{bureau} {as_of.isoformat() if as_of else 'undated'}" for bureau, as_of in considered
    )
    return f"No report younger than {months} (held: {held})"


def _no_adverse(inputs: ScreenInputs, rules: DclRules) -> Condition:
    if not inputs.adverse:
        return Condition(
            "no_adverse_information",
            True,
            f"No negative information on the buyer in {_plural(rules.adverse_months, 'month')}.",
        )
    return Condition(
        "no_adverse_information", False, f"Negative information: {'; '.join(inputs.adverse)}."
    )


def _no_refusal(inputs: ScreenInputs, rules: DclRules) -> Condition:
    months = _plural(rules.insurer_refusal_months, "month")
    if not inputs.insurer_refusals:
        return Condition(
            "no_insurer_refusal",
            True,
            f"No refusal, reduction or withdrawal by the insurer in {months}.",
        )
    return Condition(
        "no_insurer_refusal",
        False,
        f"The insurer refused, reduced or withdrew cover in {months}: "
        f"{'; '.join(inputs.insurer_refusals)}.",
    )


def _country(inputs: ScreenInputs, rules: DclRules) -> Condition:
    country = inputs.country.upper()
    if not rules.countries:
        return Condition("country_listed", True, f"{country}: the DCL applies in every country.")
    listed = ", ".join(sorted(rules.countries))
    if country in {c.upper() for c in rules.countries}:
        return Condition("country_listed", True, f"{country} is on the DCL country list.")
    return Condition(
        "country_listed", False, f"{country} is not on the DCL country list ({listed})."
    )


def _tier(inputs: ScreenInputs, rules: DclRules) -> Condition:
    tier = f"Tier {inputs.tier}" if inputs.tier else "The buyer's tier"
    if rules.tier_prescreen:
        return Condition("tier_prescreen", True, f"{tier} lets the pre-screen decide.")
    return Condition("tier_prescreen", False, f"{tier} sends every application to a person.")


def _score(scorecard: Scorecard) -> Condition:
    figures = f"score {scorecard.score}, pass mark {scorecard.threshold}"
    missing = scorecard.missing_required
    if missing:
        return Condition(
            "score",
            False,
            f"Required factor(s) missing: {', '.join(missing)} ({figures}).",
        )
    if scorecard.passed:
        text = f"Score {scorecard.score} at or above the pass mark {scorecard.threshold}"
        if scorecard.missing:
            text += f" (missing, 0 points: {', '.join(scorecard.missing)})"
        return Condition("score", True, text + ".")
    text = f"Score {scorecard.score} below the pass mark {scorecard.threshold}"
    if scorecard.missing:
        text += f" (missing, 0 points: {', '.join(scorecard.missing)})"
    return Condition("score", False, text + ".")


def screen(inputs: ScreenInputs, rules: DclRules, scorecard: Scorecard) -> Screen:
    """Check the DCL conditions (module docstring, in that order) and choose the route.
    An amount that is not positive is an error (nothing to screen)."""
    if inputs.amount <= 0:
        raise ValueError(f"the amount applied for must be positive ({inputs.amount})")
    conditions = (
        _within_dcl(inputs, rules),
        _no_named_limit(inputs),
        _evidence(inputs, rules),
        _no_adverse(inputs, rules),
        _no_refusal(inputs, rules),
        _country(inputs, rules),
        _tier(inputs, rules),
        _score(scorecard),
    )
    by_name = {c.name: c for c in conditions}
    person = [
        by_name[name]
        for name in ("no_adverse_information", "no_insurer_refusal", "tier_prescreen", "score")
        if not by_name[name].passed
    ]
    if person:
        why = " ".join(c.detail for c in person)
        others = [c.detail for c in conditions if not c.passed and c not in person]
        if others:
            why += f" Also: {' '.join(others)}"
        return Screen(
            route=Route.PERSON,
            conditions=conditions,
            scorecard=scorecard,
            granted=ZERO,
            provisional=ZERO,
            reason=f"A person decides with the evidence: {why}",
        )
    failed = [c for c in conditions if not c.passed]
    amount = money_text(inputs.amount, inputs.currency)
    if not failed:
        return Screen(
            route=Route.DCL,
            conditions=conditions,
            scorecard=scorecard,
            granted=inputs.amount,
            provisional=ZERO,
            reason=f"Within the DCL: {amount} granted at once, every condition holds.",
        )
    provisional = provisional_amount(inputs, rules)
    why = " ".join(c.detail for c in failed)
    reason = f"Sent to the insurer: {why}"
    if provisional > 0:
        reason += (
            f" Provisional internal line {money_text(provisional, inputs.currency)}"
            " while the insurer decides."
        )
    return Screen(
        route=Route.INSURER,
        conditions=conditions,
        scorecard=scorecard,
        granted=ZERO,
        provisional=provisional,
        reason=reason,
    )


def provisional_amount(inputs: ScreenInputs, rules: DclRules) -> Decimal:
    """The provisional internal line while the insurer decides (0 when not enabled):
    ``min(amount x share, maximum)``, never above what the insurer's current limit leaves
    to the amount applied for, rounded down to whole units."""
    if not rules.provisional_enabled:
        return ZERO
    amount = inputs.amount * rules.provisional_share
    if rules.provisional_maximum is not None:
        amount = min(amount, rules.provisional_maximum)
    amount = min(amount, inputs.amount - (inputs.insurer_limit or ZERO))
    return max(ZERO, down_to_units(amount))
