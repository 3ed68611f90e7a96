"""Writing a register's golden copy into the ledger (the write side of
:mod:`tci_gateway.ledger.golden_copy_tables`; ``golden_copy_lookup`` is the read side).

One file is applied in one transaction, set-based:

1. its records are streamed into a TEMP staging table (PostgreSQL ``COPY FROM STDIN``
   through psycopg's ``cursor.copy()``; SQLite ``executemany`` in chunks), so memory
   stays flat whatever the file's size; the first full load of a source goes straight
   into the table the same way (there is nothing to compare it with);
2. one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` merges the staged rows whose
   digest differs from the stored one (an unchanged record is not written at all);
3. a full golden copy replaces: the source's rows the file does not list are deleted;
   a level-2 delta's withdrawn relationships (``DeletedAt``) are deleted;
4. the load is recorded in ``golden_copy_loads``: the newest ``applied`` publication of
   (source, kind) is the watermark, so it advances only when the whole apply commits.

Rows are plain tuples in the order of :data:`LEI_COLUMNS` / :data:`RELATIONSHIP_COLUMNS`
(the adapter contract's ``LeiRecord`` / ``LeiRelationship`` are such tuples).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger.golden_copy_tables import (
    LEI_RECORD_COLUMNS,
    RELATIONSHIP_COLUMNS,
    GoldenCopyLoadRow,
    LeiRecordRow,
    LeiRelationshipRow,
)

LEI_COLUMNS = LEI_RECORD_COLUMNS
"""A level-1 row's fields, in order."""

# Table and column names below are this module's constants, never input: every value
# is bound, hence the S608 waivers.
CHUNK = 10_000
APPLIED = "applied"
_LEI_STAGE = "gc_lei_stage"
_REL_STAGE = "gc_rel_stage"
_REL_KEY = ("child_lei", "relationship_type", "parent_lei")

Progress = Callable[[int], None]


@dataclass
class ApplyCounts:
    """What one apply did: ``records`` staged; ``inserted`` + ``updated`` written;
    ``unchanged`` skipped by digest; ``deleted`` removed (rows a full file no longer
    lists, or relationships a delta withdraws)."""

    records: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class KindStatus:
    """One (source, kind): its watermark, rows kept and last load of any status."""

    kind: str
    watermark: str | None
    full_publication: str | None
    rows: int
    last_publication: str | None
    last_delta: str | None
    last_status: str | None
    last_finished_at: datetime | None
    last_file: str | None


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_source(session: Session, source: str, kind: str) -> None:
    """Serialise loads of one (source, kind) for the rest of the transaction (a
    PostgreSQL advisory lock; SQLite's ``BEGIN IMMEDIATE`` already serialises writers)."""
    if _postgres(session):
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"golden_copy:{source}:{kind}"},
        )


def watermark(session: Session, source: str, kind: str) -> str | None:
    """The publication (``YYYYMMDD-HHMM``) of the last load applied for (source, kind).
    Deltas only move it forward; a full file forced older than it moves it back (the
    ledger then holds that older copy, and later deltas are checked against it)."""
    t = GoldenCopyLoadRow
    return session.scalar(
        select(t.publication)
        .where(t.source == source, t.kind == kind, t.status == APPLIED)
        .order_by(t.id.desc())
        .limit(1)
    )


def full_watermark(session: Session, source: str, kind: str) -> str | None:
    """The publication of the last full golden copy applied for (source, kind);
    ``None``: none yet."""
    t = GoldenCopyLoadRow
    return session.scalar(
        select(t.publication)
        .where(t.source == source, t.kind == kind, t.status == APPLIED, t.delta.is_(None))
        .order_by(t.id.desc())
        .limit(1)
    )


