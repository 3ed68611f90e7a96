"""The Creditsafe adapter's options (one pydantic model, see
:class:`~tci_gateway.adapters.options.AdapterOptions`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator

from tci_gateway.adapters.contract import CompanyStatus
from tci_gateway.adapters.toolkit import AdapterOptions, whole_number
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


def _table(parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except TypeError as exc:  # dict() of something that is not a table
        raise ValueError(str(exc)) from None


class CreditsafeOptions(AdapterOptions):
    """``page_size`` (10), ``language`` (``"en"``), ``status_map`` (status text ->
    status name, merged over :data:`.mapping.DEFAULT_STATUS_MAP`), ``rating_bands``
    (band -> ``[low, high]``, replacing :data:`.mapping.DEFAULT_BANDS`),
    ``registration_schemes`` (country -> scheme of ``regNo``), ``token_lifetime``
    (3600 s, used when the JWT cannot be read) and ``token_prefix`` (``""``: the bare
    token in ``Authorization``)."""

    status_map: dict[str, CompanyStatus] = Field(default_factory=lambda: dict(DEFAULT_STATUS_MAP))
    rating_bands: dict[str, tuple[int, int] | None] = Field(
        default_factory=lambda: dict(DEFAULT_BANDS)
    )
    registration_schemes: dict[str, Scheme] = Field(
        default_factory=lambda: dict(DEFAULT_REGISTRATION_SCHEMES)
    )
    page_size: int = 10
    language: str = "en"
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME
    token_prefix: str = ""

    @field_validator("status_map", mode="before")
    @classmethod
    def _statuses(cls, value: Any) -> dict[str, CompanyStatus]:
        return dict(_table(parse_status_map, value))

    @field_validator("rating_bands", mode="before")
    @classmethod
    def _bands(cls, value: Any) -> dict[str, tuple[int, int] | None]:
        return dict(_table(parse_bands, value))

    @field_validator("registration_schemes", mode="before")
    @classmethod
    def _schemes(cls, value: Any) -> dict[str, Scheme]:
        return dict(_table(parse_registration_schemes, value))

    @field_validator("page_size", mode="before")
    @classmethod
    def _page_size(cls, value: Any) -> int:
        return whole_number(value, "page_size", maximum=MAX_PAGE_SIZE)

    @field_validator("language", "token_prefix", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return str(value)

    @field_validator("token_lifetime", mode="before")
    @classmethod
    def _lifetime(cls, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or value <= 0:
            raise ValueError("token_lifetime must be positive seconds")
        return float(value)
