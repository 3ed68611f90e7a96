"""Creditsafe search results and reports to domain objects (pure, table-driven).

**Identifiers**: ``regNo`` becomes the country's registration scheme
(:data:`DEFAULT_REGISTRATION_SCHEMES`, configurable); a French number of 14 digits is a
SIRET (a site), so its first 9 digits, the SIREN, are kept. ``vatNo`` entries become
VAT numbers (prefixed with the country's VAT prefix when missing). An identifier that
fails validation is skipped and noted, never a crash. The connectId is the candidate's
``provider_id``; the safeNo has no domain scheme.

**Status**: the status text (``Active``, ``NonActive``...) through
:data:`DEFAULT_STATUS_MAP` (configurable); a more specific description (``Dissolved``,
``In Liquidation``) wins over a generic inactive status. Unknown text is UNKNOWN.

**Assessment** (scale ``A-E / 0-100``): the band is ``commonValue``; the score is
``providerValue.value`` when it is a number; the recommended limit is
``creditLimit{value, currency}`` when the value is a number and the currency ISO 4217.
Anything else (``"Credit Limit not applicable"``, ``"Not Rated"``, no currency, a
failed report section) is listed in ``Assessment.missing``: nothing here raises on
a report's content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tci_gateway.adapters.contract import Assessment, CompanyCandidate, CompanyStatus
from tci_gateway.adapters.toolkit import read_identifier
from tci_gateway.domain.identifiers import (
    REGISTRATION_SCHEME_BY_COUNTRY,
    Identifier,
    Scheme,
)
from tci_gateway.domain.money import Money, is_currency

from .wire import CreditRating, ReportReply, SearchCompany

SCALE = "A-E / 0-100"

DEFAULT_STATUS_MAP: dict[str, CompanyStatus] = {
    "active": CompanyStatus.ACTIVE,
    "nonactive": CompanyStatus.INACTIVE,
    "inactive": CompanyStatus.INACTIVE,
    "closed": CompanyStatus.INACTIVE,
    "dissolved": CompanyStatus.DISSOLVED,
    "struckoff": CompanyStatus.DISSOLVED,
    "liquidation": CompanyStatus.DISTRESSED,
    "inliquidation": CompanyStatus.DISTRESSED,
    "administration": CompanyStatus.DISTRESSED,
    "inadministration": CompanyStatus.DISTRESSED,
    "receivership": CompanyStatus.DISTRESSED,
    "insolvency": CompanyStatus.DISTRESSED,
    "bankrupt": CompanyStatus.DISTRESSED,
}
"""Status or description text (lower case, letters only) -> status. Only ``Active`` and
``NonActive`` are seen in a public report; the rest are assumptions (L)."""

DEFAULT_BANDS: dict[str, tuple[int, int] | None] = {
    "A": (71, 100),
    "B": (51, 70),
    "C": (30, 50),
    "D": (1, 29),
    "E": None,
}
"""Common band -> provider score range (``fixtures/creditsafe/README.md``, H/M); E: not
rated."""

DEFAULT_REGISTRATION_SCHEMES: dict[str, Scheme] = dict(REGISTRATION_SCHEME_BY_COUNTRY)
"""Country -> the scheme of ``regNo`` (GB company number, FR SIREN, CN USCC)."""

_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def _key(text: str | None) -> str:
    return re.sub(r"[^a-z]", "", (text or "").casefold())


def parse_status_map(option: Any) -> dict[str, CompanyStatus]:
    """:data:`DEFAULT_STATUS_MAP` updated by ``option`` (text -> status name)."""
    table = dict(DEFAULT_STATUS_MAP)
    for text, status in dict(option or {}).items():
        try:
            table[_key(str(text))] = CompanyStatus(str(status).upper())
        except ValueError:
            raise ValueError(f"status_map: unknown status {status!r} for {text!r}") from None
    return table


def parse_bands(option: Any) -> dict[str, tuple[int, int] | None]:
    """:data:`DEFAULT_BANDS` replaced by ``option`` (band -> ``[low, high]`` or ``None``)."""
    if option is None:
        return dict(DEFAULT_BANDS)
    table: dict[str, tuple[int, int] | None] = {}
    for band, bounds in dict(option).items():
        if bounds is None:
            table[str(band).upper()] = None
            continue
        low, high = (int(v) for v in bounds)
        if low > high:
            raise ValueError(f"rating_bands: {band} has low {low} above high {high}")
        table[str(band).upper()] = (low, high)
    return table


def parse_registration_schemes(option: Any) -> dict[str, Scheme]:
    """:data:`DEFAULT_REGISTRATION_SCHEMES` updated by ``option`` (country -> scheme)."""
    table = dict(DEFAULT_REGISTRATION_SCHEMES)
    for country, scheme in dict(option or {}).items():
        try:
            table[str(country).upper()] = Scheme(str(scheme).upper())
        except ValueError:
            raise ValueError(f"registration_schemes: unknown scheme {scheme!r}") from None
    return table


def map_status(
    status: str | None, description: str | None, table: Mapping[str, CompanyStatus]
) -> CompanyStatus:
    """Status text (and description) to :class:`CompanyStatus`."""
    main = table.get(_key(status), CompanyStatus.UNKNOWN)
    detail = table.get(_key(description))
    if detail is CompanyStatus.DISTRESSED and main is not CompanyStatus.DISSOLVED:
        return detail
    if detail is CompanyStatus.DISSOLVED and main in (
        CompanyStatus.INACTIVE,
        CompanyStatus.UNKNOWN,
    ):
        return detail
    return main


def registration_identifier(
    country: str, raw: str, schemes: Mapping[str, Scheme]
) -> tuple[Identifier | None, str | None]:
    """``(identifier, note)`` for a ``regNo`` / ``companyRegistrationNumber``."""
    scheme = schemes.get(country.upper())
    if scheme is None:
        return None, f"no registration scheme for country {country} (regNo {raw!r} kept raw)"
    value = raw
    if scheme is Scheme.FR_SIREN:
        digits = re.sub(r"[^0-9]", "", raw)
        value = digits[:9] if len(digits) == 14 else raw  # a SIRET starts with its SIREN
    found, why = read_identifier(scheme, value)
    return found, (f"regNo skipped: {why}" if why else None)


def vat_identifier(country: str, raw: str) -> tuple[Identifier | None, str | None]:
    """``(identifier, note)`` for a VAT number, prefixed when it lacks its prefix."""
    found, why = read_identifier(Scheme.VAT, raw, country)
    return found, (f"vatNo skipped: {why}" if why else None)


@dataclass(frozen=True)
class MappedCandidate:
    """A candidate and the notes on what was skipped while mapping it."""

    candidate: CompanyCandidate
    notes: tuple[str, ...] = ()


def map_search_company(
    company: SearchCompany,
    provider: str,
    *,
    rank: int,
    statuses: Mapping[str, CompanyStatus],
    schemes: Mapping[str, Scheme],
) -> MappedCandidate:
    """One search result as a :class:`CompanyCandidate` (``rank`` is Creditsafe's
    relevance order, 1 first; it has no numeric match score). Raises ``ValueError``
    when the record has no name or country."""
    country = (company.country or company.id[:2]).upper()
    if not company.name or len(country) != 2 or not country.isalpha():
        raise ValueError(f"search result {company.id} has no name or country")
    found: dict[Identifier, None] = {}
    notes: list[str] = []
    readings = [registration_identifier(country, company.regNo, schemes)] if company.regNo else []
    readings += [vat_identifier(country, raw) for raw in company.vatNo if raw]
    for ident, note in readings:
        if ident is not None:
            found[ident] = None
        if note:
            notes.append(note)
    address = company.address
    candidate = CompanyCandidate(
        provider=provider,
        provider_id=company.id,
        name=company.name,
        country=country,
        identifiers=tuple(found),
        other_names=tuple(n for n in company.tradingNames if n and n != company.name),
        status=map_status(company.status, None, statuses),
        city=address.city if address else None,
        postcode=address.postCode if address else None,
        is_site=_key(company.officeType) in ("branch", "branchoffice"),
        rank=rank,
    )
    return MappedCandidate(candidate, tuple(notes))


def band_for_score(score: int, bands: Mapping[str, tuple[int, int] | None]) -> str | None:
    """The band whose range holds ``score``, if any."""
    for band, bounds in bands.items():
        if bounds is not None and bounds[0] <= score <= bounds[1]:
            return band
    return None


def _number(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None and _NUMBER.match(text) else None


def _rating_parts(
    rating: CreditRating, bands: Mapping[str, tuple[int, int] | None], missing: list[str]
) -> tuple[str | None, str | None, Money | None]:
    where = "creditScore.currentCreditRating"
    provider = rating.providerValue
    score = _number(provider.value) if provider else None
    if score is None:
        shown = f" ({provider.value!r})" if provider and provider.value else ""
        missing.append(f"{where}.providerValue.value: no numeric score{shown}")
    band = (rating.commonValue or "").upper() or None
    if band is not None and band not in bands:
        missing.append(f"{where}.commonValue: unknown band {band!r}")
        band = None
    if band is None and score is not None and score == score.to_integral_value():
        band = band_for_score(int(score), bands)
    if band is None:
        missing.append(f"{where}.commonValue")
    limit: Money | None = None
    amount = rating.creditLimit
    value = _number(amount.value) if amount else None
    if value is None:
        shown = f" ({amount.value!r})" if amount and amount.value else ""
        missing.append(f"{where}.creditLimit.value: not a number{shown}")
    elif not amount or not amount.currency or not is_currency(amount.currency.upper()):
        missing.append(f"{where}.creditLimit.currency: {amount.currency if amount else None!r}")
    elif value < 0:
        missing.append(f"{where}.creditLimit.value: negative ({amount.value!r})")
    else:
        limit = Money(value, amount.currency.upper())
    return (str(score) if score is not None else None), band, limit


def map_assessment(
    reply: ReportReply, provider: str, bands: Mapping[str, tuple[int, int] | None]
) -> Assessment:
    """A company report as an :class:`Assessment`; see the module docstring."""
    missing = [f"report section {name} failed" for name in reply.failedSections if name]
    score = band = None
    limit: Money | None = None
    credit = reply.report.creditScore
    if credit is None:
        missing.append("creditScore")
    elif credit.currentCreditRating is None:
        missing.append("creditScore.currentCreditRating")
    else:
        score, band, limit = _rating_parts(credit.currentCreditRating, bands, missing)
    as_of = reply.dateOfOrder.date() if reply.dateOfOrder else None
    return Assessment(
        provider=provider,
        provider_id=reply.report.companyId,
        provider_reference=reply.correlationId,
        scale=SCALE,
        score_raw=score,
        band=band,
        recommended_limit=limit,
        as_of=as_of,
        missing=tuple(missing),
    )
