"""The portfolio page (``/``): figures against the demo's expected ones, the service's
SQL figures against the exposure report's, alerts and their acknowledgement."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tci_gateway.api.routes.buyers import reader
from tci_gateway.cli.output import exposure_totals
from tci_gateway.services.exposure import exposure_report
from tci_gateway.services.portfolio import compute_portfolio

from ..api.risk_seed import add_cover, seed_demo
from .conftest import WebHarness


def _report_totals(web: WebHarness) -> dict[str, dict[str, Decimal]]:
    ctx = web.api.ctx
    options = ctx.wiring.exposure_options(ctx.ledger)
    rows = exposure_report(
        ctx.ledger,
        ctx.settings.domain_policies(),
        now=ctx.now(),
        convert=options.convert,
        expiring_within_days=options.expiring_within_days,
        inactive_days=options.inactive_days,
    )
    return {
        cur: {k: m.amount for k, m in t.items()} for cur, t in exposure_totals(rows).items()
    }


def _service_totals(web: WebHarness) -> dict[str, dict[str, Decimal]]:
    ctx = web.api.ctx
    with ctx.ledger.reading() as session:
        p = compute_portfolio(session, reader(ctx, None))
    return {
        t.currency: {"exposure": t.exposure, "covered": t.covered, "uncovered": t.uncovered}
        for t in p.totals
    }


def test_service_figures_match_the_exposure_report(web: WebHarness) -> None:
    ids = seed_demo(web.api)
    expected = {"EUR": {"exposure": Decimal("282000"), "covered": Decimal("222500"), "uncovered": Decimal("59500")}}
    assert _report_totals(web) == expected
    assert _service_totals(web) == expected
    # a reduction announced for later: the stored limit is due to change, decided exactly
    add_cover(web.api, ids["Nordic Timber AB"], amount="10000", effective_from=date(2026, 12, 1), ref="T-9")
    assert _service_totals(web) == _report_totals(web)

