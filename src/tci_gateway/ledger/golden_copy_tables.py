"""A register's published golden copy, kept in the ledger (issue 15, migration 0012).

GLEIF publishes every LEI record three times a day as one file (the *golden copy*) with
delta files between; ``tci bureaus load gleif FILE [--delta]`` streams such a file into
these tables, so resolving 100k buyers is a look-up per buyer in the ledger rather than a
call to the register per buyer.

- ``lei_records``: one row per LEI (level 1), with the columns resolution needs and the
  national identifier the register authority crosswalk gives (``scheme``/``national_id``,
  indexed). ``digest`` is a hash of the raw record's columns, so a reload of an unchanged
  record writes nothing.
- ``lei_relationships``: level-2 relationship records (child, parent, type), for parents
  and group exposure.
- ``golden_copy_loads``: every load attempted, with its publication time and status: the
  publication of the last ``applied`` load per (source, kind) is the watermark a delta
  is checked against (a ``--force``d older full file moves it back: the ledger then
  holds that copy).

Re-exported from :mod:`tci_gateway.ledger.tables` so that module stays the whole schema.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tci_gateway.ledger.base import Base
from tci_gateway.ledger.types import UTCDateTime

LEI_RECORD_COLUMNS = (
    "lei",
    "legal_name",
    "country",
    "jurisdiction",
    "registration_authority",
    "registered_as",
    "scheme",
    "national_id",
    "entity_status",
    "registration_status",
    "category",
    "last_update",
    "digest",
)
"""The columns of ``lei_records`` a golden-copy file gives, in the field order of the
adapter contract's ``LeiRecord`` (``source`` and ``publication`` come from the load)."""
RELATIONSHIP_COLUMNS = (
    "child_lei",
    "relationship_type",
    "parent_lei",
    "status",
    "registration_status",
    "digest",
    "deleted",
)
"""A level-2 record's fields, in the order of the contract's ``LeiRelationship``
(``deleted``: withdrawn by a delta; not a column of ``lei_relationships``)."""


class LeiRecordRow(Base):
    """One legal entity of the register (level 1), as of the publication that last
    changed it."""

    __tablename__ = "lei_records"
    __table_args__ = (Index("ix_lei_records_national_id", "scheme", "national_id"),)

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    """The configured bureau the file came from (``gleif``)."""
    lei: Mapped[str] = mapped_column(String(20), primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(500))
    country: Mapped[str] = mapped_column(String(2))
    """Legal address country, ISO 3166-1 alpha-2; empty when the record has none."""
    jurisdiction: Mapped[str | None] = mapped_column(String(16))
    registration_authority: Mapped[str | None] = mapped_column(String(16))
    """``RegistrationAuthorityID`` (else ``OtherRegistrationAuthorityID``), raw."""
    registered_as: Mapped[str | None] = mapped_column(String(128))
    """``RegistrationAuthorityEntityID``, raw."""
    scheme: Mapped[str | None] = mapped_column(String(16))
    national_id: Mapped[str | None] = mapped_column(String(64))
    """The crosswalked national identifier (compact), when the authority maps to one."""
    entity_status: Mapped[str] = mapped_column(String(16))
    registration_status: Mapped[str] = mapped_column(String(24))
    category: Mapped[str | None] = mapped_column(String(40))
    last_update: Mapped[str | None] = mapped_column(String(40))
    """``Registration.LastUpdateDate`` as published (kept raw)."""
    publication: Mapped[str] = mapped_column(String(16))
    """The publication that last wrote the row, ``YYYYMMDD-HHMM``."""
    digest: Mapped[str] = mapped_column(String(32))


class LeiRelationshipRow(Base):
    """One level-2 relationship: ``child`` IS_..._BY / OF ``parent``."""

    __tablename__ = "lei_relationships"
    __table_args__ = (Index("ix_lei_relationships_parent", "source", "parent_lei"),)

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    child_lei: Mapped[str] = mapped_column(String(20), primary_key=True)
    relationship_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    parent_lei: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    """``Relationship.RelationshipStatus``: ACTIVE or INACTIVE."""
    registration_status: Mapped[str | None] = mapped_column(String(24))
    publication: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(32))


class GoldenCopyLoadRow(Base):
    """One file applied (or refused, already applied, rejected: ``status``). The
    watermark of (source, kind) is the ``publication`` of its last ``applied`` load."""

    __tablename__ = "golden_copy_loads"
    __table_args__ = (Index("ix_golden_copy_loads_watermark", "source", "kind", "publication"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    """``lei2`` (level 1) or ``rr`` (level 2 relationships)."""
    delta: Mapped[str | None] = mapped_column(String(16))
    """``None`` for a full golden copy, else ``IntraDay``, ``LastDay``, ``LastWeek`` or
    ``LastMonth``."""
    publication: Mapped[str] = mapped_column(String(16))
    file: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    records: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
