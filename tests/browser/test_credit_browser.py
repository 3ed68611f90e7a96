"""Credit in Chromium: an analyst applies for a credit line from the Credit page's form
and reads the decision with its scorecard, conditions and steps; the payment behaviour
page with its trend (snapshots taken on the served ledger beforehand, as the nightly
credit review would); the buyer's Credit panel. Each page is saved as a screenshot
(``credit-list``, ``credit-application``, ``credit-application-refused-before``,
``behaviour``, ``buyer-credit``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tci_gateway.config import load_settings
from tci_gateway.ledger.engine import Ledger
from tci_gateway.services.behaviour import take_snapshots
from tci_gateway.wiring import credit_options

from .conftest import Site
from .seed import HARBOUR
from .test_pages import Watch, visit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
Shoot = Callable[[Any, str], Path]
APPLICANT = "Alpine Retail AG"
"""No insurer decision on it: the pre-screen decides on the DCL's conditions."""


def _snapshots(site: Site) -> None:
    """Month-end snapshots and today's on the served ledger (what `tci credit review`
    keeps), so the trend has points to draw."""
    settings = load_settings(site.seeded.config)
    ledger = Ledger.from_url(site.seeded.url)
    try:
        options = credit_options(settings, ledger).behaviour
        today = datetime.now(UTC)
        for day in (date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30), today.date()):
            take_snapshots(ledger, min(day, today.date()), options, now=today)
    finally:
        ledger.dispose()


def test_an_analyst_applies_for_credit(page: Any, site: Site, shoot: Shoot) -> None:
    site.sign_in(page, "anna", "/credit")
    watch = Watch(page)
    visit(page, watch, site, "/credit")
    form = page.locator("form.credit-form")
    form.get_by_label("Buyer (ERP account or buyer id)").fill("C1009")
    form.get_by_label("Amount").fill("8,000")
    form.get_by_label("Currency").select_option("EUR")
    shoot(page, "credit-list-empty")
    form.get_by_role("button", name="Apply for credit").click()
    page.wait_for_url(re.compile(rf"{re.escape(site.url)}/credit/CA-\d{{8}}-\d+$"))
    reference = page.url.rsplit("/", 1)[1]
    assert page.get_by_role("heading", level=1).inner_text() == f"Credit application {reference}"
    assert APPLICANT in page.locator("section.verdict").inner_text()
    assert page.get_by_role("table").filter(has_text="Each factor").count() == 1
    assert page.locator("ol.timeline li").count() >= 4  # received, bureaus, behaviour, ...
    assert not watch.seen, watch.seen
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the application page is {overflow} px wider than the window"
    shoot(page, "credit-application")

    # a buyer the insurer refused: a person decides, with the refusal named as evidence
    visit(page, watch, site, "/credit")
    form.get_by_label("Buyer (ERP account or buyer id)").fill("C1005")
    form.get_by_label("Amount").fill("60000")
    form.get_by_role("button", name="Apply for credit").click()
    page.wait_for_url(re.compile(rf"{re.escape(site.url)}/credit/CA-\d{{8}}-\d+$"))
    verdict = page.locator("section.verdict").inner_text()
    assert HARBOUR in verdict and "refused" in verdict, verdict
    shoot(page, "credit-application-refused-before")

    visit(page, watch, site, "/credit")
    row = page.locator(f'tr[data-reference="{reference}"]')
    assert row.count() == 1
    assert page.locator("table.applications tbody tr").count() == 2
    shoot(page, "credit-list")


def test_behaviour_and_the_buyer_credit_panel(page: Any, site: Site, shoot: Shoot) -> None:
    _snapshots(site)
    site.sign_in(page, "max", "/behaviour")
    watch = Watch(page)
    visit(page, watch, site, "/behaviour")
    assert page.locator("svg.trend-chart circle").count() >= 2
    assert page.locator("svg.ageing-chart rect").count() == 5
    shoot(page, "behaviour")
    buyer_id = site.seeded.buyers[APPLICANT]
    visit(page, watch, site, f"/buyers/{buyer_id}")
    panel = page.get_by_role("region", name="Credit")
    assert panel.get_by_role("button", name="Pin the tier").count() == 1  # a manager
    panel.scroll_into_view_if_needed()
    shoot(page, "buyer-credit")
