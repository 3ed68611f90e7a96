"""Signing in, the keyboard path through the sign-in form and the navigation, and a
form without its CSRF token, in Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Site
from .seed import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
Shoot = Callable[[Any, str], Path]


def focused(page: Any) -> dict[str, str]:
    """The element with the focus: tag, id, text, and its outline as drawn."""
    found: dict[str, str] = page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            const box = el.getBoundingClientRect();
            return {tag: el.tagName.toLowerCase(), id: el.id, text: el.textContent.trim(),
                    href: el.getAttribute("href") || "", outline: style.outlineStyle,
                    width: style.outlineWidth, left: String(box.left), top: String(box.top)};
        }"""
    )
    return found


def test_sign_in_refused_then_accepted_then_out(page: Any, site: Site, shoot: Shoot) -> None:
    page.goto(f"{site.url}/deadlines")  # not signed in: the sign-in form, then back here
    assert "/login?next=" in page.url
    shoot(page, "sign-in")
    page.get_by_label("Name").fill("anna")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "The name or password was not accepted."
    assert page.get_by_label("Password").input_value() == ""  # never sent back

    page.get_by_label("Name").fill("anna")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/deadlines")
    header = page.locator("header.top")
    assert "anna" in header.inner_text() and "analyst" in header.inner_text()
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Deadlines").get_attribute("aria-current") == "page"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login$"))
    page.goto(f"{site.url}/deadlines")
    assert "/login?next=" in page.url  # the session is over

    page.goto(f"{site.url}/login")  # no page asked for: the portfolio
    page.get_by_label("Name").fill("anna")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Portfolio"


def test_the_keyboard_reaches_the_form_the_skip_link_and_the_navigation(
    page: Any, site: Site
) -> None:
    page.goto(f"{site.url}/login?next=/deadlines")
    assert focused(page)["id"] == "name"  # autofocus
    page.keyboard.type("anna")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    button = focused(page)
    assert (button["tag"], button["text"]) == ("button", "Sign in")
    assert button["outline"] == "solid" and button["width"] == "3px"  # focus is visible
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/deadlines")

    # The first Tab shows the skip link (it sits off-screen until focused).
    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip["text"] == "Skip to content" and skip["href"] == "#main"
    assert float(skip["left"]) >= 0 and skip["outline"] == "solid"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main") and focused(page)["id"] == "main"

    # From the top again: the brand, then every navigation link in order, each outlined.
    page.goto(f"{site.url}/deadlines")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "tci-gateway"
    labels = page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()
    assert labels[:2] == ["Portfolio", "Buyers"]
    for label in labels:
        page.keyboard.press("Tab")
        now = focused(page)
        assert now["text"] == label and now["outline"] == "solid", now
    page.keyboard.press("Shift+Tab")  # back to the previous link, then follow it
    previous = focused(page)
    assert previous["text"] == labels[-2]
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}{previous['href']}")


def test_a_form_without_its_csrf_token_is_refused(page: Any, site: Site, shoot: Shoot) -> None:
    page.goto(f"{site.url}/login")
    page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    page.get_by_label("Name").fill("anna")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_response(f"{site.url}/login") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Form refused (403)"
    assert "security token is missing or stale" in page.locator(".error-detail").inner_text()
    shoot(page, "error-403")
    page.goto(f"{site.url}/deadlines")
    assert "/login?next=" in page.url  # nobody was signed in
