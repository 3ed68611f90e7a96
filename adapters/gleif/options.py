"""The GLEIF adapter's options (one pydantic model, see
:class:`~tci_gateway.adapters.options.AdapterOptions`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from tci_gateway.adapters.toolkit import AdapterOptions, whole_number

from .mapping import DEFAULT_AUTHORITIES, RegistrationAuthority, parse_authorities
from .wire import FILTER_FULLTEXT, FILTER_LEGAL_NAME

NAME_SEARCH_FILTERS = {"fulltext": FILTER_FULLTEXT, "legalName": FILTER_LEGAL_NAME}
MAX_PAGE_SIZE = 200
"""Unverified cap (``fixtures/gleif/README.md``, L): ``page_size`` is configurable below it."""


class GleifOptions(AdapterOptions):
    """``registration_authorities`` (RA code -> scheme, merged over
    :data:`.mapping.DEFAULT_AUTHORITIES`), ``name_search`` (``"fulltext"``, the default,
    or ``"legalName"``), ``page_size`` (10), ``max_pages`` (1) and ``parents_in_search``
    (``False``: parents cost two calls per candidate, so only ``get_company`` reads
    them)."""

    registration_authorities: dict[str, RegistrationAuthority] = Field(
        default_factory=lambda: dict(DEFAULT_AUTHORITIES)
    )
    name_search: str = "fulltext"
    page_size: int = 10
    max_pages: int = 1
    parents_in_search: bool = False

    @property
    def name_filter(self) -> str:
        """The query parameter a name search uses."""
        return NAME_SEARCH_FILTERS[self.name_search]

    @field_validator("registration_authorities", mode="before")
    @classmethod
    def _authorities(cls, value: Any) -> dict[str, RegistrationAuthority]:
        return parse_authorities(value)

    @field_validator("name_search", mode="before")
    @classmethod
    def _name_search(cls, value: Any) -> str:
        if str(value) not in NAME_SEARCH_FILTERS:
            raise ValueError("name_search must be fulltext or legalName")
        return str(value)

    @field_validator("page_size", mode="before")
    @classmethod
    def _page_size(cls, value: Any) -> int:
        return whole_number(value, "page_size", maximum=MAX_PAGE_SIZE)

    @field_validator("max_pages", mode="before")
    @classmethod
    def _max_pages(cls, value: Any) -> int:
        return whole_number(value, "max_pages", maximum=100)

    @field_validator("parents_in_search", mode="before")
    @classmethod
    def _parents(cls, value: Any) -> bool:
        return bool(value)
