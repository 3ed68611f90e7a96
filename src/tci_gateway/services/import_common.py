"""What the ERP imports share: the report, the collected record errors, and the few
helpers both the buyers and the open-items import use."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from tci_gateway.erp.profiles import ErpProfile, read_with_profile
from tci_gateway.erp.reader import Columns, RawRecord, file_sha256, read_records
from tci_gateway.errors import ConfigError, InputError, RecordError
from tci_gateway.ledger.policies import policy_ids

MAX_ERRORS = 1000

Progress = Callable[[int], None]
Finish = Callable[[Session, "ImportReport"], None]
"""Called last inside an import's transaction, with its report."""


@dataclass
class ImportReport:
    """What an import did. ``source`` is the file; open items also say the import source
    and company codes they belong to (``scope``), whether the file was ``complete`` and
    how many items of that scope it ``closed``."""

    kind: str
    source: str
    sha256: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    complete: bool = False
    item_source: str | None = None
    company_codes: list[str] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.closed

    @property
    def ok(self) -> bool:
        """The one judgement of an import: no record error. (A file with errors is
        refused whole, with an :class:`~tci_gateway.errors.InputError`, so a report
        returned is ok; the property is what callers ask.)"""
        return not self.errors


class RecordErrors:
    """The record errors of one import, at most :data:`MAX_ERRORS`."""

    def __init__(self, profile: ErpProfile | None = None) -> None:
        self.items: list[RecordError] = []
        self.profile = profile

    def add(self, error: RecordError) -> None:
        """An error naming a canonical column (shown by its name in the profile's file)."""
        self.add_raw(self.profile.rename(error) if self.profile else error)

    def add_raw(self, error: RecordError) -> None:
        """An error from the reader, which already names the file's own column."""
        if self.items and self.items[-1] == error:
            return  # two canonical columns read from one cell of a profile's file
        if len(self.items) < MAX_ERRORS:
            self.items.append(error)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise InputError(self.items)

    def in_file_order(self) -> None:
        """Sort the errors by row (file-level ones first), keeping each row's order."""
        self.items.sort(key=lambda e: e.row or 0)


def file_sha(path: Path) -> str:
    """The file's fingerprint, or empty when there is no file to read."""
    return file_sha256(path) if path.is_file() else ""


def check_profile(profile: ErpProfile | None, kind: str) -> None:
    """Refuse a mapping profile made for the other kind of file."""
    if profile is not None and profile.kind != kind:
        raise ConfigError(f"the mapping profile is for {profile.kind} files, not {kind}")


def records_of(
    path: Path, columns: Columns, json_key: str, profile: ErpProfile | None
) -> Iterator[RawRecord | RecordError]:
    """The records of ``path``, through ``profile`` when given."""
    if profile is None:
        return read_records(path, columns, json_key=json_key)
    return read_with_profile(path, profile)


def policy_filter(session: Session, keys: Collection[str] | None) -> set[int | None] | None:
    """The ids of the policy ``keys`` (``None``: every policy allowed)."""
    if keys is None:
        return None
    ids = policy_ids(session)
    return {ids[k] for k in keys if k in ids}


def outside_policy(file: str, row: int, account: str, keys: Collection[str]) -> RecordError:
    """The error for an ERP account under a policy the batch may not write."""
    allowed = ", ".join(sorted(keys)) or "none"
    return RecordError(
        file,
        row,
        "erp_account",
        f"ERP account {account!r} is not under a policy this batch may write (allowed: {allowed})",
    )
