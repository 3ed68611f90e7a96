"""Raw insurer codes and the tables that override what they mean.

Every insurer adapter reads a ``status_overrides`` option (raw status code -> domain
:class:`~tci_gateway.domain.cover.CoverStatus` name), so a status table the insurer has
not published can be corrected without a release. One rule for the raw codes, here for
all of them:

- **A raw code is compared case-insensitively, spaces around it ignored**
  (:func:`code_key`: ``strip()`` then ``casefold()``). Insurers write the same code in
  several cases (Allianz ``Agreement`` in one API version, ``AGREEMENT`` in a log), none of
  the published code lists has two codes that differ only in case, and every adapter
  already compared codes without regard to case. The difference of old (Allianz
  case-folded its keys, Atradius and Coface upper-cased theirs) was of form only: each
  looked codes up the same way it stored them.
- A :class:`CodeTable` applies the rule on both sides: keys are stored normalised and
  every lookup (``table[code]``, ``code in table``, ``table.get(code)``) normalises the
  code asked for, so a mapping module may pass the code as the insurer wrote it.
- Two entries that differ only in case and name different statuses are refused (before,
  the later one silently won).
- The raw code itself is kept as written wherever a record is stored
  (``CoverDecision.raw_codes``); only the lookups fold it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator

from tci_gateway.domain.cover import CoverStatus

__all__ = [
    "CodeTable",
    "StatusOverrides",
    "code_key",
    "enum_value",
    "parse_code_table",
    "parse_status_overrides",
]

V = TypeVar("V")


def code_key(code: object) -> str:
    """The form a raw code is compared in: ``str(code).strip().casefold()``."""
    return str(code).strip().casefold()


class CodeTable(Mapping[str, V]):
    """A read-only table raw code -> value whose keys follow :func:`code_key`, on the
    way in and on every lookup."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, V] | None = None) -> None:
        self._items: dict[str, V] = {code_key(k): v for k, v in (items or {}).items()}

    def __getitem__(self, code: str) -> V:
        return self._items[code_key(code)]

    def __contains__(self, code: object) -> bool:
        return code_key(code) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"CodeTable({self._items!r})"


def parse_code_table(raw: Any, what: str, parse_value: Callable[[str, Any], V]) -> CodeTable[V]:
    """A configured table raw code -> value, checked. ``parse_value(code, value)``
    returns the value or raises ``ValueError`` with a message (which is prefixed
    ``what: ``). ``None`` or an empty table is an empty :class:`CodeTable`; anything
    but a table, or two entries differing only in case with different values, is a
    ``ValueError`` naming ``what``."""
    if not raw:
        return CodeTable()
    if not isinstance(raw, Mapping):
        raise ValueError(f"{what} must be a table of raw code = value")
    items: dict[str, V] = {}
    written: dict[str, str] = {}
    for code, value in raw.items():
        key = code_key(code)
        if not key:
            raise ValueError(f"{what}: an empty code")
        try:
            parsed = parse_value(str(code), value)
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None
        if key in items and items[key] != parsed:
            raise ValueError(
                f"{what}: {written[key]!r} and {code!r} are the same code with different values"
            )
        items[key] = parsed
        written[key] = str(code)
    return CodeTable(items)


def enum_value(enum: type[Enum]) -> Callable[[str, Any], Any]:
    """A ``parse_value`` for :func:`parse_code_table`: the member of ``enum`` whose value
    is the configured name (any case); another name is refused listing the known ones."""

    def parse(code: str, name: Any) -> Any:
        try:
            return enum(str(name).strip().upper())
        except ValueError:
            known = ", ".join(str(m.value) for m in enum)
            raise ValueError(
                f"{code!r} maps to {name!r}, which is not a status ({known})"
            ) from None

    return parse


def parse_status_overrides(raw: Any) -> CodeTable[CoverStatus]:
    """The ``status_overrides`` option (``{"Refusal": "REFUSED"}``: raw code -> status
    name, names in any case) as a :class:`CodeTable`. Raises ``ValueError`` naming the bad
    entry (a status that does not exist, a value that is not a table)."""
    return parse_code_table(raw, "status_overrides", enum_value(CoverStatus))


StatusOverrides = Annotated[CodeTable[CoverStatus], BeforeValidator(parse_status_overrides)]
"""The type of an options model's ``status_overrides`` field (default ``CodeTable()``):
the configured table parsed by :func:`parse_status_overrides`."""
