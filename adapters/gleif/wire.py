"""Pydantic models shaped like the GLEIF LEI API JSON (``fixtures/gleif/README.md``).

JSON:API documents: ``{"meta": {...}, "links": {...}, "data": <resource or list>}``; a
resource is ``{"type", "id", "attributes", "relationships", "links"}``. Errors are
``{"errors": [{"status", "title", "detail"}]}``. These models never leave the adapter;
:mod:`.mapping` turns them into domain objects. Unknown fields are ignored, optional
ones may be ``null``, and the raw record text is kept (:attr:`WireModel.raw`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from tci_gateway.adapters.wire import OptText, WireModel
from tci_gateway.adapters.wire import TextTimestamp as Timestamp

# Routes, relative to the base URL (``https://api.gleif.org/api/v1``).
RECORDS_PATH = "/lei-records"
FUZZY_PATH = "/fuzzycompletions"
DIRECT_PARENT = "direct-parent"
ULTIMATE_PARENT = "ultimate-parent"
FILTER_FULLTEXT = "filter[fulltext]"
FILTER_LEGAL_NAME = "filter[entity.legalName]"
FILTER_COUNTRY = "filter[entity.legalAddress.country]"
FILTER_REGISTERED_AS = "filter[entity.registeredAs]"
FILTER_LEI = "filter[lei]"
PAGE_NUMBER = "page[number]"
PAGE_SIZE = "page[size]"


def _list(value: Any) -> Any:
    return [] if value is None else value


# -- records ------------------------------------------------------------------------------


class Name(WireModel):
    """``legalName`` or one of ``otherNames`` (with a ``type`` such as
    ``TRADING_OR_OPERATING_NAME``)."""

    name: OptText = None
    language: OptText = None
    type: OptText = None


class Address(WireModel):
    """``legalAddress`` / ``headquartersAddress``: ``region`` is ISO 3166-2, ``country``
    ISO 3166-1 alpha-2."""

    addressLines: Annotated[list[str], BeforeValidator(_list)] = Field(default_factory=list)
    city: OptText = None
    region: OptText = None
    country: OptText = None
    postalCode: OptText = None


class Coded(WireModel):
    """``{id, other}``: a code from a GLEIF list (``registeredAt``, ``legalForm``)."""

    id: OptText = None
    other: OptText = None


class Expiration(WireModel):
    """When and why an entity became INACTIVE (``DISSOLVED``, ``CORPORATE_ACTION``...)."""

    date: Timestamp = None
    reason: OptText = None


class Successor(WireModel):
    """``successorEntity``: the entity that took over an inactive one."""

    lei: OptText = None
    name: OptText = None


class Entity(WireModel):
    """``attributes.entity``. ``status`` is ACTIVE or INACTIVE."""

    legalName: Name | None = None
    otherNames: Annotated[list[Name], BeforeValidator(_list)] = Field(default_factory=list)
    legalAddress: Address | None = None
    headquartersAddress: Address | None = None
    registeredAt: Coded | None = None
    registeredAs: OptText = None
    jurisdiction: OptText = None
    category: OptText = None
    legalForm: Coded | None = None
    status: OptText = None
    expiration: Expiration | None = None
    successorEntity: Successor | None = None


class Registration(WireModel):
    """``attributes.registration``: the LEI record's own state (ISSUED, LAPSED...), not
    the company's."""

    initialRegistrationDate: Timestamp = None
    lastUpdateDate: Timestamp = None
    status: OptText = None
    nextRenewalDate: Timestamp = None
    managingLou: OptText = None
    corroborationLevel: OptText = None


class Attributes(WireModel):
    """``attributes`` of a ``lei-records`` resource."""

    lei: OptText = None
    entity: Entity
    registration: Registration | None = None
    bic: Annotated[list[str], BeforeValidator(_list)] = Field(default_factory=list)


class LeiRecord(WireModel):
    """One ``lei-records`` resource; ``id`` is the LEI."""

    type: OptText = None
    id: str
    attributes: Attributes


# -- documents ----------------------------------------------------------------------------


class Pagination(WireModel):
    """``meta.pagination``."""

    currentPage: int = 1
    perPage: int = 0
    from_: int | None = Field(default=None, alias="from")
    to: int | None = None
    total: int = 0
    lastPage: int = 1


class GoldenCopy(WireModel):
    """``meta.goldenCopy``: the publication the answer was read from."""

    publishDate: Timestamp = None


class Meta(WireModel):
    """``meta`` of a document."""

    goldenCopy: GoldenCopy | None = None
    pagination: Pagination | None = None


class RelatedId(WireModel):
    """``{type, id}`` inside a relationship."""

    type: OptText = None
    id: str


class Related(WireModel):
    """A relationship with its ``data``."""

    data: RelatedId | None = None


class FuzzyRelationships(WireModel):
    """``relationships`` of a fuzzy completion."""

    lei_records: Related | None = Field(default=None, alias="lei-records")


class FuzzyAttributes(WireModel):
    """``attributes`` of a fuzzy completion: the suggested ``value``."""

    value: OptText = None


class FuzzyCompletion(WireModel):
    """One ``/fuzzycompletions`` suggestion: a name and, usually, the LEI it belongs to."""

    type: OptText = None
    attributes: FuzzyAttributes
    relationships: FuzzyRelationships | None = None


class ErrorItem(WireModel):
    """One JSON:API error (``status`` is a string)."""

    status: OptText = None
    code: OptText = None
    title: OptText = None
    detail: OptText = None


class ErrorEnvelope(WireModel):
    """``{"errors": [...]}``."""

    errors: list[ErrorItem]
