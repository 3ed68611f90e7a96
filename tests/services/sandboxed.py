"""An insurer adapter wired to its in-process sandbox, seeded with the contract data
set, retrying without sleeping: what the service tests run against."""

from __future__ import annotations

from typing import Any

import httpx
import tenacity

from tci_gateway.adapters.contract import AdapterContext, InsurerAdapter
from tci_gateway.adapters.contract_testing import ContractFixture
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.http.retry import RetryPolicy


def sandboxed_insurer(name: str) -> tuple[InsurerAdapter, Any, ContractFixture]:
    """The adapter ``name``, its sandbox (``Any``: each has its own test controls) and
    what the sandbox was seeded with."""
    plugin = load_plugin(name)
    assert plugin.create_sandbox is not None
    sandbox = plugin.create_sandbox({})
    fixture = sandbox.seed_contract_fixture()  # type: ignore[attr-defined]
    adapter = plugin.create(
        AdapterContext(
            name=name,
            base_url=plugin.sandbox_base_url,
            environment="sandbox",
            credentials=dict(sandbox.credentials),
            retry=RetryPolicy(wait=tenacity.wait_none(), sleep=lambda s: None),
            transport=httpx.MockTransport(sandbox.handle),
        )
    )
    assert isinstance(adapter, InsurerAdapter)
    return adapter, sandbox, fixture
