"""Fixtures for the D&B tests: a sandbox seeded from fixtures/dnb/seed.json on a fixed
clock, and an adapter talking to it in-process with its own token cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tci_adapters.dnb.client import DnbAdapter
from tci_adapters.dnb.plugin import PLUGIN, create_adapter
from tci_adapters.dnb.sandbox import DnbSandbox
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.adapters.contract_testing import SandboxClock
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "dnb"
CREDENTIALS = {"key": "dnb-key-123", "secret": "dnb-s3cret-value"}


@pytest.fixture
def sandbox() -> DnbSandbox:
    """The seeded sandbox, its clock frozen at 2024-04-10 09:00 UTC (advance it)."""
    clock = SandboxClock(datetime(2024, 4, 10, 9, 0, tzinfo=UTC))
    return DnbSandbox.from_seed(FIXTURES / "seed.json", credentials=CREDENTIALS, clock=clock)


@pytest.fixture
def adapter(sandbox: DnbSandbox, retry: RetryPolicy) -> Iterator[DnbAdapter]:
    """An adapter on the sandbox (MockTransport), with its own token cache."""
    context = AdapterContext(
        name="dnb",
        base_url=PLUGIN.sandbox_base_url,
        environment="sandbox",
        credentials=CREDENTIALS,
        retry=retry,
        transport=httpx.MockTransport(sandbox.handle),
    )
    made = create_adapter(context, token_cache=TokenCache())
    yield made
    made.close()
