"""The status of a limit sync run (``sync_runs.status`` and the sync report)."""

from __future__ import annotations

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
