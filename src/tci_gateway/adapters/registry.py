"""Adapter discovery through the entry-point group ``tci_gateway.adapters``.

Built-in adapters register exactly as a third-party plugin would: a distribution
declares ``name = "module:PLUGIN"`` in that group. Plugins are loaded lazily, on first
use, and checked to be :class:`AdapterPlugin` instances; an unknown name raises
``LookupError`` naming the known ones.
"""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint, entry_points

from tci_gateway.adapters.contract import AdapterPlugin

ENTRY_POINT_GROUP = "tci_gateway.adapters"

_loaded: dict[str, AdapterPlugin] = {}
_lock = threading.Lock()


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Names of every registered adapter, without importing any of them."""
    return sorted(_entry_points())


def load_plugin(name: str) -> AdapterPlugin:
    """The plugin registered as ``name``, imported on first use."""
    with _lock:
        if name in _loaded:
            return _loaded[name]
        points = _entry_points()
        if name not in points:
            known = ", ".join(sorted(points)) or "none"
            raise LookupError(f"no adapter named {name!r} (known adapters: {known})")
        plugin = points[name].load()
        if not isinstance(plugin, AdapterPlugin):
            raise TypeError(
                f"entry point {name!r} ({points[name].value}) is a {type(plugin).__name__}, "
                "not an AdapterPlugin"
            )
        if plugin.name != name:
            raise TypeError(f"entry point {name!r} loads the plugin named {plugin.name!r}")
        _loaded[name] = plugin
        return plugin


def insurer_plugins() -> list[AdapterPlugin]:
    """Every registered insurer plugin (loads them all)."""
    return [p for p in (load_plugin(n) for n in available()) if p.kind == "insurer"]
