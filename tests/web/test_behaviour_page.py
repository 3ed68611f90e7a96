"""The payment behaviour page: the portfolio's figures and those of every tier and policy
as the service computes them (never a missing figure as 0), the ageing, and the trend
drawn from the snapshots the nightly credit review keeps."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from tci_gateway import wiring
from tci_gateway.services.behaviour import behaviour_report, take_snapshots
from tci_gateway.web.credit_view import days, share

from ..api.risk_seed import seed_demo
from .conftest import AS_OF, WebHarness

SQLITE_ONLY = True
"""The behaviour service has PostgreSQL tests of its own; this is about the page."""


def _figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">(.*?)</div>', html, re.S)
    assert found, name
    return found.group(1).strip()


def test_an_empty_ledger_says_what_to_do(web: WebHarness) -> None:
    page = web.sign_in("viewer").get("/behaviour")
    assert page.status_code == 200
    assert "nothing to measure" in page.text
    assert "No snapshot of Portfolio yet." in page.text
    assert "tci credit review" in page.text


def test_the_figures_are_the_services(web: WebHarness) -> None:
    seed_demo(web.api)
    viewer = web.sign_in("viewer")
    page = viewer.get("/behaviour")
    assert page.status_code == 200, page.text
    options = wiring.credit_options(web.api.ctx.settings, web.ledger).behaviour
    [top] = behaviour_report(web.ledger, AS_OF.date(), options, scope="portfolio")
    b = top.behaviour
    assert _figure(page.text, "dso_simple") == str(days(b.dso_simple))
    assert _figure(page.text, "dbt_weighted") == str(days(b.dbt_weighted))
    assert _figure(page.text, "paid_on_time_share") == str(share(b.paid_on_time_share))
    # a figure that cannot be computed is written so, never 0
    for value, name in ((b.best_possible_dso, "best_possible_dso"), (b.dbt_average, "dbt_average")):
        if value is None:
            assert "not computable" in _figure(page.text, name)
    # ageing: one bar and one row per bucket, the amounts exact
    for key in ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90"):
        amount = getattr(b.buckets, key)
        assert f'data-bucket="{key}" data-amount="{amount}"' in page.text
    # every tier with items is a row; the policy tab the same for policies
    tiers = behaviour_report(web.ledger, AS_OF.date(), options, scope="tier")
    for t in tiers:
        assert f'data-scope="tier" data-key="{t.key}"' in page.text
    by_policy = viewer.get("/behaviour?scope=policy").text
    assert 'data-scope="policy" data-key="atradius-main"' in by_policy
    # a future date is refused with the API's words
    refused = viewer.get("/behaviour?as_of=2030-01-01")
    assert refused.status_code == 422
    assert "as_of must be between" in refused.text
    assert viewer.get("/behaviour?scope=buyer").status_code == 422


def test_the_trend_is_drawn_from_the_snapshots(web: WebHarness) -> None:
    seed_demo(web.api)
    options = wiring.credit_options(web.api.ctx.settings, web.ledger).behaviour
    for day in (date(2026, 10, 31), date(2026, 11, 30), AS_OF.date()):
        assert take_snapshots(web.ledger, day, options, now=AS_OF) > 0
    viewer = web.sign_in("viewer")
    page = viewer.get("/behaviour").text
    assert 'class="trend-chart"' in page
    dated = re.findall(r'data-series="simple" data-date="([0-9-]+)"', page)
    [top] = behaviour_report(web.ledger, AS_OF.date(), options, scope="portfolio")
    if top.behaviour.dso_simple is not None:
        assert "2026-12-01" in dated
    assert "No snapshot of" not in page
    # one policy's trend, from the link in its row
    policy_page = viewer.get("/behaviour?scope=policy").text.replace("&amp;", "&")
    link = re.search(r'href="(/behaviour\?[^"]*trend_scope=policy[^"]*)#trend-title"', policy_page)
    assert link, "no trend link in the policy rows"
    trend_page = viewer.get(link.group(1)).text
    assert "Trend: atradius-main" in trend_page
    assert 'class="trend-chart"' in trend_page


@pytest.mark.parametrize(
    ("value", "over", "text"),
    [
        (Decimal("71.35"), False, "71.4 days"),
        (Decimal("365"), True, "over 365.0 days"),
        (None, False, "not computable"),
        (Decimal(0), False, "0.0 days"),
    ],
)
def test_days_read_as_a_risk_analyst_reads_them(
    value: Decimal | None, over: bool, text: str
) -> None:
    assert text in str(days(value, over=over))
