"""The status of a limit sync run (``sync_runs.status``) and the sync's report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SyncStatus(StrEnum):
    """``RUNNING`` until the run's reconciliation commits; then ``SUCCEEDED`` (every
    record read and reconciled), ``PARTIAL`` (the run's entries were reconciled but some
    records or a page could not be read: not a success) or ``FAILED`` (nothing of the run
    reached the ledger)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"


@dataclass
class SyncReport:
    """What a limit sync did (``tci sync limits``, the nightly cycle, the API's runs)."""

    insurer: str
    policy: str
    run_id: int | None = None
    status: SyncStatus = SyncStatus.RUNNING
    fetched: int = 0
    written: int = 0
    unchanged: int = 0
    stale: int = 0
    alerts: int = 0
    errors: list[str] = field(default_factory=list)
    backfill: bool = False
    staging_pruned: int = 0

    @property
    def ok(self) -> bool:
        """The one judgement of a sync: every record read and reconciled. A ``partial``
        run (records or a page that could not be read) is not ok, nor a failed one."""
        return self.status is SyncStatus.SUCCEEDED
