"""Creditsafe search criteria sets: exactly one per ``GET /companies`` call.

Creditsafe's search documentation (``fixtures/creditsafe/README.md``, H): a search carries
``countries`` (and paging) plus exactly one
*criteria set*: ``id`` (connectId), ``safeNo``, ``regNo``, ``vatNo``, or a name set
(``name``/``tradeName``/``acronym``/``exact`` with address parts ``street``,
``houseNo``, ``city``, ``postCode``, ``province``). Mixing sets is refused with 400
"Specified criteria combination is not allowed". The adapter builds one set per call
and walks the recommended waterfall (:func:`waterfall`); the sandbox enforces the rule
with :func:`criteria_set`. Shared by both, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tci_gateway.adapters.contract import CompanyQuery
from tci_gateway.domain.identifiers import Scheme

COMBINATION_NOT_ALLOWED = "Specified criteria combination is not allowed"

IDENTIFIER_SETS = ("id", "safeNo", "regNo", "vatNo")
NAME_ANCHORS = frozenset({"name", "tradeName", "acronym"})
NAME_SET = NAME_ANCHORS | {"exact", "street", "houseNo", "city", "postCode", "province"}
COMMON = frozenset({"countries", "page", "pageSize", "language"})


class CriteriaError(ValueError):
    """A parameter set that is not exactly one criteria set."""


def criteria_set(params: Iterable[str]) -> str:
    """The name of the one criteria set ``params`` carries (``"regNo"``, ``"name"``...);
    :class:`CriteriaError` when there is none, several, or an unknown parameter."""
    keys = set(params) - COMMON
    unknown = keys - NAME_SET - set(IDENTIFIER_SETS)
    if unknown:
        raise CriteriaError(f"Unknown search parameter {sorted(unknown)[0]}")
    ids = [k for k in IDENTIFIER_SETS if k in keys]
    named = keys & NAME_SET
    if len(ids) > 1 or (ids and named):
        raise CriteriaError(COMBINATION_NOT_ALLOWED)
    if ids:
        return ids[0]
    if not named:
        raise CriteriaError("No search criteria given")
    if not named & NAME_ANCHORS:
        raise CriteriaError(COMBINATION_NOT_ALLOWED)
    return "name"


REG_NO_SCHEMES = frozenset({Scheme.GB_CRN, Scheme.FR_SIREN, Scheme.CN_USCC})
"""Identifier schemes searched as ``regNo``."""


def waterfall(query: CompanyQuery) -> list[dict[str, str]]:
    """The criteria sets to try in order, one per call, stopping at the first that finds
    something: the identifier (``regNo`` or ``vatNo``), then name + postcode (+ city),
    then the name alone. Each set excludes ``countries`` and paging, which the client
    adds. An identifier Creditsafe cannot search (LEI, DUNS) is left out."""
    steps: list[dict[str, str]] = []
    ident = query.identifier
    if ident is not None:
        if ident.scheme in REG_NO_SCHEMES:
            steps.append({"regNo": ident.value})
        elif ident.scheme is Scheme.VAT:
            steps.append({"vatNo": ident.value})
    name = (query.name or "").strip()
    if name:
        address: dict[str, str] = {}
        if query.postcode and query.postcode.strip():
            address["postCode"] = query.postcode.strip()
        if query.city and query.city.strip():
            address["city"] = query.city.strip()
        if address:
            steps.append({"name": name, **address})
        steps.append({"name": name})
    return steps


def describe(step: Mapping[str, str]) -> str:
    """A short label of a criteria set for logs (``"name+postCode"``), never values."""
    return "+".join(sorted(step))
