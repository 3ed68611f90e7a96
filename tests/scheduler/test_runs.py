"""Job runs: one per (job, business date), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from tci_gateway.ledger import jobs as runs
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import JobRunRow

T0 = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
DAY = date(2026, 12, 1)
LEASE = timedelta(seconds=60)


def rows(ledger: Ledger) -> int:
    with ledger.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(JobRunRow)) or 0


def test_first_claim_inserts_a_running_run(ledger: Ledger) -> None:
    claim = runs.claim(ledger, "limit_sync", DAY, "a", T0, LEASE, detail={"fire_time": "x"})
    assert claim is not None
    assert (claim.attempts, claim.resumed, claim.owner) == (1, False, "a")
    run = runs.find(ledger, "limit_sync", DAY)
    assert run is not None
    assert (run.state, run.owner, run.attempts, run.lease_until) == ("RUNNING", "a", 1, T0 + LEASE)
    assert run.detail == {"fire_time": "x"}


def test_duplicate_fire_is_a_no_op_while_running_and_after_success(ledger: Ledger) -> None:
    claim = runs.claim(ledger, "limit_sync", DAY, "a", T0, LEASE)
    assert claim is not None
    assert runs.claim(ledger, "limit_sync", DAY, "b", T0 + timedelta(seconds=5), LEASE) is None
    assert runs.claim(ledger, "limit_sync", DAY, "a", T0 + timedelta(seconds=5), LEASE) is None
    assert runs.finish(
        ledger, claim, succeeded=True, now=T0 + timedelta(seconds=9), detail={"n": 1}
    )
    for later in (timedelta(seconds=10), timedelta(days=3)):
        assert runs.claim(ledger, "limit_sync", DAY, "b", T0 + later, LEASE) is None
    run = runs.find(ledger, "limit_sync", DAY)
    assert run is not None
    assert (run.state, run.attempts, run.detail) == ("SUCCEEDED", 1, {"n": 1})
    assert run.finished_at == T0 + timedelta(seconds=9)
    assert rows(ledger) == 1
    # another date, another job: runs of their own
    assert runs.claim(ledger, "limit_sync", DAY + timedelta(days=1), "b", T0, LEASE) is not None
    assert runs.claim(ledger, "alert_digest", DAY, "b", T0, LEASE) is not None


def race(ledger: Ledger, day: date) -> dict[str, runs.Claim | None]:
    """Two owners claim the same run at the same moment."""
    barrier = threading.Barrier(2)
    results: dict[str, runs.Claim | None] = {}

    def fire(owner: str) -> None:
        barrier.wait()
        results[owner] = runs.claim(ledger, "limit_sync", day, owner, T0, LEASE)

    threads = [threading.Thread(target=fire, args=(o,)) for o in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_claims_exactly_one_wins(ledger: Ledger) -> None:
    for n in range(5):
        day = DAY + timedelta(days=n)
        results = race(ledger, day)
        winners = [o for o, c in results.items() if c is not None]
        assert len(results) == 2 and len(winners) == 1, results
        run = runs.find(ledger, "limit_sync", day)
        assert run is not None and run.owner == winners[0]
    assert rows(ledger) == 5


def test_expired_lease_is_taken_over_and_the_dead_owner_cannot_finish(ledger: Ledger) -> None:
    dead = runs.claim(ledger, "limit_sync", DAY, "dead", T0, LEASE)
    assert dead is not None
    assert runs.claim(ledger, "limit_sync", DAY, "b", T0 + LEASE, LEASE) is None  # not yet
    later = T0 + LEASE + timedelta(seconds=1)
    taken = runs.claim(ledger, "limit_sync", DAY, "b", later, LEASE, detail={"reason": "resume"})
    assert taken is not None
    assert (taken.attempts, taken.previous_state, taken.resumed) == (2, "RUNNING", True)
    assert runs.claim(ledger, "limit_sync", DAY, "c", later, LEASE) is None
    assert not runs.heartbeat(ledger, dead, later, LEASE)
    assert not runs.finish(ledger, dead, succeeded=True, now=later)
    assert runs.finish(ledger, taken, succeeded=True, now=later)
    run = runs.find(ledger, "limit_sync", DAY)
    assert run is not None
    assert (run.state, run.owner, run.attempts, run.detail) == (
        "SUCCEEDED",
        "b",
        2,
        {"reason": "resume"},
    )


def test_heartbeat_keeps_the_run(ledger: Ledger) -> None:
    claim = runs.claim(ledger, "limit_sync", DAY, "a", T0, LEASE)
    assert claim is not None
    assert runs.heartbeat(ledger, claim, T0 + timedelta(seconds=50), LEASE)
    assert runs.claim(ledger, "limit_sync", DAY, "b", T0 + timedelta(seconds=90), LEASE) is None
    assert runs.expired(ledger, T0 + timedelta(seconds=90)) == []
    (expired,) = runs.expired(ledger, T0 + timedelta(seconds=111))
    assert (expired.job, expired.owner) == ("limit_sync", "a")


def test_failed_run_is_retried_up_to_max_attempts(ledger: Ledger) -> None:
    claim = runs.claim(ledger, "limit_sync", DAY, "a", T0, LEASE)
    assert claim is not None
    assert runs.finish(ledger, claim, succeeded=False, now=T0, detail={"error": "boom"})
    run = runs.find(ledger, "limit_sync", DAY)
    assert run is not None and (run.state, run.detail["error"]) == ("FAILED", "boom")
    retry = runs.claim(ledger, "limit_sync", DAY, "b", T0, LEASE, max_attempts=2)
    assert retry is not None and (retry.attempts, retry.previous_state) == (2, "FAILED")
    assert runs.finish(ledger, retry, succeeded=False, now=T0)
    assert runs.claim(ledger, "limit_sync", DAY, "c", T0, LEASE, max_attempts=2) is None
    third = runs.claim(ledger, "limit_sync", DAY, "c", T0, LEASE)  # no cap: retried again
    assert third is not None and third.attempts == 3


def test_abandon_only_a_crashed_run(ledger: Ledger) -> None:
    claim = runs.claim(ledger, "limit_sync", DAY, "a", T0, LEASE)
    assert claim is not None
    (run,) = runs.latest(ledger)
    assert not runs.abandon(ledger, run, T0, "too early")  # lease still live
    assert runs.abandon(ledger, run, T0 + 2 * LEASE, "gave up")
    after = runs.find(ledger, "limit_sync", DAY)
    assert after is not None and (after.state, after.detail["error"]) == ("FAILED", "gave up")
    assert not runs.finish(ledger, claim, succeeded=True, now=T0 + 2 * LEASE)


def test_latest_runs_newest_first(ledger: Ledger) -> None:
    for n in range(3):
        c = runs.claim(ledger, "limit_sync", DAY + timedelta(days=n), "a", T0, LEASE)
        assert c is not None
    assert runs.claim(ledger, "alert_digest", DAY, "a", T0, LEASE) is not None
    assert [r.business_date.day for r in runs.latest(ledger, limit=2)] == [3, 2]
    assert [r.job for r in runs.latest(ledger, job="alert_digest")] == ["alert_digest"]
