"""Cover in Chromium: an analyst finds a buyer with the buyers list's search box, opens
it, asks the Atradius sandbox for new cover above its automatic approval (Harbour's last
decision was a refusal) and watches the request's page, which reloads itself while
pending, show the decision when the serving process's relay brings it in."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Site
from .seed import DECISION_DELAY, HARBOUR

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
Shoot = Callable[[Any, str], Path]
DECISION_WITHIN_MS = (DECISION_DELAY + 20) * 1000
"""The sandbox decides in DECISION_DELAY s; the relay polls every second, the page
reloads every 3 s; the rest is room for a loaded machine."""


def test_cover_is_requested_and_the_decision_arrives(page: Any, site: Site, shoot: Shoot) -> None:
    buyer_id = site.seeded.buyers[HARBOUR]
    site.sign_in(page, "anna", "/buyers")
    search = page.get_by_role("search")
    search.get_by_label("Name, identifier or account").fill("harbour freight")
    search.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r".*/buyers\?.*q=harbour"))
    found = page.get_by_role("table").get_by_role("rowheader")
    assert found.all_inner_texts() == [HARBOUR]  # one buyer matches
    shoot(page, "buyers-search")
    found.get_by_role("link", name=HARBOUR).click()
    page.wait_for_url(f"{site.url}/buyers/{buyer_id}")
    assert page.get_by_role("heading", level=1).inner_text().startswith(HARBOUR)
    shoot(page, "buyer-harbour")
    form = page.get_by_role("region", name="Request, increase, reduce or cancel cover")
    form.get_by_label("Policy").select_option("atradius-main")
    form.get_by_label("Action").select_option(label="Request new cover")
    form.get_by_label(re.compile("^Amount asked")).fill("60000.00")
    form.get_by_label("Currency").select_option("EUR")
    form.get_by_role("button", name="Send to the insurer").click()  # confirmation accepted

    page.wait_for_url(re.compile(rf"{re.escape(site.url)}/cover-requests/\d+$"))
    request_id = page.url.rsplit("/", 1)[1]
    title = page.get_by_role("heading", level=1).inner_text()
    assert re.fullmatch(rf"Cover request #{request_id}: \w+ for {re.escape(HARBOUR)}", title)
    waiting = page.get_by_role("heading", name=re.compile("^Waiting for atradius"))
    decided = page.get_by_role("heading", name=re.compile("^atradius decided: "))
    # Above the sandbox's automatic approval: referred, decided DECISION_DELAY s later.
    assert waiting.count() == 1 and decided.count() == 0
    assert "reloads every 3 seconds" in page.locator("section.waiting").inner_text()
    shoot(page, "cover-request-waiting")

    decided.wait_for(timeout=DECISION_WITHIN_MS)  # the page reloaded itself until then
    assert decided.inner_text() == "atradius decided: PARTIALLY_APPROVED"
    figures = page.locator(".decision-figures").inner_text()
    assert re.search(r"Granted\s+EUR 30,000\.00", figures), figures  # half, as referred
    assert re.search(r"Asked\s+EUR 60,000\.00", figures), figures
    assert page.get_by_role("table").filter(has_text="Code").count() == 1  # the raw codes
    shoot(page, "cover-request")

    page.get_by_role("link", name="Cover requests").first.click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"#{request_id}"))
    assert HARBOUR in row.inner_text()
    shoot(page, "cover-requests")
