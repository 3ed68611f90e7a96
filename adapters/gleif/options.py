"""The GLEIF adapter's options (one pydantic model, see
:class:`~tci_gateway.adapters.options.AdapterOptions`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from tci_gateway.adapters.toolkit import AdapterOptions, option, whole_number

from .mapping import DEFAULT_AUTHORITIES, RegistrationAuthority, parse_authorities
from .wire import FILTER_FULLTEXT, FILTER_LEGAL_NAME

NAME_SEARCH_FILTERS = {"fulltext": FILTER_FULLTEXT, "legalName": FILTER_LEGAL_NAME}
MAX_PAGE_SIZE = 200
"""Unverified cap (``fixtures/gleif/README.md``, L): ``page_size`` is configurable below it."""


def _authorities(value: Any, name: str) -> dict[str, RegistrationAuthority]:
    return parse_authorities(value)


def _name_search(value: Any, name: str) -> str:
    if str(value) not in NAME_SEARCH_FILTERS:
        raise ValueError(f"{name} must be fulltext or legalName")
    return str(value)


def _truthy(value: Any, name: str) -> bool:
    return bool(value)


class GleifOptions(AdapterOptions):
    """``registration_authorities`` (RA code -> scheme, merged over
    :data:`.mapping.DEFAULT_AUTHORITIES`), ``name_search`` (``"fulltext"``, the default,
    or ``"legalName"``), ``page_size`` (10), ``max_pages`` (1) and ``parents_in_search``
    (``False``: parents cost two calls per candidate, so only ``get_company`` reads
    them)."""

    registration_authorities: Annotated[dict[str, RegistrationAuthority], option(_authorities)] = (
        Field(default_factory=lambda: dict(DEFAULT_AUTHORITIES))
    )
    name_search: Annotated[str, option(_name_search)] = "fulltext"
    page_size: Annotated[int, option(whole_number, maximum=MAX_PAGE_SIZE)] = 10
    max_pages: Annotated[int, option(whole_number, maximum=100)] = 1
    parents_in_search: Annotated[bool, option(_truthy)] = False

    @property
    def name_filter(self) -> str:
        """The query parameter a name search uses."""
        return NAME_SEARCH_FILTERS[self.name_search]
