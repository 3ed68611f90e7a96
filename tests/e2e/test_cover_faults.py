"""Cover requests reach the insurer exactly once, through the CLI, on SQLite and
PostgreSQL: requests left unsent (never sent; a 503 before the insurer stored them) or
ambiguous (a 503 after it stored them), then two or three ``tci cover status`` at once,
or two beside the scheduler's ``pending_requests_poll`` job, against a slow insurer
(0.3 s per call). Every time, over many trials: the Allianz Trade sandbox (served on
loopback) received one POST per client reference and holds one request for it, the
ledger's row has the insurer's reference and its exact number of attempts, and nothing
is REJECTED. Also: ``kill -9`` before the POST and after it, then a rerun; and a
read-only ``tci cover status --no-poll`` never waits for another process's insurer call.

``TCI_COVER_FAULT_TRIALS`` sets the number of concurrent trials per backend: 6 by
default (each mix of processes with each decision delay once); run it with more by
hand."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from .cover_setup import AMOUNT, CoverWorld, Request, build

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TRIALS = int(os.environ.get("TCI_COVER_FAULT_TRIALS", "6"))
STATUS = ("cover", "status")
POLL_JOB = ("scheduler", "run", "--once")
MIXES = (
    (STATUS, STATUS),
    (STATUS, STATUS, STATUS),
    (STATUS, STATUS, POLL_JOB),
)
"""The processes of a trial, in turn: two pollers, three, two beside the poll job."""

Make = Callable[..., CoverWorld]


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Make]:
    worlds: list[CoverWorld] = []

    def make(url: str, **options: float) -> CoverWorld:
        world = build(url, tmp_path, **options)  # type: ignore[arg-type]
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()


def assert_sent_once(world: CoverWorld, rows: list[Request]) -> None:
    """Each request was POSTed once, the sandbox holds one record of it, and the ledger
    carries the insurer's reference of that record (``request:<requestId>`` when it was
    found by reference, else the job id)."""
    posts = world.sandbox.posts_per_reference
    for row in rows:
        assert posts[row.client_reference] == 1, (row, posts)
        (record,) = world.stored(row.client_reference)
        assert row.state in ("PENDING", "DECIDED"), row
        assert row.insurer_request_ref is not None, row
        assert row.last_error is None, row
        if row.insurer_request_ref.startswith("request:"):
            assert row.insurer_request_ref == f"request:{record['requestId']}", (row, record)


def test_concurrent_pollers_send_each_request_once(database_url: str, make_world: Make) -> None:
    world = make_world(database_url, buyers=3 * TRIALS)
    for trial in range(TRIALS):
        mix = MIXES[trial % len(MIXES)]
        world.as_of += timedelta(minutes=30)  # a fire time of its own for the poll job
        # Even trials: decisions take a minute (a resend would meet the insurer's 409
        # "a request is already in progress"); odd: decided at the next call (a resend
        # would be stored again).
        world.set_decision_delay(60 if trial % 2 == 0 else 0)
        fresh = world.queue()
        unsent = world.queue()
        world.send_with_fault(unsent, after_processing=False)
        stored = world.queue()
        world.send_with_fault(stored, after_processing=True)
        before = world.requests(fresh, unsent, stored)
        assert [(r.state, r.attempts) for r in before] == [
            ("QUEUED", 0),
            ("AMBIGUOUS", 1),
            ("AMBIGUOUS", 1),
        ]
        assert not world.stored(before[1].client_reference)
        assert len(world.stored(before[2].client_reference)) == 1

        world.front.delay = 0.3
        try:
            procs = [world.start(*command) for command in mix]
            codes = [p.wait(120) for p in procs]
        finally:
            world.front.delay = 0.0
        assert codes == [0] * len(mix), (trial, [p.stderr[-3000:] for p in procs])
        for command, proc in zip(mix, procs, strict=True):
            if command == POLL_JOB:  # the job really ran beside the pollers
                ran = [(o["job"], o["state"]) for o in proc.json()]
                assert ran == [("pending_requests_poll", "SUCCEEDED")], ran
        rows = world.requests(fresh, unsent, stored)
        assert_sent_once(world, rows)
        # Attempts are exact: one POST each; the unsent one had a failed attempt before.
        assert [r.attempts for r in rows] == [1, 2, 1], (trial, rows)

        world.decide_everything()
        world.reconcile()
        rows = world.requests(fresh, unsent, stored)
        assert [(r.state, r.outcome_status, r.outcome_amount) for r in rows] == [
            ("DECIDED", "APPROVED", AMOUNT)
        ] * 3, (trial, rows)
        assert_sent_once(world, rows)


@pytest.mark.parametrize("crash_at", ["cover_request_before_send", "cover_request_after_response"])
def test_kill_9_around_the_post_then_rerun(
    database_url: str, make_world: Make, crash_at: str
) -> None:
    world = make_world(database_url, buyers=2)
    first, second = world.queue(), world.queue()
    crashed = world.start(*STATUS, crash_at=crash_at)
    assert crashed.wait(60) == -signal.SIGKILL, crashed.stderr
    hit = world.requests(first)[0]
    assert (hit.state, hit.attempts) == ("QUEUED", 1)
    posted = world.sandbox.posts_per_reference
    assert posted[hit.client_reference] == (crash_at == "cover_request_after_response")
    rerun = world.start(*STATUS)
    assert rerun.wait(60) == 0, rerun.stderr
    rows = world.requests(first, second)
    assert_sent_once(world, rows)
    assert [r.attempts for r in rows] == [1 if posted[hit.client_reference] else 2, 1]
    if crash_at == "cover_request_after_response":
        assert "cover_request_found_by_reference" in rerun.stderr


def test_status_no_poll_does_not_wait_for_an_insurer_call(tmp_path: Path, make_world: Make) -> None:
    world = make_world(f"sqlite:///{tmp_path / 'ledger.db'}", buyers=1)
    request_id = world.queue()
    release = threading.Event()
    world.front.hold = release
    poller = world.start(*STATUS)
    try:
        assert world.front.holding.wait(60), poller.stderr  # the POST is at the insurer
        reader = world.start(*STATUS, "--no-poll")
        assert reader.wait(60) == 0, reader.stderr
        # The reader finished while the poller is still held inside its insurer call.
        assert poller.popen.poll() is None and not release.is_set()
        (listed,) = reader.json()
        assert (listed["id"], listed["attempts"]) == (request_id, 1)
    finally:
        release.set()
    assert poller.wait(60) == 0, poller.stderr
    assert_sent_once(world, world.requests(request_id))
