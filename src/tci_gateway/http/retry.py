"""The retry table, built once from settings (``docs/architecture.md``, section 4, "retries").

Retried: transport failures before anything was sent, and the statuses in
:data:`RETRY_STATUSES`. Never retried: 400/403/404/409/422 and every other status, and
any non-idempotent call whose outcome is ambiguous (that raises
:class:`~tci_gateway.errors.AmbiguousOutcomeError`, which callers reconcile by client
reference). Waits are capped full-jitter exponential; a ``Retry-After`` (seconds or
HTTP date) is honoured up to a cap. The whole call stops at its deadline.
Tests pass ``wait=wait_none()`` and a fake ``sleep`` instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import tenacity
from tenacity import RetryCallState
from tenacity.wait import wait_base

from tci_gateway.errors import AdapterError, CallTimeoutError, TransientError

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 425, 429, 502, 503, 504})
"""Statuses retried for idempotent calls. Non-idempotent calls retry only 425 and 429,
which say the request was not processed."""

NOT_PROCESSED_STATUSES = frozenset({425, 429})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone accepts e.g. "²"
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def is_retriable(error: BaseException) -> bool:
    """The retry table: transport failures (``status is None``) and retriable statuses.

    A :class:`~tci_gateway.errors.CallTimeoutError` means the call's overall deadline has
    passed: it is never retried."""
    if not isinstance(error, TransientError) or isinstance(error, CallTimeoutError):
        return False
    return error.status is None or error.status in RETRY_STATUSES


class wait_retry_after(wait_base):
    """Wait what ``Retry-After`` asked (capped), else fall back to jittered backoff.

    Honoured on every transient status that carries it (429, and 503 per RFC 9110)."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            error = outcome.exception()
            if isinstance(error, TransientError) and error.retry_after is not None:
                return min(error.retry_after, self.cap)
        return float(self.fallback(retry_state))


@dataclass(frozen=True)
class RetryPolicy:
    """Capped, jittered retries with a per-call deadline."""

    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    deadline: float = 120.0
    wait: wait_base | None = None
    sleep: Callable[[float], None] = time.sleep

    def retrying(self) -> tenacity.Retrying:
        """A fresh ``Retrying`` (never share one across threads)."""
        fallback = self.wait or tenacity.wait_random_exponential(
            multiplier=self.backoff_initial, max=self.backoff_max
        )
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retriable),
            wait=wait_retry_after(fallback, self.retry_after_max),
            stop=tenacity.stop_after_attempt(self.max_attempts)
            | tenacity.stop_after_delay(self.deadline),
            sleep=self.sleep,
            reraise=True,
        )


def call_with_retry(policy: RetryPolicy, fn: Callable[[], T]) -> T:
    """Run ``fn`` under ``policy``; the last error is re-raised as itself."""
    for attempt in policy.retrying():
        with attempt:
            return fn()
    raise AdapterError("retry loop ended without a result")  # pragma: no cover
