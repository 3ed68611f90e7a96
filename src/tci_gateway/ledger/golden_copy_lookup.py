"""The read side of a loaded golden copy (:mod:`tci_gateway.ledger.golden_copy_tables`):
what ``tci buyers resolve`` asks of it, a page of buyers at a time.

Every look-up here takes a whole page's keys and answers with one ``IN``-list query (per
scheme for national identifiers), never a query per buyer. Records the register marks as
issued in error (``DUPLICATE``, ``ANNULLED``) are kept in the tables for audit but never
returned for matching; a ``LAPSED`` record is (it means the renewal fee is unpaid, not
that the entity is gone). Parents are the two accounting-consolidation relationship
types, ``ACTIVE`` only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.ledger.golden_copy import APPLIED
from tci_gateway.ledger.golden_copy_tables import (
    GoldenCopyLoadRow,
    LeiRecordRow,
    LeiRelationshipRow,
)

NOT_FOR_MATCHING = frozenset({"DUPLICATE", "ANNULLED"})
"""Registration statuses of records issued in error: kept for audit, never matched."""
DIRECT = "IS_DIRECTLY_CONSOLIDATED_BY"
ULTIMATE = "IS_ULTIMATELY_CONSOLIDATED_BY"
_WITHDRAWN_RELATIONSHIPS = NOT_FOR_MATCHING | {"RETIRED"}


class GoldenRecord(NamedTuple):
    """One level-1 record as matching needs it (``scheme``/``national_id``: the
    crosswalked national identifier the loader stored, if any)."""

    lei: str
    legal_name: str
    country: str
    jurisdiction: str | None
    scheme: str | None
    national_id: str | None
    entity_status: str
    registration_status: str
    category: str | None


class Parents(NamedTuple):
    """A record's direct and ultimate accounting-consolidation parents (LEIs)."""

    direct: str | None
    ultimate: str | None


_COLUMNS = (
    LeiRecordRow.lei,
    LeiRecordRow.legal_name,
    LeiRecordRow.country,
    LeiRecordRow.jurisdiction,
    LeiRecordRow.scheme,
    LeiRecordRow.national_id,
    LeiRecordRow.entity_status,
    LeiRecordRow.registration_status,
    LeiRecordRow.category,
)


def sources_with_golden_copy(session: Session, sources: Iterable[str]) -> set[str]:
    """Those of ``sources`` (configured bureau names) with an applied level-1 load."""
    wanted = sorted(set(sources))
    if not wanted:
        return set()
    rows = session.scalars(
        select(GoldenCopyLoadRow.source)
        .where(
            GoldenCopyLoadRow.source.in_(wanted),
            GoldenCopyLoadRow.kind == "lei2",
            GoldenCopyLoadRow.status == APPLIED,
        )
        .distinct()
    )
    return set(rows)


def schemes_held(session: Session, source: str, candidates: Iterable[str]) -> set[str]:
    """Those of the national ``candidates`` schemes the source's records carry at least
    once (one indexed probe per scheme): the identifiers the file can answer for."""
    held = set()
    for scheme in sorted(set(candidates)):
        probe = (
            select(LeiRecordRow.lei)
            .where(LeiRecordRow.scheme == scheme, LeiRecordRow.source == source)
            .limit(1)
        )
        if session.scalar(probe) is not None:
            held.add(scheme)
    return held


def _usable(row: GoldenRecord) -> bool:
    return row.registration_status.upper() not in NOT_FOR_MATCHING


def records_by_lei(session: Session, source: str, leis: Collection[str]) -> dict[str, GoldenRecord]:
    """The usable records of ``leis`` (one query); an LEI absent or issued in error is
    absent from the answer."""
    if not leis:
        return {}
    rows = session.execute(
        select(*_COLUMNS).where(LeiRecordRow.source == source, LeiRecordRow.lei.in_(sorted(leis)))
    )
    found = (GoldenRecord(*row) for row in rows)
    return {r.lei: r for r in found if _usable(r)}


def records_by_national_id(
    session: Session, source: str, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], list[GoldenRecord]]:
    """The usable records carrying each ``(scheme, national_id)``, LEI order (one query
    per scheme on the ``(scheme, national_id)`` index)."""
    by_scheme: dict[str, set[str]] = defaultdict(set)
    for scheme, value in keys:
        by_scheme[scheme].add(value)
    found: dict[tuple[str, str], list[GoldenRecord]] = defaultdict(list)
    for scheme, values in sorted(by_scheme.items()):
        rows = session.execute(
            select(*_COLUMNS)
            .where(
                LeiRecordRow.scheme == scheme,
                LeiRecordRow.national_id.in_(sorted(values)),
                LeiRecordRow.source == source,
            )
            .order_by(LeiRecordRow.lei)
        )
        for row in rows:
            record = GoldenRecord(*row)
            if _usable(record) and record.national_id is not None:
                found[(scheme, record.national_id)].append(record)
    return dict(found)


def parents_of(session: Session, source: str, leis: Collection[str]) -> dict[str, Parents]:
    """Each of ``leis``' ACTIVE direct and ultimate consolidation parents (one query);
    an LEI with neither is absent. Of two ACTIVE parents of one type (the file should
    not hold them) the smaller LEI is taken, so the answer is stable."""
    if not leis:
        return {}
    rows = session.execute(
        select(
            LeiRelationshipRow.child_lei,
            LeiRelationshipRow.relationship_type,
            LeiRelationshipRow.parent_lei,
            LeiRelationshipRow.registration_status,
        )
        .where(
            LeiRelationshipRow.source == source,
            LeiRelationshipRow.child_lei.in_(sorted(leis)),
            LeiRelationshipRow.relationship_type.in_((DIRECT, ULTIMATE)),
            LeiRelationshipRow.status == "ACTIVE",
        )
        .order_by(LeiRelationshipRow.child_lei, LeiRelationshipRow.parent_lei.desc())
    )
    direct: dict[str, str] = {}
    ultimate: dict[str, str] = {}
    for child, kind, parent, registration in rows:
        if (registration or "").upper() in _WITHDRAWN_RELATIONSHIPS:
            continue
        (direct if kind == DIRECT else ultimate)[child] = parent  # the smallest wins
    return {
        lei: Parents(direct.get(lei), ultimate.get(lei)) for lei in sorted({*direct, *ultimate})
    }
