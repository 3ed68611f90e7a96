"""Loading a register's golden copy (``tci bureaus load NAME FILE [--delta]``).

The rules (``docs/golden-copy.md``): each (source, kind) has a watermark, the newest
publication applied (:func:`tci_gateway.ledger.golden_copy.watermark`); ``lei2`` and
``rr`` have their own.

- A full golden copy is applied whole: new and changed records written, unchanged ones
  not touched, records it no longer lists deleted. One older than the watermark is
  refused unless ``force`` (it would turn the ledger back in time).
- A delta needs a full load first. One published at or before the watermark was
  already applied (its changes are in a later file): nothing is done, and it is reported
  as such. One whose window (8 h IntraDay, 24 h LastDay, 7 days LastWeek, 31 days
  LastMonth before its publication) starts after the watermark would leave a gap: it is
  refused, naming the watermark and what to load instead.
- ``--delta`` must match the file: a full file with ``--delta``, or a delta without it,
  is refused (a full file deletes what it does not list; a delta must not).
- Any bad row: nothing is written (:class:`InputError` with file, row, column, reason).
- The watermark moves only when the whole apply commits (one transaction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tci_gateway.adapters.contract import GoldenCopyFile, LeiRecord, LeiRelationship
from tci_gateway.errors import InputError, RecordError
from tci_gateway.ledger import golden_copy as repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.logs import get_logger

DELTA_WINDOWS: dict[str, timedelta] = {
    "IntraDay": timedelta(hours=8),
    "LastDay": timedelta(hours=24),
    "LastWeek": timedelta(days=7),
    "LastMonth": timedelta(days=31),
}
"""How far back before its publication each delta kind's changes reach."""

MAX_ERRORS = 100
"""Bad rows collected before the read stops (nothing is written either way)."""

LoadStatus = Literal["applied", "already_applied", "refused", "rejected"]


