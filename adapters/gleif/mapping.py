"""GLEIF records to domain candidates: the crosswalk and the status rules (pure).

**Crosswalk** (``fixtures/gleif/README.md``, "Public facts"): ``entity.registeredAt.id``
names a registration authority (an ``RAxxxxxx`` code) and ``entity.registeredAs`` the
entity's number in that register. :data:`DEFAULT_AUTHORITIES` says which domain scheme
each known authority's numbers are, with the confidence of that fact; the table is
configurable (:func:`parse_authorities`). An unknown authority code is kept raw
(:attr:`MappedRecord.registered_at`) and skipped; a number that fails validation is
skipped and noted, never a crash.

**Status** (``docs/domain.md``, section 2, "Company status"): entity ``ACTIVE`` is
:attr:`CompanyStatus.ACTIVE`; ``INACTIVE`` is :attr:`CompanyStatus.DISSOLVED` when the
expiration reason says ``DISSOLVED``, else :attr:`CompanyStatus.INACTIVE`. The
*registration* status is the LEI record's upkeep: ``LAPSED`` means the record was not
renewed (stale data), not that the company is dead, so it never changes the company
status; it is reported as :attr:`MappedRecord.stale`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tci_gateway.adapters.contract import CompanyCandidate, CompanyStatus
from tci_gateway.adapters.toolkit import find_identifier, read_identifier
from tci_gateway.domain.identifiers import Identifier, Scheme

from .wire import Entity, LeiRecord

Confidence = Literal["H", "M", "L"]


@dataclass(frozen=True)
class RegistrationAuthority:
    """What the numbers of one GLEIF registration authority are."""

    code: str
    scheme: Scheme
    register: str
    confidence: Confidence


def _ra(code: str, scheme: Scheme, register: str, confidence: Confidence) -> RegistrationAuthority:
    return RegistrationAuthority(code, scheme, register, confidence)


DEFAULT_AUTHORITIES: dict[str, RegistrationAuthority] = {
    # H: GLEIF's own documentation names RA000585 as UK Companies House.
    "RA000585": _ra("RA000585", Scheme.GB_CRN, "Companies House (England and Wales)", "H"),
    # M: several public GLEIF integrations agree these are the other two Companies House
    # jurisdictions, but disagree which is Scotland and which Northern Ireland; the
    # scheme (a GB company number, prefixed SC or NI) is the same either way.
    "RA000586": _ra("RA000586", Scheme.GB_CRN, "Companies House (Scotland or NI)", "M"),
    "RA000587": _ra("RA000587", Scheme.GB_CRN, "Companies House (Scotland or NI)", "M"),
    # M: INSEE SIRENE, seen in public code and in records carrying a 9-digit SIREN.
    "RA000189": _ra("RA000189", Scheme.FR_SIREN, "INSEE SIRENE (France)", "M"),
    # M: Infogreffe RCS; its registeredAs may carry text around the SIREN (the digits
    # are taken, see crosswalk()).
    "RA000192": _ra("RA000192", Scheme.FR_SIREN, "Infogreffe RCS (France)", "M"),
}
"""Registration authority code -> scheme, register name and confidence (H/M/L)."""

_CONFIDENCES: dict[str, Confidence] = {"H": "H", "M": "M", "L": "L"}


def parse_authorities(option: Any) -> dict[str, RegistrationAuthority]:
    """The authority table: :data:`DEFAULT_AUTHORITIES` updated by ``option``, a mapping
    of RA code to a scheme name (``"GB_CRN"``), to ``{"scheme", "register",
    "confidence"}``, or to ``None`` (remove the code). Raises ``ValueError`` naming the
    bad entry."""
    table = dict(DEFAULT_AUTHORITIES)
    if option is None:
        return table
    if not isinstance(option, Mapping):
        raise ValueError("registration_authorities must be a table of RA code -> scheme")
    for raw_code, spec in option.items():
        code = str(raw_code).strip().upper()
        if not re.fullmatch(r"RA[0-9]{6}", code):
            raise ValueError(f"registration_authorities: {raw_code!r} is not an RA code")
        if spec is None:
            table.pop(code, None)
            continue
        fields: Mapping[str, Any] = {"scheme": spec} if isinstance(spec, str) else spec
        if not isinstance(fields, Mapping):
            raise ValueError(f"registration_authorities.{code}: expected a scheme name")
        try:
            scheme = Scheme(str(fields.get("scheme", "")).upper())
        except ValueError:
            raise ValueError(
                f"registration_authorities.{code}: unknown scheme {fields.get('scheme')!r}"
            ) from None
        if scheme in (Scheme.INSURER, Scheme.VAT):
            raise ValueError(f"registration_authorities.{code}: {scheme} is not a register")
        confidence = _CONFIDENCES.get(str(fields.get("confidence", "L")).upper())
        if confidence is None:
            raise ValueError(f"registration_authorities.{code}: confidence must be H, M or L")
        register = str(fields.get("register") or "configured")
        table[code] = RegistrationAuthority(code, scheme, register, confidence)
    return table


@dataclass(frozen=True)
class MappedRecord:
    """A record as a candidate, plus what the candidate cannot say: the raw registration
    authority, the LEI record's own status, whether that record is stale, and notes on
    what was skipped."""

    candidate: CompanyCandidate
    registered_at: str | None
    registered_as: str | None
    registration_status: str | None
    stale: bool
    notes: tuple[str, ...] = ()


STALE_REGISTRATION = frozenset({"LAPSED"})
"""Registration statuses that mean "not kept up to date" (not "company is gone")."""


def crosswalk(
    entity: Entity, authorities: Mapping[str, RegistrationAuthority]
) -> tuple[Identifier | None, str | None]:
    """``(identifier, note)``: the national identifier ``registeredAt``/``registeredAs``
    give, or ``None`` with the reason (unknown authority, no number, invalid number)."""
    code = (entity.registeredAt.id or "").upper() if entity.registeredAt else ""
    return crosswalk_number(code, entity.registeredAs, authorities)


def crosswalk_number(
    code: str, number: str | None, authorities: Mapping[str, RegistrationAuthority]
) -> tuple[Identifier | None, str | None]:
    """:func:`crosswalk` from the raw pair (an upper-case RA code and the number), as the
    golden copy's CSV columns give it."""
    if not code or not number:
        return None, None
    authority = authorities.get(code)
    if authority is None:
        return None, f"registration authority {code} is not in the crosswalk table (kept raw)"
    raw = number
    if authority.scheme is Scheme.FR_SIREN:
        digits = re.sub(r"[^0-9]", "", number)
        # A SIRET (14 digits) starts with the SIREN of its legal entity.
        raw = digits[:9] if len(digits) == 14 else digits
    found, why = read_identifier(authority.scheme, raw)
    return found, (f"registeredAs {number!r} at {code} skipped: {why}" if why else None)


