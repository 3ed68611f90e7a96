"""Payment behaviour in the workspace: ``GET /behaviour`` shows the portfolio's figures
and those of every tier or policy (DSO by countback and by the simple ratio, best
possible DSO, average days delinquent, days beyond terms, the share paid on time, ageing,
disputes) on a business date, and the trend of one scope from the monthly snapshots.

The figures are those of ``GET /v1/behaviour`` (:func:`tci_gateway.services.behaviour.
behaviour_report`), in the reporting currency; a figure that cannot be computed (no
sales in the period, nothing settled) is written "not computable", never 0. The trend
reads the stored snapshots (:func:`~tci_gateway.services.behaviour.trend`): what the
figures were on each month end, not a recomputation from items changed since.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from tci_gateway.api.context import Ctx
from tci_gateway.api.problems import Problem
from tci_gateway.api.routes.behaviour import business_date
from tci_gateway.domain.credit import Behaviour
from tci_gateway.services.behaviour import ScopedBehaviour, behaviour_report, trend
from tci_gateway.web.charts.trend import Line, ageing_bars, days_chart
from tci_gateway.web.credit_view import credit_options, helpers
from tci_gateway.web.render import page
from tci_gateway.web.session import Viewer

router = APIRouter()

TREND_MONTHS = 24
SCOPES: tuple[tuple[str, str], ...] = (("tier", "By tier"), ("policy", "By policy"))
BUCKETS: tuple[tuple[str, str], ...] = (
    ("current", "Not yet due"),
    ("days_1_30", "1-30 days past due"),
    ("days_31_60", "31-60 days"),
    ("days_61_90", "61-90 days"),
    ("days_over_90", "Over 90 days"),
)
_KEY = r"^[^\x00-\x1f\x7f]{1,64}$"


def bucket_rows(b: Behaviour) -> list[tuple[str, str, Any]]:
    """(key, label, amount) of each ageing bucket, in order."""
    return [(key, label, getattr(b.buckets, key)) for key, label in BUCKETS]


def measured(b: Behaviour) -> bool:
    """Whether there is anything to show: open items, sales or settled invoices."""
    return bool(
        b.receivables
        or b.buckets.total
        or b.unapplied_credits
        or b.invoices_settled
        or any(m.sales for m in b.sales)
    )


TREND_LINES: tuple[tuple[str, str, str], ...] = (
    ("DSO (countback)", "countback", "dso_countback"),
    ("DSO (simple)", "simple", "dso_simple"),
    ("Best possible DSO", "bpdso", "best_possible_dso"),
    ("Days beyond terms (weighted)", "dbt", "dbt_weighted"),
)
"""(name, CSS kind, Behaviour field) of each line of the trend chart."""


def trend_chart(history: list[ScopedBehaviour], label: str) -> Markup:
    """The trend chart of ``history`` (oldest first): a gap where a figure is missing."""
    lines = [
        Line(name, kind, [(s.behaviour.day, getattr(s.behaviour, field)) for s in history])
        for name, kind, field in TREND_LINES
    ]
    return days_chart(lines, title=f"Payment behaviour of {label}, month ends")


def _label(scope: str, key: str) -> str:
    """A scope without snapshots, named: ``Portfolio``, ``buyer 12``, ``tier watch``."""
    return "Portfolio" if scope == "portfolio" else f"{scope} {key}"


def _url(**params: object) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "/behaviour" + ("?" + urlencode(kept) if kept else "")


@router.get("/behaviour", response_class=HTMLResponse)
def behaviour_page(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    scope: Annotated[str, Query(pattern="^(tier|policy)$")] = "tier",
    trend_scope: Annotated[str, Query(pattern="^(portfolio|tier|policy)$")] = "portfolio",
    trend_key: Annotated[str | None, Query(pattern=_KEY)] = None,
    as_of: date | None = None,
) -> HTMLResponse:
    """The portfolio, its tiers or policies on ``as_of`` (today), and one scope's trend."""
    options = credit_options(ctx).behaviour
    day = business_date(ctx, as_of)
    portfolio = behaviour_report(ctx.ledger, day, options, scope="portfolio")
    rows = behaviour_report(ctx.ledger, day, options, scope=scope)
    if trend_key is None or trend_scope == "portfolio":
        trend_scope, key = "portfolio", "all"
    else:
        key = trend_key
    try:
        history = trend(ctx.ledger, trend_scope, key, months=TREND_MONTHS)
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    label = history[-1].label if history else _label(trend_scope, key)
    chart = trend_chart(history, label) if history else ""
    top = portfolio[0] if portfolio and measured(portfolio[0].behaviour) else None
    return page(
        request,
        "behaviour.html",
        me,
        title="Payment behaviour",
        day=day,
        today=ctx.now().date(),
        top=top,
        top_chart=ageing_bars(
            bucket_rows(top.behaviour),
            currency=top.behaviour.currency,
            title="Ageing of the portfolio's open invoices",
            chart_id="ageing-portfolio",
        )
        if top is not None
        else "",
        rows=rows,
        scope=scope,
        tabs=[(lbl, _url(scope=s, as_of=as_of), s == scope) for s, lbl in SCOPES],
        trend_scope=trend_scope,
        trend_key=key,
        trend_label=label,
        trend_url=lambda s, k: _url(scope=scope, as_of=as_of, trend_scope=s, trend_key=k),
        history=history,
        chart=chart,
        buckets=BUCKETS,
        bucket_rows=bucket_rows,
        as_of=as_of,
        currency=options.reporting_currency,
        **helpers(),
    )
