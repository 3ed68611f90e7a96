"""Tiers by rule (docs/credit.md, "Tiers"): watch first, then strategic, else growth; the
reason names every rule that fired with its figures; when a credit review is due."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tci_gateway.domain.tiers import TierInputs, TierRules, add_months, decide_tier, review_due

D = Decimal
ZERO = D(0)
RULES = TierRules(
    strategic_purchases_12m=D(5_000_000), watch_dbt_days=D(30), watch_rating_drop=D(10)
)


def inputs(
    purchases: Decimal | None = ZERO,
    dbt: Decimal | None = None,
    ratings: tuple[tuple[str, Decimal, Decimal], ...] = (),
    insurer: tuple[str, ...] = (),
) -> TierInputs:
    return TierInputs(purchases, dbt, ratings, insurer)


# Golden cases, each figure worked by hand.


def test_growth_when_no_rule_fires() -> None:
    ratings = (("creditsafe", D(72), D(65)),)
    verdict = decide_tier(inputs(D("4999999.99"), D("12.5"), ratings), RULES)
    assert verdict.tier == "growth"
    assert verdict.reason == (
        "growth: no rule fired (purchases over 12 months 4,999,999.99, strategic over 5,000,000.00)"
    )
    assert verdict.details["fired"] == []
    assert verdict.details["ratings"] == [
        {"provider": "creditsafe", "previous": "72", "latest": "65"}
    ]


def test_strategic_over_five_million_not_at_it() -> None:
    at = decide_tier(inputs(D(5_000_000)), RULES)
    over = decide_tier(inputs(D("5000000.01")), RULES)
    assert at.tier == "growth"
    assert over.tier == "strategic"
    assert over.reason == ("strategic: purchases over 12 months 5,000,000.01 over 5,000,000.00")
    assert over.details["fired"] == ["strategic_purchases"]


def test_watch_by_days_beyond_terms_over_the_threshold() -> None:
    assert decide_tier(inputs(dbt=D(30)), RULES).tier == "growth"  # 30 is not over 30
    verdict = decide_tier(inputs(dbt=D("30.01")), RULES)
    assert verdict.tier == "watch"
    assert verdict.reason == "watch: days beyond terms 30.01 (weighted) over 30.00"


def test_watch_by_a_rating_drop_of_at_least_the_threshold() -> None:
    # creditsafe 72 -> 62: 10 points, the threshold itself; dnb 40 -> 35: 5, not enough.
    verdict = decide_tier(
        inputs(ratings=(("creditsafe", D(72), D(62)), ("dnb", D(40), D(35)))), RULES
    )
    assert verdict.tier == "watch"
    assert verdict.reason == (
        "watch: creditsafe score fell 72.00 -> 62.00 (10.00 points, at least 10.00)"
    )
    assert verdict.details["fired"] == ["watch_rating:creditsafe"]
    # A rise is no drop.
    assert decide_tier(inputs(ratings=(("dnb", D(40), D(80)),)), RULES).tier == "growth"


def test_watch_wins_over_strategic_and_names_every_rule() -> None:
    verdict = decide_tier(
        inputs(
            D(6_000_000),
            D("41.25"),
            (("dnb", D(80), D(55)),),
            ("REFUSED on atradius-main (2026-10-01)",),
        ),
        RULES,
    )
    assert verdict.tier == "watch"
    assert verdict.reason == (
        "watch: days beyond terms 41.25 (weighted) over 30.00; dnb score fell 80.00 -> "
        "55.00 (25.00 points, at least 10.00); insurer REFUSED on atradius-main "
        "(2026-10-01) (strategic otherwise: purchases over 12 months 6,000,000.00 over "
        "5,000,000.00)"
    )
    assert verdict.details["fired"] == [
        "watch_dbt",
        "watch_rating:dnb",
        "watch_insurer",
        "strategic_purchases",
    ]
    assert verdict.details["purchases_12m"] == "6000000"


def test_nothing_known_is_growth() -> None:
    verdict = decide_tier(inputs(None, None), RULES)
    assert verdict.tier == "growth"
    assert "none counted" in verdict.reason


def test_renamed_tiers() -> None:
    rules = TierRules(D(100), D(30), D(10), strategic="key", growth="core", watch="risk")
    assert decide_tier(inputs(D(101)), rules).tier == "key"
    assert decide_tier(inputs(D(1)), rules).tier == "core"
    assert decide_tier(inputs(D(1), insurer=("x",)), rules).tier == "risk"


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 12, 5), -12) == date(2025, 12, 5)
    assert add_months(date(2026, 1, 15), -13) == date(2024, 12, 15)


def test_review_due_on_the_anniversary() -> None:
    assert review_due(None, 6, date(2026, 1, 1))
    assert not review_due(date(2026, 6, 5), 6, date(2026, 12, 4))
    assert review_due(date(2026, 6, 5), 6, date(2026, 12, 5))
    assert review_due(date(2026, 8, 31), 6, date(2027, 2, 28))
    assert not review_due(date(2026, 8, 31), 6, date(2027, 2, 27))


# Properties.

amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)
days = st.decimals(min_value=0, max_value=400, places=2, allow_nan=False)
scores = st.decimals(min_value=0, max_value=100, places=0, allow_nan=False)


@settings(max_examples=200)
@given(
    purchases=st.none() | amounts,
    dbt=st.none() | days,
    ratings=st.lists(st.tuples(st.sampled_from(["creditsafe", "dnb"]), scores, scores), max_size=2),
    insurer=st.lists(st.just("REFUSED"), max_size=2),
)
def test_the_verdict_follows_the_first_rule_that_fires(
    purchases: Decimal | None,
    dbt: Decimal | None,
    ratings: list[tuple[str, Decimal, Decimal]],
    insurer: list[str],
) -> None:
    verdict = decide_tier(inputs(purchases, dbt, tuple(ratings), tuple(insurer)), RULES)
    warn = (
        (dbt is not None and dbt > RULES.watch_dbt_days)
        or any(p - q >= RULES.watch_rating_drop for _, p, q in ratings)
        or bool(insurer)
    )
    big = purchases is not None and purchases > RULES.strategic_purchases_12m
    expected = "watch" if warn else "strategic" if big else "growth"
    assert verdict.tier == expected
    assert verdict.reason.startswith(expected + ":")
    assert ("strategic_purchases" in verdict.details["fired"]) == big
    assert bool(set(verdict.details["fired"]) - {"strategic_purchases"}) == warn


@settings(max_examples=200)
@given(
    last=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    months=st.integers(min_value=1, max_value=36),
    offset=st.integers(min_value=-800, max_value=1200),
)
def test_review_due_is_monotonic_in_the_day(last: date, months: int, offset: int) -> None:
    day = last + timedelta(days=offset)
    due = review_due(last, months, day)
    assert due == (day >= add_months(last, months))
    if due:
        assert review_due(last, months, day + timedelta(days=1))
    # Never due before `months` x 28 days, always due after `months` x 31 days.
    if offset < months * 28:
        assert not due
    if offset >= months * 31:
        assert due


@settings(max_examples=200)
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    months=st.integers(min_value=-36, max_value=36),
)
def test_add_months_lands_in_the_right_month(day: date, months: int) -> None:
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day == day.day or (moved.day < day.day and (moved + timedelta(days=1)).day == 1)
