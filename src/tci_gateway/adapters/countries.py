"""Countries, VAT numbers and identifiers as insurers and bureaus write them (pycountry,
python-stdnum through the domain).

The domain speaks ISO 3166 alpha-2. Insurers write alpha-2 or alpha-3 (Atradius and
Coface alpha-3, Allianz either): :func:`to_alpha2` reads both, :func:`to_alpha3` writes
alpha-3. An EU VAT number starts with the country's VAT prefix, which is the alpha-2 code
except for Greece (``EL``, not ``GR``); :func:`vat_number` adds it when a record gives
the national number only. :func:`find_identifier` and :func:`read_identifier` validate an
identifier a record carries (a VAT number completed first), so a bad one is skipped, never
a crash.
"""

from __future__ import annotations

import re

import pycountry

from tci_gateway.domain.identifiers import Identifier, IdentifierError, Scheme, parse_identifier

from .mapping import MappingError

__all__ = [
    "find_alpha2",
    "find_identifier",
    "read_identifier",
    "to_alpha2",
    "to_alpha3",
    "vat_number",
    "vat_prefix",
]

_VAT_PREFIX = {"GR": "EL"}  # Greek VAT numbers carry EL (EU VIES), not the ISO code
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


def _country(code: str) -> object | None:
    text = code.strip().upper()
    if len(text) == 2 and text.isalpha():
        return pycountry.countries.get(alpha_2=text)
    if len(text) == 3 and text.isalpha():
        return pycountry.countries.get(alpha_3=text)
    return None


def find_alpha2(code: str | None) -> str | None:
    """An alpha-2 or alpha-3 country code (any case, spaces around ignored) as alpha-2,
    or ``None`` when it is empty or not an ISO 3166 country."""
    found = _country(code) if code else None
    return str(found.alpha_2) if found is not None else None  # type: ignore[attr-defined]


def to_alpha2(code: str, *, field: str = "country") -> str:
    """Like :func:`find_alpha2`, but an unknown code is a :class:`MappingError` on
    ``field``."""
    found = find_alpha2(code)
    if found is None:
        raise MappingError(field, f"unknown ISO 3166 country code {code!r}")
    return found


def to_alpha3(code: str, *, field: str = "country") -> str:
    """An alpha-2 (or alpha-3) country code as alpha-3; an unknown code is a
    :class:`MappingError` on ``field``."""
    found = _country(code)
    if found is None:
        raise MappingError(field, f"unknown ISO 3166 country code {code!r}")
    return str(found.alpha_3)  # type: ignore[attr-defined]


def vat_prefix(country: str) -> str:
    """The VAT number prefix of an alpha-2 country: the code itself, Greece ``EL``."""
    code = country.strip().upper()
    return _VAT_PREFIX.get(code, code)


def vat_number(raw: str, country: str | None) -> str:
    """A VAT number as the domain validates it: letters and digits only, upper case,
    with the VAT prefix of ``country`` (alpha-2) in front when ``raw`` does not start
    with two letters already (a number written with its own prefix is kept as written).
    Without a country the compacted number is returned as it is."""
    compact = _NOT_ALNUM.sub("", raw).upper()
    if not country or compact[:2].isalpha():
        return compact
    return vat_prefix(country) + compact


def read_identifier(
    scheme: Scheme, raw: str, country: str | None = None
) -> tuple[Identifier | None, str | None]:
    """``(identifier, None)`` for a value that passes the scheme's validation, else
    ``(None, why)``. A VAT number is completed with :func:`vat_number` first when the
    record's ``country`` (alpha-2) is known."""
    value = vat_number(raw, country) if scheme is Scheme.VAT and country else raw
    try:
        return parse_identifier(scheme, value), None
    except IdentifierError as exc:
        return None, str(exc)


def find_identifier(scheme: Scheme, raw: str, country: str | None = None) -> Identifier | None:
    """Like :func:`read_identifier`, without the reason: ``None`` for a value that fails."""
    return read_identifier(scheme, raw, country)[0]
