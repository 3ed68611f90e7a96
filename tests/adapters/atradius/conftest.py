"""Fixtures for the Atradius tests: a sandbox seeded from fixtures/atradius/seed.json on
a fixed clock, and an adapter talking to it in-process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tci_adapters.atradius.client import AtradiusAdapter
from tci_adapters.atradius.plugin import PLUGIN, create_adapter
from tci_adapters.atradius.sandbox import AtradiusSandbox
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.adapters.contract_testing import SandboxClock
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.retry import RetryPolicy

SEED = Path(__file__).resolve().parents[3] / "fixtures" / "atradius" / "seed.json"
CREDENTIALS = {"client_id": "cid-123", "client_secret": "s3cret-value", "app_key": "app-key-789"}


@pytest.fixture
def sandbox() -> AtradiusSandbox:
    """The seeded sandbox, its clock frozen at 2024-04-10 09:00 UTC (advance it)."""
    clock = SandboxClock(datetime(2024, 4, 10, 9, 0, tzinfo=UTC))
    return AtradiusSandbox.from_seed(SEED, credentials=CREDENTIALS, clock=clock)


@pytest.fixture
def adapter(sandbox: AtradiusSandbox, retry: RetryPolicy) -> Iterator[AtradiusAdapter]:
    """An adapter on the sandbox (MockTransport), with its own token cache."""
    context = AdapterContext(
        name="atradius",
        base_url=PLUGIN.sandbox_base_url,
        environment="sandbox",
        credentials=CREDENTIALS,
        retry=retry,
        transport=httpx.MockTransport(sandbox.handle),
    )
    made = create_adapter(context, token_cache=TokenCache())
    yield made
    made.close()
