"""D&B organizations, match candidates and risk blocks to domain objects (pure).

**Crosswalk**: ``registrationNumbers[{registrationNumber, typeDescription, typeDnBCode}]``
through a configurable type table (:func:`parse_registration_types`): a key of digits
matches ``typeDnBCode``, any other key is looked for (case-insensitively) inside
``typeDescription``. A SIRET (14 digits) gives its SIREN (its first 9 digits). An
unknown type is skipped; a number that fails validation is skipped and noted.

**Entity level**: a DUNS whose linkage names a headquarters other than itself, or whose
family-tree role says "Branch", is a site (``is_site=True``): never a buyer; its
headquarters DUNS is its ``direct_parent``. Otherwise ``direct_parent`` is the linkage
``parent``; ``ultimate_parent`` is the ``globalUltimate`` when it is another DUNS.

**Match quality**: the confidence code (0-10) and the match grade are kept raw on the
candidate (``confidence``, ``match_grade``), ``rank`` is ``displaySequence``.

**Assessment**: failure class (``score_raw``), failure national percentile
(``failure_score``), standard rating (``band``), PAYDEX, recommended limit. D&B answers
``{}`` for what it lacks in a country; every absent or unreadable part is listed in
``Assessment.missing``, nothing here raises on a block's content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tci_gateway.adapters.contract import Assessment, CompanyCandidate, CompanyStatus
from tci_gateway.adapters.toolkit import find_identifier, read_identifier
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.domain.money import Money, is_currency

from .wire import DataReply, MatchCandidate, Organization, RegistrationNumber

SCALE = "D&B failure class 1-5 (1 lowest risk); standard rating; PAYDEX 0-100"

DEFAULT_REGISTRATION_TYPES: dict[str, Scheme] = {
    "2541": Scheme.GB_CRN,  # M: "COMPANIES REGISTRY OFFICE Number (GB)", public UK code
    "2550": Scheme.VAT,  # M: "Value Added Tax Number (GB)", same source
    "32476": Scheme.CN_USCC,  # M: "United Social Credit Code (CN)", a public payload
    "companies registry office number": Scheme.GB_CRN,  # M (description of 2541)
    "united social credit code": Scheme.CN_USCC,  # M (description of 32476)
    "siren": Scheme.FR_SIREN,  # L: no recorded FR payload; matched inside the text
    "siret": Scheme.FR_SIREN,  # L: a SIRET is a site: its first 9 digits are the SIREN
    "value added tax": Scheme.VAT,  # M: description prefix of VAT types
}
"""Registration type key -> scheme: digits match ``typeDnBCode``, other keys are
searched inside ``typeDescription`` (case-insensitive), in this order."""

DEFAULT_PAYDEX_PATH = "businessTrading.0.summary.0.paydexScore"
"""Where PAYDEX sits in the paymentinsight block (L: unverified, configurable)."""

BRANCH_ROLE = re.compile(r"branch", re.IGNORECASE)
OUT_OF_BUSINESS = re.compile(r"out of business|inactive", re.IGNORECASE)
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def parse_registration_types(option: Any) -> dict[str, Scheme]:
    """:data:`DEFAULT_REGISTRATION_TYPES` updated by ``option`` (key -> scheme name, or
    ``None`` to drop a key). Raises ``ValueError`` naming the bad entry."""
    table = dict(DEFAULT_REGISTRATION_TYPES)
    for raw_key, scheme in dict(option or {}).items():
        key = str(raw_key).strip().casefold()
        if scheme is None:
            table.pop(key, None)
            continue
        try:
            table[key] = Scheme(str(scheme).upper())
        except ValueError:
            raise ValueError(f"registration_types: unknown scheme {scheme!r}") from None
    return table


def registration_scheme(number: RegistrationNumber, table: Mapping[str, Scheme]) -> Scheme | None:
    """The scheme of one registration number, or ``None`` when the table has no entry."""
    code = (number.typeDnBCode or "").strip()
    if code and code in table:
        return table[code]
    text = (number.typeDescription or "").casefold()
    for key, scheme in table.items():
        if not key.isdigit() and key in text:
            return scheme
    return None


def read_registration(
    number: RegistrationNumber, country: str, table: Mapping[str, Scheme]
) -> tuple[Identifier | None, str | None]:
    """``(identifier, note)`` for one ``registrationNumbers`` entry."""
    raw = number.registrationNumber
    scheme = registration_scheme(number, table)
    if not raw or scheme is None:
        return None, None
    value = raw
    if scheme is Scheme.FR_SIREN:
        digits = re.sub(r"[^0-9]", "", raw)
        value = digits[:9] if len(digits) == 14 else digits
    found, why = read_identifier(scheme, value, country)
    if why is None:
        return found, None
    kind = number.typeDescription or number.typeDnBCode or "registration number"
    return None, f"{kind} skipped: {why}"


def duns_identifier(raw: str | None) -> Identifier | None:
    """A validated DUNS, or ``None``."""
    return find_identifier(Scheme.DUNS, raw) if raw else None


@dataclass(frozen=True)
class MappedCandidate:
    """A candidate and the notes on what was skipped while mapping it."""

    candidate: CompanyCandidate
    notes: tuple[str, ...] = ()


def _status(org: Organization) -> CompanyStatus:
    control = org.dunsControlStatus or {}
    operating = control.get("operatingStatus")
    text = str(operating.get("description") or "") if isinstance(operating, dict) else ""
    if not text:
        return CompanyStatus.UNKNOWN
    if OUT_OF_BUSINESS.search(text):
        return CompanyStatus.INACTIVE
    return CompanyStatus.ACTIVE if text.strip().casefold() == "active" else CompanyStatus.UNKNOWN


def map_organization(
    org: Organization,
    provider: str,
    table: Mapping[str, Scheme],
    *,
    confidence: int | None = None,
    match_grade: str | None = None,
    rank: int | None = None,
) -> MappedCandidate:
    """An ``organization`` as a :class:`CompanyCandidate` (``provider_id`` is the DUNS).
    Raises ``ValueError`` when it has no valid DUNS, no name or no country."""
    own = duns_identifier(org.duns)
    if own is None:
        raise ValueError(f"organization with invalid DUNS {org.duns!r}")
    address = org.primaryAddress
    country_obj = address.addressCountry if address else None
    country = (
        (country_obj.isoAlpha2Code if country_obj else None) or org.countryISOAlpha2Code or ""
    ).upper()
    if not org.primaryName or len(country) != 2:
        raise ValueError(f"organization {org.duns} has no name or no country")
    found: dict[Identifier, None] = {own: None}
    notes: list[str] = []
    for number in org.registrationNumbers:
        ident, note = read_registration(number, country, table)
        if ident is not None:
            found[ident] = None
        if note:
            notes.append(note)
    linkage = org.corporateLinkage
    head = duns_identifier(linkage.headQuarter.duns) if linkage and linkage.headQuarter else None
    roles = [r.description or "" for r in linkage.familytreeRolesPlayed] if linkage else []
    is_site = (head is not None and head != own) or any(BRANCH_ROLE.search(r) for r in roles)
    parent = duns_identifier(linkage.parent.duns) if linkage and linkage.parent else None
    direct = head if is_site and head != own else parent
    ultimate = (
        duns_identifier(linkage.globalUltimate.duns) if linkage and linkage.globalUltimate else None
    )
    locality = address.addressLocality if address else None
    candidate = CompanyCandidate(
        provider=provider,
        provider_id=own.value,
        name=org.primaryName,
        country=country,
        identifiers=tuple(found),
        other_names=tuple(t.name for t in org.tradeStyleNames if t.name),
        status=_status(org),
        city=locality.name if locality else None,
        postcode=address.postalCode if address else None,
        is_site=is_site,
        confidence=confidence,
        match_grade=match_grade,
        rank=rank,
        direct_parent=direct if direct != own else None,
        ultimate_parent=ultimate if ultimate != own else None,
    )
    return MappedCandidate(candidate, tuple(notes))


def map_match_candidate(
    match: MatchCandidate, provider: str, table: Mapping[str, Scheme]
) -> MappedCandidate:
    """A cleanseMatch candidate, with its confidence code and match grade kept raw."""
    quality = match.matchQualityInformation
    return map_organization(
        match.organization,
        provider,
        table,
        confidence=quality.confidenceCode if quality else None,
        match_grade=quality.matchGrade if quality else None,
        rank=match.displaySequence,
    )


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (list indexes as numbers), or ``None``."""
    for part in path.split("."):
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _paydex(org: Organization, path: str, missing: list[str]) -> int | None:
    raw = dig({"businessTrading": org.businessTrading}, path)
    if raw is None or raw == {}:
        missing.append(f"paydex ({path})")
        return None
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.isdigit() or not 0 <= int(text) <= 100:
        missing.append(f"paydex: not a score 0-100 ({raw!r})")
        return None
    return int(text)


