"""Pydantic models shaped like the Allianz Trade JSON (``fixtures/allianz/README.md``).

These models never leave the adapter: :mod:`.mapping` turns them into domain objects.
They ignore fields they do not know and keep the raw record text for provenance
(:attr:`WireModel.raw`, set by :meth:`WireModel.from_record`). Amounts are ``Decimal``
and a float amount is refused: parse JSON with ``parse_float=Decimal``. Timestamps may
be ISO 8601 with ``Z`` or an offset, or plain dates (midnight UTC).

Field names marked SYNTHETIC below are not in any public source; see
``fixtures/allianz/README.md``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from tci_gateway.adapters.wire import Amount, OptText, Text, Timestamp
from tci_gateway.adapters.wire import WireModel as SharedWireModel
from tci_gateway.adapters.wire import parse_timestamp as parse_timestamp

# -- field types ------------------------------------------------------------------------


def _count(value: Any) -> Any:
    if isinstance(value, bool | float):
        raise ValueError("expected a whole number")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


Count = Annotated[int, BeforeValidator(_count)]


class WireModel(SharedWireModel):
    """Base of every Allianz wire model: as the shared one, and fields may also be given
    by their Python name when they have an alias."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# -- auth and errors --------------------------------------------------------------------


class ErrorItem(WireModel):
    """One error of the SYNTHETIC envelope ``{"errors": [{code, message, field}]}``."""

    code: OptText = None
    message: OptText = None
    field_name: OptText = Field(default=None, alias="field")


class ErrorEnvelope(WireModel):
    """Either ``{"errors": [...]}`` or a plain ``{"message": ...}`` (gateway errors), or
    the OAuth-style ``{"error", "error_description"}``."""

    errors: list[ErrorItem] = Field(default_factory=list)
    message: OptText = None
    error: OptText = None
    error_description: OptText = None


# -- companies (buyer search) -----------------------------------------------------------


class CompanyIdentifier(WireModel):
    """An identifier of a company: ``{idTypeCode, idValue}``."""

    idTypeCode: Text
    idValue: Text


class PostCode(WireModel):
    """One entry of ``address.postCodes``."""

    postCodeValue: OptText = None


class Address(WireModel):
    """A company address (``countryCode`` is ISO 3166 alpha-2)."""

    streetName: OptText = None
    town: OptText = None
    countryCode: OptText = None
    postCodes: list[PostCode] = Field(default_factory=list)


class LegalData(WireModel):
    """The legal data of a company."""

    companyName: OptText = None


class Company(WireModel):
    """``results[].company``. ``companyIdentifiers`` in the answer is SYNTHETIC."""

    companyId: Text
    legalData: LegalData | None = None
    address: Address | None = None
    companyIdentifiers: list[CompanyIdentifier] = Field(default_factory=list)


class SearchResult(WireModel):
    """One result of ``advancedSearch``; ``score`` is SYNTHETIC."""

    company: Company
    score: Decimal | None = None


# -- policies, covers, jobs, requests ---------------------------------------------------


class PolicyKey(WireModel):
    """The policy triple: ``businessUnitCode`` + ``policyId`` + optional ``extensionId``."""

    businessUnitCode: Text
    policyId: Text
    extensionId: OptText = None


class CreditLimit(WireModel):
    """One entry of ``creditLimitsAggregation.creditLimits``. ``amount``, ``startDate``
    and ``technicalDecisionStatusCode`` are observed; ``currencyCode``, ``endDate`` and
    ``decisionDate`` are SYNTHETIC."""

    amount: Amount
    startDate: Timestamp = None
    endDate: Timestamp = None
    decisionDate: Timestamp = None
    technicalDecisionStatusCode: OptText = None
    currencyCode: OptText = None


class CreditLimitsAggregation(WireModel):
    """``creditLimitsAggregation``; its ``currencyCode`` is SYNTHETIC."""

    currencyCode: OptText = None
    creditLimits: list[CreditLimit] = Field(default_factory=list)


class CoverCompany(WireModel):
    """The company a cover is on (SYNTHETIC shape)."""

    companyId: Text
    companyName: OptText = None
    countryCode: OptText = None


class Cover(WireModel):
    """A cover from ``GET covers/{coverId}`` or ``covers/search``. ``coverId`` and the
    credit limits are observed; ``company``/``companyId``, ``policy``,
    ``coverStatusCode`` (a V2 field) and ``lastUpdateDate`` are SYNTHETIC here."""

    coverId: Text
    companyId: OptText = None
    company: CoverCompany | None = None
    policy: PolicyKey | None = None
    coverStatusCode: OptText = None
    creditLimitsAggregation: CreditLimitsAggregation | None = None
    lastUpdateDate: Timestamp = None

    @model_validator(mode="after")
    def _has_a_company(self) -> Self:
        if self.company_id is None:
            raise ValueError("a cover needs companyId (or company.companyId)")
        return self

    @property
    def company_id(self) -> str | None:
        """The company (EH id) the cover is on."""
        if self.companyId is not None:
            return self.companyId
        return self.company.companyId if self.company is not None else None

    @property
    def company_name(self) -> str:
        """The company name when the record carries it, else ``""``."""
        return (self.company.companyName or "") if self.company is not None else ""

    @property
    def limits(self) -> list[CreditLimit]:
        """The credit limits (empty when there is no aggregation)."""
        agg = self.creditLimitsAggregation
        return list(agg.creditLimits) if agg is not None else []


class JobCreated(WireModel):
    """The 202 answer to a cover request: ``{jobId}``."""

    jobId: Text


class Job(WireModel):
    """``GET jobs/{jobId}``: ``jobStatusCode`` pending|processed and ``resourceUrl``."""

    jobId: OptText = None
    jobStatusCode: Text
    resourceUrl: OptText = None


class CreditLimitDetails(WireModel):
    """``creditLimitDetails`` of a cover request."""

    requestedAmount: Amount | None = None
    currencyCode: OptText = None


class CoverRequestRecord(WireModel):
    """A record of ``coverRequests/search``: ``requestId``, ``creditLimitDetails``,
    ``creationDate``, ``lastUpdateDate``, ``coverId`` and ``requestStatusCode`` are
    observed; ``companyId``/``company`` and ``requestTypeCode`` are SYNTHETIC here. The
    client reference field is read from the raw record (its name is an option)."""

    requestId: Text
    requestStatusCode: Text
    requestTypeCode: OptText = None
    companyId: OptText = None
    company: CoverCompany | None = None
    creditLimitDetails: CreditLimitDetails | None = None
    creationDate: Timestamp = None
    lastUpdateDate: Timestamp = None
    coverId: OptText = None

    @property
    def company_id(self) -> str | None:
        """The company (EH id) the request is for, when the record says."""
        if self.companyId is not None:
            return self.companyId
        return self.company.companyId if self.company is not None else None


# -- overdues (all SYNTHETIC: the Payment Overdues API is not public) -------------------


class OverdueRecord(WireModel):
    """A filed overdue: ``{overdueId, overdueStatusCode, ...}`` (SYNTHETIC)."""

    overdueId: Text
    overdueStatusCode: OptText = None
    overdueCategoryTypeCode: OptText = None
    creationDate: Timestamp = None


# -- webhooks ---------------------------------------------------------------------------


class Notification(WireModel):
    """A callback body (SYNTHETIC shape): ``{jobId, jobStatusCode, resourceUrl}``
    ("technical"), plus ``cover`` when ``extendedNotification`` ("functional")."""

    jobId: Text
    jobStatusCode: OptText = None
    resourceUrl: OptText = None
    notificationTypeCode: OptText = None
    cover: Cover | None = None
