"""Fixtures for the Coface tests: a sandbox seeded from fixtures/coface/seed.json on a
fixed clock, and an adapter talking to it in-process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tci_adapters.coface.client import CofaceAdapter
from tci_adapters.coface.plugin import PLUGIN
from tci_adapters.coface.sandbox import CofaceSandbox
from tci_gateway.adapters.contract_testing import SandboxClock
from tci_gateway.http.retry import RetryPolicy

from .helpers import CREDENTIALS, SEED, make_adapter


@pytest.fixture
def sandbox() -> CofaceSandbox:
    """The seeded sandbox, its clock frozen at 2024-04-10 09:00 UTC (advance it)."""
    clock = SandboxClock(datetime(2024, 4, 10, 9, 0, tzinfo=UTC))
    made = CofaceSandbox(credentials=CREDENTIALS, clock=clock)
    made.seed(SEED)
    return made


@pytest.fixture
def adapter(sandbox: CofaceSandbox, retry: RetryPolicy) -> Iterator[CofaceAdapter]:
    """An adapter on the sandbox (MockTransport), with its own token cache and the
    default contract for buyer searches."""
    made = make_adapter(
        sandbox.handle,
        retry,
        base_url=PLUGIN.sandbox_base_url,
        options={"policy_number": "1234567"},
    )
    yield made
    made.close()
