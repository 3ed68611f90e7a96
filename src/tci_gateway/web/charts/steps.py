"""A step chart as inline SVG: amounts that hold from one date to the next (a covered
limit, an exposure), each series a stepped line with a marker at every step.

Every step is a ``<circle>`` with ``data-series``, ``data-date`` and ``data-amount`` (the
exact amount as text) and a ``<title>`` a screen reader or a hover reads; the chart has
a title and a description, and series are told apart by their dash pattern and a
label, not by colour alone. Coordinates are floats; amounts never are (they are only
scaled to pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape

from markupsafe import Markup

from tci_gateway.domain.money import amount_text
from tci_gateway.web.charts import nice_ceiling
from tci_gateway.web.formats import money

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 112, 16, 28, 40


@dataclass(frozen=True)
class Series:
    """One stepped line: ``points`` are (date, amount from that date on), ascending;
    the value before the first point is 0. ``kind`` names its CSS class
    (``step-<kind>``)."""

    name: str
    kind: str
    points: Sequence[tuple[date, Decimal]]


def _value_at(points: Sequence[tuple[date, Decimal]], day: date) -> Decimal:
    value = Decimal(0)
    for start, amount in points:
        if start > day:
            break
        value = amount
    return value


def step_chart(
    series: Sequence[Series],
    *,
    start: date,
    end: date,
    currency: str,
    title: str,
    today: date | None = None,
    chart_id: str = "steps",
) -> Markup:
    """The SVG of ``series`` between ``start`` and ``end`` (inclusive), amounts in
    ``currency``; a dotted line marks ``today`` when given."""
    if end <= start:
        end = date.fromordinal(start.toordinal() + 1)
    span = end.toordinal() - start.toordinal()
    peak = max(
        [a for s in series for _, a in s.points if start <= _ <= end]
        + [_value_at(s.points, start) for s in series]
        + [Decimal(0)]
    )
    top = nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + plot_w * (day.toordinal() - start.toordinal()) / span

    def y(amount: Decimal) -> float:
        return TOP + plot_h * (1 - float(max(amount, Decimal(0)) / top))

    desc = "; ".join(
        f"{s.name}: "
        + (", ".join(f"{money(a, currency)} from {d.isoformat()}" for d, a in s.points) or "none")
        for s in series
    )
    out = [
        f'<svg class="step-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'data-start="{start.isoformat()}" data-end="{end.isoformat()}" '
        f'data-currency="{escape(currency)}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    # axes and grid: 0, half and the top, labelled with amounts
    for fraction in (Decimal(0), Decimal("0.5"), Decimal(1)):
        level = top * fraction
        yy = y(level)
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
        )
        out.append(
            f'<text class="axis-label" x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{escape(money(level, currency))}</text>"
        )
    base = y(Decimal(0))
    ticks = [(start, "start"), (end, "end")]
    if span >= 60:  # three dates between, on the grid's vertical lines
        ticks += [
            (date.fromordinal(start.toordinal() + span * k // 4), "middle") for k in (1, 2, 3)
        ]
    for day, anchor in ticks:
        if anchor == "middle":
            out.append(
                f'<line class="grid" x1="{x(day):.1f}" x2="{x(day):.1f}" y1="{TOP}" '
                f'y2="{base:.1f}"/>'
            )
        out.append(
            f'<text class="axis-label" x="{x(day):.1f}" y="{base + 18:.1f}" '
            f'text-anchor="{anchor}">{day.isoformat()}</text>'
        )
    if today is not None and start <= today <= end:
        tx = x(today)
        out.append(
            f'<line class="today" x1="{tx:.1f}" x2="{tx:.1f}" y1="{TOP}" y2="{base:.1f}"/>'
            f'<text class="axis-label" x="{tx:.1f}" y="{TOP - 8}" '
            f'text-anchor="{"end" if tx > WIDTH - RIGHT - 60 else "middle"}">'
            f"today {today.isoformat()}</text>"
        )
    legend_x = LEFT
    for s in series:
        kind = escape(s.kind)
        out.append(
            f'<line class="step-{kind}" x1="{legend_x}" x2="{legend_x + 24}" y1="{HEIGHT - 8}" '
            f'y2="{HEIGHT - 8}"/><text class="legend" x="{legend_x + 30}" y="{HEIGHT - 4}">'
            f"{escape(s.name)}</text>"
        )
        legend_x += 40 + 8 * len(s.name)
        # the stepped line from start to end
        value = _value_at(s.points, start)
        path = [f"M{x(start):.1f},{y(value):.1f}"]
        for day, amount in s.points:
            if day <= start or day > end:
                continue
            path.append(f"H{x(day):.1f}V{y(amount):.1f}")
        path.append(f"H{x(end):.1f}")
        out.append(f'<path class="step-{kind}" d="{"".join(path)}"/>')
        for day, amount in s.points:
            if not start <= day <= end:
                continue
            text = f"{s.name} from {day.isoformat()}: {money(amount, currency)}"
            out.append(
                f'<circle class="point-{kind}" cx="{x(day):.1f}" cy="{y(amount):.1f}" r="3.5" '
                f'data-series="{kind}" data-date="{day.isoformat()}" '
                f'data-amount="{amount_text(amount, currency)}">'
                f"<title>{escape(text)}</title></circle>"
            )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text in it is escaped above
