"""Observers of failed insurer and bureau calls.

The HTTP client reports every failed attempt (an error status, a transport failure, an
unreadable answer) to the observers registered here; the HTTP API registers one that
counts them for ``GET /metrics``. This keeps the client free of any metrics library and of
the layers above it: they register, the client only calls.

An observer must be quick and must not raise: an exception it raises is swallowed (a
metric is never worth a failed call).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tci_gateway.errors import AdapterError

CallErrorObserver = Callable[[AdapterError], None]

_observers: list[CallErrorObserver] = []
_lock = threading.Lock()


def add_call_error_observer(observer: CallErrorObserver) -> Callable[[], None]:
    """Register ``observer`` (once: registering it again is a no-op); answers the function
    that removes it."""
    with _lock:
        if observer not in _observers:
            _observers.append(observer)

    def remove() -> None:
        with _lock:
            if observer in _observers:
                _observers.remove(observer)

    return remove


def call_failed(error: AdapterError) -> None:
    """Tell every observer that an attempt of a call failed with ``error``."""
    for observer in tuple(_observers):
        try:
            observer(error)
        except Exception:  # noqa: S112 - an observer's failure never fails the call
            continue