def _limit(org: Organization, missing: list[str]) -> Money | None:
    where = "dnbAssessment.creditLimitRecommendation.maximumRecommendedLimit"
    assessment = org.dnbAssessment
    recommendation = assessment.creditLimitRecommendation if assessment else None
    amount = recommendation.maximumRecommendedLimit if recommendation else None
    if amount is None:
        missing.append(where)
        return None
    if amount.value is None or not _NUMBER.match(amount.value) or amount.value.startswith("-"):
        missing.append(f"{where}.value: not an amount ({amount.value!r})")
        return None
    currency = (amount.currency or "").upper()
    if not is_currency(currency):
        missing.append(f"{where}.currency: {amount.currency!r}")
        return None
    return Money(Decimal(amount.value), currency)


def map_assessment(reply: DataReply, provider: str, paydex_path: str) -> Assessment:
    """The risk blocks of a data reply as an :class:`Assessment`; see the module
    docstring."""
    org = reply.organization
    missing = [
        f"block {b.blockID}: {b.status}" + (f" ({b.reason})" if b.reason else "")
        for b in reply.blockStatus
        if b.status and b.status.casefold() != "ok"
    ]
    assessment = org.dnbAssessment
    failure = assessment.failureScore if assessment else None
    rating = assessment.standardRating if assessment else None
    if assessment is None:
        missing.append("dnbAssessment")
    else:
        if failure is None or failure.classScore is None:
            missing.append(
                "dnbAssessment.failureScore" + ("" if failure is None else ".classScore")
            )
        if assessment.delinquencyScore is None:
            missing.append("dnbAssessment.delinquencyScore")
        if rating is None or rating.rating is None:
            missing.append("dnbAssessment.standardRating")
    limit = _limit(org, missing)
    paydex = _paydex(org, paydex_path, missing)
    recommendation = assessment.creditLimitRecommendation if assessment else None
    dates = [
        recommendation.assessmentDate if recommendation else None,
        failure.scoreDate if failure else None,
        reply.transactionDetail.transactionTimestamp if reply.transactionDetail else None,
    ]
    as_of = next((d.date() for d in dates if d is not None), None)
    return Assessment(
        provider=provider,
        provider_id=org.duns,
        provider_reference=reply.transactionDetail.transactionID
        if reply.transactionDetail
        else None,
        scale=SCALE,
        score_raw=failure.classScore if failure else None,
        band=rating.rating if rating else None,
        failure_score=failure.nationalPercentile if failure else None,
        paydex=paydex,
        recommended_limit=limit,
        as_of=as_of,
        missing=tuple(missing),
    )
