"""The Credendo-shape plugin: what the entry point ``tci_gateway.adapters`` would name.

A real distribution declares it in its ``pyproject.toml``::

    [project.entry-points."tci_gateway.adapters"]
    credendo = "tci_credendo.plugin:PLUGIN"

Credentials ``client_id`` and ``client_secret``; options: see :class:`CredendoOptions`;
policies name their contract in ``external_ref`` as ``policy_id``.
"""

from __future__ import annotations

from tci_gateway.adapters.contract import AdapterContext, AdapterPlugin
from tci_gateway.adapters.toolkit import sandbox_factory

from .client import CREDENTIAL_NAMES, CredendoAdapter, CredendoOptions
from .sandbox import CredendoSandbox


def create_adapter(context: AdapterContext) -> CredendoAdapter:
    """The adapter from its context; missing credentials, a base URL that is not one and
    an unknown or bad option are a one-line ConfigError."""
    options = CredendoOptions.from_context(
        context, plugin="credendo", kind="insurer", credentials=CREDENTIAL_NAMES
    )
    return CredendoAdapter(context, options)


PLUGIN = AdapterPlugin(
    name="credendo",
    kind="insurer",
    description="Credendo-shape JSON API (synthetic): debtors, limits, limit applications",
    create=create_adapter,
    credential_names=CREDENTIAL_NAMES,
    create_sandbox=sandbox_factory(CredendoSandbox, what="credendo sandbox"),
    sandbox_base_url="https://sandbox.credendo.invalid",
)
