"""Shared helpers for adapter tests: retry policies that never sleep, and the plugins the
contract suites run against (``insurer_plugin``, ``bureau_plugin``: every registered
built-in of each kind; the pytest plugin :mod:`tci_gateway.adapters.contract_suite`
collects both suites beside this file)."""

from __future__ import annotations

import pytest
import tenacity

from tci_gateway.adapters.contract import AdapterPlugin
from tci_gateway.adapters.registry import available, load_plugin
from tci_gateway.http.retry import RetryPolicy

PLUGINS = [load_plugin(name) for name in available()]
INSURERS = {plugin.name: plugin for plugin in PLUGINS if plugin.kind == "insurer"}
BUREAUS = {plugin.name: plugin for plugin in PLUGINS if plugin.kind == "bureau"}


@pytest.fixture(params=sorted(INSURERS))
def insurer_plugin(request: pytest.FixtureRequest) -> AdapterPlugin:
    """Every registered insurer plugin: the insurer contract suite runs once per each."""
    return INSURERS[request.param]


@pytest.fixture(params=sorted(BUREAUS))
def bureau_plugin(request: pytest.FixtureRequest) -> AdapterPlugin:
    """Every registered bureau plugin: the bureau contract suite runs once per each."""
    return BUREAUS[request.param]


class SleepRecorder:
    """Stands in for ``time.sleep``: records the waits, never sleeps."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def retry(sleeps: SleepRecorder) -> RetryPolicy:
    """No backoff wait, Retry-After honoured (capped at 5 s) into ``sleeps``."""
    return RetryPolicy(wait=tenacity.wait_none(), sleep=sleeps, retry_after_max=5.0)
