"""An in-process API over a migrated ledger (SQLite, and PostgreSQL when configured) and
the built-in sandboxes of ``config/sandbox.toml``; ``api.key("limits:read")`` makes a key
and answers the headers that present it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tci_gateway.api.app import create_app
from tci_gateway.api.context import ApiContext
from tci_gateway.config import Settings, load_settings
from tci_gateway.ledger import api_keys
from tci_gateway.ledger.engine import Ledger
from tci_gateway.wiring import Wiring

REPO = Path(__file__).resolve().parents[2]
SANDBOX_CONFIG = REPO / "config" / "sandbox.toml"
AS_OF = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class ApiHarness:
    client: TestClient
    ctx: ApiContext
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def ledger(self) -> Ledger:
        return self.ctx.ledger

    def tick(self, task: str) -> None:
        """Run the background task ``task`` (an outbox relay) once, now."""
        app = self.client.app
        app.state.background.tick(task)  # type: ignore[attr-defined]

    def key(
        self, *scopes: str, policies: list[str] | None = None, name: str | None = None
    ) -> dict[str, str]:
        """Create a key with ``scopes`` and answer ``{"Authorization": "Bearer ..."}``."""
        with self.ledger.unit_of_work() as session:
            _, token = api_keys.create_key(
                session,
                name or f"test-{next(self._names)}",
                list(scopes),
                now=self.ctx.now(),
                policies=policies,
            )
        return {"Authorization": f"Bearer {token}"}


def sandbox_settings(database_url: str) -> Settings:
    settings = load_settings(SANDBOX_CONFIG)
    settings.database.url = database_url
    return settings


def make_harness(
    database_url: str,
    *,
    settings: Settings | None = None,
    as_of: datetime | None = AS_OF,
    app_factory: Callable[..., FastAPI] = create_app,
) -> ApiHarness:
    """``app_factory``: the API alone (default) or the service with its workspace
    (:func:`tci_gateway.web.app.create_service`)."""
    settings = settings or sandbox_settings(database_url)
    wiring = Wiring(settings, SANDBOX_CONFIG.parent)
    ctx = ApiContext(wiring=wiring, ledger=wiring.ledger(), as_of=as_of, instance="test")
    app = app_factory(ctx, background=False)  # tests tick background tasks themselves
    return ApiHarness(TestClient(app, raise_server_exceptions=False), ctx)


@pytest.fixture
def api(database_url: str) -> Iterator[ApiHarness]:
    """The API on a migrated, empty ledger with the sandbox configuration, clock at
    ``AS_OF``; runs on SQLite and PostgreSQL."""
    harness = make_harness(database_url)
    with harness.client:
        yield harness
    harness.ctx.wiring.close()
    harness.ledger.dispose()
