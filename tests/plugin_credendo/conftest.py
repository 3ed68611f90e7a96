"""The insurer contract suite runs against the Credendo-shape plugin: the pytest plugin
``tci_gateway.adapters.contract_suite`` (named once in tests/conftest.py with
``pytest_plugins``) collects it beside this file because it defines ``insurer_plugin``."""

from __future__ import annotations

import pytest

from tci_gateway.adapters.contract import AdapterPlugin

from .plugin import PLUGIN


@pytest.fixture
def insurer_plugin() -> AdapterPlugin:
    """The plugin under test."""
    return PLUGIN
