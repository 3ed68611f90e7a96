"""The built-in plugins the insurer contract suite runs against, and what the suite
leaves to the services: a back-fill of an adapter without cover history is refused.

The suite itself is :mod:`tci_gateway.adapters.contract_suite_insurer`, collected beside
``tests/adapters/conftest.py`` (whose ``insurer_plugin`` fixture names every registered
insurer) by the pytest plugin :mod:`tci_gateway.adapters.contract_suite`.
"""

from __future__ import annotations

import httpx
import pytest

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin, InsurerAdapter
from tci_gateway.errors import ConfigError
from tci_gateway.services.sync import history_source

from .conftest import INSURERS


def test_the_built_in_insurers_are_registered() -> None:
    assert {"allianz", "atradius", "coface"} <= set(INSURERS)


@pytest.mark.parametrize("name", sorted(INSURERS))
def test_backfill_source_follows_the_cover_history_capability(name: str) -> None:
    plugin: AdapterPlugin = INSURERS[name]
    assert plugin.create_sandbox is not None
    sandbox = plugin.create_sandbox({})
    adapter = plugin.create(
        AdapterContext(
            name=name,
            base_url=plugin.sandbox_base_url,
            environment="sandbox",
            credentials=dict(sandbox.credentials),
            transport=httpx.MockTransport(sandbox.handle),
        )
    )
    assert isinstance(adapter, InsurerAdapter)
    try:
        if adapter.capabilities.cover_history:
            assert history_source(adapter) == adapter.fetch_cover_history  # type: ignore[attr-defined]
        else:
            with pytest.raises(ConfigError, match="offers no cover history"):
                history_source(adapter)
    finally:
        adapter.close()
