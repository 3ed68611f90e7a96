"""Fixtures for the Creditsafe tests: a sandbox seeded from fixtures/creditsafe/seed.json
on a fixed clock, and an adapter talking to it in-process with its own token cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tci_adapters.creditsafe.client import CreditsafeAdapter
from tci_adapters.creditsafe.plugin import PLUGIN, create_adapter
from tci_adapters.creditsafe.sandbox import CreditsafeSandbox
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.adapters.contract_testing import SandboxClock
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "creditsafe"
CREDENTIALS = {"username": "cs-user@example.invalid", "password": "cs-s3cret-value"}


@pytest.fixture
def sandbox() -> CreditsafeSandbox:
    """The seeded sandbox, its clock frozen at 2024-04-10 09:00 UTC (advance it)."""
    clock = SandboxClock(datetime(2024, 4, 10, 9, 0, tzinfo=UTC))
    return CreditsafeSandbox.from_seed(FIXTURES / "seed.json", credentials=CREDENTIALS, clock=clock)


@pytest.fixture
def adapter(sandbox: CreditsafeSandbox, retry: RetryPolicy) -> Iterator[CreditsafeAdapter]:
    """An adapter on the sandbox (MockTransport), with its own token cache."""
    context = AdapterContext(
        name="creditsafe",
        base_url=PLUGIN.sandbox_base_url,
        environment="sandbox",
        credentials=CREDENTIALS,
        retry=retry,
        transport=httpx.MockTransport(sandbox.handle),
    )
    made = create_adapter(context, token_cache=TokenCache())
    yield made
    made.close()
