"""Packaging: every package directory is installed, every adapter entry point loads."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tci_gateway.adapters.contract import AdapterPlugin
from tci_gateway.adapters.registry import available, load_plugin

REPO = Path(__file__).resolve().parents[1]


def _packages_on_disk() -> set[str]:
    found = set()
    for root, name in (
        (REPO / "src" / "tci_gateway", "tci_gateway"),
        (REPO / "adapters", "tci_adapters"),
    ):
        for init in root.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(root).parts
            found.add(".".join((name, *relative)))
    return found


def test_every_package_directory_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    assert _packages_on_disk() == listed


def test_every_adapter_entry_point_loads_a_plugin() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    declared = set(config["project"]["entry-points"]["tci_gateway.adapters"])
    assert declared <= set(available())
    for name in declared:
        plugin = load_plugin(name)
        assert isinstance(plugin, AdapterPlugin) and plugin.name == name


def test_unknown_adapter_names_the_known_ones() -> None:
    import pytest

    with pytest.raises(LookupError, match=r"known adapters: .*atradius"):
        load_plugin("no-such-insurer")
