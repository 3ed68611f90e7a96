"""Every page of the workspace drawn by Chromium and saved as a full-page screenshot
(``ci-output/screenshots/NAME.png``) for people to look at: each answers 200 with its
heading, fits the window's width (no sideways scrolling) and loads nothing that fails
(stylesheets, scripts: the Content-Security-Policy refuses inline ones)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Site
from .seed import HARBOUR, VAN_DIJK

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
Shoot = Callable[[Any, str], Path]


def pages(site: Site) -> list[tuple[str, str]]:
    """(screenshot name, path) of every page an analyst sees."""
    seeded = site.seeded
    return [
        ("portfolio", "/"),
        ("buyers", "/buyers"),
        ("buyer", f"/buyers/{seeded.buyers[HARBOUR]}"),
        ("buyer-van-dijk", f"/buyers/{seeded.buyers[VAN_DIJK]}"),
        ("cover-requests-list", "/cover-requests"),
        ("cover-request-seeded", "/cover-requests/1"),
        ("review-queue", "/review"),
        ("review-item", f"/review/{seeded.reviews[1]}"),
        ("deadlines-calendar", "/deadlines"),
        ("cases", "/cases"),
        ("case-van-dijk", f"/cases/{seeded.cases[VAN_DIJK]}"),
        ("runs", "/runs"),
        ("alert-settings", "/settings/alerts"),
    ]


class Watch:
    """What went wrong while a page loaded: failed requests, error answers to anything
    but the page itself, console errors (a script or style the policy refused)."""

    def __init__(self, page: Any) -> None:
        self.seen: list[str] = []
        self.page_url = ""
        page.on("requestfailed", lambda r: self.seen.append(f"{r.url}: {r.failure}"))
        page.on("response", self._answer)
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # "Failed to load resource": an error answer, reported by _answer (or the page's own)
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.seen.append(message.text)

    def _answer(self, response: Any) -> None:
        if response.status >= 400 and response.url != self.page_url:
            self.seen.append(f"{response.url}: {response.status}")


def visit(page: Any, watch: Watch, site: Site, path: str, status: int = 200) -> None:
    """Open ``path``: its status, one level-1 heading, nothing failed, and nothing wider
    than the window."""
    watch.seen.clear()
    watch.page_url = site.url + path
    answer = page.goto(site.url + path)
    assert answer is not None and answer.status == status, (path, answer and answer.status)
    assert page.get_by_role("heading", level=1).count() == 1, path
    assert not watch.seen, (path, watch.seen)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} is {overflow} px wider than the window"


def test_every_page_is_drawn(page: Any, site: Site, shoot: Shoot) -> None:
    site.sign_in(page, "anna", "/cases")
    watch = Watch(page)
    problems = []
    for name, path in pages(site):
        try:
            visit(page, watch, site, path)
        except AssertionError as exc:
            problems.append(str(exc))
        # A page waiting for an insurer reloads itself: shoot it once it has the answer.
        page.locator("[data-refresh]").wait_for(state="detached", timeout=30_000)
        shoot(page, name)
    visit(page, watch, site, "/cases/999999", status=404)
    assert page.get_by_role("heading", level=1).inner_text().endswith("(404)")
    shoot(page, "error-404")
    assert not problems, "\n".join(problems)


def test_the_people_page_for_a_manager(page: Any, site: Site, shoot: Shoot) -> None:
    site.sign_in(page, "max", "/people")
    visit(page, Watch(page), site, "/people")
    shoot(page, "people")
    assert page.get_by_role("cell", name="vera").count() >= 1
