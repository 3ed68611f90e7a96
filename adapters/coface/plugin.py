"""Placeholder while the coface adapter is written; replaced by the real plugin."""

from __future__ import annotations

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin, InsurerAdapter


def _create(context: AdapterContext) -> InsurerAdapter:
    raise NotImplementedError("the coface adapter is not written yet")


PLUGIN = AdapterPlugin(name="coface", kind="insurer", description="in progress", create=_create)
