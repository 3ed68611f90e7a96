"""A bar chart as inline SVG: per policy and insurer, exposure against the covered limit
(and what of the exposure is covered), horizontal bars on one scale per currency.

Each bar is a ``<rect>`` with ``data-group``, ``data-series`` and ``data-amount`` (the
exact amount as text) and a ``<title>`` that a screen reader or a hover reads; each bar
also carries its amount as a text label, and series differ by pattern class and by the
legend's words, not by colour alone. Amounts are only scaled to pixels (floats never
hold money).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from markupsafe import Markup

from tci_gateway.web.charts import nice_ceiling
from tci_gateway.web.formats import money

WIDTH = 760
LABEL = 190  # the group labels' column
VALUE = 150  # the amounts' column at the right
BAR, GAP, GROUP_GAP, TOP = 16, 3, 16, 34

SERIES: tuple[tuple[str, str], ...] = (
    ("exposure", "Exposure"),
    ("limit", "Covered limit"),
    ("covered", "Covered"),
)


@dataclass(frozen=True)
class BarGroup:
    """One policy (and insurer): its amounts in ``currency``."""

    label: str
    sublabel: str
    currency: str
    exposure: Decimal
    limit: Decimal
    covered: Decimal

    def amount(self, series: str) -> Decimal:
        value: Decimal = getattr(self, series)
        return value


def bar_chart(groups: Sequence[BarGroup], *, title: str) -> Markup:
    """The chart of ``groups`` (one scale per currency: amounts of different currencies
    are never drawn against each other's scale)."""
    tops: dict[str, Decimal] = {}
    for g in groups:
        biggest = max((g.amount(s) for s, _ in SERIES), default=Decimal(0))
        tops[g.currency] = max(tops.get(g.currency, Decimal(0)), biggest)
    scale = {cur: nice_ceiling(top) for cur, top in tops.items()}
    span = WIDTH - LABEL - VALUE
    height = TOP + len(groups) * (len(SERIES) * (BAR + GAP) + GROUP_GAP) + 8
    desc = "; ".join(
        f"{g.label} ({g.sublabel}): "
        + ", ".join(f"{name.lower()} {money(g.amount(s), g.currency)}" for s, name in SERIES)
        for g in groups
    )
    parts = [
        f'<svg class="chart bars" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" aria-labelledby="bars-title bars-desc" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="bars-title">{escape(title)}</title>',
        f'<desc id="bars-desc">{escape(desc)}</desc>',
    ]
    x = LABEL
    for s, name in SERIES:  # legend: a swatch and the series' name
        parts.append(
            f'<rect class="bar bar-{s}" x="{x}" y="8" width="14" height="12"><title>'
            f"{escape(name)}</title></rect>"
            f'<text x="{x + 19}" y="18">{escape(name)}</text>'
        )
        x += 19 + 8 * len(name) + 18
    y = TOP
    for g in groups:
        top = scale[g.currency]
        parts.append(
            f'<text class="group" x="0" y="{y + BAR - 3}">{escape(g.label)}</text>'
            f'<text class="sub" x="0" y="{y + 2 * BAR}">{escape(g.sublabel)}</text>'
        )
        for s, name in SERIES:
            amount = g.amount(s)
            width = 0.0 if top <= 0 else float(max(amount, Decimal(0)) / top) * span
            text = money(amount, g.currency)
            parts.append(
                f'<rect class="bar bar-{s}" x="{LABEL}" y="{y}" width="{width:.1f}" '
                f'height="{BAR}" data-group="{escape(g.label)}" data-series="{s}" '
                f'data-amount="{amount}"><title>{escape(g.label)}: {escape(name.lower())} '
                f"{escape(text)}</title></rect>"
                f'<text class="value" x="{LABEL + width + 6:.1f}" y="{y + BAR - 3}">'
                f"{escape(text)}</text>"
            )
            y += BAR + GAP
        y += GROUP_GAP
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it is escaped above
