"""Test controls the adapters' sandboxes share: queued faults, the clock, the counter.

Every sandbox offers the same controls to the contract suites
(:class:`~tci_gateway.adapters.contract_testing.ContractSandbox`): ``inject`` queues
:class:`~tci_gateway.adapters.contract_testing.Fault` objects, each applied once to the
next request it matches; ``pending_faults`` lists those not yet applied; ``advance``
moves the sandbox clock; ``received`` counts requests per ``(method, path)``;
``posts_per_reference`` counts the non-idempotent writes (cover requests, overdue
filings) that reached the insurer's book, per client reference.

:class:`FaultQueue` holds the faults, :func:`advance_clock` moves a clock that can be
advanced, :func:`fault_response` builds the answer a fault gives, and
:class:`SandboxControls` puts them together for a sandbox class that keeps its state
under one re-entrant lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

import httpx

from tci_gateway.adapters.contract_testing import Fault

__all__ = [
    "BAD_GATEWAY_PAGE",
    "BARE_BAD_GATEWAY_PAGE",
    "FaultQueue",
    "SandboxControls",
    "advance_clock",
    "fault_response",
]

BAD_GATEWAY_PAGE = b"<html><head><title>Bad Gateway</title></head><body><h1>502</h1></body></html>"
"""The HTML page a sandbox answers for an ``html`` fault, unless it has its own."""

BARE_BAD_GATEWAY_PAGE = b"<html><head><title>Bad Gateway</title></head><body>502</body></html>"
"""The same page without a heading (what the bureau sandboxes answer)."""


class FaultQueue:
    """Injected faults, in order, each taken by the first request it matches.

    It shares the lock of the sandbox that owns it (a new one when none is given), so
    faults can be queued from a test while the sandbox serves on another thread.
    """

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._lock = lock if lock is not None else threading.RLock()
        self._faults: list[Fault] = []

    def inject(self, *faults: Fault) -> None:
        """Queue faults, each applied once to the next request it matches."""
        with self._lock:
            self._faults.extend(faults)

    def pending(self) -> tuple[Fault, ...]:
        """Faults not yet applied."""
        with self._lock:
            return tuple(self._faults)

    def take(
        self, method: str, path: str, *, is_auth: bool, codes_apply: bool = False
    ) -> Fault | None:
        """Remove and return the first fault that applies to a request, if any.

        A fault applies when it :meth:`~Fault.matches` the request; one with an
        ``unknown_code`` applies only where ``codes_apply`` (a read whose record codes
        the sandbox can rewrite).
        """
        with self._lock:
            for index, fault in enumerate(self._faults):
                if not fault.matches(method, path, is_auth=is_auth):
                    continue
                if fault.unknown_code is not None and not codes_apply:
                    continue
                return self._faults.pop(index)
            return None


def advance_clock(
    clock: Callable[[], datetime], seconds: float, lock: threading.RLock | None = None
) -> None:
    """Move ``clock`` forward by ``seconds`` (under ``lock`` when given); a clock
    without ``advance`` (one the caller injected) is refused with a ``TypeError``."""
    advance = getattr(clock, "advance", None)
    if advance is None:
        raise TypeError("the injected clock cannot be advanced: advance it yourself")
    if lock is None:
        advance(seconds)
        return
    with lock:
        advance(seconds)


def fault_response(
    fault: Fault,
    request: httpx.Request,
    *,
    error: Callable[[int], httpx.Response],
    malformed: bytes,
    json_headers: Mapping[str, str],
    page: bytes = BAD_GATEWAY_PAGE,
) -> httpx.Response:
    """The answer an injected fault gives (or the transport error it raises).

    ``raise_exc`` is raised; ``html`` answers ``page`` (status 502 unless the fault
    says); ``malformed_json`` answers ``malformed``, a JSON body cut short (status 200
    unless the fault says); otherwise ``error(status)`` answers in the API's own error
    envelope (status 500 unless the fault says), with ``Retry-After`` when the fault
    has one.
    """
    if fault.raise_exc is not None:
        raise fault.raise_exc("sandbox fault", request=request)
    if fault.html:
        return httpx.Response(
            fault.status or 502, headers={"Content-Type": "text/html"}, content=page
        )
    if fault.malformed_json:
        return httpx.Response(fault.status or 200, headers=json_headers, content=malformed)
    response = error(fault.status or 500)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return response


class SandboxControls:
    """The test controls of a sandbox: ``inject``, ``pending_faults``, ``advance``.

    A sandbox class inherits from it and, in its ``__init__``, sets ``clock``,
    ``received`` (a ``Counter``), ``_lock`` (a re-entrant lock guarding all its state)
    and ``_faults`` (a :class:`FaultQueue` sharing that lock).
    """

    clock: Callable[[], datetime]
    received: Counter[tuple[str, str]]
    _lock: threading.RLock
    _faults: FaultQueue

    def inject(self, *faults: Fault) -> None:
        """Queue faults, each applied once to the next request it matches."""
        self._faults.inject(*faults)

    @property
    def pending_faults(self) -> tuple[Fault, ...]:
        """Faults not yet applied."""
        return self._faults.pending()

    def advance(self, seconds: float) -> None:
        """Move the sandbox clock forward (its clock must have ``advance``)."""
        advance_clock(self.clock, seconds, self._lock)

    @property
    def posts_per_reference(self) -> Counter[str]:
        """How many non-idempotent writes (cover requests, overdue filings) reached the
        sandbox per client reference, whether it stored or refused them: a request
        answered by an injected fault *before* processing is not counted, one answered
        by a fault *after* processing is. Exactly-once tests compare each with 1."""
        with self._lock:
            return Counter(self.__dict__.get("_posted", {}))

    def _count_post(self, reference: object) -> None:
        """Count one write carrying ``reference``; call it holding ``_lock``."""
        posted: Counter[str] = self.__dict__.setdefault("_posted", Counter())
        posted[str(reference)] += 1

    def _receive(self, request: httpx.Request) -> tuple[str, str]:
        """Count a request in ``received`` and return its ``(method, path)``; call it
        holding ``_lock``."""
        method, path = request.method.upper(), request.url.path
        self.received[(method, path)] += 1
        return method, path
