"""The built-in plugins the bureau contract suite runs against.

The suite itself is :mod:`tci_gateway.adapters.contract_suite_bureau`, collected beside
``tests/adapters/conftest.py`` (whose ``bureau_plugin`` fixture names every registered
bureau) by the pytest plugin :mod:`tci_gateway.adapters.contract_suite`.
"""

from __future__ import annotations

from tci_gateway.adapters.registry import insurer_plugins

from .conftest import BUREAUS


def test_there_are_bureau_plugins() -> None:
    assert {"gleif", "creditsafe", "dnb"} <= set(BUREAUS)


def test_bureaus_stay_out_of_the_insurer_suite() -> None:
    assert not {p.name for p in insurer_plugins()} & set(BUREAUS)
