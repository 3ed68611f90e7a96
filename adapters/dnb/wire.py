"""Pydantic models shaped like the D&B Direct+ JSON (``fixtures/dnb/README.md``).

These models never leave the adapter; :mod:`.mapping` turns them into domain objects.
D&B answers ``{}`` for a sub-object it has no data for in a country (no delinquency
score in DE or NO, no rating...): every sub-object here is optional and every field of
it too, and ``{}`` reads as "absent" (:data:`Absent`), so the mapping can say what is
missing. Codes and scores are read as text (:data:`Loose`) and parsed by the mapping.
Unknown fields are ignored; the raw record text is kept (:attr:`WireModel.raw`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from tci_gateway.adapters.wire import Absent, WireModel, as_list
from tci_gateway.adapters.wire import TextTimestamp as Timestamp

# Routes, relative to the base URL (``https://plus.dnb.com``).
TOKEN_PATH = "/v3/token"  # noqa: S105 (a route, not a secret)
MATCH_PATH = "/v1/match/cleanseMatch"
DATA_PATH = "/v1/data/duns"

EXPIRED_TOKEN_CODES = frozenset({"00040"})
"""Error codes meaning "your token has expired" (reference 2.1, H)."""


def _loose(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return value


Loose = Annotated[str | None, BeforeValidator(_loose)]


# -- auth and errors ----------------------------------------------------------------------


class ErrorDetail(WireModel):
    """One of ``errorDetails`` (an object; a bare text is read as ``description``)."""

    parameter: Loose = None
    description: Loose = None


class ErrorBody(WireModel):
    """``error{errorCode (5-digit text), errorMessage, errorDetails[]}``."""

    errorCode: Loose = None
    errorMessage: Loose = None
    errorDetails: Annotated[list[Any], BeforeValidator(as_list)] = Field(default_factory=list)


class TransactionDetail(WireModel):
    """``transactionDetail``: D&B's id of the call."""

    transactionID: Loose = None
    transactionTimestamp: Timestamp = None


class ErrorEnvelope(WireModel):
    """``{transactionDetail, error}``."""

    transactionDetail: TransactionDetail | None = None
    error: ErrorBody


# -- organization -------------------------------------------------------------------------


class Named(WireModel):
    """``{name}`` or ``{description, dnbCode}`` items."""

    name: Loose = None
    description: Loose = None
    dnbCode: Loose = None


class Country(WireModel):
    """``addressCountry``."""

    isoAlpha2Code: Loose = None
    name: Loose = None


class Street(WireModel):
    """``streetAddress``."""

    line1: Loose = None
    line2: Loose = None


class PrimaryAddress(WireModel):
    """``primaryAddress``."""

    streetAddress: Annotated[Street | None, Absent] = None
    addressLocality: Annotated[Named | None, Absent] = None
    addressRegion: Annotated[Named | None, Absent] = None
    postalCode: Loose = None
    addressCountry: Annotated[Country | None, Absent] = None


class RegistrationNumber(WireModel):
    """``registrationNumbers[]``."""

    registrationNumber: Loose = None
    typeDescription: Loose = None
    typeDnBCode: Loose = None
    isPreferredRegistrationNumber: bool | None = None


class LinkedCompany(WireModel):
    """A member of ``corporateLinkage`` (``headQuarter``, ``parent``, ``globalUltimate``)."""

    duns: Loose = None
    primaryName: Loose = None


class CorporateLinkage(WireModel):
    """``corporateLinkage``; ``familytreeRolesPlayed`` says e.g. "Branch/Division"."""

    familytreeRolesPlayed: Annotated[list[Named], BeforeValidator(as_list)] = Field(
        default_factory=list
    )
    headQuarter: Annotated[LinkedCompany | None, Absent] = None
    parent: Annotated[LinkedCompany | None, Absent] = None
    domesticUltimate: Annotated[LinkedCompany | None, Absent] = None
    globalUltimate: Annotated[LinkedCompany | None, Absent] = None


class Score(WireModel):
    """``failureScore`` / ``delinquencyScore``."""

    classScore: Loose = None
    classScoreDescription: Loose = None
    nationalPercentile: Loose = None
    scoreDate: Timestamp = None


class StandardRating(WireModel):
    """``standardRating{financialStrength, riskSegment, rating (e.g. "5A2", "BB4")}``."""

    rating: Loose = None
    financialStrength: Loose = None
    riskSegment: Loose = None
    scoreDate: Timestamp = None


class MoneyAmount(WireModel):
    """``{value, currency}``."""

    value: Loose = None
    currency: Loose = None


class CreditLimitRecommendation(WireModel):
    """``creditLimitRecommendation``."""

    assessmentDate: Timestamp = None
    maximumRecommendedLimit: Annotated[MoneyAmount | None, Absent] = None
    averageRecommendedLimit: Annotated[MoneyAmount | None, Absent] = None


class DnbAssessment(WireModel):
    """``dnbAssessment`` (financialstrengthinsight block)."""

    failureScore: Annotated[Score | None, Absent] = None
    delinquencyScore: Annotated[Score | None, Absent] = None
    standardRating: Annotated[StandardRating | None, Absent] = None
    creditLimitRecommendation: Annotated[CreditLimitRecommendation | None, Absent] = None


class Organization(WireModel):
    """``organization``: identity (companyinfo) plus whichever risk blocks were asked."""

    duns: Annotated[str, BeforeValidator(_loose)]
    primaryName: Loose = None
    tradeStyleNames: Annotated[list[Named], BeforeValidator(as_list)] = Field(default_factory=list)
    countryISOAlpha2Code: Loose = None
    primaryAddress: Annotated[PrimaryAddress | None, Absent] = None
    registrationNumbers: Annotated[list[RegistrationNumber], BeforeValidator(as_list)] = Field(
        default_factory=list
    )
    corporateLinkage: Annotated[CorporateLinkage | None, Absent] = None
    dunsControlStatus: Annotated[dict[str, Any] | None, Absent] = None
    dnbAssessment: Annotated[DnbAssessment | None, Absent] = None
    businessTrading: Annotated[list[dict[str, Any]], BeforeValidator(as_list)] = Field(
        default_factory=list
    )


class BlockStatus(WireModel):
    """``blockStatus[]``: whether each asked block came back (``ok``)."""

    blockID: Loose = None
    status: Loose = None
    reason: Loose = None


class DataReply(WireModel):
    """``GET /v1/data/duns/{duns}`` -> ``{transactionDetail, inquiryDetail, blockStatus,
    organization}``."""

    transactionDetail: TransactionDetail | None = None
    blockStatus: Annotated[list[BlockStatus], BeforeValidator(as_list)] = Field(
        default_factory=list
    )
    organization: Organization


# -- match --------------------------------------------------------------------------------


class MatchQuality(WireModel):
    """``matchQualityInformation{confidenceCode 0-10, matchGrade, matchDataProfile}``."""

    confidenceCode: int | None = None
    matchGrade: Loose = None
    matchDataProfile: Loose = None


class MatchCandidate(WireModel):
    """One of ``matchCandidates[]``."""

    displaySequence: int | None = None
    matchQualityInformation: Annotated[MatchQuality | None, Absent] = None
    organization: Organization


class MatchReply(WireModel):
    """``GET /v1/match/cleanseMatch`` (candidates validated one by one)."""

    transactionDetail: TransactionDetail | None = None
    candidatesMatchedQuantity: int | None = None
    matchCandidates: Annotated[list[Any], BeforeValidator(as_list)] = Field(default_factory=list)
