"""The pre-screen's transparent scorecard (docs/credit.md, "Scorecard").

Each :class:`Factor` reads one input (a bureau score, a behaviour figure, months of
trading), turns its value into points from 0 to 100 along a curve of ``(value, points)``
pairs (linear between the pairs, flat beyond the ends) and weighs them. The score is the
weighted mean of the points::

    score = sum(weight x points) / sum(every factor's weight)

A factor whose input is missing earns 0 points but keeps its weight in the divisor: a
missing figure can only lower the score, never raise it, and it is named
(:attr:`~tci_gateway.domain.credit.Scorecard.missing`), never silently zero.

Rounding is conservative, to 2 places, always down (``ROUND_DOWN``): a factor's points,
then the score from those shown points (so a person can redo the sum from the table), and
each factor's contribution (``weight x points / sum of weights``; the rounded
contributions add up to the score or up to a few hundredths less). A score on the pass
mark passes; a hundredth below does not.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from tci_gateway.domain.credit import FactorScore, Scorecard

ZERO = Decimal(0)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")


def _down(value: Decimal) -> Decimal:
    """``value`` to 2 places, rounded down (toward zero; every value here is >= 0)."""
    return value.quantize(CENT, rounding=ROUND_DOWN)


@dataclass(frozen=True, slots=True)
class Factor:
    """One scorecard factor: ``input`` names the figure it reads (e.g.
    ``bureau.creditsafe.score``, ``behaviour.dbt_weighted``), ``points`` the curve as
    ``(value, points)`` pairs in strictly increasing order of value, points 0-100.
    ``required``: when the input is missing the application goes to a person."""

    name: str
    input: str
    weight: Decimal
    points: tuple[tuple[Decimal, Decimal], ...]
    required: bool = False

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"factor {self.name!r}: weight must not be negative")
        if not self.points:
            raise ValueError(f"factor {self.name!r}: points must not be empty")
        xs = [x for x, _ in self.points]
        if any(b <= a for a, b in itertools.pairwise(xs)):
            raise ValueError(f"factor {self.name!r}: values must be strictly increasing")
        if any(not ZERO <= p <= HUNDRED for _, p in self.points):
            raise ValueError(f"factor {self.name!r}: points must be between 0 and 100")


def points_for(value: Decimal, points: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """The points ``value`` earns on the curve ``points`` (pairs in increasing order of
    value): linear between two neighbouring pairs, the first pair's points below the
    first value, the last pair's above the last. Exact (not rounded); an empty curve
    earns 0.

    >>> curve = [(Decimal(20), Decimal(0)), (Decimal(50), Decimal(50)), (Decimal(80), Decimal(100))]
    >>> points_for(Decimal(65), curve)
    Decimal('75')
    """
    if not points:
        return ZERO
    first_x, first_p = points[0]
    if value <= first_x:
        return first_p
    for (x0, p0), (x1, p1) in itertools.pairwise(points):
        if value <= x1:
            if value == x1:
                return p1
            return p0 + (p1 - p0) * (value - x0) / (x1 - x0)
    return points[-1][1]


def score(
    factors: Sequence[Factor], inputs: Mapping[str, Decimal | None], threshold: Decimal
) -> Scorecard:
    """Score ``inputs`` (input name -> value; absent or ``None``: missing) on
    ``factors``; ``threshold`` is the pass mark. See the module docstring for the
    arithmetic and its rounding. No factors (or zero total weight) scores 0."""
    total_weight = sum((f.weight for f in factors), ZERO)
    applied: list[FactorScore] = []
    weighted = ZERO
    for factor in factors:
        value = inputs.get(factor.input)
        points = _down(ZERO) if value is None else _down(points_for(value, factor.points))
        weighted += factor.weight * points
        contribution = _down(factor.weight * points / total_weight) if total_weight else ZERO
        applied.append(
            FactorScore(
                name=factor.name,
                input=factor.input,
                weight=factor.weight,
                value=value,
                points=points,
                contribution=contribution,
                required=factor.required,
            )
        )
    result = _down(weighted / total_weight) if total_weight else _down(ZERO)
    return Scorecard(score=result, threshold=threshold, factors=tuple(applied))
