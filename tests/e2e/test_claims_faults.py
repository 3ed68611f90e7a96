"""Claims-run faults through the CLI on SQLite and PostgreSQL: ``kill -9`` before an
overdue filing is sent, while the insurer is answering it, and after the answer but
before the ledger recorded it; a filing that times out or whose connection is reset;
the same day's second run; two runs at once on one PostgreSQL ledger.

Each time the filing must reach the insurer exactly once: the Allianz Trade sandbox,
served on loopback, holds one record per client reference and received one POST per
reference, and the ledger's outbox row is ``SENT`` with the sandbox's ``overdueId``.
After a crash or an ambiguous outcome the rerun must find the filing by its client
reference rather than send it again (the sandbox would answer a resend with 409)."""

from __future__ import annotations

import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tci_gateway.ledger.engine import make_engine, normalise_url

from ..conftest import PG_URL
from .claims_setup import Action, Fault, World, api_actions, build, ledger_actions, ledger_cases

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Make = Callable[..., World]


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Make]:
    """``make_world(url, overdue=N, ...)``: the test's world (see
    :func:`.claims_setup.build`) in ``tmp_path``; its loopback server is closed after
    the test."""
    worlds: list[World] = []

    def make(url: str, **options: Any) -> World:
        world = build(url, tmp_path, **options)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.server.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL schema of this test's own (migrated by the world's setup), dropped
    afterwards."""
    if not PG_URL:
        pytest.skip("TCI_TEST_DATABASE_URL is not set: the concurrent claims runs need PostgreSQL")
    schema = f"e2e_claims_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{normalise_url(PG_URL)}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def assert_filed_once(world: World, buyers: int) -> list[Action]:
    """Every buyer's D+14 filing is ``SENT`` in the ledger with the ``overdueId`` of the
    one record the sandbox holds for its client reference, and was POSTed once."""
    actions = api_actions(world.url)
    assert len(actions) == buyers, actions
    assert all(a.action in ("OVERDUE_NOTIFICATION", "PAYMENT_PLAN") for a in actions)
    for action in actions:
        (record,) = world.front.filings(action.client_reference)
        assert action.state == "SENT", action
        assert action.insurer_reference == record["overdueId"], (action, record)
    references = Counter({a.client_reference: 1 for a in actions})
    assert world.front.filed_references() == references
    assert world.front.posts == references
    return actions


def first_filing(world: World) -> Action:
    """The first API action of the ledger (the one a fault hit)."""
    return api_actions(world.url)[0]


def test_kill_9_before_the_filing_is_sent_then_rerun(database_url: str, make_world: Make) -> None:
    world = make_world(database_url, overdue=2)
    crashed = world.run("claims", "run", crash_at="case_action_before_send")
    assert crashed.popen.returncode == -signal.SIGKILL, crashed.stderr
    assert world.front.filings() == [] and not world.front.posts  # nothing left the process
    hit = first_filing(world)
    assert (hit.state, hit.attempts, hit.insurer_reference) == ("QUEUED", 1, None)
    rerun = world.run("claims", "run")
    assert rerun.popen.returncode == 0, rerun.stderr
    assert rerun.json()["sent"] == {"SENT": 2}
    assert_filed_once(world, buyers=2)
    # What a person reads: `tci --json claims list --all`.
    listed = world.run("claims", "list", "--all")
    assert listed.popen.returncode == 0, listed.stderr
    filed = {
        a["client_reference"]: (a["state"], a["insurer_reference"])
        for case in listed.json()
        for a in case["actions"]
        if a["channel"] == "API"
    }
    assert filed == {
        r[world.front.reference_field]: ("SENT", r["overdueId"]) for r in world.front.filings()
    }


def test_kill_9_after_the_insurer_stored_the_filing_before_it_answered(
    database_url: str, make_world: Make
) -> None:
    world = make_world(database_url, overdue=2)
    world.front.fault = "kill"
    proc = world.start("claims", "run")
    world.front.victim = proc.popen
    assert proc.wait() == -signal.SIGKILL, proc.stderr
    assert world.front.killed.wait(5)  # the front saw it die before it dropped the call
    hit = first_filing(world)
    assert (hit.state, hit.attempts, hit.insurer_reference) == ("QUEUED", 1, None)
    assert len(world.front.filings(hit.client_reference)) == 1  # the insurer has it
    rerun = world.run("claims", "run")
    assert rerun.popen.returncode == 0, rerun.stderr
    assert "case_action_found_by_reference" in rerun.stderr
    assert_filed_once(world, buyers=2)


def test_kill_9_after_the_answer_before_the_ledger_recorded_it(
    database_url: str, make_world: Make
) -> None:
    world = make_world(database_url, overdue=2)
    crashed = world.run("claims", "run", crash_at="case_action_after_response")
    assert crashed.popen.returncode == -signal.SIGKILL, crashed.stderr
    hit = first_filing(world)
    assert (hit.state, hit.attempts, hit.insurer_reference) == ("QUEUED", 1, None)
    assert world.front.posts == {hit.client_reference: 1}
    rerun = world.run("claims", "run")
    assert rerun.popen.returncode == 0, rerun.stderr
    assert "case_action_found_by_reference" in rerun.stderr
    assert_filed_once(world, buyers=2)


@pytest.mark.parametrize("fault", ["hang", "reset"])
def test_filing_timed_out_or_reset_is_ambiguous_then_found_by_reference(
    database_url: str, make_world: Make, fault: Fault
) -> None:
    world = make_world(database_url, overdue=2, read_timeout=2.0 if fault == "hang" else 10.0)
    world.front.fault = fault  # the sandbox stores the filing, then no answer arrives
    first = world.run("claims", "run")
    assert first.popen.returncode == 1, first.stderr
    assert first.json()["sent"] == {"AMBIGUOUS": 1, "SENT": 1}
    hit = first_filing(world)
    assert (hit.state, hit.attempts, hit.insurer_reference) == ("AMBIGUOUS", 1, None)
    assert hit.last_error and "may have been applied" in hit.last_error
    assert len(world.front.filings(hit.client_reference)) == 1
    rerun = world.run("claims", "run")
    assert rerun.popen.returncode == 0, rerun.stderr
    assert rerun.json()["sent"] == {"SENT": 1}
    assert "case_action_found_by_reference" in rerun.stderr
    assert_filed_once(world, buyers=2)


def test_second_run_of_the_day_sends_nothing(database_url: str, make_world: Make) -> None:
    world = make_world(database_url, overdue=2)
    first = world.run("claims", "run")
    assert first.popen.returncode == 0, first.stderr
    report = first.json()
    assert (report["overdue_buyers"], report["opened"], report["sent"]) == (2, 2, {"SENT": 2})
    before = ledger_actions(world.url)
    second = world.run("claims", "run")
    assert second.popen.returncode == 0, second.stderr
    report = second.json()
    assert (report["planned"], report["opened"], report["sent"]) == ([], 0, {})
    assert ledger_actions(world.url) == before
    assert_filed_once(world, buyers=2)


def test_two_concurrent_runs_on_one_postgresql_ledger(pg_url: str, make_world: Make) -> None:
    buyers = 5
    world = make_world(pg_url, overdue=buyers, delay=0.3)
    procs = [world.start("claims", "run") for _ in range(2)]
    deadline = time.monotonic() + 60
    while not world.front.posts:  # the run holding the lock is filing...
        assert time.monotonic() < deadline, [p.stderr for p in procs]
        time.sleep(0.02)
    assert all(p.popen.poll() is None for p in procs)  # ...and the other one waits
    codes = [p.wait(90) for p in procs]
    assert codes == [0, 0], [p.stderr for p in procs]
    reports = [p.json() for p in procs]
    # They took turns on the claims_run lock: one did everything, the other nothing new.
    assert sorted(r["opened"] for r in reports) == [0, buyers]
    assert sum(r["sent"].get("SENT", 0) for r in reports) == buyers
    assert_filed_once(world, buyers=buyers)
    cases = ledger_cases(world.url)
    assert len(cases) == buyers
    assert len({name for _, name, _ in cases}) == buyers  # one case per buyer
    per_action = Counter((a.case_id, a.action) for a in ledger_actions(world.url))
    assert set(per_action.values()) == {1}
    assert len(per_action) == 2 * buyers  # a reminder and a D+14 filing per case
