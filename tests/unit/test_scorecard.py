"""The pre-screen's scorecard (domain/scorecard.py; docs/credit.md, "Scorecard")."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tci_gateway.config.credit import ScorecardSettings
from tci_gateway.domain.scorecard import Factor, points_for, score

D = Decimal
DEFAULT = ScorecardSettings().domain_factors()
CREDITSAFE = (D(20), D(0)), (D(50), D(50)), (D(80), D(100))


def test_points_interpolate_between_pairs_and_clamp_beyond_the_ends() -> None:
    assert points_for(D(65), CREDITSAFE) == D(75)  # 50 + (65-50)/(80-50) x (100-50)
    assert points_for(D(50), CREDITSAFE) == D(50)
    assert points_for(D(35), CREDITSAFE) == D(25)  # 0 + 15/30 x 50
    assert points_for(D(5), CREDITSAFE) == D(0)
    assert points_for(D(99), CREDITSAFE) == D(100)
    assert points_for(D(1), [(D(10), D(40))]) == D(40)
    assert points_for(D(1), []) == D(0)
    dbt = [(D(0), D(100)), (D(15), D(60)), (D(45), D(0))]  # a falling curve
    assert points_for(D(30), dbt) == D(30)  # 60 - 15/30 x 60


def test_golden_default_scorecard_every_factor_known() -> None:
    # Default factors ([credit.scorecard]), total weight 100:
    #   Bureau score 65        50 + 15/30 x 50        = 75.00  x 30 = 2,250.00
    #   Failure percentile 70  60 + 20/40 x 40        = 80.00  x 20 = 1,600.00
    #   PAYDEX 75              60 + 5/10 x 40         = 80.00  x 10 =   800.00
    #   DBT weighted 12.5      100 - 12.5/15 x 40     = 66.666 -> 66.66 (down) x 20 = 1,333.20
    #   Paid on time 0.92      80 + 0.02/0.1 x 20     = 84.00  x 10 =   840.00
    #   Months of trading 24   70 + 12/24 x 30        = 85.00  x 10 =   850.00
    #   sum 7,673.20 / 100 = 76.732 -> 76.73 (down); pass mark 60: passed
    card = score(
        DEFAULT,
        {
            "bureau.creditsafe.score": D(65),
            "bureau.dnb.failure_score": D(70),
            "bureau.dnb.paydex": D(75),
            "behaviour.dbt_weighted": D("12.5"),
            "behaviour.paid_on_time_share": D("0.92"),
            "trading.months": D(24),
        },
        D(60),
    )
    assert card.score == D("76.73")
    assert card.passed and card.missing == ()
    assert [f.points for f in card.factors] == [D(75), D(80), D(80), D("66.66"), D(84), D(85)]
    assert [f.contribution for f in card.factors] == [
        D("22.50"),
        D("16.00"),
        D("8.00"),
        D("13.33"),
        D("8.40"),
        D("8.50"),
    ]
    assert sum(f.contribution for f in card.factors) == card.score


def test_golden_missing_inputs_earn_nothing_and_are_named() -> None:
    # No D&B report: Failure percentile (20) and PAYDEX (10) missing, 0 points, weight kept:
    #   2,250.00 + 0 + 0 + 1,333.20 + 840.00 + 850.00 = 5,273.20 / 100 = 52.732 -> 52.73
    #   below the pass mark 60
    card = score(
        DEFAULT,
        {
            "bureau.creditsafe.score": D(65),
            "bureau.dnb.failure_score": None,
            "behaviour.dbt_weighted": D("12.5"),
            "behaviour.paid_on_time_share": D("0.92"),
            "trading.months": D(24),
        },
        D(60),
    )
    assert card.score == D("52.73")
    assert not card.passed
    assert card.missing == ("Failure percentile", "PAYDEX")
    assert card.missing_required == ()
    missing = [f for f in card.factors if f.missing]
    assert all(f.points == 0 and f.contribution == 0 for f in missing)


def test_a_required_factor_missing_is_named() -> None:
    factors = (
        Factor("Bureau score", "bureau.x", D(1), CREDITSAFE, required=True),
        Factor("Months", "trading.months", D(1), ((D(0), D(100)),)),
    )
    card = score(factors, {"trading.months": D(3)}, D(40))
    # (0 + 100) / 2 = 50.00: passes the mark, but a required input is missing
    assert card.score == D(50) and card.passed
    assert card.missing_required == ("Bureau score",)


def test_score_on_the_pass_mark_passes() -> None:
    factors = (Factor("A", "a", D(1), ((D(0), D(0)), (D(100), D(100)))),)
    assert score(factors, {"a": D(60)}, D(60)).passed
    assert not score(factors, {"a": D("59.999")}, D(60)).passed  # 59.99 (down)


def test_no_factors_scores_zero() -> None:
    card = score((), {}, D(60))
    assert card.score == 0 and not card.passed


@pytest.mark.parametrize(
    "points",
    [(), ((D(2), D(0)), (D(1), D(5))), ((D(1), D(0)), (D(1), D(5))), ((D(1), D(101)),)],
)
def test_a_bad_curve_is_refused(points: tuple[tuple[Decimal, Decimal], ...]) -> None:
    with pytest.raises(ValueError):
        Factor("bad", "x", D(1), points)


# --- properties -------------------------------------------------------------------------

Case = tuple[tuple[Factor, ...], dict[str, Decimal | None]]
"""Factors and their inputs."""

values = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False)


@st.composite
def curves(draw: st.DrawFn, *, increasing: bool = False) -> tuple[tuple[Decimal, Decimal], ...]:
    xs = sorted(draw(st.sets(st.integers(min_value=-500, max_value=500), min_size=1, max_size=4)))
    ps = draw(st.lists(st.integers(0, 100), min_size=len(xs), max_size=len(xs)))
    if increasing:
        ps.sort()
    return tuple((D(x), D(p)) for x, p in zip(xs, ps, strict=True))


@st.composite
def factor_sets(draw: st.DrawFn, *, increasing: bool = False) -> tuple[Factor, ...]:
    n = draw(st.integers(min_value=1, max_value=5))
    return tuple(
        Factor(f"F{i}", f"in{i}", D(draw(st.integers(1, 50))), draw(curves(increasing=increasing)))
        for i in range(n)
    )


@st.composite
def scored(draw: st.DrawFn, *, increasing: bool = False) -> Case:
    factors = draw(factor_sets(increasing=increasing))
    inputs = {f.input: draw(st.none() | values) for f in factors}
    return factors, inputs


@settings(max_examples=200)
@given(scored())
def test_score_is_within_0_and_100(
    case: Case,
) -> None:
    factors, inputs = case
    card = score(factors, inputs, D(60))
    assert D(0) <= card.score <= D(100)
    assert card.score == card.score.quantize(D("0.01"))
    assert D(0) <= sum(f.contribution for f in card.factors) <= card.score
    assert card.score - sum(f.contribution for f in card.factors) < D("0.01") * len(factors)


@settings(max_examples=200)
@given(curves(), values)
def test_points_stay_within_the_curve(
    curve: tuple[tuple[Decimal, Decimal], ...], value: Decimal
) -> None:
    got = points_for(value, curve)
    assert min(p for _, p in curve) <= got <= max(p for _, p in curve)


@settings(max_examples=120)
@given(scored(increasing=True), st.data())
def test_score_is_monotone_in_a_rising_factor(case: Case, data: st.DataObject) -> None:
    factors, inputs = case
    which = data.draw(st.sampled_from(factors))
    low = data.draw(values)
    high = data.draw(st.decimals(min_value=low, max_value=1000, places=2))
    lower = score(factors, inputs | {which.input: low}, D(60))
    higher = score(factors, inputs | {which.input: high}, D(60))
    assert lower.score <= higher.score


@settings(max_examples=120)
@given(scored(), st.data())
def test_a_missing_input_never_adds_points(case: Case, data: st.DataObject) -> None:
    factors, inputs = case
    which = data.draw(st.sampled_from(factors))
    known = score(factors, inputs | {which.input: data.draw(values)}, D(60))
    missing = score(factors, inputs | {which.input: None}, D(60))
    absent = score(factors, {k: v for k, v in inputs.items() if k != which.input}, D(60))
    assert missing.score <= known.score
    assert absent.score == missing.score
    assert which.name in missing.missing
