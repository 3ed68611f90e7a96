"""The Credendo-shape adapter's own options, beyond what the contract suite checks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tci_gateway.adapters.contract import AdapterContext, PortfolioEntry
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.errors import ConfigError

from .client import CredendoAdapter
from .plugin import PLUGIN, create_adapter
from .sandbox import CredendoSandbox


def _adapter(sandbox: CredendoSandbox, **options: Any) -> CredendoAdapter:
    return create_adapter(
        AdapterContext(
            name="credendo",
            base_url=PLUGIN.sandbox_base_url,
            environment="sandbox",
            credentials=dict(sandbox.credentials),
            options=options,
            transport=httpx.MockTransport(sandbox.handle),
        )
    )


def test_status_overrides_remap_a_decision_code_in_any_case() -> None:
    sandbox = CredendoSandbox()
    fixture = sandbox.seed_contract_fixture()
    adapter = _adapter(sandbox, status_overrides={"partially_accepted": "approved"})
    statuses = {
        item.decision.insurer_cover_ref: item.decision.status
        for item in adapter.fetch_portfolio(fixture.policy)
        if isinstance(item, PortfolioEntry)
    }
    adapter.close()
    assert statuses["CL-503"] is CoverStatus.APPROVED  # PARTIALLY_ACCEPTED in the sandbox
    assert statuses["CL-499"] is CoverStatus.EXPIRED  # the defaults still apply


def test_a_larger_page_size_reads_the_portfolio_in_fewer_calls() -> None:
    sandbox = CredendoSandbox(max_page_size=50)
    fixture = sandbox.seed_contract_fixture()
    adapter = _adapter(sandbox, page_size=2)
    assert len(list(adapter.fetch_portfolio(fixture.policy))) == fixture.portfolio_size
    path = "/v1/policies/CR-POL-001/limits"
    assert sandbox.received[("GET", path)] == 3  # 6 records, 2 a page
    adapter.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"status_overrides": {"ON_HOLD": "PAUSED"}}, "'ON_HOLD' maps to 'PAUSED'"),
        ({"page_size": 0}, "page_size must be at least 1"),
        ({"page_size": True}, "page_size must be a whole number"),
    ],
)
def test_bad_option_values_are_one_line_config_errors(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        _adapter(CredendoSandbox(), **options)
    assert "\n" not in str(refused.value)
    assert "insurer 'credendo' (credendo)" in str(refused.value)
