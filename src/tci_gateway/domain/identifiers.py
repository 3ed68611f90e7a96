"""Company identifiers with a scheme, validated before they are trusted.

A buyer is a legal entity (docs/domain.md, section 2). Its identifiers each carry a
:class:`Scheme`; an insurer's own buyer id carries the insurer's name as ``issuer``.
A site identifier (a French SIRET) is never a buyer identifier: it is refused with
the SIREN to use instead.

Validation uses python-stdnum where it has a module (LEI, VAT, SIREN, USCC) and small
checks where it has none (GB company number, DUNS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from stdnum import lei, vatin
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError
from stdnum.fr import siren, siret


class Scheme(StrEnum):
    LEI = "LEI"
    DUNS = "DUNS"
    VAT = "VAT"
    GB_CRN = "GB_CRN"
    FR_SIREN = "FR_SIREN"
    CN_USCC = "CN_USCC"
    INSURER = "INSURER"


class IdentifierError(ValueError):
    """An identifier that fails validation; the message is the reason."""


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    """A validated identifier in its compact form.

    ``issuer`` is empty except for :attr:`Scheme.INSURER`, where it names the insurer
    adapter (``atradius``) whose buyer id ``value`` is.
    """

    scheme: Scheme
    value: str
    issuer: str = ""

    def __str__(self) -> str:
        prefix = f"{self.scheme}/{self.issuer}" if self.issuer else str(self.scheme)
        return f"{prefix}:{self.value}"


# GB company numbers: 8 digits, or a two-letter register prefix and 6 digits.
# ASCII digits only ([0-9], not \d, which also matches e.g. full-width digits).
_GB_CRN_RE = re.compile(
    r"^([0-9]{8}|(SC|NI|OC|SO|NC|SE|SG|SA|SF|SL|SP|SR|SZ|FC|GE|GS|IP|LP|R0|RC|NF|NL|NP|NO|NR|NZ|ES|GN|IC|CE|CS|PC|RS|SI|ZC)[0-9]{6})\Z"
)
_DUNS_RE = re.compile(r"^[0-9]{9}\Z")
_INSURER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}\Z")


def _stdnum(module_validate: object, raw: str, what: str) -> str:
    try:
        result = module_validate(raw)  # type: ignore[operator]
    except ValidationError as exc:
        raise IdentifierError(f"invalid {what} {raw!r}: {exc}") from exc
    return str(result)


def _gb_crn(raw: str) -> str:
    value = re.sub(r"\s", "", raw).upper()
    if value.isascii() and value.isdigit() and len(value) < 8:
        value = value.zfill(8)  # leading zeros are often dropped by spreadsheets
    if not _GB_CRN_RE.match(value):
        raise IdentifierError(
            f"invalid GB company number {raw!r}: expected 8 digits or a register prefix "
            "(e.g. SC, NI, OC) and 6 digits"
        )
    if value == "00000000":
        raise IdentifierError(f"invalid GB company number {raw!r}: all zeros")
    return value


def _duns(raw: str) -> str:
    value = re.sub(r"[\s-]", "", raw)
    if not _DUNS_RE.match(value):
        raise IdentifierError(f"invalid DUNS {raw!r}: expected 9 digits")
    if value == "000000000":
        raise IdentifierError(f"invalid DUNS {raw!r}: all zeros")
    return value


def _siren(raw: str) -> str:
    compact = re.sub(r"[\s.]", "", raw)
    if len(compact) == 14:
        if siret.is_valid(compact):
            raise IdentifierError(
                f"{raw!r} is a SIRET, which identifies a site, not a legal entity; "
                f"use the SIREN {compact[:9]}"
            )
        raise IdentifierError(f"invalid SIREN {raw!r}: expected 9 digits")
    return _stdnum(siren.validate, compact, "SIREN")


def _insurer(raw: str, issuer: str) -> str:
    if not issuer:
        raise IdentifierError("an insurer buyer id needs the insurer's name")
    value = raw.strip()
    if not _INSURER_ID_RE.match(value):
        raise IdentifierError(f"invalid {issuer} buyer id {raw!r}")
    return value


def parse_identifier(scheme: Scheme | str, raw: str, issuer: str = "") -> Identifier:
    """Validate ``raw`` under ``scheme`` and return it in compact form.

    Raises :class:`IdentifierError` with the reason (bad check digit, length, a site
    identifier where a legal entity is needed, unknown scheme).
    """
    try:
        scheme = Scheme(scheme)
    except ValueError as exc:
        known = ", ".join(s.value for s in Scheme)
        raise IdentifierError(f"unknown identifier scheme {scheme!r} (known: {known})") from exc
    if not raw or not raw.strip():
        raise IdentifierError(f"empty {scheme} identifier")
    if scheme is Scheme.LEI:
        value = _stdnum(lei.validate, raw, "LEI")
    elif scheme is Scheme.VAT:
        value = _stdnum(vatin.validate, raw, "VAT number")
    elif scheme is Scheme.FR_SIREN:
        value = _siren(raw)
    elif scheme is Scheme.CN_USCC:
        value = _stdnum(uscc.validate, raw, "unified social credit code")
    elif scheme is Scheme.GB_CRN:
        value = _gb_crn(raw)
    elif scheme is Scheme.DUNS:
        value = _duns(raw)
    else:
        return Identifier(scheme, _insurer(raw, issuer), issuer)
    if issuer:
        raise IdentifierError(f"{scheme} identifiers take no issuer")
    return Identifier(scheme, value)


# The national registration scheme by country (ISO alpha-2), for files that give a
# "registration number" column rather than a scheme.
REGISTRATION_SCHEME_BY_COUNTRY: dict[str, Scheme] = {
    "GB": Scheme.GB_CRN,
    "FR": Scheme.FR_SIREN,
    "CN": Scheme.CN_USCC,
}
