"""The contract of a register's bulk file (a *golden copy*): what a plugin's
``read_golden_copy`` returns, record by record, for ``tci bureaus load``.

A file is read streamed, never whole: ``records()`` yields one normalised record (or a
:class:`~tci_gateway.errors.RecordError` naming the file, row, column and reason) at a
time. The publication, the kind (level 1 ``lei2`` or level 2 ``rr``) and the delta kind
come from the file itself (GLEIF's published file name), so a loader can check them
against its watermark before reading a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from tci_gateway.errors import RecordError

GoldenCopyKind = Literal["lei2", "rr"]
DELTA_KINDS = ("IntraDay", "LastDay", "LastWeek", "LastMonth")
"""GLEIF's delta files, covering the changes since the golden copy of 8 hours, 24 hours,
7 days and 31 days before their publication."""


class LeiRecord(NamedTuple):
    """One level-1 record, the columns resolution needs; ``scheme``/``national_id`` is
    the crosswalked national identifier (compact) when the registration authority maps
    to one; ``digest`` hashes the raw record, so an unchanged record is seen as such."""

    lei: str
    legal_name: str
    country: str
    jurisdiction: str | None
    registration_authority: str | None
    registered_as: str | None
    scheme: str | None
    national_id: str | None
    entity_status: str
    registration_status: str
    category: str | None
    last_update: str | None
    digest: str


class LeiRelationship(NamedTuple):
    """One level-2 relationship record; ``deleted`` marks a delta's withdrawn record
    (its ``DeletedAt`` column)."""

    child_lei: str
    relationship_type: str
    parent_lei: str
    status: str
    registration_status: str | None
    digest: str
    deleted: bool = False


class GoldenCopyFile(Protocol):
    """A golden copy or delta file, opened but not yet read."""

    path: Path
    kind: GoldenCopyKind
    delta: str | None
    """``None`` for a full golden copy, else one of :data:`DELTA_KINDS`."""
    publication: str
    """``YYYYMMDD-HHMM`` as in the file name."""
    published_at: datetime
    """The publication time, UTC."""

    def records(self) -> Iterator[LeiRecord | LeiRelationship | RecordError]: ...


GoldenCopyReader = Callable[[Path, Mapping[str, Any]], GoldenCopyFile]
"""A plugin's ``read_golden_copy(path, options)``: ``options`` are the configured
adapter's own (the registration-authority crosswalk). Raises
:class:`~tci_gateway.errors.InputError` for a file it cannot read at all (a name not in
the published pattern, not a ZIP, a missing column)."""
