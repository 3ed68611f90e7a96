"""The intra-day poll holds no transaction open while an insurer answers: the ledger
stays writable (SQLite: by anyone; PostgreSQL: the very row being polled) during the
call, so a slow insurer cannot stall the scheduler's own heartbeats."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from sqlalchemy import update

from tci_gateway.adapters.contract import CoverAction, InsurerAdapter
from tci_gateway.config import SchedulerSettings
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import TransientError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.runs import list_alerts
from tci_gateway.ledger.tables import CoverRequestRow
from tci_gateway.scheduler import jobs
from tci_gateway.scheduler.dispatch import Dispatcher
from tci_gateway.scheduler.jobs import JOBS
from tci_gateway.scheduler.leader import make_leader
from tci_gateway.services import cover_requests
from tci_gateway.wiring import Wiring

from .fakes import FakeClock
from .test_jobs import NOW, context, wiring, world  # noqa: F401 - fixtures

CALLS = ("request_cover", "find_request", "request_status")


class Slow:
    """An adapter whose cover-request calls wait until the test lets them answer."""

    def __init__(self, inner: InsurerAdapter) -> None:
        self.inner = inner
        self.calling = threading.Event()
        self.answer = threading.Event()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in CALLS:
            return attribute

        def slow(*args: Any, **kwargs: Any) -> Any:
            self.calling.set()
            assert self.answer.wait(60), "the test never let the insurer answer"
            return attribute(*args, **kwargs)

        return slow


def test_the_poll_keeps_no_transaction_open_across_an_insurer_call(
    world: tuple[Wiring, Ledger, dict[str, Policy]],  # noqa: F811
) -> None:
    wired, ledger, policies = world
    inner = wired.insurer("atradius").adapter
    request_id = cover_requests.queue_request(
        ledger,
        policies["atradius-main"],
        buyer="C1001",
        action=CoverAction.INCREASE,
        amount=Money(Decimal("150000"), "EUR"),
        now=NOW,
    )
    for step in ("send", "poll"):  # the send, then the status poll of the pending request
        slow = Slow(inner)
        adapters: dict[str, InsurerAdapter] = {"atradius": slow}  # type: ignore[dict-item]
        results: list[dict[str, Any]] = []
        poll = context(ledger, adapters, policies, "pending_requests_poll")
        job = threading.Thread(
            target=lambda out=results, c=poll: out.append(jobs.pending_requests_poll(c))
        )
        job.start()
        try:
            assert slow.calling.wait(60), step
            # Meanwhile the ledger takes a write, on the very row being advanced: it would
            # wait out the busy timeout (and fail) if the poll held a transaction open.
            with ledger.unit_of_work() as session:
                session.execute(
                    update(CoverRequestRow)
                    .where(CoverRequestRow.id == request_id)
                    .values(updated_at=NOW)
                )
        finally:
            slow.answer.set()
            job.join(60)
        (result,) = results
        assert result["ok"] and result["advanced"] == 1, (step, result)
    (view,) = cover_requests.list_requests(ledger, request_id=request_id)
    assert view.state == "PENDING" and view.insurer_request_ref


class Down:
    """An insurer whose every cover-request call fails to connect."""

    def __init__(self, inner: InsurerAdapter) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in CALLS:
            raise TransientError("connection refused")
        return getattr(self.inner, name)


def test_a_poll_whose_every_insurer_call_fails_is_a_failed_run(
    world: tuple[Wiring, Ledger, dict[str, Policy]],  # noqa: F811
) -> None:
    wired, ledger, policies = world
    for buyer in ("C1001", "C1002"):
        cover_requests.queue_request(
            ledger,
            policies["atradius-main"],
            buyer=buyer,
            action=CoverAction.INCREASE,
            amount=Money(Decimal("150000"), "EUR"),
            now=NOW,
        )
    down: dict[str, InsurerAdapter] = {"atradius": Down(wired.insurer("atradius").adapter)}  # type: ignore[dict-item]
    clock = FakeClock(NOW)
    leader = make_leader(ledger, "poll", lease_seconds=60)
    settings = SchedulerSettings(
        jobs={name: {"enabled": name == "pending_requests_poll"} for name in JOBS},  # type: ignore[misc]
    )
    d = Dispatcher(
        settings, ledger=ledger, adapters=down, policies=policies, leader=leader, clock=clock
    )
    assert leader.acquire()
    try:
        (outcome,) = d.catch_up()
    finally:
        leader.release()
    assert outcome.state == "FAILED" and not outcome.ok
    assert outcome.detail["result"]["error_count"] == 2
    assert "connection refused" in outcome.detail["error"]
    with ledger.unit_of_work() as session:
        assert [a.kind for a in list_alerts(session, since=NOW.date())] == ["scheduler_job_failed"]
