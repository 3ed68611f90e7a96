"""The adapter contract suites as a pytest plugin.

A plugin author runs the whole insurer (or bureau) contract suite against an adapter with
one line in the top-level ``conftest.py`` and one fixture naming the plugin::

    pytest_plugins = ["tci_gateway.adapters.contract_suite"]

    @pytest.fixture
    def insurer_plugin() -> AdapterPlugin:
        return PLUGIN  # or its entry-point name, e.g. "credendo"

Every ``conftest.py`` that defines a fixture named ``insurer_plugin`` gets the insurer
suite (:mod:`tci_gateway.adapters.contract_suite_insurer`) collected beside it, as
``<dir>/conftest.py::insurer_contract::test_...``; one that defines ``bureau_plugin``
gets the bureau suite (:mod:`tci_gateway.adapters.contract_suite_bureau`) as
``...::bureau_contract::...``. A parametrised fixture (``params=[...]``) runs the suite
once per plugin. The fixture returns an :class:`~tci_gateway.adapters.contract.AdapterPlugin`
or the name it is registered under in the entry-point group ``tci_gateway.adapters``.
Each suite drives the plugin's sandbox
(:class:`~tci_gateway.adapters.contract_testing.ContractSandbox`), so the plugin must
offer ``create_sandbox``.

Every collected test carries the marker ``contract`` (``pytest -m contract``); to run
only the suites of one directory, name its conftest: ``pytest tests/x/conftest.py``.

pytest stays an optional dependency of ``tci_gateway``: only this module and the suite
modules import it, and nothing in the package imports them.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tci_gateway.adapters.contract import AdapterPlugin
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.errors import ConfigError

__all__ = [
    "SUITES",
    "ContractSuite",
    "ContractSuites",
    "pytest_collect_file",
    "pytest_configure",
    "refused_with_known",
    "resolve_plugin",
]

SUITES: dict[str, tuple[str, str]] = {
    "insurer_plugin": ("insurer_contract", "tci_gateway.adapters.contract_suite_insurer"),
    "bureau_plugin": ("bureau_contract", "tci_gateway.adapters.contract_suite_bureau"),
}
"""Fixture name -> (collector name, module holding that suite's tests)."""

# The suites' plain ``assert`` statements get pytest's introspection (they are imported
# lazily, at collection, after this call).
pytest.register_assert_rewrite(*(module for _, module in SUITES.values()))


class ContractSuite(pytest.Module):
    """The tests of one contract suite, collected beside the ``conftest.py`` that names
    the plugin(s) under test. Its object is the installed suite module, imported by
    name (never from the conftest's path)."""

    suite_module: str = ""

    def _getobj(self) -> ModuleType:
        return importlib.import_module(self.suite_module)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``contract`` marker the suites' tests carry."""
    config.addinivalue_line("markers", "contract: a test of the shared adapter contract suite")


class ContractSuites(pytest.File):
    """The contract suites a ``conftest.py`` asks for: one :class:`ContractSuite` per
    fixture it defines among those :data:`SUITES` names."""

    fixture_names: tuple[str, ...] = ()

    def collect(self) -> list[ContractSuite]:
        suites = []
        for fixture_name in self.fixture_names:
            name, module = SUITES[fixture_name]
            suite = ContractSuite.from_parent(
                self, path=self.path, name=name, nodeid=f"{self.nodeid}::{name}"
            )
            suite.suite_module = module
            suite.add_marker("contract")
            suites.append(suite)
        return suites


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ContractSuites | None:
    """Collect the suites a ``conftest.py`` asks for (by defining ``insurer_plugin`` or
    ``bureau_plugin``)."""
    if file_path.name != "conftest.py":
        return None
    conftest = parent.config.pluginmanager.get_plugin(str(file_path))
    wanted = tuple(name for name in SUITES if hasattr(conftest, name))
    if conftest is None or not wanted:
        return None
    suites: ContractSuites = ContractSuites.from_parent(parent, path=file_path)
    suites.fixture_names = wanted
    return suites


def resolve_plugin(value: object, kind: str) -> AdapterPlugin:
    """The plugin a fixture named: an :class:`AdapterPlugin`, or the entry-point name of
    one; it must be of ``kind`` (``"insurer"`` or ``"bureau"``) and offer a sandbox."""
    plugin = load_plugin(value) if isinstance(value, str) else value
    if not isinstance(plugin, AdapterPlugin):
        raise TypeError(
            f"the {kind}_plugin fixture must return an AdapterPlugin or a registered "
            f"plugin name, not {type(value).__name__}"
        )
    if plugin.kind != kind:
        raise TypeError(f"plugin {plugin.name!r} is of kind {plugin.kind}, not {kind}")
    if plugin.create_sandbox is None:
        raise TypeError(f"plugin {plugin.name!r} has no sandbox: the contract suite needs one")
    return plugin


_KNOWN_RE = re.compile(r"\(known: ([^)]*)\)")


def refused_with_known(build: Callable[[], Any], unknown: str) -> set[str]:
    """Call ``build`` (which passes the option ``unknown``), expect a one-line
    :class:`ConfigError` naming ``unknown`` and return the known names it lists."""
    with pytest.raises(ConfigError) as refused:
        build()
    message = str(refused.value)
    assert "\n" not in message
    assert unknown in message and "unknown option" in message, message
    match = _KNOWN_RE.search(message)
    assert match, f"no list of known options in {message!r}"
    known = {name.strip() for name in match.group(1).split(",") if name.strip()}
    assert known and unknown not in known, message
    return known
