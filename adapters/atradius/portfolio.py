"""From the cover records of a portfolio answer to one entry per buyer (pure).

Atradius answers ``GET covers`` with every record of the policy: decisions, open
applications and versions that a historic code ended. Per buyer, the DECISION with the
latest decision date governs; a REFERRED application is the entry only when the buyer
has no decision. A record that cannot be read becomes a
:class:`~tci_gateway.errors.RecordError` (source ``"atradius covers"``, row = its
index in the answer) and its buyer is left out, so that an older record never stands
in for a newer one that could not be read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from tci_gateway.adapters.contract import PortfolioEntry, PortfolioItem
from tci_gateway.domain.cover import CoverStatus
from tci_gateway.errors import RecordError

from .mapping import MappingError, is_referred, map_cover
from .wire import Cover

SOURCE = "atradius covers"
_NEVER = datetime.min.replace(tzinfo=UTC)


def _buyer_key(record: Any) -> str | None:
    if isinstance(record, dict):
        value = record.get("buyerId")
        if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _validation_error(index: int, exc: ValidationError, buyer: str | None) -> RecordError:
    first = exc.errors()[0]
    column = ".".join(str(p) for p in first["loc"]) or None
    who = f"buyer {buyer}: " if buyer else ""
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return RecordError(SOURCE, index, column, f"{who}{first['msg']}{more}")


def _governing(items: Sequence[tuple[int, Cover]]) -> tuple[int, Cover]:
    decisions = [item for item in items if not is_referred(item[1])]
    pool = decisions or list(items)

    def key(item: tuple[int, Cover]) -> tuple[datetime, int]:
        cover = item[1]
        return (cover.decisionDate or cover.applicationDate or _NEVER, item[0])

    return max(pool, key=key)


def governing_entries(
    records: Sequence[Any],
    currency: str,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
    observed_at: datetime | None = None,
) -> Iterator[PortfolioItem]:
    """One :class:`PortfolioEntry` per buyer, in the order buyers first appear, and a
    :class:`RecordError` per record that could not be read or mapped."""
    groups: dict[str, list[tuple[int, Cover]]] = {}
    failed: set[str] = set()
    for index, record in enumerate(records):
        buyer = _buyer_key(record)
        try:
            cover = Cover.from_record(record)
        except ValidationError as exc:
            yield _validation_error(index, exc, buyer)
            if buyer is not None:
                failed.add(buyer)
            continue
        groups.setdefault(str(cover.buyerId), []).append((index, cover))
    for buyer, items in groups.items():
        if buyer in failed:
            yield RecordError(
                SOURCE, None, None, f"buyer {buyer} left out: one of its records is unreadable"
            )
            continue
        index, cover = _governing(items)
        try:
            decision = map_cover(
                cover, currency, status_overrides=status_overrides, observed_at=observed_at
            )
        except MappingError as exc:
            yield RecordError(SOURCE, index, exc.field, f"buyer {buyer}: {exc.reason}")
            continue
        yield PortfolioEntry(
            insurer_buyer_id=buyer,
            buyer_name=cover.buyerName or "",
            buyer_country=None,
            decision=decision,
            raw=cover.raw,
        )


def latest_with_reference(records: Sequence[Any], client_reference: str) -> Cover | None:
    """The latest readable record whose ``customerRefNumber`` is ``client_reference``."""
    found: list[tuple[int, Cover]] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict) or record.get("customerRefNumber") != client_reference:
            continue
        try:
            found.append((index, Cover.from_record(record)))
        except ValidationError:
            continue
    return _governing(found)[1] if found else None
