"""The D&B Direct+ adapter's options (one pydantic model, see
:class:`~tci_gateway.adapters.options.AdapterOptions`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from tci_gateway.adapters.toolkit import AdapterOptions, whole_number
from tci_gateway.domain.identifiers import Scheme

from .mapping import DEFAULT_PAYDEX_PATH, DEFAULT_REGISTRATION_TYPES, parse_registration_types

COMPANY_BLOCKS = ("companyinfo_L2_v1",)
ASSESSMENT_BLOCKS = ("companyinfo_L2_v1", "financialstrengthinsight_L2_v1", "paymentinsight_L1_v1")


class DnbOptions(AdapterOptions):
    """``registration_types`` (type key -> scheme, merged over
    :data:`.mapping.DEFAULT_REGISTRATION_TYPES`), ``candidate_maximum`` (10),
    ``confidence_threshold`` (none: every candidate comes back; D&B's own lower level),
    ``company_blocks`` and ``assessment_blocks`` (block IDs, a list or a comma-separated
    string), ``order_reason`` (sent as ``orderReason`` when set; some countries need
    one), ``trade_up`` (``"hq"`` to read a branch's headquarters) and ``paydex_path``."""

    registration_types: dict[str, Scheme] = Field(
        default_factory=lambda: dict(DEFAULT_REGISTRATION_TYPES)
    )
    candidate_maximum: int = 10
    confidence_threshold: int | None = None
    company_blocks: tuple[str, ...] = COMPANY_BLOCKS
    assessment_blocks: tuple[str, ...] = ASSESSMENT_BLOCKS
    order_reason: str | None = None
    trade_up: str | None = None
    paydex_path: str = DEFAULT_PAYDEX_PATH

    @field_validator("registration_types", mode="before")
    @classmethod
    def _types(cls, value: Any) -> dict[str, Scheme]:
        try:
            return parse_registration_types(value)
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("candidate_maximum", mode="before")
    @classmethod
    def _maximum(cls, value: Any) -> int:
        return whole_number(value, "candidate_maximum", maximum=25)

    @field_validator("confidence_threshold", mode="before")
    @classmethod
    def _threshold(cls, value: Any) -> int | None:
        if value is None:
            return None
        return whole_number(value, "confidence_threshold", minimum=0, maximum=10)

    @field_validator("company_blocks", "assessment_blocks", mode="before")
    @classmethod
    def _blocks(cls, value: Any, info: ValidationInfo) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        blocks = tuple(str(v) for v in value if str(v).strip())
        if not blocks:
            raise ValueError(f"D&B option {info.field_name} needs at least one block ID")
        return blocks

    @field_validator("order_reason", "trade_up", mode="before")
    @classmethod
    def _optional(cls, value: Any) -> str | None:
        return str(value) if value else None

    @field_validator("paydex_path", mode="before")
    @classmethod
    def _paydex(cls, value: Any) -> str:
        return str(value or DEFAULT_PAYDEX_PATH)
