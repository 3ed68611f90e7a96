"""Pydantic models shaped like the Atradius JSON (``fixtures/atradius/README.md``).

These models never leave the adapter: :mod:`.mapping` turns them into domain objects.
They ignore fields they do not know and keep the raw record text for provenance
(:attr:`WireModel.raw`, set by :meth:`WireModel.from_record`). Amounts are ``Decimal``
and a float amount is refused: parse JSON with ``parse_float=Decimal``. Timestamps may
come in UTC, with an offset such as ``+01:00``, or as plain dates (taken as midnight
UTC); they keep the offset they were written with, so ``.date()`` is the date as the
insurer wrote it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from tci_gateway.adapters.wire import Amount, OptText, Text, Timestamp, WireModel
from tci_gateway.adapters.wire import parse_timestamp as parse_timestamp
from tci_gateway.http.jsonexact import dumps

COVER_STATUS_DECISION = "DECISION"
COVER_STATUS_REFERRED = "REFERRED"

# Routes, relative to the base URL, and headers.
TOKEN_PATH = "/authenticate/v2/tokens"  # noqa: S105 (a route, not a secret)
TOKEN_PATH_V1 = "/authenticate/v1/tokens"  # noqa: S105 (also seen on UAT)
BUYERS_PATH = "/credit-insurance/organisation-management/v1/buyers"
COVERS_PATH = "/credit-insurance/cover-management/v1/covers"
HISTORIC_COVERS_PATH = COVERS_PATH + "/historic"
POLICY_DETAILS_PATH = "/credit-insurance/policy-management/v1/policies/details"
APP_KEY_HEADER = "Atradius-App-Key"
CORRELATION_HEADER = "Atradius-Correlation-Id"


# -- exact JSON -------------------------------------------------------------------------


dumps_exact = dumps
"""Kept for the adapter's own modules: the shared exact JSON writer."""


# -- field types ------------------------------------------------------------------------


def _alpha3(value: str) -> str:
    if len(value) != 3 or not value.isalpha():
        raise ValueError(f"expected an ISO 3166 alpha-3 country code, got {value!r}")
    return value.upper()


Code = Text  # a code as the insurer wrote it (stripped); compare case-insensitively
OptCode = OptText
Alpha3 = Annotated[str, AfterValidator(_alpha3)]


# -- auth and errors --------------------------------------------------------------------


class ErrorSource(WireModel):
    """Which request parameter an error is about."""

    parameter: OptText = None


class ErrorItem(WireModel):
    """One error of the envelope."""

    detail: str = ""
    source: ErrorSource | None = None
    code: OptText = None


class ErrorEnvelope(WireModel):
    """``{errors: [{detail, source: {parameter}}]}``."""

    errors: list[ErrorItem]


# -- buyers -----------------------------------------------------------------------------


class UniqueIdentifier(WireModel):
    """A buyer identifier; ``uidType`` is one of VAT, NRN, CR, DB, FC, SN, TK."""

    uid: Text
    uidType: Code
    uidTypeDescription: OptText = None


class BuyerAddress(WireModel):
    """Address fields: names not confirmed by a recorded payload."""

    street: OptText = None
    city: OptText = None
    postalCode: OptText = None


class Buyer(WireModel):
    """A buyer from ``organisation-management/v1/buyers``; ``buyerId`` is numeric."""

    buyerId: int
    buyerName: Text
    country: Alpha3
    uniqueIdentifiers: list[UniqueIdentifier] = Field(default_factory=list)
    currentBuyerRating: OptText = None
    currentBuyerRatingClass: OptText = None
    previousBuyerRating: OptText = None
    buyerRatingChange: OptText = None
    address: BuyerAddress | None = None


# -- covers -----------------------------------------------------------------------------


class DecisionCondition(WireModel):
    """A condition attached to a tranche of a decision."""

    conditionCode: Code
    conditionDescription: OptText = None
    conditionType: OptText = None


class TotalDecision(WireModel):
    """The amount granted, in the policy currency and in the user's currency."""

    decisionAmtInPolicyCurrency: Amount | None = None
    decisionAmtInUserCurrency: Amount | None = None


class AmtDecision(WireModel):
    """One tranche of a decision, with its own expiry and conditions."""

    decisionAmtInPolicyCurrency: Amount
    decisionAmtInUserCurrency: Amount | None = None
    decisionExpiryDate: Timestamp = None
    decisionConditions: list[DecisionCondition] = Field(default_factory=list)


class Cover(WireModel):
    """A cover record from ``cover-management/v1/covers`` (a decision or an application)."""

    coverId: Text
    policyId: Text
    customerId: OptText = None
    buyerId: int
    buyerName: OptText = None
    coverType: Code
    coverStatus: Code
    decisionCode: OptCode = None
    historicCode: OptCode = None
    pendingProcessIndicator: OptCode = None
    creditLimitApplicationAmountInPolicyCurrency: Amount | None = None
    totalDecision: TotalDecision | None = None
    firstAmtDecision: AmtDecision | None = None
    secondAmtDecision: AmtDecision | None = None
    applicationDate: Timestamp = None
    decisionDate: Timestamp = None
    effectFromDate: Timestamp = None
    withdrawalDate: Timestamp = None
    effectiveToDate: Timestamp = None
    policyCurrency: OptCode = None
    customerRefNumber: OptText = None

    @model_validator(mode="after")
    def _decision_has_a_code(self) -> Self:
        if (
            self.coverStatus.upper() == COVER_STATUS_DECISION
            and self.decisionCode is None
            and self.historicCode is None
        ):
            raise ValueError("a DECISION record needs a decisionCode or a historicCode")
        return self

    @property
    def granted_in_policy_currency(self) -> Decimal | None:
        """``totalDecision.decisionAmtInPolicyCurrency`` when given."""
        if self.totalDecision is None:
            return None
        return self.totalDecision.decisionAmtInPolicyCurrency


# -- policies ---------------------------------------------------------------------------


class PolicyDetails(WireModel):
    """``policy-management/v1/policies/details``: ``{data: {...}}``."""

    policyId: Text
    policyStatus: OptText = None
    policyStartDate: Timestamp = None
    policyExpiryDate: Timestamp = None
    policyCurrency: Code
