"""The state of a scheduled job's run (``job_runs.state``).

Kept apart from the scheduler so that the ledger's tables can use it: this module
imports nothing of ``tci_gateway``.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """``RUNNING`` while its owner holds the run's lease; ``SUCCEEDED`` or ``FAILED``
    once the job finished (a failed run is retried as the scheduler's settings say)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
