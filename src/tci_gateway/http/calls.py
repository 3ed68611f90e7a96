"""The values of a call made with :class:`tci_gateway.http.client.ApiClient` (re-exported
there): its timeouts, what an error envelope said, a parsed answer, the context a client
is built from, and the retry stop at the call's deadline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import tenacity

from tci_gateway.http.retry import RetryPolicy


@dataclass(frozen=True)
class Timeouts:
    """Connect and read timeouts of each attempt, and the whole call's deadline (s)."""

    connect: float = 5.0
    read: float = 30.0
    deadline: float = 120.0


@dataclass
class ParsedError:
    """What an API's error envelope said."""

    message: str
    code: str | None = None
    details: list[str] = field(default_factory=list)
    request_id: str | None = None  # the API's own id for the request, when in the body


@dataclass(frozen=True)
class ApiResponse:
    """A parsed answer: status, JSON payload, headers and the call's ids."""

    status: int
    payload: Any
    headers: Mapping[str, str]
    correlation_id: str
    request_id: str | None


class ClientContext(Protocol):
    """What :meth:`~tci_gateway.http.client.ApiClient.from_context` reads (an
    adapter's ``AdapterContext``)."""

    @property
    def name(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def transport(self) -> httpx.BaseTransport | None: ...
    @property
    def timeouts(self) -> Timeouts: ...
    @property
    def retry(self) -> RetryPolicy: ...


class StopAtDeadline(tenacity.stop.stop_base):
    """The policy's own stop, or the next wait would reach the call's deadline (measured
    on the client's clock): give up with the real error rather than sleep into a timeout."""

    def __init__(
        self,
        policy_stop: Callable[[tenacity.RetryCallState], bool],
        clock: Callable[[], float],
        deadline_at: float,
    ) -> None:
        self.policy_stop = policy_stop
        self.clock = clock
        self.deadline_at = deadline_at

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if self.policy_stop(retry_state):
            return True
        return self.clock() + (retry_state.upcoming_sleep or 0.0) >= self.deadline_at
