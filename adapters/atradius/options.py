"""The Atradius adapter's options (one pydantic model, see
:class:`~tci_gateway.adapters.options.AdapterOptions`)."""

from __future__ import annotations

from typing import Annotated

from tci_gateway.adapters.toolkit import (
    AdapterOptions,
    CodeTable,
    StatusOverrides,
    option,
    optional_text,
)


class AtradiusOptions(AdapterOptions):
    """``status_overrides`` (raw code -> status name) and ``customer_id`` (the default
    for policies whose ``external_ref`` names none)."""

    status_overrides: StatusOverrides = CodeTable()
    customer_id: Annotated[str | None, option(optional_text)] = None