def record_load(
    session: Session,
    *,
    source: str,
    kind: str,
    delta: str | None,
    publication: str,
    file: str,
    sha256: str,
    status: str,
    counts: ApplyCounts,
    started_at: datetime,
    finished_at: datetime,
) -> None:
    """Add one row to ``golden_copy_loads`` (``status`` ``applied`` moves the
    watermark; ``refused``, ``rejected`` and ``already_applied`` do not)."""
    session.execute(
        insert(GoldenCopyLoadRow).values(
            source=source,
            kind=kind,
            delta=delta,
            publication=publication,
            file=file[-500:],
            sha256=sha256,
            status=status,
            records=counts.records,
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=counts.unchanged,
            deleted=counts.deleted,
            started_at=started_at,
            finished_at=finished_at,
        )
    )


# -- staging ------------------------------------------------------------------------


def _chunks(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    it = iter(rows)
    while chunk := list(islice(it, CHUNK)):
        yield chunk


def _stage(
    session: Session,
    table: str,
    columns: tuple[str, ...],
    rows: Iterable[tuple[Any, ...]],
    progress: Progress | None,
) -> int:
    """Create the TEMP table ``table`` (all text, no index) and stream ``rows`` in."""
    cols = ", ".join(f"{c} {'boolean' if c == 'deleted' else 'text'}" for c in columns)
    if _postgres(session):
        session.execute(text(f"CREATE TEMP TABLE {table} ({cols}) ON COMMIT DROP"))
    else:
        session.execute(text(f"DROP TABLE IF EXISTS temp.{table}"))
        session.execute(text(f"CREATE TEMP TABLE {table} ({cols})"))
    count = _stream(session, table, columns, rows, progress)
    if _postgres(session):  # statistics for the merge's joins (a sample: cheap)
        session.execute(text(f"ANALYZE {table}"))
    return count


def _stream(
    session: Session,
    table: str,
    columns: tuple[str, ...],
    rows: Iterable[tuple[Any, ...]],
    progress: Progress | None,
) -> int:
    """Put ``rows`` into ``table``: ``COPY FROM STDIN`` on PostgreSQL, ``executemany``
    in chunks on SQLite, in the session's transaction. A key listed twice (a unique
    index refusing a row) is an :class:`InputError`."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    count = 0
    try:
        if _postgres(session):
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for chunk in _chunks(rows):
                    for row in chunk:
                        copy.write_row(row)
                    count += len(chunk)
                    if progress is not None:
                        progress(count)
            return count
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        cursor = raw.cursor()
        try:
            for chunk in _chunks(rows):
                cursor.executemany(sql, chunk)
                count += len(chunk)
                if progress is not None:
                    progress(count)
        finally:
            cursor.close()
        return count
    except Exception as exc:
        if isinstance(exc, sqlite3.IntegrityError) or getattr(exc, "sqlstate", None) == "23505":
            detail = str(exc).splitlines()
            why = next((line for line in detail if "Key (" in line), detail[0] if detail else "")
            raise InputError(
                [RecordError("golden copy", None, None, f"a key is listed more than once: {why}")]
            ) from None
        raise


def _drop(session: Session, table: str) -> None:
    if not _postgres(session):
        session.execute(text(f"DROP TABLE IF EXISTS temp.{table}"))


def _rows_of(session: Session, table: type[LeiRecordRow | LeiRelationshipRow], source: str) -> int:
    return int(
        session.scalar(select(func.count()).select_from(table).where(table.source == source)) or 0
    )


def _fresh_statistics(session: Session, table: str, rows: int) -> None:
    """On PostgreSQL, ``ANALYZE table`` when its statistics count fewer than half the
    ``rows`` it holds for the source (e.g. right after a first load that went straight
    in): planned as nearly empty, the merge's and the delete's anti-joins became nested
    loops scanning the staged file per stored row (a rerun of 1M records ran for more
    than 15 minutes). A sample of the table: a fraction of a second."""
    if not _postgres(session):
        return
    known = session.scalar(
        text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"), {"table": table}
    )
    if known is None or float(known) < rows / 2:
        session.execute(text(f"ANALYZE {table}"))


def _merge(session: Session, sql: str, params: dict[str, Any], stage: str, key: str) -> int:
    """Run the merge; on PostgreSQL a key listed twice in the file (which ``ON CONFLICT``
    refuses) is an :class:`InputError` naming it."""
    if not _postgres(session):
        return int(session.execute(text(sql), params).rowcount or 0)  # type: ignore[attr-defined]
    try:
        with session.begin_nested():
            return int(session.execute(text(sql), params).rowcount or 0)  # type: ignore[attr-defined]
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "21000":  # cardinality_violation
            raise
    twice = session.execute(
        text(f"SELECT {key} FROM {stage} GROUP BY {key} HAVING count(*) > 1 LIMIT 1")  # noqa: S608
    ).first()
    what = " / ".join(str(v) for v in twice) if twice else "a key"
    raise InputError([RecordError("golden copy", None, None, f"{what} is listed more than once")])


# -- level 1 ------------------------------------------------------------------------


def apply_records(
    session: Session,
    source: str,
    publication: str,
    rows: Iterable[tuple[Any, ...]],
    *,
    full: bool,
    progress: Progress | None = None,
) -> ApplyCounts:
    """Stage and merge level-1 ``rows`` (:data:`LEI_COLUMNS`) for ``source``; a
    ``full`` file also deletes the source's records it does not list."""
    before = _rows_of(session, LeiRecordRow, source)
    if full and before == 0:  # the first full load: straight in, nothing to compare
        columns = ("source", *LEI_COLUMNS, "publication")
        direct = ((source, *r, publication) for r in rows)
        staged = _stream(session, "lei_records", columns, direct, progress)
        return ApplyCounts(records=staged, inserted=staged)
    _fresh_statistics(session, "lei_records", before)
    staged = _stage(session, _LEI_STAGE, LEI_COLUMNS, rows, progress)
    data = LEI_COLUMNS[1:]
    sql = (
        f"INSERT INTO lei_records (source, {', '.join(LEI_COLUMNS)}, publication) "  # noqa: S608
        f"SELECT CAST(:source AS text), {', '.join('s.' + c for c in LEI_COLUMNS)}, "
        "CAST(:publication AS text) "
        f"FROM {_LEI_STAGE} s WHERE NOT EXISTS (SELECT 1 FROM lei_records r "
        "WHERE r.source = :source AND r.lei = s.lei AND r.digest = s.digest) "
        "ON CONFLICT (source, lei) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in (*data, "publication"))
        + " WHERE lei_records.digest <> excluded.digest"
    )
    written = _merge(
        session, sql, {"source": source, "publication": publication}, _LEI_STAGE, "lei"
    )
    after = _rows_of(session, LeiRecordRow, source)
    counts = ApplyCounts(records=staged, inserted=after - before)
    counts.updated = written - counts.inserted
    counts.unchanged = staged - written
    if full and before:
        counts.deleted = _delete_missing(session, "lei_records", _LEI_STAGE, ("lei",), source)
    _drop(session, _LEI_STAGE)
    return counts


def _delete_missing(
    session: Session, table: str, stage: str, key: tuple[str, ...], source: str, where: str = ""
) -> int:
    """Delete ``source``'s rows of ``table`` whose key the staged file does not list."""
    match = " AND ".join(f"s.{k} = {table}.{k}" for k in key)
    if _postgres(session) or len(key) > 1:
        sql = (
            f"DELETE FROM {table} WHERE source = :source AND NOT EXISTS "  # noqa: S608
            f"(SELECT 1 FROM {stage} s WHERE {match}{where})"
        )
    else:  # SQLite: one ephemeral index over the staged keys
        sql = (
            f"DELETE FROM {table} WHERE source = :source AND {key[0]} NOT IN "  # noqa: S608
            f"(SELECT {key[0]} FROM {stage} s WHERE true{where})"
        )
    return int(session.execute(text(sql), {"source": source}).rowcount or 0)  # type: ignore[attr-defined]


# -- level 2 ------------------------------------------------------------------------


def apply_relationships(
    session: Session,
    source: str,
    publication: str,
    rows: Iterable[tuple[Any, ...]],
    *,
    full: bool,
    progress: Progress | None = None,
) -> ApplyCounts:
    """Stage and merge level-2 ``rows`` (:data:`RELATIONSHIP_COLUMNS`): withdrawn ones
    (``deleted``) are deleted, the others upserted; a ``full`` file also deletes the
    source's relationships it does not list."""
    before = _rows_of(session, LeiRelationshipRow, source)
    keep = RELATIONSHIP_COLUMNS[:-1]
    if full and before == 0:  # the first full load: straight in, nothing to compare
        columns = ("source", *keep, "publication")
        direct = ((source, *r[:-1], publication) for r in rows if not r[-1])
        staged = _stream(session, "lei_relationships", columns, direct, progress)
        return ApplyCounts(records=staged, inserted=staged)
    _fresh_statistics(session, "lei_relationships", before)
    staged = _stage(session, _REL_STAGE, RELATIONSHIP_COLUMNS, rows, progress)
    if not _postgres(session) and staged > CHUNK:
        session.execute(
            text(f"CREATE INDEX temp.gc_rel_stage_key ON {_REL_STAGE} ({', '.join(_REL_KEY)})")
        )
    match = " AND ".join(f"r.{k} = s.{k}" for k in _REL_KEY)
    sql = (
        f"INSERT INTO lei_relationships (source, {', '.join(keep)}, publication) "  # noqa: S608
        f"SELECT CAST(:source AS text), {', '.join('s.' + c for c in keep)}, "
        "CAST(:publication AS text) "
        f"FROM {_REL_STAGE} s WHERE NOT s.deleted AND NOT EXISTS (SELECT 1 FROM "
        f"lei_relationships r WHERE r.source = :source AND {match} AND r.digest = s.digest) "
        f"ON CONFLICT (source, {', '.join(_REL_KEY)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in (*keep[3:], "publication"))
        + " WHERE lei_relationships.digest <> excluded.digest"
    )
    written = _merge(
        session,
        sql,
        {"source": source, "publication": publication},
        _REL_STAGE,
        ", ".join(_REL_KEY),
    )
    after = _rows_of(session, LeiRelationshipRow, source)
    counts = ApplyCounts(records=staged, inserted=after - before)
    counts.updated = written - counts.inserted
    withdrawn = session.execute(
        text(
            f"DELETE FROM lei_relationships WHERE source = :source AND EXISTS (SELECT 1 FROM "  # noqa: S608
            f"{_REL_STAGE} s WHERE s.deleted AND "
            + " AND ".join(f"s.{k} = lei_relationships.{k}" for k in _REL_KEY)
            + ")"
        ),
        {"source": source},
    ).rowcount  # type: ignore[attr-defined]
    counts.deleted = int(withdrawn or 0)
    counts.unchanged = staged - written - counts.deleted
    if full and before:
        counts.deleted += _delete_missing(
            session, "lei_relationships", _REL_STAGE, _REL_KEY, source, " AND NOT s.deleted"
        )
    _drop(session, _REL_STAGE)
    return counts


# -- status -------------------------------------------------------------------------


def load_status(session: Session, source: str) -> list[KindStatus]:
    """Each kind's watermark, rows kept and last load (of any status) for ``source``."""
    t = GoldenCopyLoadRow
    result: list[KindStatus] = []
    for kind, table in (("lei2", LeiRecordRow), ("rr", LeiRelationshipRow)):
        last = session.execute(
            select(t).where(t.source == source, t.kind == kind).order_by(t.id.desc()).limit(1)
        ).scalar_one_or_none()
        result.append(
            KindStatus(
                kind=kind,
                watermark=watermark(session, source, kind),
                full_publication=full_watermark(session, source, kind),
                rows=_rows_of(session, table, source),
                last_publication=last.publication if last else None,
                last_delta=last.delta if last else None,
                last_status=last.status if last else None,
                last_finished_at=last.finished_at if last else None,
                last_file=last.file if last else None,
            )
        )
    return result
