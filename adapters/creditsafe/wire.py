"""Pydantic models shaped like the Creditsafe Connect JSON (``fixtures/creditsafe/README.md``).

These models never leave the adapter; :mod:`.mapping` turns them into domain objects.
Creditsafe writes numbers as text and text where numbers are expected (a credit limit
of ``"Credit Limit not applicable"``, a provider score of ``"Not Rated"``), so every
such field is read as text (:data:`Loose`) and parsed by the mapping, which records
what it could not read instead of failing. Unknown fields are ignored; the raw record
text is kept (:attr:`WireModel.raw`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from tci_gateway.adapters.wire import Absent, WireModel, as_list
from tci_gateway.adapters.wire import TextTimestamp as Timestamp

# Routes, relative to the base URL (``https://connect.creditsafe.com/v1``).
TOKEN_PATH = "/authenticate"  # noqa: S105 (a route, not a secret)
COMPANIES_PATH = "/companies"
CRITERIA_PATH = "/companies/searchcriteria"


def _loose(value: Any) -> Any:
    """Numbers and text both become stripped text (exactly: Decimal to str)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict) and "value" in value:  # {"value": "..."} seen in the wild
        return _loose(value["value"])
    return value


Loose = Annotated[str | None, BeforeValidator(_loose)]
Texts = Annotated[list[Loose], BeforeValidator(as_list)]


# -- auth and errors ----------------------------------------------------------------------


class ErrorEnvelope(WireModel):
    """``{correlationId, message, details}``; ``details`` may be text or a list."""

    correlationId: Loose = None
    message: Loose = None
    details: Texts = Field(default_factory=list)


# -- search -------------------------------------------------------------------------------


class SearchAddress(WireModel):
    """``address`` of a search result."""

    simpleValue: Loose = None
    street: Loose = None
    houseNo: Loose = None
    city: Loose = None
    postCode: Loose = None
    province: Loose = None


class SearchCompany(WireModel):
    """One of ``companies[]``: ``id`` is the connectId (e.g. ``GB-0-01234567``)."""

    id: str
    country: Loose = None
    regNo: Loose = None
    safeNo: Loose = None
    vatNo: Texts = Field(default_factory=list)
    name: Loose = None
    address: Annotated[SearchAddress | None, Absent] = None
    status: Loose = None
    type: Loose = None
    officeType: Loose = None
    tradingNames: Texts = Field(default_factory=list)
    dateOfLatestChange: Timestamp = None


class SearchReply(WireModel):
    """``GET /companies`` -> ``{totalSize, companies[]}`` (records validated one by one)."""

    correlationId: Loose = None
    totalSize: int | None = None
    companies: list[Any] = Field(default_factory=list)


# -- report -------------------------------------------------------------------------------


class CompanyStatus(WireModel):
    """``companyStatus``: ``status`` (``Active``, ``NonActive``...) and a description."""

    status: Loose = None
    description: Loose = None


class BasicInformation(WireModel):
    """``companyIdentification.basicInformation``."""

    businessName: Loose = None
    registeredCompanyName: Loose = None
    companyRegistrationNumber: Loose = None
    vatRegistrationNumber: Loose = None
    country: Loose = None
    companyRegistrationDate: Timestamp = None
    companyStatus: Annotated[CompanyStatus | None, Absent] = None


class CompanyIdentification(WireModel):
    """``companyIdentification``."""

    basicInformation: Annotated[BasicInformation | None, Absent] = None


class Address(WireModel):
    """``contactInformation.mainAddress``."""

    simpleValue: Loose = None
    street: Loose = None
    city: Loose = None
    postalCode: Loose = None
    province: Loose = None
    country: Loose = None


class ContactInformation(WireModel):
    """``contactInformation``."""

    mainAddress: Annotated[Address | None, Absent] = None


class Amount(WireModel):
    """``{currency, value}``: ``value`` may be a number, a numeric text or prose."""

    currency: Loose = None
    value: Loose = None


class ProviderValue(WireModel):
    """``providerValue{value, minValue, maxValue}`` (the 0-100 score, or prose)."""

    value: Loose = None
    minValue: Loose = None
    maxValue: Loose = None


class CreditRating(WireModel):
    """``currentCreditRating`` / ``previousCreditRating``."""

    commonValue: Loose = None
    commonDescription: Loose = None
    creditLimit: Annotated[Amount | None, Absent] = None
    providerValue: Annotated[ProviderValue | None, Absent] = None
    providerDescription: Loose = None


class CreditScore(WireModel):
    """``creditScore``."""

    currentCreditRating: Annotated[CreditRating | None, Absent] = None
    currentContractLimit: Annotated[Amount | None, Absent] = None
    previousCreditRating: Annotated[CreditRating | None, Absent] = None
    latestRatingChangeDate: Timestamp = None


class Report(WireModel):
    """``report`` of ``GET /companies/{connectId}``."""

    companyId: str
    language: Loose = None
    companyIdentification: Annotated[CompanyIdentification | None, Absent] = None
    contactInformation: Annotated[ContactInformation | None, Absent] = None
    creditScore: Annotated[CreditScore | None, Absent] = None


class ReportReply(WireModel):
    """``{correlationId, report, dateOfOrder?, failedSections?}``."""

    correlationId: Loose = None
    dateOfOrder: Timestamp = None
    failedSections: Texts = Field(default_factory=list)
    report: Report
