"""The Creditsafe adapter's options (one pydantic model, see
:class:`~tci_gateway.adapters.options.AdapterOptions`)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from tci_gateway.adapters.contract import CompanyStatus
from tci_gateway.adapters.toolkit import AdapterOptions, option, plain_text, whole_number
from tci_gateway.domain.identifiers import Scheme

from .auth import DEFAULT_TOKEN_LIFETIME
from .mapping import (
    DEFAULT_BANDS,
    DEFAULT_REGISTRATION_SCHEMES,
    DEFAULT_STATUS_MAP,
    parse_bands,
    parse_registration_schemes,
    parse_status_map,
)

MAX_PAGE_SIZE = 100  # unverified (L)


def _table(value: Any, name: str, *, parse: Callable[[Any], Any]) -> Any:
    try:
        return dict(parse(value))
    except TypeError as exc:  # dict() of something that is not a table
        raise ValueError(str(exc)) from None


def _lifetime(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or value <= 0:
        raise ValueError(f"{name} must be positive seconds")
    return float(value)


class CreditsafeOptions(AdapterOptions):
    """``page_size`` (10), ``language`` (``"en"``), ``status_map`` (status text ->
    status name, merged over :data:`.mapping.DEFAULT_STATUS_MAP`), ``rating_bands``
    (band -> ``[low, high]``, replacing :data:`.mapping.DEFAULT_BANDS`),
    ``registration_schemes`` (country -> scheme of ``regNo``), ``token_lifetime``
    (3600 s, used when the JWT cannot be read) and ``token_prefix`` (``""``: the bare
    token in ``Authorization``)."""

    status_map: Annotated[dict[str, CompanyStatus], option(_table, parse=parse_status_map)] = Field(
        default_factory=lambda: dict(DEFAULT_STATUS_MAP)
    )
    rating_bands: Annotated[
        dict[str, tuple[int, int] | None], option(_table, parse=parse_bands)
    ] = Field(default_factory=lambda: dict(DEFAULT_BANDS))
    registration_schemes: Annotated[
        dict[str, Scheme], option(_table, parse=parse_registration_schemes)
    ] = Field(default_factory=lambda: dict(DEFAULT_REGISTRATION_SCHEMES))
    page_size: Annotated[int, option(whole_number, maximum=MAX_PAGE_SIZE)] = 10
    language: Annotated[str, option(plain_text)] = "en"
    token_lifetime: Annotated[float, option(_lifetime)] = DEFAULT_TOKEN_LIFETIME
    token_prefix: Annotated[str, option(plain_text)] = ""
