"""Buyers and the ERP accounts that map to them (docs/domain.md, section 2).

A buyer is a legal entity, known by validated identifiers. Several ERP customer accounts
may map to one buyer; a site (SIRET, branch) is never a buyer. Identity is decided by
exact identifiers only: a name never links two accounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pycountry

from tci_gateway.domain.identifiers import Identifier, Scheme

_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
UNKNOWN_COUNTRY = "ZZ"
"""ISO 3166 user-assigned code for a buyer whose country the insurer did not say."""


class PartyError(ValueError):
    """A buyer or account that cannot exist."""


def country_code(text: str) -> str:
    """``text`` as an ISO 3166 alpha-2 country code (upper case, trimmed); a
    :class:`PartyError` when it is not one."""
    code = (text or "").strip().upper()
    if not _COUNTRY_RE.match(code) or pycountry.countries.get(alpha_2=code) is None:
        raise PartyError(f"country {text!r} is not an ISO 3166 alpha-2 code such as FR")
    return code


@dataclass(frozen=True, slots=True)
class Buyer:
    """A legal entity: name, country (ISO alpha-2) and validated identifiers."""

    name: str
    country: str
    identifiers: frozenset[Identifier] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise PartyError("a buyer needs a name")
        if not _COUNTRY_RE.match(self.country):
            raise PartyError(f"country {self.country!r} is not an ISO alpha-2 code")
        object.__setattr__(self, "identifiers", frozenset(self.identifiers))

    def insurer_id(self, insurer: str) -> str | None:
        """This buyer's id at ``insurer`` (a configuration name), if known."""
        for ident in self.identifiers:
            if ident.scheme is Scheme.INSURER and ident.issuer == insurer:
                return ident.value
        return None


@dataclass(frozen=True, slots=True)
class ErpAccount:
    """An ERP customer account, insured under ``policy_key`` (None when not assigned)."""

    account: str
    name: str
    policy_key: str | None = None

    def __post_init__(self) -> None:
        if not self.account.strip():
            raise PartyError("an ERP account needs its account code")


def same_legal_entity(a: Iterable[Identifier], b: Iterable[Identifier]) -> bool:
    """Two sets of identifiers name the same legal entity when they share one."""
    return bool(set(a) & set(b))
