"""From the cover records of a portfolio (or of its history) to entries (pure).

Atradius answers ``GET covers`` with every record of the policy: decisions, open
applications and versions that a historic code ended; ``GET covers/historic`` with the
records of the past. Every DECISION record of a buyer is an entry of its own, an
effective-dated version of the buyer's cover (the ledger keeps each: the limit on a past
delivery date is the version then in force), the newest first: the sync judges what
changed against it and keeps the older ones as history without an alert each. A REFERRED
application is an entry only when the buyer has no decision. A decision superseded
(historic code SCLD) by a later decision of the same buyer is a version that ended when
its successor took effect, not a cover that ended: it keeps the status its decision code
gives. A record that cannot be read becomes a :class:`~tci_gateway.errors.RecordError`
(source ``"atradius covers"``, row = its index in the answer) and its buyer is left out,
so that an older record never stands in for a newer one that could not be read.

The records come grouped by buyer (:func:`buyer_versions`): from a list held in memory
(:func:`cover_versions`) or from the adapter's spool (:mod:`.spool`), which holds a whole
portfolio off the heap, so that only one buyer's records are parsed at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tci_gateway.adapters.contract import PortfolioEntry, PortfolioItem
from tci_gateway.adapters.toolkit import record_error
from tci_gateway.domain.cover import CoverDecision, CoverStatus
from tci_gateway.errors import RecordError

from .mapping import VERSION_ENDING_CODES, MappingError, is_referred, map_cover
from .wire import Cover

SOURCE = "atradius covers"
_NEVER = datetime.min.replace(tzinfo=UTC)
SUPERSEDED_CODE = "SCLD"
SUPERSEDED_VERSION = VERSION_ENDING_CODES | {SUPERSEDED_CODE}
_BUYER_ID = TypeAdapter(int)  # how Cover.buyerId is read


def _buyer_key(record: Any) -> str | None:
    if isinstance(record, dict):
        value = record.get("buyerId")
        if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _validation_error(index: int, exc: ValidationError, buyer: str | None) -> RecordError:
    return record_error(SOURCE, index, exc, f"buyer {buyer}: " if buyer else "")


def _governing(items: Sequence[tuple[int, Cover]]) -> tuple[int, Cover]:
    decisions = [item for item in items if not is_referred(item[1])]
    pool = decisions or list(items)

    def key(item: tuple[int, Cover]) -> tuple[datetime, int]:
        cover = item[1]
        return (cover.decisionDate or cover.applicationDate or _NEVER, item[0])

    return max(pool, key=key)


def _versions(
    buyer: str,
    items: Sequence[tuple[int, Cover]],
    currency: str,
    status_overrides: Mapping[str, CoverStatus] | None,
    observed_at: datetime | None,
) -> list[PortfolioItem]:
    """The entries of one buyer, newest first, or the errors that leave it out."""
    decisions = [item for item in items if not is_referred(item[1])]
    pool = decisions or [_governing(items)]
    last_decided = max((c.decisionDate or _NEVER for _, c in decisions), default=_NEVER)
    mapped: list[tuple[int, Cover, CoverDecision]] = []
    for index, cover in pool:
        superseded = (cover.historicCode or "").upper() == SUPERSEDED_CODE and (
            cover.decisionDate or _NEVER
        ) < last_decided
        try:
            decision = map_cover(
                cover,
                currency,
                status_overrides=status_overrides,
                observed_at=observed_at,
                version_ending=SUPERSEDED_VERSION if superseded else VERSION_ENDING_CODES,
            )
        except MappingError as exc:
            left_out = f"buyer {buyer} left out: one of its records cannot be mapped"
            return [
                RecordError(SOURCE, index, exc.field, f"buyer {buyer}: {exc.reason}"),
                RecordError(SOURCE, None, None, left_out),
            ]
        mapped.append((index, cover, decision))
    mapped.sort(
        key=lambda m: (m[2].effective_from, m[2].last_changed_at or _NEVER, m[0]), reverse=True
    )
    return [
        PortfolioEntry(
            insurer_buyer_id=buyer,
            buyer_name=cover.buyerName or "",
            buyer_country=None,
            decision=decision,
            raw=cover.raw,
        )
        for _, cover, decision in mapped
    ]


def buyer_key(record: Any) -> str | None:
    """The buyer a record is grouped under: its ``buyerId`` as :class:`.wire.Cover` reads
    it (``"0123"`` is buyer 123), ``None`` when it has none that can be read."""
    value = record.get("buyerId") if isinstance(record, dict) else None
    if type(value) is int:
        return str(value)
    if value is None:
        return None
    try:  # "0123", " 123 ", 123.0: as the wire model reads an integer
        return str(_BUYER_ID.validate_python(value))
    except ValidationError:
        return None


def cover_versions(
    records: Sequence[Any],
    currency: str,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
    observed_at: datetime | None = None,
) -> Iterator[PortfolioItem]:
    """Every version of every buyer's cover in ``records`` (held in memory): see
    :func:`buyer_versions`."""
    groups: dict[str | int, list[tuple[int, Any]]] = {}
    for index, record in enumerate(records):
        key = buyer_key(record)
        groups.setdefault(index if key is None else key, []).append((index, record))
    return buyer_versions(
        groups.values(), currency, status_overrides=status_overrides, observed_at=observed_at
    )


def buyer_versions(
    groups: Iterable[Sequence[tuple[int, Any]]],
    currency: str,
    *,
    status_overrides: Mapping[str, CoverStatus] | None = None,
    observed_at: datetime | None = None,
) -> Iterator[PortfolioItem]:
    """Every version of every buyer's cover (a :class:`PortfolioEntry` each) from
    ``groups``, each the records of one buyer (see :func:`buyer_key`; a record without a
    buyer alone) as (position in the answer, JSON record), in the order given; and a
    :class:`RecordError` per record that could not be read or mapped. A record listed
    twice (the same raw record) counts once."""
    for group in groups:
        yield from _buyer_group(group, currency, status_overrides, observed_at)


def _buyer_group(
    group: Sequence[tuple[int, Any]],
    currency: str,
    status_overrides: Mapping[str, CoverStatus] | None,
    observed_at: datetime | None,
) -> Iterator[PortfolioItem]:
    items: list[tuple[int, Cover]] = []
    failed = False
    seen_raw: set[str] = set()
    for index, record in group:
        try:
            cover = Cover.from_record(record)
        except ValidationError as exc:
            yield _validation_error(index, exc, _buyer_key(record))
            failed = True
            continue
        if cover.raw not in seen_raw:
            seen_raw.add(cover.raw)
            items.append((index, cover))
    if not items:
        return
    buyer = str(items[0][1].buyerId)
    if failed:
        yield RecordError(
            SOURCE, None, None, f"buyer {buyer} left out: one of its records is unreadable"
        )
        return
    yield from _versions(buyer, items, currency, status_overrides, observed_at)


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
