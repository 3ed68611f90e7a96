"""The workspace in process: the service (API + pages) over a migrated ledger with the
sandbox configuration, on SQLite and PostgreSQL, and people signed in with a role.

::

    def test_page(web: WebHarness) -> None:
        alice = web.sign_in("analyst")
        page = alice.get("/buyers")                # HTML, 200
        alice.post("/review/3/accept", {"note": "same company"})   # carries the CSRF token
        alice.post("/review/3/accept", {}, csrf=False)             # 403: no token

``web.api`` is the API harness of ``tests/api/conftest.py`` over the same app (keys,
``tick``); ``web.ledger`` the ledger; the clock is ``AS_OF`` (2026-12-01 12:00 UTC).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tci_gateway.ledger import users
from tci_gateway.ledger.engine import Ledger
from tci_gateway.web.app import create_service

from ..api.conftest import AS_OF, ApiHarness, make_harness

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

__all__ = ["AS_OF", "PASSWORD", "Person", "WebHarness"]


@dataclass
class Person:
    """A signed-in browser: its own cookie jar, its session's CSRF token."""

    name: str
    role: str
    client: TestClient
    csrf: str

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, follow_redirects=False, **kwargs)

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Submit a form as the browser would (with the session's token unless ``csrf``
        is false); redirects are not followed, so a 303 after a change is visible."""
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        return self.client.post(path, data=form, follow_redirects=False, **kwargs)


@dataclass
class WebHarness:
    api: ApiHarness
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def ledger(self) -> Ledger:
        return self.api.ledger

    @property
    def client(self) -> TestClient:
        """A browser with no session."""
        return self.api.client

    def create_user(self, role: str = "analyst", name: str | None = None, **kwargs: Any) -> str:
        name = name or f"{role}{next(self._names)}"
        with self.ledger.unit_of_work() as session:
            users.create_user(session, name, role, PASSWORD, now=self.api.ctx.now(), **kwargs)
        return name

    def sign_in(self, role: str = "analyst", name: str | None = None) -> Person:
        """Create a person with ``role`` (unless ``name`` exists) and sign them in through
        the sign-in form, in a browser of their own."""
        if name is None or self._exists(name) is False:
            name = self.create_user(role, name)
        client = TestClient(self.api.client.app, raise_server_exceptions=False)
        form = client.get("/login")
        token = _CSRF.search(form.text)
        assert token, form.text
        answer = client.post(
            "/login",
            data={"name": name, "password": PASSWORD, "csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        with self.ledger.reading() as session:
            from sqlalchemy import select

            from tci_gateway.ledger.web_tables import UserRow, WebSessionRow

            csrf = session.scalar(
                select(WebSessionRow.csrf_token)
                .join(UserRow, UserRow.id == WebSessionRow.user_id)
                .where(UserRow.name == name)
                .order_by(WebSessionRow.id.desc())
            )
        assert csrf
        return Person(name, role, client, csrf)

    def _exists(self, name: str) -> bool:
        with self.ledger.reading() as session:
            return users.get_user(session, name) is not None


@pytest.fixture
def web(database_url: str) -> Iterator[WebHarness]:
    """The service with its workspace on a migrated, empty ledger (SQLite and
    PostgreSQL), clock at ``AS_OF``; background tasks run only when ticked."""
    harness = make_harness(database_url, app_factory=create_service)
    with harness.client:
        yield WebHarness(harness)
    harness.ctx.wiring.close()
    harness.ledger.dispose()
