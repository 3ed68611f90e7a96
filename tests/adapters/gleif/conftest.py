"""Fixtures for the GLEIF tests: a sandbox seeded from fixtures/gleif/seed.json on a fixed
clock, and an adapter talking to it in-process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tci_adapters.gleif.client import GleifAdapter
from tci_adapters.gleif.plugin import PLUGIN, create_adapter
from tci_adapters.gleif.sandbox import GleifSandbox
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.adapters.contract_testing import SandboxClock
from tci_gateway.http.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gleif"


@pytest.fixture
def sandbox() -> GleifSandbox:
    """The seeded sandbox, its clock frozen at 2024-04-10 09:00 UTC (advance it)."""
    clock = SandboxClock(datetime(2024, 4, 10, 9, 0, tzinfo=UTC))
    return GleifSandbox.from_seed(FIXTURES / "seed.json", clock=clock)


@pytest.fixture
def adapter(sandbox: GleifSandbox, retry: RetryPolicy) -> Iterator[GleifAdapter]:
    """An adapter on the sandbox (MockTransport)."""
    context = AdapterContext(
        name="gleif",
        base_url=PLUGIN.sandbox_base_url,
        environment="sandbox",
        credentials={},
        retry=retry,
        transport=httpx.MockTransport(sandbox.handle),
    )
    made = create_adapter(context)
    yield made
    made.close()
