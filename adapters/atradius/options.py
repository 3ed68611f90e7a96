"""The Atradius adapter's options (one pydantic model, see
:class:`~tci_gateway.adapters.options.AdapterOptions`)."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from tci_gateway.adapters.toolkit import AdapterOptions, CodeTable, parse_status_overrides
from tci_gateway.domain.cover import CoverStatus


class AtradiusOptions(AdapterOptions):
    """``status_overrides`` (raw code -> status name) and ``customer_id`` (the default
    for policies whose ``external_ref`` names none)."""

    status_overrides: CodeTable[CoverStatus] = CodeTable()
    customer_id: str | None = None

    @field_validator("status_overrides", mode="before")
    @classmethod
    def _overrides(cls, value: Any) -> CodeTable[CoverStatus]:
        return parse_status_overrides(value)

    @field_validator("customer_id", mode="before")
    @classmethod
    def _customer(cls, value: Any) -> str | None:
        return str(value) if value else None
