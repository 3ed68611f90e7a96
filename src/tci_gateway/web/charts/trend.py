"""Charts of payment behaviour as inline SVG: days (DSO, days beyond terms) over the
monthly snapshots, and the ageing of open invoices as horizontal bars.

As the other charts: every point and bar carries its exact figure as text
(``data-value`` / ``data-amount``) and a ``<title>``; series are told apart by dash
pattern and a label, never by colour alone; a missing figure (a month without sales has
no DSO) is a gap in the line, never a zero. Figures are only scaled to pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape

from markupsafe import Markup

from tci_gateway.web.charts import nice_ceiling
from tci_gateway.web.formats import money

WIDTH, HEIGHT = 720, 250
LEFT, RIGHT, TOP, BOTTOM = 56, 40, 24, 46
LABEL_GAP = 72
"""The least distance in pixels between two date labels on the axis."""


@dataclass(frozen=True)
class Line:
    """One series of days: ``points`` are (date, days or ``None`` when not computable),
    ascending. ``kind`` names its CSS class (``line-<kind>``)."""

    name: str
    kind: str
    points: Sequence[tuple[date, Decimal | None]]


def _days(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'))} days"


def days_chart(lines: Sequence[Line], *, title: str, chart_id: str = "trend") -> Markup:
    """The SVG of ``lines`` over their dates (one scale in days, from 0)."""
    dates = sorted({d for line in lines for d, _ in line.points})
    values = [v for line in lines for _, v in line.points if v is not None]
    top = nice_ceiling(max(values, default=Decimal(0)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    first = dates[0] if dates else date(2000, 1, 1)
    span = max((dates[-1] - first).days if dates else 1, 1)

    def x(day: date) -> float:
        if len(dates) == 1:
            return LEFT + plot_w / 2
        return LEFT + plot_w * (day - first).days / span

    def y(value: Decimal) -> float:
        return TOP + plot_h * (1 - float(max(value, Decimal(0)) / top))

    desc = "; ".join(
        f"{line.name}: "
        + (
            ", ".join(
                f"{d.isoformat()} {_days(v) if v is not None else 'not computable'}"
                for d, v in line.points
            )
            or "none"
        )
        for line in lines
    )
    out = [
        f'<svg class="trend-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    for fraction in (Decimal(0), Decimal("0.5"), Decimal(1)):
        level = top * fraction
        yy = y(level)
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text class="axis-label" x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{level.normalize():f} d</text>"
        )
    base = y(Decimal(0))
    last_x = -1000.0
    for day in dates if len(dates) <= 6 else dates[:: max(1, len(dates) // 5)]:
        if x(day) - last_x < LABEL_GAP:  # dates too close to read apart: the first only
            continue
        last_x = x(day)
        out.append(
            f'<text class="axis-label" x="{x(day):.1f}" y="{base + 16:.1f}" '
            f'text-anchor="middle">{day.isoformat()}</text>'
        )
    legend_x = LEFT
    for line in lines:
        kind = escape(line.kind)
        out.append(
            f'<line class="line-{kind}" x1="{legend_x}" x2="{legend_x + 24}" '
            f'y1="{HEIGHT - 10}" y2="{HEIGHT - 10}"/><text class="legend" '
            f'x="{legend_x + 30}" y="{HEIGHT - 6}">{escape(line.name)}</text>'
        )
        legend_x += 44 + 7 * len(line.name)
        path: list[str] = []
        pen_down = False
        for day, value in line.points:
            if value is None:  # a gap: the next point starts a new segment
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x(day):.1f},{y(value):.1f}")
            pen_down = True
        if path:
            out.append(f'<path class="line-{kind}" d="{"".join(path)}"/>')
        for day, value in line.points:
            if value is None:
                continue
            text = f"{line.name} on {day.isoformat()}: {_days(value)}"
            out.append(
                f'<circle class="point-{kind}" cx="{x(day):.1f}" cy="{y(value):.1f}" r="3.5" '
                f'data-series="{kind}" data-date="{day.isoformat()}" data-value="{value}">'
                f"<title>{escape(text)}</title></circle>"
            )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text in it is escaped above


BAR_W, BAR_LABEL, BAR_VALUE, BAR_H, BAR_GAP = 560, 130, 170, 18, 6


def ageing_bars(
    buckets: Sequence[tuple[str, str, Decimal]], *, currency: str, title: str, chart_id: str
) -> Markup:
    """Horizontal bars of ``buckets`` (key, label, amount) on one scale in ``currency``."""
    top = nice_ceiling(max((a for _, _, a in buckets), default=Decimal(0)))
    span = BAR_W - BAR_LABEL - BAR_VALUE
    height = len(buckets) * (BAR_H + BAR_GAP) + 4
    desc = "; ".join(f"{label} {money(a, currency)}" for _, label, a in buckets)
    out = [
        f'<svg class="ageing-chart" viewBox="0 0 {BAR_W} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    y = 2
    for key, label, amount in buckets:
        width = float(max(amount, Decimal(0)) / top) * span
        text = money(amount, currency)
        out.append(
            f'<text class="bucket" x="0" y="{y + BAR_H - 5}">{escape(label)}</text>'
            f'<rect class="age age-{escape(key)}" x="{BAR_LABEL}" y="{y}" width="{width:.1f}" '
            f'height="{BAR_H}" data-bucket="{escape(key)}" data-amount="{amount}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
            f'<text class="value" x="{BAR_LABEL + width + 6:.1f}" y="{y + BAR_H - 5}">'
            f"{escape(text)}</text>"
        )
        y += BAR_H + BAR_GAP
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text in it is escaped above