@dataclass
class GoldenCopyLoadReport:
    """What a load did (``status``), or why not (``reason``), with the counts."""

    source: str
    kind: str
    delta: str | None
    publication: str
    file: str
    status: LoadStatus
    previous_watermark: str | None
    reason: str | None = None
    records: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    errors: list[RecordError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Applied, or nothing to do (already applied)."""
        return self.status in ("applied", "already_applied")

    @property
    def watermark(self) -> str | None:
        """The watermark after the load."""
        return self.publication if self.status == "applied" else self.previous_watermark

    def as_dict(self) -> dict[str, Any]:
        """The report for ``--json``."""
        return {
            "source": self.source,
            "kind": self.kind,
            "delta": self.delta,
            "publication": self.publication,
            "file": self.file,
            "status": self.status,
            "ok": self.ok,
            "reason": self.reason,
            "previous_watermark": self.previous_watermark,
            "watermark": self.watermark,
            "records": self.records,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "errors": [str(e) for e in self.errors],
        }


def _stamp(publication: str) -> datetime:
    return datetime.strptime(publication + "+0000", "%Y%m%d-%H%M%z").astimezone(UTC)


def _article(word: str | None) -> str:
    """The article before word: "an" before a vowel (an IntraDay delta), else "a"."""
    return "an" if word and word[0].upper() in "AEIOU" else "a"


def _sha256(file: GoldenCopyFile) -> str:
    with file.path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_delta(
    file: GoldenCopyFile, *, watermark: str | None, full_loaded: bool
) -> tuple[LoadStatus | None, str | None]:
    """Whether the delta ``file`` applies after ``watermark``: ``(None, None)`` when it
    does, else the status (``already_applied``/``refused``) and the reason."""
    kind = file.kind
    if not full_loaded or watermark is None:
        return "refused", (
            f"no full {kind} golden copy is loaded yet: load the full file "
            f"(…-gleif-goldencopy-{kind}-golden-copy.csv.zip) before its deltas"
        )
    if file.publication <= watermark:
        return "already_applied", (
            f"publication {file.publication} is not after the watermark {watermark}: "
            "already applied, nothing done"
        )
    assert file.delta is not None
    start = file.published_at - DELTA_WINDOWS[file.delta]
    if start > _stamp(watermark):
        return "refused", (
            f"the {file.delta} delta of {file.publication} covers changes since "
            f"{start:%Y%m%d-%H%M} only, after the watermark {watermark}: applying it would "
            "leave a gap; load a longer delta (LastDay, LastWeek, LastMonth) that reaches "
            "back to the watermark, or the full golden copy"
        )
    return None, None


def load_golden_copy(
    ledger: Ledger,
    source: str,
    file: GoldenCopyFile,
    *,
    now: datetime,
    delta_expected: bool,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> GoldenCopyLoadReport:
    """Apply one golden-copy or delta ``file`` of ``source`` (the configured bureau's
    name) under the watermark rules of the module docstring. A refusal is a report with
    ``status == "refused"`` and the reason (nothing written but the load's record);
    bad rows raise :class:`InputError` after recording the rejected load."""
    log = get_logger(source=source, kind=file.kind, delta=file.delta, publication=file.publication)
    name = file.path.name
    report = GoldenCopyLoadReport(
        source, file.kind, file.delta, file.publication, name, "refused", None
    )
    is_delta = file.delta is not None
    if is_delta != delta_expected:
        report.reason = (
            f"{name} is {_article(file.delta)} {file.delta} delta file: load it with --delta"
            if is_delta
            else f"{name} is a full golden copy, not a delta: load it without --delta"
        )
        log.info("golden_copy_load_refused", reason=report.reason)
        return report
    sha256 = _sha256(file)
    log.info("golden_copy_load_started", file=name)
    errors: list[RecordError] = []
    try:
        with ledger.unit_of_work() as session:
            repo.lock_source(session, source, file.kind)
            mark = repo.watermark(session, source, file.kind)
            report.previous_watermark = mark
            status: LoadStatus | None
            if is_delta:
                full = repo.full_watermark(session, source, file.kind)
                status, report.reason = check_delta(
                    file, watermark=mark, full_loaded=full is not None
                )
            elif mark is not None and file.publication < mark and not force:
                status, report.reason = (
                    "refused",
                    (
                        f"publication {file.publication} is older than the watermark {mark}: "
                        "loading it would turn the golden copy back; use --force to load it anyway"
                    ),
                )
            else:
                status = None
            if status is not None:
                report.status = status
                repo.record_load(
                    session,
                    source=source,
                    kind=file.kind,
                    delta=file.delta,
                    publication=file.publication,
                    file=str(file.path),
                    sha256=sha256,
                    status=status,
                    counts=repo.ApplyCounts(),
                    started_at=now,
                    finished_at=now,
                )
                event = (
                    "golden_copy_load_skipped"
                    if status == "already_applied"
                    else ("golden_copy_load_refused")
                )
                log.info(event, reason=report.reason, watermark=mark)
                return report
            apply = repo.apply_records if file.kind == "lei2" else repo.apply_relationships
            counts = apply(
                session,
                source,
                file.publication,
                _good_rows(file, errors),
                full=not is_delta,
                progress=progress,
            )
            repo.record_load(
                session,
                source=source,
                kind=file.kind,
                delta=file.delta,
                publication=file.publication,
                file=str(file.path),
                sha256=sha256,
                status="applied",
                counts=counts,
                started_at=now,
                finished_at=now,
            )
    except InputError as exc:
        report.status = "rejected"
        report.errors = exc.errors
        with ledger.unit_of_work() as session:
            repo.record_load(
                session,
                source=source,
                kind=file.kind,
                delta=file.delta,
                publication=file.publication,
                file=str(file.path),
                sha256=sha256,
                status="rejected",
                counts=repo.ApplyCounts(),
                started_at=now,
                finished_at=now,
            )
        log.warning("golden_copy_load_rejected", errors=len(exc.errors), first=str(exc.errors[0]))
        raise
    report.status = "applied"
    report.records, report.inserted, report.updated = (
        counts.records,
        counts.inserted,
        counts.updated,
    )
    report.unchanged, report.deleted = counts.unchanged, counts.deleted
    log.info(
        "golden_copy_load_applied",
        records=counts.records,
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        deleted=counts.deleted,
        previous_watermark=report.previous_watermark,
    )
    return report


def _good_rows(
    file: GoldenCopyFile, errors: list[RecordError]
) -> Iterator[LeiRecord | LeiRelationship]:
    """The file's records; bad rows are collected (up to :data:`MAX_ERRORS`) and raised
    as one :class:`InputError` at the end, before anything is merged."""
    for item in file.records():
        if isinstance(item, RecordError):
            errors.append(item)
            if len(errors) >= MAX_ERRORS:
                break
        elif not errors:
            yield item
    if errors:
        raise InputError(errors)
