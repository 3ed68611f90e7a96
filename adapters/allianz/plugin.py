"""Placeholder while the allianz adapter is written; replaced by the real plugin."""

from __future__ import annotations

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin, InsurerAdapter


def _create(context: AdapterContext) -> InsurerAdapter:
    raise NotImplementedError("the allianz adapter is not written yet")


PLUGIN = AdapterPlugin(name="allianz", kind="insurer", description="in progress", create=_create)
