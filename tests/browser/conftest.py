"""Tests in a real browser: Playwright (sync API) driving Debian's Chromium
(``/usr/bin/chromium``, or ``CHROMIUM_EXECUTABLE``; Playwright's own browser is never
downloaded) against ``tci serve`` run as a subprocess on a seeded SQLite ledger
(:mod:`.seed`).

* ``site``: the served workspace, one per pytest worker, each on its own copy of a
  ledger seeded once per run.
* ``browser``: one Chromium per worker; ``page``: a fresh context (cookies) per test,
  confirmation dialogs accepted, a screenshot under ``failures/`` when the test fails.
* ``shoot(page, name)``: a full-page PNG under ``ci-output/screenshots/`` (or
  ``TCI_SCREENSHOTS``) for people to look at.

Without Chromium the tests are skipped with the reason, unless ``TCI_REQUIRE_BROWSER=1``
(CI), where they fail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..e2e.conftest import REPO
from ..e2e.serve import Served, serving
from .seed import PASSWORD, Seeded, seeded_copy

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
"""How long a locator waits for its element (the default 30 s hides a broken page)."""


def chromium_executable() -> str:
    return os.environ.get("CHROMIUM_EXECUTABLE", "/usr/bin/chromium")


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("TCI_SCREENSHOTS") or REPO / "ci-output" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Site:
    """The served workspace and what its ledger holds."""

    served: Served
    seeded: Seeded

    @property
    def url(self) -> str:
        return self.served.url

    def sign_in(self, page: Any, name: str, next_path: str = "/") -> None:
        """Sign ``name`` in through the form (labels, button), landing on ``next_path``."""
        page.goto(f"{self.url}/login?next={next_path}")
        page.get_by_label("Name").fill(name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(re.escape(self.url + next_path) + r"(\?.*)?$"))


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = chromium_executable()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        reason = f"no Chromium at {path} (apt-get install chromium, or set CHROMIUM_EXECUTABLE)"
        if os.environ.get("TCI_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; TCI_REQUIRE_BROWSER=1 requires it")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[Site]:
    """``tci serve`` on the seeded ledger, for every browser test of this worker."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "browser-seed"
    workdir = tmp_path_factory.mktemp("browser-site")
    seeded = seeded_copy(shared, workdir)
    with serving("-c", str(seeded.config), cwd=workdir) as served:
        yield Site(served, seeded)


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_OUTCOME] = report.failed
    return report


_OUTCOME = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Any, site: Site, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context and page (nobody signed in); dialogs accepted."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    try:
        yield opened
    finally:
        if request.node.stash.get(_OUTCOME, False):
            folder = screenshot_dir() / "failures"
            folder.mkdir(exist_ok=True)
            try:
                opened.screenshot(path=str(folder / f"{request.node.name}.png"), full_page=True)
            except Exception as exc:  # the page may be gone: the failure itself says why
                print(f"no failure screenshot: {exc}")
            print(f"tci serve output:\n{site.served.output()[-4000:]}")
        context.close()


@pytest.fixture
def shoot() -> Callable[[Any, str], Path]:
    """Save a full-page screenshot of ``page`` as ``NAME.png``."""

    def take(page: Any, name: str) -> Path:
        path = screenshot_dir() / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
