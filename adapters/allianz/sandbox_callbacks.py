"""The sandbox's callbacks: POST each notification Allianz would send to the
``callbackUrl`` of its request's callback header, as Allianz does (1 call + 2 retries,
``retry_seconds`` apart; a 2xx answer is a delivery).

:class:`CallbackPoster` runs beside a sandbox served on loopback: every ``interval``
seconds it lets the sandbox decide the requests whose time has come (without waiting
for the next API call, as the real service does) and posts the new notifications,
never holding the sandbox's lock during a POST. Deliveries are kept in
:attr:`CallbackPoster.deliveries` for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tci_gateway.http.jsonexact import dumps
from tci_gateway.logs import get_logger

from .webhooks import NOTIFICATION_TYPE_HEADER

ATTEMPTS = 3  # 1 call + 2 retries


@dataclass
class _Outgoing:
    url: str
    body: dict[str, Any]
    attempt: int = 0
    next_at: float = 0.0


@dataclass
class CallbackPoster:
    """Posts what ``take()`` answers (new notifications, ``{"callback", "body"}``),
    after ``decide()``, every ``interval`` seconds in a daemon thread."""

    decide: Callable[[], list[dict[str, Any]]]
    interval: float = 0.25
    retry_seconds: float = 30.0
    timeout: float = 5.0
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    _queue: list[_Outgoing] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="allianz-sandbox-callbacks", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def run_once(self) -> None:
        """Decide what is due, then post every notification due now."""
        for note in self.decide():
            url = (note.get("callback") or {}).get("callbackUrl")
            if isinstance(url, str):
                self._queue.append(_Outgoing(url, dict(note["body"])))
        now = time.monotonic()
        due = [item for item in self._queue if item.next_at <= now]
        for item in due:
            self._post(item)
            if item.attempt >= ATTEMPTS or self._delivered(item):
                self._queue.remove(item)
            else:
                item.next_at = time.monotonic() + self.retry_seconds

    def _delivered(self, item: _Outgoing) -> bool:
        with self._lock:
            return any(
                d["url"] == item.url and d["delivered"] and d["jobId"] == item.body.get("jobId")
                for d in self.deliveries
            )

    def _post(self, item: _Outgoing) -> None:
        item.attempt += 1
        kind = str(item.body.get("notificationTypeCode") or "technical")
        status: int | None = None
        error: str | None = None
        try:
            with httpx.Client(timeout=self.timeout, trust_env=False) as client:
                response = client.post(
                    item.url,
                    content=dumps(item.body).encode(),
                    headers={"Content-Type": "application/json", NOTIFICATION_TYPE_HEADER: kind},
                )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        with self._lock:
            self.deliveries.append(
                {
                    "url": item.url,
                    "jobId": item.body.get("jobId"),
                    "attempt": item.attempt,
                    "status": status,
                    "error": error,
                    "delivered": status is not None and 200 <= status < 300,
                }
            )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception as exc:  # a sandbox helper: keep calling back whatever happens
                get_logger().warning("sandbox_callback_failed", error=type(exc).__name__)
