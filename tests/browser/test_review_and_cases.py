"""The review queue and the claims pages in Chromium: an analyst accepts a proposed link;
a viewer's decision and cover request are refused (403) and the page says why, so is a
decision without its CSRF token; an analyst opens a deadline and its case, confirms the
manual filing and downloads the filing pack."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Site
from .seed import HARBOUR, REVIEWS, VAN_DIJK

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
Shoot = Callable[[Any, str], Path]


def test_an_analyst_accepts_a_proposed_link(page: Any, site: Site, shoot: Shoot) -> None:
    site.sign_in(page, "anna", "/review")
    shoot(page, "review")
    link = site.seeded.reviews[0]
    a, b = REVIEWS[0]
    card = page.get_by_role("article", name=re.compile(rf"^Link {link}:"))
    assert "PENDING" in card.inner_text()
    card.get_by_label("Note (optional)").fill("same company, checked by phone")
    card.get_by_role("button", name=f"Accept link {link}: merge the buyers of {a} and {b}").click()
    page.wait_for_url(re.compile(r".*/review\?.*done=accepted"))
    flash = page.get_by_role("status").filter(has_text=f"Review item {link} accepted")
    assert f"accounts {a} and {b} are one buyer now" in flash.inner_text()
    assert page.get_by_role("article", name=re.compile(rf"^Link {link}:")).count() == 0
    page.get_by_role("navigation", name="Review items by state").get_by_role(
        "link", name=re.compile("Accepted")
    ).click()
    decided = page.get_by_role("article", name=re.compile(rf"^Link {link}:"))
    assert "ACCEPTED" in decided.inner_text()


def test_a_viewer_cannot_decide_a_link(page: Any, site: Site, shoot: Shoot) -> None:
    site.sign_in(page, "vera", "/review")
    link = site.seeded.reviews[1]
    card = page.get_by_role("article", name=re.compile(rf"^Link {link}:"))
    accept = card.get_by_role("button", name="Accept")
    assert accept.is_disabled()
    assert "Deciding needs the analyst role; you are a viewer." in card.inner_text()
    # The form posted anyway (the buttons enabled by hand): the server refuses it.
    page.evaluate(
        "for (const b of document.querySelectorAll('button[disabled]')) b.disabled = false"
    )
    with page.expect_response(re.compile(rf".*/review/{link}/accept$")) as answer:
        accept.click()
    assert answer.value.status == 403
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading.endswith("(403)")
    detail = page.locator(".error-detail").inner_text()
    assert detail == "error: vera is a viewer; this needs the analyst role (ask a manager)"
    shoot(page, "error-403-viewer")
    page.goto(f"{site.url}/review/{link}")
    assert "PENDING" in page.get_by_role("article").inner_text()  # nothing changed


def test_a_viewer_cannot_request_cover(page: Any, site: Site) -> None:
    buyer_id = site.seeded.buyers[HARBOUR]
    site.sign_in(page, "vera", f"/buyers/{buyer_id}")
    form = page.get_by_role("region", name="Request, increase, reduce or cancel cover")
    assert "You are signed in as a viewer" in form.get_by_role("note").inner_text()
    send = form.get_by_role("button", name="Send to the insurer")
    assert send.is_disabled()
    page.evaluate("for (const f of document.querySelectorAll('fieldset')) f.disabled = false")
    form.get_by_label(re.compile("^Amount asked")).fill("10000.00")
    with page.expect_response(re.compile(rf".*/buyers/{buyer_id}/cover$")) as answer:
        send.click()
    assert answer.value.status == 403
    detail = page.locator(".error-detail").inner_text()
    assert detail == "error: vera is a viewer; this needs the analyst role (ask a manager)"


def test_a_deadline_opens_its_case_the_filing_is_confirmed_and_the_pack_downloaded(
    page: Any, site: Site, shoot: Shoot
) -> None:
    case_id = site.seeded.cases[VAN_DIJK]
    site.sign_in(page, "anna", "/deadlines")
    shoot(page, "deadlines")
    listing = page.get_by_role("table").filter(
        has=page.get_by_role("columnheader", name="Bites at")
    )
    row = listing.get_by_role("row").filter(has_text=VAN_DIJK).first
    row.get_by_role("link", name=f"case {case_id}").click()
    page.wait_for_url(f"{site.url}/cases/{case_id}")
    assert page.get_by_role("heading", level=1).inner_text() == f"Case {case_id}: {VAN_DIJK}"
    shoot(page, "case")

    actions = page.locator("#actions")
    notification = actions.get_by_role("row").filter(has_text="waiting for a person")
    assert "MANUAL" in notification.inner_text()
    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download the filing pack (Markdown)").click()
    pack = waiting.value
    assert pack.suggested_filename == f"case-{case_id}-filing-pack.md"
    text = Path(pack.path()).read_text(encoding="utf-8")
    assert text.startswith(f"# Filing pack: case {case_id} (OPEN)")
    assert VAN_DIJK in text and "INV-1001-01" in text
    assert "- **indemnity: 58050.00 EUR**" in text

    reference = page.get_by_label(re.compile(r"^Insurer's reference for the overdue notification"))
    reference.fill("ATR-WEB-77")
    page.get_by_role("button", name="Confirm it was filed").click()  # the dialog is accepted
    page.wait_for_url(re.compile(rf".*/cases/{case_id}\?confirmed=.*"))
    flash = page.get_by_role("status").filter(has_text="recorded as filed")
    assert "FILED_MANUALLY" in flash.inner_text() and "ATR-WEB-77" in flash.inner_text()
    assert page.get_by_role("button", name="Confirm it was filed").count() == 0

    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download the filing pack (Markdown)").click()
    text = Path(waiting.value.path()).read_text(encoding="utf-8")
    assert "- insurer reference: ATR-WEB-77" in text


def test_a_decision_without_its_csrf_token_is_refused(page: Any, site: Site) -> None:
    """An analyst's form with its hidden token removed: 403, the link stays pending."""
    link = site.seeded.reviews[1]
    a, b = REVIEWS[1]
    site.sign_in(page, "anna", f"/review/{link}")
    page.evaluate("document.querySelector('form.decide input[name=csrf_token]').remove()")
    with page.expect_response(re.compile(rf".*/review/{link}/accept$")) as answer:
        page.get_by_role(
            "button", name=f"Accept link {link}: merge the buyers of {a} and {b}"
        ).click()
    assert answer.value.status == 403
    detail = page.locator(".error-detail").inner_text()
    assert "security token is missing or belongs to another session" in detail
    page.goto(f"{site.url}/review/{link}")
    assert "PENDING" in page.get_by_role("article").inner_text()
