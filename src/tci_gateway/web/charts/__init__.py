"""Charts drawn on the server as inline SVG: no script, no CDN, readable without colour
(every series also has a text label and the figures are in a table beside the chart)."""

from __future__ import annotations

from decimal import Decimal


def nice_ceiling(value: Decimal) -> Decimal:
    """A round top for a scale at or above ``value`` (1, 2, 2.5 or 5 times a power of 10)."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        top = step.scaleb(exponent)
        if top >= value:
            return top
    return Decimal(10).scaleb(exponent)  # pragma: no cover - the loop always returns
