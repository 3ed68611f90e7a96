"""Periodic work a ``tci serve`` process does beside answering requests: relaying the
outboxes (cover requests, insurer look-ups, ERP webhook deliveries).

Each task is a plain function run every ``interval`` seconds in one daemon thread per
task, started with the application and stopped (waited for) when it shuts down. A task
must be safe to run in several processes at once (claims on rows, never "I am the only
one"): every instance of ``tci serve`` runs them. An exception is logged with the task's
name and the loop goes on at its next tick.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tci_gateway.logs import get_logger, redact_text


@dataclass
class PeriodicTask:
    name: str
    interval: float
    run: Callable[[], object]


@dataclass
class BackgroundRunner:
    """Runs :class:`PeriodicTask` s in threads until :meth:`stop`."""

    tasks: list[PeriodicTask] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def add(self, name: str, interval: float, run: Callable[[], object]) -> None:
        self.tasks.append(PeriodicTask(name, interval, run))

    def start(self) -> None:
        self._stop.clear()
        for task in self.tasks:
            thread = threading.Thread(
                target=self._loop, args=(task,), name=f"tci-{task.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def tick(self, name: str) -> None:
        """Run the task ``name`` once now, in the caller's thread (tests, and a route
        that wants its work done before it answers)."""
        for task in self.tasks:
            if task.name == name:
                task.run()
                return
        raise LookupError(f"no background task {name!r}")

    def _loop(self, task: PeriodicTask) -> None:
        log = get_logger(task=task.name)
        while not self._stop.wait(task.interval):
            try:
                task.run()
            except Exception as exc:  # a task's failure is logged; the loop goes on
                log.error(
                    "background_task_failed",
                    error=f"{type(exc).__name__}: {redact_text(str(exc))}",
                )
