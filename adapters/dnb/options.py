"""The D&B Direct+ adapter's options (one pydantic model, see
:class:`~tci_gateway.adapters.options.AdapterOptions`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from tci_gateway.adapters.toolkit import AdapterOptions, option, optional_text, whole_number
from tci_gateway.domain.identifiers import Scheme

from .mapping import DEFAULT_PAYDEX_PATH, DEFAULT_REGISTRATION_TYPES, parse_registration_types

COMPANY_BLOCKS = ("companyinfo_L2_v1",)
ASSESSMENT_BLOCKS = ("companyinfo_L2_v1", "financialstrengthinsight_L2_v1", "paymentinsight_L1_v1")


def _types(value: Any, name: str) -> dict[str, Scheme]:
    try:
        return parse_registration_types(value)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _threshold(value: Any, name: str) -> int | None:
    return None if value is None else whole_number(value, name, minimum=0, maximum=10)


def _blocks(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    blocks = tuple(str(v) for v in value if str(v).strip())
    if not blocks:
        raise ValueError(f"D&B option {name} needs at least one block ID")
    return blocks


def _paydex(value: Any, name: str) -> str:
    return str(value or DEFAULT_PAYDEX_PATH)


Blocks = Annotated[tuple[str, ...], option(_blocks)]
OptionalText = Annotated[str | None, option(optional_text)]


class DnbOptions(AdapterOptions):
    """``registration_types`` (type key -> scheme, merged over
    :data:`.mapping.DEFAULT_REGISTRATION_TYPES`), ``candidate_maximum`` (10),
    ``confidence_threshold`` (none: every candidate comes back; D&B's own lower level),
    ``company_blocks`` and ``assessment_blocks`` (block IDs, a list or a comma-separated
    string), ``order_reason`` (sent as ``orderReason`` when set; some countries need
    one), ``trade_up`` (``"hq"`` to read a branch's headquarters) and ``paydex_path``."""

    registration_types: Annotated[dict[str, Scheme], option(_types)] = Field(
        default_factory=lambda: dict(DEFAULT_REGISTRATION_TYPES)
    )
    candidate_maximum: Annotated[int, option(whole_number, maximum=25)] = 10
    confidence_threshold: Annotated[int | None, option(_threshold)] = None
    company_blocks: Blocks = COMPANY_BLOCKS
    assessment_blocks: Blocks = ASSESSMENT_BLOCKS
    order_reason: OptionalText = None
    trade_up: OptionalText = None
    paydex_path: Annotated[str, option(_paydex)] = DEFAULT_PAYDEX_PATH
