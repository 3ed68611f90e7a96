"""The DCL pre-screen (domain/prescreen.py; docs/credit.md, "Pre-screen")."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tci_gateway.domain.credit import FactorScore, Route, Scorecard
from tci_gateway.domain.prescreen import (
    CONDITIONS,
    DclRules,
    ScreenInputs,
    add_months,
    dcl_limit,
    money_text,
    screen,
    whole_months,
)

D = Decimal
DAY = date(2026, 12, 6)
PASSING = Scorecard(score=D("76.73"), threshold=D(60), factors=())
RULES = DclRules(limit=D(10_000))


def inputs(**changes: Any) -> ScreenInputs:
    """A buyer within the DCL on every count: EUR 8,000, a 3-month-old creditsafe report."""
    base = ScreenInputs(
        day=DAY,
        amount=D(8_000),
        country="DE",
        reports=(("creditsafe", date(2026, 9, 1)),),
        paid_within_terms=0,
        highest_month_end_balance=None,
        adverse=(),
        insurer_refusals=(),
        insurer_limit=None,
        currency="EUR",
        tier="growth",
    )
    return dataclasses.replace(base, **changes)


def detail(result: Any, name: str) -> str:
    return str(next(c.detail for c in result.conditions if c.name == name))


def passed(result: Any, name: str) -> bool:
    return bool(next(c.passed for c in result.conditions if c.name == name))


def test_within_the_dcl_every_condition_holds_and_the_line_is_granted() -> None:
    result = screen(inputs(), RULES, PASSING)
    assert result.route is Route.DCL
    assert result.granted == D(8_000) and result.provisional == 0
    assert tuple(c.name for c in result.conditions) == CONDITIONS
    assert result.failed == ()
    assert detail(result, "within_dcl") == "EUR 8,000 requested, DCL EUR 10,000."
    assert detail(result, "evidence") == (
        "creditsafe report of 2026-09-01 (3 months old, at most 6)."
    )
    assert result.reason == "Within the DCL: EUR 8,000 granted at once, every condition holds."


def test_the_dcl_itself_is_within() -> None:
    assert screen(inputs(amount=D(10_000)), RULES, PASSING).route is Route.DCL


def test_above_the_dcl_goes_to_the_insurer_without_a_provisional_line_by_default() -> None:
    result = screen(inputs(amount=D(12_000)), RULES, PASSING)
    assert result.route is Route.INSURER
    assert result.granted == 0 and result.provisional == 0
    assert detail(result, "within_dcl") == (
        "EUR 12,000 requested, EUR 2,000 above the DCL of EUR 10,000."
    )
    assert result.reason.startswith("Sent to the insurer: EUR 12,000 requested")


def test_provisional_line_is_the_share_capped_by_the_maximum_rounded_down() -> None:
    rules = dataclasses.replace(RULES, provisional_enabled=True, provisional_share=D("0.5"))
    # 12,345.67 x 0.5 = 6,172.835 -> 6,172 (down to whole units)
    result = screen(inputs(amount=D("12345.67")), rules, PASSING)
    assert result.provisional == D(6_172)
    assert "Provisional internal line EUR 6,172 while the insurer decides." in result.reason
    capped = dataclasses.replace(rules, provisional_maximum=D(5_000))
    assert screen(inputs(amount=D("12345.67")), capped, PASSING).provisional == D(5_000)


def test_provisional_line_never_lifts_the_line_above_the_amount_applied_for() -> None:
    rules = dataclasses.replace(RULES, provisional_enabled=True)
    # A named limit of 10,000 and 12,000 applied for: 12,000 x 0.5 = 6,000 but only 2,000
    # is left between the insured limit and the amount.
    result = screen(inputs(amount=D(12_000), insurer_limit=D(10_000)), rules, PASSING)
    assert result.route is Route.INSURER
    assert not passed(result, "no_named_limit")
    assert detail(result, "no_named_limit") == (
        "The insurer has a named limit of EUR 10,000 on the buyer: it decides any increase."
    )
    assert result.provisional == D(2_000)


def test_a_named_limit_sends_even_a_small_amount_to_the_insurer() -> None:
    result = screen(inputs(insurer_limit=D(5_000)), RULES, PASSING)
    assert result.route is Route.INSURER and result.granted == 0


@pytest.mark.parametrize(
    ("as_of", "ok"),
    [
        (date(2026, 6, 6), True),  # exactly 6 months old
        (date(2026, 6, 5), False),  # a day older
        (None, False),  # undated: its age cannot be shown
    ],
)
def test_a_report_is_evidence_while_young_enough(as_of: date | None, ok: bool) -> None:
    result = screen(inputs(reports=(("creditsafe", as_of),)), RULES, PASSING)
    assert passed(result, "evidence") is ok
    assert result.route is (Route.DCL if ok else Route.INSURER)


def test_an_unapproved_bureau_is_no_evidence() -> None:
    rules = dataclasses.replace(RULES, approved_bureaus=frozenset({"dnb"}))
    result = screen(inputs(), rules, PASSING)
    assert not passed(result, "evidence")
    assert detail(result, "evidence") == (
        "No report from an approved bureau (dnb); trading: 0 invoices paid within terms"
        " in 12 months (at least 2 needed)."
    )


def test_the_freshest_approved_report_is_named() -> None:
    reports = (("creditsafe", date(2026, 1, 1)), ("dnb", date(2026, 11, 30)))
    result = screen(inputs(reports=reports), RULES, PASSING)
    assert detail(result, "evidence") == "dnb report of 2026-11-30 (0 months old, at most 6)."


def test_an_old_report_is_named_in_the_failure() -> None:
    result = screen(inputs(reports=(("creditsafe", date(2026, 1, 3)),)), RULES, PASSING)
    assert detail(result, "evidence") == (
        "No report younger than 6 months (held: creditsafe 2026-01-03); trading: 0 invoices"
        " paid within terms in 12 months (at least 2 needed)."
    )


def test_trading_experience_up_to_the_highest_balance_plus_25_percent() -> None:
    # Coface: highest month-end balance 8,000 x 1.25 = 10,000
    trading = {"reports": (), "paid_within_terms": 2, "highest_month_end_balance": D(8_000)}
    at_cap = screen(inputs(amount=D(10_000), **trading), RULES, PASSING)
    assert at_cap.route is Route.DCL
    assert detail(at_cap, "evidence") == (
        "Trading experience: 2 invoices paid within terms in 12 months (at least 2 needed);"
        " EUR 10,000 within the highest month-end balance EUR 8,000 + 25 % = EUR 10,000."
    )
    above = screen(inputs(amount=D("10000.01"), **trading), RULES, PASSING)
    assert not passed(above, "evidence")
    assert "but EUR 10,000.01 is above the highest month-end balance" in detail(above, "evidence")


def test_trading_experience_needs_enough_paid_invoices() -> None:
    trading = {"reports": (), "paid_within_terms": 1, "highest_month_end_balance": D(9_000)}
    assert not passed(screen(inputs(**trading), RULES, PASSING), "evidence")


def test_trading_experience_without_a_known_balance_fails_while_the_uplift_caps() -> None:
    trading = {"reports": (), "paid_within_terms": 5}
    assert not passed(screen(inputs(**trading), RULES, PASSING), "evidence")
    no_cap = dataclasses.replace(RULES, experience_balance_uplift=None)
    result = screen(inputs(**trading), no_cap, PASSING)
    assert result.route is Route.DCL
    assert detail(result, "evidence") == (
        "Trading experience: 5 invoices paid within terms in 12 months (at least 2 needed)."
    )


def test_adverse_information_goes_to_a_person_even_within_the_dcl() -> None:
    result = screen(inputs(adverse=("overdue notification of 2026-10-02",)), RULES, PASSING)
    assert result.route is Route.PERSON and result.granted == 0
    assert detail(result, "no_adverse_information") == (
        "Negative information: overdue notification of 2026-10-02."
    )
    assert result.reason == (
        "A person decides with the evidence: Negative information: overdue notification of"
        " 2026-10-02."
    )


def test_an_insurer_refusal_goes_to_a_person() -> None:
    refusal = ("allianz refused EUR 20,000 on 2026-05-01",)
    result = screen(inputs(amount=D(50_000), insurer_refusals=refusal), RULES, PASSING)
    assert result.route is Route.PERSON
    assert detail(result, "no_insurer_refusal") == (
        "The insurer refused, reduced or withdrew cover in 12 months:"
        " allianz refused EUR 20,000 on 2026-05-01."
    )
    assert "EUR 50,000 requested, EUR 40,000 above the DCL" in result.reason


def test_a_tier_without_prescreen_goes_to_a_person() -> None:
    rules = dataclasses.replace(RULES, tier_prescreen=False)
    result = screen(inputs(tier="watch"), rules, PASSING)
    assert result.route is Route.PERSON
    assert detail(result, "tier_prescreen") == "Tier watch sends every application to a person."


def test_a_low_score_or_a_missing_required_factor_goes_to_a_person() -> None:
    low = Scorecard(score=D("52.73"), threshold=D(60), factors=())
    result = screen(inputs(), RULES, low)
    assert result.route is Route.PERSON
    assert detail(result, "score") == "Score 52.73 below the pass mark 60."
    required = FactorScore("Bureau score", "bureau.x", D(30), None, D(0), D(0), required=True)
    card = Scorecard(score=D(70), threshold=D(60), factors=(required,))
    result = screen(inputs(), RULES, card)
    assert result.route is Route.PERSON
    assert detail(result, "score") == (
        "Required factor(s) missing: Bureau score (score 70, pass mark 60)."
    )


def test_the_country_list() -> None:
    rules = dataclasses.replace(RULES, countries=frozenset({"DE", "FR"}))
    assert screen(inputs(country="fr"), rules, PASSING).route is Route.DCL
    result = screen(inputs(country="BR"), rules, PASSING)
    assert result.route is Route.INSURER
    assert detail(result, "country_listed") == "BR is not on the DCL country list (DE, FR)."


def test_no_report_and_no_trading_is_named() -> None:
    result = screen(inputs(reports=()), RULES, PASSING)
    assert detail(result, "evidence") == (
        "No bureau report; trading: 0 invoices paid within terms in 12 months (at least 2 needed)."
    )


def test_a_passing_score_still_names_its_missing_factors() -> None:
    gone = FactorScore("PAYDEX", "bureau.dnb.paydex", D(10), None, D(0), D(0))
    card = Scorecard(score=D("61.50"), threshold=D(60), factors=(gone,))
    result = screen(inputs(), RULES, card)
    assert result.route is Route.DCL
    assert detail(result, "score") == (
        "Score 61.50 at or above the pass mark 60 (missing, 0 points: PAYDEX)."
    )


def test_a_non_positive_amount_is_refused() -> None:
    with pytest.raises(ValueError):
        screen(inputs(amount=D(0)), RULES, PASSING)


def test_dcl_limit_takes_the_country_cap_when_lower() -> None:
    caps = {"BR": D(5_000), "US": D(50_000)}
    assert dcl_limit(D(10_000), "br", caps) == D(5_000)
    assert dcl_limit(D(10_000), "US", caps) == D(10_000)
    assert dcl_limit(D(10_000), "DE", caps) == D(10_000)


def test_money_and_month_helpers() -> None:
    assert money_text(D("8000.00"), "EUR") == "EUR 8,000"
    assert money_text(D("8000.5"), "EUR") == "EUR 8,000.50"
    assert money_text(D(1234567)) == "1,234,567"
    assert money_text(D("1E+3"), "EUR") == "EUR 1,000"
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert whole_months(date(2026, 1, 15), date(2026, 3, 14)) == 1
    assert whole_months(date(2026, 1, 15), date(2026, 3, 15)) == 2
    assert whole_months(date(2026, 1, 31), date(2026, 2, 28)) == 1
    assert whole_months(date(2026, 3, 15), date(2026, 1, 15)) == 0


# --- properties -------------------------------------------------------------------------

amounts = st.decimals(min_value=D("0.01"), max_value=D(1_000_000), places=2)


@st.composite
def cases(draw: st.DrawFn) -> tuple[ScreenInputs, DclRules, Scorecard]:
    day = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)))
    report_day = st.none() | st.dates(min_value=date(2023, 1, 1), max_value=day)
    reports = tuple(
        draw(st.lists(st.tuples(st.sampled_from(["creditsafe", "dnb"]), report_day), max_size=2))
    )
    case = ScreenInputs(
        day=day,
        amount=draw(amounts),
        country=draw(st.sampled_from(["DE", "FR", "BR"])),
        reports=reports,
        paid_within_terms=draw(st.integers(0, 5)),
        highest_month_end_balance=draw(st.none() | amounts),
        adverse=tuple(draw(st.lists(st.just("claim filed"), max_size=1))),
        insurer_refusals=tuple(draw(st.lists(st.just("refused"), max_size=1))),
        insurer_limit=draw(st.none() | st.none() | amounts),
        currency="EUR",
    )
    rules = DclRules(
        limit=draw(amounts),
        report_max_age_months=draw(st.integers(1, 12)),
        approved_bureaus=frozenset(draw(st.sets(st.sampled_from(["creditsafe", "dnb"])))),
        experience_balance_uplift=draw(st.none() | st.sampled_from([D(0), D("0.25")])),
        countries=frozenset(draw(st.sets(st.sampled_from(["DE", "FR"])))),
        tier_prescreen=draw(st.booleans()),
        provisional_enabled=draw(st.booleans()),
        provisional_share=draw(st.sampled_from([D("0.1"), D("0.5"), D("0.333"), D(1)])),
        provisional_maximum=draw(st.none() | amounts),
    )
    card = Scorecard(
        score=draw(st.decimals(min_value=0, max_value=100, places=2)),
        threshold=D(60),
        factors=(),
    )
    return case, rules, card


@settings(max_examples=200)
@given(cases())
def test_route_is_dcl_only_when_every_condition_passes_provisional_within_bounds(
    case: tuple[ScreenInputs, DclRules, Scorecard],
) -> None:
    inputs_, rules, card = case
    result = screen(inputs_, rules, card)
    assert tuple(c.name for c in result.conditions) == CONDITIONS
    assert all(c.detail for c in result.conditions)
    every = all(c.passed for c in result.conditions)
    assert (result.route is Route.DCL) is every
    assert result.granted == (inputs_.amount if every else 0)
    person = bool(inputs_.adverse or inputs_.insurer_refusals) or not rules.tier_prescreen
    person = person or not card.passed
    assert (result.route is Route.PERSON) is person
    # The provisional line: never above the share or the maximum, whole units, only
    # on the insurer route, never lifting the line above the amount applied for.
    assert result.provisional >= 0
    assert result.provisional == result.provisional.to_integral_value()
    assert result.provisional <= inputs_.amount * rules.provisional_share
    if rules.provisional_maximum is not None:
        assert result.provisional <= rules.provisional_maximum
    assert result.provisional + (inputs_.insurer_limit or 0) <= max(
        inputs_.amount, inputs_.insurer_limit or 0
    )
    if result.route is not Route.INSURER or not rules.provisional_enabled:
        assert result.provisional == 0
