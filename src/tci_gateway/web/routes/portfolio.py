"""The portfolio (``/``): exposure against cover per policy and insurer with totals per
currency, the largest uncovered buyers, the buyers over their limit, a chart of exposure
against cover, and the alerts nobody has acknowledged yet (``POST /alerts/{id}/ack``).

The figures are :func:`tci_gateway.services.portfolio.cached_portfolio`: the same as
``GET /v1/exposure`` and ``tci exposure`` (FX to the policy currency, the conservative
limit in force), computed for the whole book in SQL and kept until the ledger changes. A
background task computes them again when it has (so the page rarely waits for them).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tci_gateway.api.background import PeriodicTask
from tci_gateway.api.context import ApiContext, Ctx
from tci_gateway.api.problems import Problem
from tci_gateway.api.routes.buyers import reader
from tci_gateway.ledger.web_tables import Role
from tci_gateway.services import open_alerts
from tci_gateway.services.portfolio import Portfolio, cached_portfolio
from tci_gateway.web import audit
from tci_gateway.web.charts.bars import BarGroup, bar_chart
from tci_gateway.web.render import page
from tci_gateway.web.session import Analyst, Viewer

router = APIRouter()

ALERTS_PAGE = 50
REFRESH_SECONDS = 15.0
"""How often the serving process checks whether the figures must be computed again."""
_MAX_ID = 2**31 - 1
_SEVERITY_KIND = {"critical": "bad", "warning": "warn", "info": ""}


def figures(ctx: ApiContext) -> Portfolio:
    """The portfolio for a person (every policy), from the cache when still current."""
    return cached_portfolio(ctx.ledger, reader(ctx, None))


def background_tasks(ctx: ApiContext) -> list[PeriodicTask]:
    """Keep the figures warm: computed again soon after an import or a sync, not by the
    first person who opens the page afterwards."""
    return [PeriodicTask("portfolio_figures", REFRESH_SECONDS, lambda: figures(ctx))]


def _chart(p: Portfolio) -> object:
    groups = [
        BarGroup(
            f.policy or "no configured policy",
            f"{f.insurer or 'not insured'} · {f.currency}",
            f.currency,
            f.exposure,
            f.limit,
            f.covered,
        )
        for f in p.policies
        if f.exposure or f.limit or f.covered
    ]
    if not groups:
        return ""
    return bar_chart(groups, title="Exposure against cover per policy and insurer")


@router.get("/", response_class=HTMLResponse)
def portfolio(
    request: Request,
    ctx: Ctx,
    me: Viewer,
    alerts_before: Annotated[int | None, Query(ge=1, le=_MAX_ID)] = None,
    acknowledged: Annotated[int | None, Query(ge=1, le=_MAX_ID)] = None,
) -> HTMLResponse:
    """The portfolio page."""
    p = figures(ctx)
    with ctx.ledger.reading() as session:
        alerts = open_alerts.open_alerts(session, limit=ALERTS_PAGE, before=alerts_before)
        requests, request_buyers = open_alerts.waiting_requests(session)
    zones = {key: pol.timezone for key, pol in ctx.settings.policies.items()}
    default_zone = next(iter(zones.values()), None) if len(set(zones.values())) == 1 else None
    older = (
        "/?" + urlencode({"alerts_before": alerts.next_before}) + "#alerts"
        if alerts.next_before is not None
        else ""
    )
    return page(
        request,
        "portfolio.html",
        me,
        title="Portfolio",
        p=p,
        chart=_chart(p),
        alerts=alerts,
        older_alerts=older,
        newest_alerts="/#alerts" if alerts_before is not None else "",
        acknowledged=acknowledged,
        waiting_requests=requests,
        waiting_request_buyers=request_buyers,
        zones=zones,
        zone=default_zone,
        severity_kind=_SEVERITY_KIND,
        may_act=me.user.may(Role.ANALYST),
    )


@router.post("/alerts/{alert_id}/ack")
def acknowledge(
    request: Request,
    ctx: Ctx,
    me: Analyst,
    alert_id: Annotated[int, Path(ge=1, le=_MAX_ID)],
) -> Response:
    """Acknowledge an alert (analysts and managers), audited as ``web_alert_acknowledged``;
    back to the portfolio, which says so."""
    with ctx.ledger.unit_of_work() as session:
        done = open_alerts.acknowledge(session, alert_id, by=me.user.name, now=ctx.now())
        if done is None:
            raise Problem(404, f"no alert {alert_id}")
        if done:
            audit.record(
                session, ctx, request, me, "web_alert_acknowledged", {"alert_id": alert_id}
            )
    return RedirectResponse(f"/?acknowledged={alert_id}#alerts", status_code=303)
