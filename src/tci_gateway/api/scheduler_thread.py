"""The scheduler inside a serving process: ``tci serve --with-scheduler``.

The same control loop as ``tci scheduler run`` (:class:`~tci_gateway.scheduler.runner.
SchedulerRunner`: leader election, heartbeat, catch-up, APScheduler), run in a thread of
the serving process on its ledger and adapters. It starts with the application (after
its background relays) and stops with it: on shutdown the loop is asked to stop, the
job in progress (if any) is waited for up to ``stop_timeout`` seconds, and the
leadership is released, so another instance takes over at its next heartbeat.

Every process that serves with the scheduler competes for the one leadership of the
ledger (:mod:`tci_gateway.scheduler.leader`): on PostgreSQL, two instances or the four
workers of ``--workers 4`` keep exactly one leader and the others stand by. On SQLite
one process runs the scheduler: :meth:`SchedulerThread.lead_now` takes the leadership
before the server starts and says so in one line when another process holds it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from tci_gateway.api.context import ApiContext
from tci_gateway.errors import TciError
from tci_gateway.logs import get_logger
from tci_gateway.scheduler.dispatch import Dispatcher
from tci_gateway.scheduler.leader import leader_status, make_leader
from tci_gateway.scheduler.runner import SchedulerRunner


def owner_id() -> str:
    """This thread's name in ``job_runs`` and leases: host, pid and a random tag (as
    ``tci scheduler run`` names itself)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[-128:]


class SchedulerThread:
    """The scheduler of one serving process (see the module docstring)."""

    def __init__(self, ctx: ApiContext, *, stop_timeout: float = 30.0) -> None:
        settings = ctx.settings
        policies = settings.domain_policies()
        insurers = sorted({p.insurer for p in policies.values()})
        with ctx.locked():  # the adapters are the API's own, built once per process
            adapters = {name: ctx.wiring.insurer(name).adapter for name in insurers}
        self.ctx = ctx
        self.stop_timeout = stop_timeout
        leader = make_leader(ctx.ledger, owner_id(), lease_seconds=settings.scheduler.lease_seconds)
        dispatcher = Dispatcher(
            settings.scheduler,
            ledger=ctx.ledger,
            adapters=adapters,
            policies=policies,
            leader=leader,
            clock=ctx.now,
            options=lambda: ctx.wiring.nightly_options(ctx.ledger),
            bureaus=ctx.bureaus(),
            credit=ctx.credit_options,
        )
        self.runner = SchedulerRunner(dispatcher, leader)
        self._thread: threading.Thread | None = None
        self._log = get_logger(owner=leader.owner)

    @property
    def owner(self) -> str:
        return self.runner.leader.owner

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def lead_now(self) -> None:
        """On SQLite, take the leadership before serving: a :class:`TciError` (one line)
        when another process runs the scheduler on this ledger. On PostgreSQL nothing:
        the thread stands by until it can lead."""
        if self.ctx.ledger.engine.dialect.name != "sqlite":
            return
        if not self.runner.maintain_leadership():
            who = leader_status(self.ctx.ledger)["leader"] or "another process"
            raise TciError(
                f"another scheduler ({who}) is running on this SQLite ledger; SQLite runs "
                "one scheduler at a time: stop it, or serve without --with-scheduler"
            )

    def start(self) -> None:
        """Run the control loop in a daemon thread."""
        if self.alive:
            return
        self._thread = threading.Thread(target=self._run, name="tci-scheduler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.runner.run_forever()
        except Exception as exc:  # never take the server down; say why the loop ended
            self._log.error("scheduler_thread_failed", error=f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        """Stop the loop, wait for the job in progress (up to ``stop_timeout``), and
        release the leadership (the loop does it on its way out)."""
        self.runner.request_stop()
        thread = self._thread
        if thread is None:
            self.runner.leader.release()  # lead_now may have taken it
            return
        thread.join(self.stop_timeout)
        if thread.is_alive():
            self._log.warning(
                "scheduler_stop_timeout",
                detail=f"a job was still running after {self.stop_timeout:g} s; its lease "
                "lapses and another instance resumes it",
            )
        self._thread = None


def attach(app: FastAPI, scheduler: SchedulerThread) -> None:
    """Run ``scheduler`` while ``app`` is up: started after the app's own startup (its
    background relays), stopped before its shutdown."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            scheduler.start()
            try:
                yield state
            finally:
                await asyncio.to_thread(scheduler.stop)

    app.router.lifespan_context = lifespan
    app.state.scheduler = scheduler


def with_scheduler(app: FastAPI, ctx: ApiContext) -> FastAPI:
    """``app`` with a :class:`SchedulerThread` on ``ctx`` attached (worker processes of
    ``tci serve --workers N --with-scheduler``; PostgreSQL, so no leadership is taken
    before serving)."""
    attach(app, SchedulerThread(ctx))
    return app