def map_status(entity: Entity) -> CompanyStatus:
    """Entity status to :class:`CompanyStatus` (see the module docstring)."""
    status = (entity.status or "").upper()
    if status == "ACTIVE":
        return CompanyStatus.ACTIVE
    if status == "INACTIVE":
        reason = (entity.expiration.reason or "").upper() if entity.expiration else ""
        return CompanyStatus.DISSOLVED if reason == "DISSOLVED" else CompanyStatus.INACTIVE
    return CompanyStatus.UNKNOWN


def lei_identifier(raw: str | None) -> Identifier | None:
    """A validated LEI, or ``None``."""
    return find_identifier(Scheme.LEI, raw) if raw else None


def map_record(
    record: LeiRecord,
    provider: str,
    authorities: Mapping[str, RegistrationAuthority],
    *,
    rank: int | None = None,
    direct_parent: str | None = None,
    ultimate_parent: str | None = None,
) -> MappedRecord:
    """One LEI record as a :class:`CompanyCandidate` (``provider_id`` is the LEI).
    Raises ``ValueError`` when the record has no name or no country."""
    entity = record.attributes.entity
    notes: list[str] = []
    name = entity.legalName.name if entity.legalName else None
    if not name:
        raise ValueError(f"LEI record {record.id} has no legal name")
    address = entity.legalAddress
    country = (address.country if address else None) or (entity.jurisdiction or "")[:2]
    if not country or len(country) != 2:
        raise ValueError(f"LEI record {record.id} has no country")
    identifiers: dict[Identifier, None] = {}
    lei = lei_identifier(record.id)
    if lei is None:
        notes.append(f"LEI {record.id!r} fails validation: not kept as an identifier")
    else:
        identifiers[lei] = None
    national, note = crosswalk(entity, authorities)
    if national is not None:
        identifiers[national] = None
    if note:
        notes.append(note)
    registration = record.attributes.registration
    reg_status = registration.status.upper() if registration and registration.status else None
    stale = reg_status in STALE_REGISTRATION
    if stale:
        notes.append(f"LEI registration {reg_status}: the record may be out of date")
    others = tuple(n.name for n in entity.otherNames if n.name and n.name != name)
    candidate = CompanyCandidate(
        provider=provider,
        provider_id=lei.value if lei else record.id,
        name=name,
        country=country.upper(),
        identifiers=tuple(identifiers),
        other_names=others,
        status=map_status(entity),
        city=address.city if address else None,
        postcode=address.postalCode if address else None,
        is_site=(entity.category or "").upper() == "BRANCH",
        rank=rank,
        direct_parent=lei_identifier(direct_parent),
        ultimate_parent=lei_identifier(ultimate_parent),
    )
    return MappedRecord(
        candidate=candidate,
        registered_at=entity.registeredAt.id if entity.registeredAt else None,
        registered_as=entity.registeredAs,
        registration_status=reg_status,
        stale=stale,
        notes=tuple(notes),
    )
