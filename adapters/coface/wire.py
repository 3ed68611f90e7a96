"""Pydantic models shaped like the Coface CofaServe JSON (``fixtures/coface/README.md``).

CofaServe is login-gated: only the token call and the company identification answer
are described in public material, so most shapes here are SYNTHETIC (see
``fixtures/coface/README.md`` for what is known and how well). The models therefore
ignore fields they do not know, accept ids written as numbers or text, accept dates
with or without a time, and keep the raw record text (:attr:`WireModel.raw`) for
provenance. Amounts are ``Decimal``; a float amount is refused (parse JSON with
:func:`tci_gateway.http.jsonexact.loads`).

These models never leave the adapter: :mod:`.mapping` turns them into domain objects.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from tci_gateway.adapters.wire import Amount, OptText, Text, Timestamp, WireModel
from tci_gateway.adapters.wire import parse_timestamp as parse_timestamp

# -- field types ------------------------------------------------------------------------


def parse_day(value: Any) -> Any:
    """A calendar date from ``YYYY-MM-DD`` or from a timestamp (its date as written)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text).date()
    if isinstance(value, datetime):
        return value.date()
    return value


Day = Annotated[date | None, BeforeValidator(parse_day)]


# -- auth and errors --------------------------------------------------------------------


class ErrorBody(WireModel):
    """The inside of the SYNTHETIC error envelope ``{"error": {code, message, details}}``."""

    code: OptText = None
    message: OptText = None
    details: list[Any] = Field(default_factory=list)


class ErrorEnvelope(WireModel):
    """Either the synthetic envelope or an AWS API Gateway answer ``{"message": ...}``
    (what a gateway in front of Cognito answers for a bad API key or unknown route)."""

    error: ErrorBody | None = None
    message: OptText = None


# -- companies (COMPANY service) --------------------------------------------------------


class CompanyIdentifier(WireModel):
    """One identifier of a company: ``type`` is a Coface identifier type (SIREN, VAT…)."""

    type: Text
    value: Text


class CompanyAddress(WireModel):
    """Address fields; only ``countryCode`` (alpha-3) is used. Names SYNTHETIC."""

    streetAddress: OptText = None
    city: OptText = None
    postalCode: OptText = None
    countryCode: OptText = None


class Company(WireModel):
    """A company from ``GET /companies/identifier`` or the name search. ``easyNumber``
    is Coface's buyer id (number or text on the wire, kept as text)."""

    easyNumber: Text
    companyName: Text
    countryCode: OptText = None
    address: CompanyAddress | None = None
    identifiers: list[CompanyIdentifier] = Field(default_factory=list)

    @property
    def country(self) -> str | None:
        """The country code as written: ``address.countryCode``, else ``countryCode``."""
        if self.address is not None and self.address.countryCode:
            return self.address.countryCode
        return self.countryCode


# -- credit limits (PRODUCT and NOTIFICATION services) ----------------------------------


class CreditLimit(WireModel):
    """A credit-limit record: a portfolio decision or an order (SYNTHETIC shape).

    ``decisionCode`` is the raw status (AGREED, PARTIAL_AGREEMENT, IN_PROGRESS…);
    ``amount`` the granted amount and ``requestedAmount`` the amount ordered, both in
    ``currency``. A pending order may carry no ``decisionCode`` at all."""

    orderId: OptText = None
    easyNumber: Text
    companyName: OptText = None
    countryCode: OptText = None
    decisionCode: OptText = None
    action: OptText = None
    amount: Amount | None = None
    currency: OptText = None
    requestedAmount: Amount | None = None
    effectiveDate: Day = None
    expiryDate: Day = None
    endDate: Day = None
    decisionDate: Timestamp = None
    orderDate: Timestamp = None
    customerReference: OptText = None


# -- policies (POLICY service) ----------------------------------------------------------


class PolicyRecord(WireModel):
    """``GET /policies/{policy_number}`` (SYNTHETIC shape)."""

    policyNumber: Text
    currency: Text
    status: OptText = None
    startDate: Day = None
    endDate: Day = None


# -- overdues (OVERDUE service) ---------------------------------------------------------


class OverdueRecord(WireModel):
    """An overdue declaration as the insurer holds it (SYNTHETIC shape)."""

    overdueId: Text
    status: Text
    customerReference: OptText = None
    easyNumber: OptText = None
    type: OptText = None
