"""Shared helpers for adapter tests: retry policies that never sleep."""

from __future__ import annotations

import pytest
import tenacity

from tci_gateway.http.retry import RetryPolicy


class SleepRecorder:
    """Stands in for ``time.sleep``: records the waits, never sleeps."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def retry(sleeps: SleepRecorder) -> RetryPolicy:
    """No backoff wait, Retry-After honoured (capped at 5 s) into ``sleeps``."""
    return RetryPolicy(wait=tenacity.wait_none(), sleep=sleeps, retry_after_max=5.0)
