"""``tci scheduler`` under faults, as subprocesses: on SQLite one instance at a time (a
second one exits with one line, whether the first is busy, blocked by a long write or
stopped), a new one leads after a kill -9; on PostgreSQL a stopped leader keeps its
lock (no second leader, no duplicate run) and goes on when continued; a failing insurer
shows in ``status``, ``tci alerts`` and the digest."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tci_gateway.ledger.engine import make_engine

from .conftest import run_tci
from .test_scheduler import (
    DEMO,
    job_runs,
    pg_schema_url,  # noqa: F401 - a fixture
    pid_of,
    prepare,
    start,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REFUSED = "is running on this SQLite ledger"


def sqlite_setup(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, f"sqlite:///{db}", heartbeat=0.1, lease=2)
    prepare(tmp_path, config)
    return db, config


def second_instance_is_refused(config: Path, tmp_path: Path, name: str) -> str:
    log = tmp_path / f"{name}.log"
    proc = start(config, tmp_path, log)
    assert proc.wait(60) == 1, log.read_text()
    lines = [line for line in log.read_text().splitlines() if REFUSED in line]
    assert len(lines) == 1 and lines[0].startswith("error: another `tci scheduler run` ("), lines
    assert "Traceback" not in log.read_text()
    return lines[0]


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log.read_text()


JOBS = 5
"""The startup catch-up runs each job's latest fire once: limit_sync, claims_run,
credit_review, alert_digest and pending_requests_poll."""


def test_sqlite_runs_one_scheduler_and_a_new_one_leads_after_a_kill_9(tmp_path: Path) -> None:
    db, config = sqlite_setup(tmp_path)
    first_log = tmp_path / "first.log"
    first = start(config, tmp_path, first_log)
    engine = make_engine(f"sqlite:///{db}")
    procs = [first]
    try:
        wait_for(lambda: len(job_runs(engine)) == JOBS, 60, "the startup catch-up")
        line = second_instance_is_refused(config, tmp_path, "second")
        assert f":{first.pid}:" in line  # it names the instance that leads
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        third_log = tmp_path / "third.log"
        third = start(config, tmp_path, third_log)
        procs.append(third)
        wait_for(lambda: "scheduler_leader_acquired" in third_log.read_text(), 60, "a new leader")
        stop(third, third_log)
        runs = job_runs(engine)
        assert len(runs) == JOBS and {pid_of(r[3]) for r in runs} == {first.pid}, runs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        engine.dispose()


def test_sqlite_leader_blocked_or_stopped_never_has_a_second_leader_beside_it(
    tmp_path: Path,
) -> None:
    db, config = sqlite_setup(tmp_path)
    log = tmp_path / "leader.log"
    leader = start(config, tmp_path, log)
    engine = make_engine(f"sqlite:///{db}")
    try:
        wait_for(lambda: len(job_runs(engine)) == JOBS, 60, "the startup catch-up")
        # A long write transaction (a large sync, a slow insurer answer inside one)
        # blocks every other writer, the leader's heartbeat included, for longer than its
        # lease: a second instance started meanwhile still does not lead beside it.
        blocker = sqlite3.connect(db, timeout=30)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            second_log = tmp_path / "while_blocked.log"
            second = start(config, tmp_path, second_log)
            wait_for(lambda: _lease_lapsed(db), 60, "the leader's lease to lapse")
        finally:
            blocker.rollback()
            blocker.close()
        assert second.wait(60) == 1, second_log.read_text()
        assert REFUSED in second_log.read_text()
        leader.send_signal(signal.SIGSTOP)
        try:
            second_instance_is_refused(config, tmp_path, "while_stopped")
        finally:
            leader.send_signal(signal.SIGCONT)
        stop(leader, log)
        assert "scheduler_leadership_lost" not in log.read_text()
        assert all(r[2] == "SUCCEEDED" and pid_of(r[3]) == leader.pid for r in job_runs(engine))
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait(10)
        engine.dispose()


def _lease_lapsed(db: Path) -> bool:
    with closing(sqlite3.connect(db, timeout=30)) as conn:  # a reader: WAL lets it in
        (until,) = conn.execute("SELECT lease_until FROM scheduler_leases").fetchone()
    return datetime.fromisoformat(until).replace(tzinfo=UTC) < datetime.now(UTC)


@pytest.mark.postgres
def test_postgresql_stopped_leader_keeps_its_lock_and_no_run_is_duplicated(
    tmp_path: Path,
    pg_schema_url: str,  # noqa: F811
) -> None:
    config = write_config(tmp_path, pg_schema_url, heartbeat=0.1, lease=1)
    prepare(tmp_path, config)
    logs = [tmp_path / f"sched{n}.log" for n in range(2)]
    procs = [start(config, tmp_path, logs[0])]
    engine = make_engine(pg_schema_url)
    try:
        wait_for(lambda: len(job_runs(engine)) == JOBS, 60, "the startup catch-up")
        procs.append(start(config, tmp_path, logs[1]))
        wait_for(lambda: "scheduler_started" in logs[1].read_text(), 60, "the standby")
        procs[0].send_signal(signal.SIGSTOP)
        try:
            with engine.begin() as conn:  # work is due while the leader is stopped
                conn.execute(text("DELETE FROM job_runs WHERE job = 'alert_digest'"))
            # The stopped leader's session (and lock) is alive: through several leases
            # the standby stands by and runs nothing (the wait ends early if it does).
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                assert "scheduler_leader_acquired" not in logs[1].read_text()
                assert len(job_runs(engine)) == JOBS - 1
                time.sleep(0.1)
        finally:
            procs[0].send_signal(signal.SIGCONT)
        wait_for(lambda: len(job_runs(engine)) == JOBS, 60, "the leader going on")
        for proc, log in zip(procs, logs, strict=True):
            stop(proc, log)
        runs = job_runs(engine)
        assert {pid_of(r[3]) for r in runs} == {procs[0].pid}, runs
        assert all(r[2] == "SUCCEEDED" for r in runs), runs
        with engine.connect() as conn:
            syncs = conn.execute(text("SELECT count(*) FROM sync_runs")).scalar()
        assert syncs == 1  # limit_sync ran once
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(10)
        engine.dispose()


def test_a_failing_insurer_shows_in_status_alerts_and_the_digest(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, f"sqlite:///{db}")
    policy = (DEMO / "tci.toml").read_text(encoding="utf-8").split("[policies.atradius-main]")[1]
    policy = policy.split("[policies.")[0].replace('insurer = "atradius"', 'insurer = "live"')
    with config.open("a", encoding="utf-8") as handle:
        handle.write(
            "max_attempts = 1\n\n[http]\nmax_attempts = 1\nconnect_timeout = 2\n\n"
            '[insurers.live]\nadapter = "atradius"\nbase_url = "https://127.0.0.1:9"\n'
            'environment = "production"\nallow_private_network = true\n\n'
            f"[policies.live-main]{policy}"
        )
    prepare(tmp_path, config)
    now = "2026-11-29T07:05:00+00:00"
    names = ("CLIENT_ID", "CLIENT_SECRET", "APP_KEY")
    env = {f"TCI_INSURERS__LIVE__CREDENTIALS__{name}": "x" for name in names}
    once = run_tci(
        "-c", str(config), "--json", "--as-of", now, "scheduler", "run", "--once",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert once.code == 1, once.stderr
    outcomes = {o["key"]: o for o in once.json()}
    assert outcomes["limit_sync"]["state"] == "FAILED"
    assert "live-main" in outcomes["limit_sync"]["detail"]["error"]
    digest = outcomes["alert_digest"]
    assert digest["state"] == "SUCCEEDED"
    assert digest["detail"]["result"]["by_kind"]["scheduler_job_failed"] == 1
    status = run_tci("-c", str(config), "scheduler", "status", "--json", cwd=tmp_path)
    assert status.code == 0, status.stderr
    (sync,) = [r for r in status.json()["runs"] if r["job"] == "limit_sync"]
    assert sync["state"] == "FAILED" and "live-main" in sync["error"]
    human = run_tci("-c", str(config), "scheduler", "status", cwd=tmp_path)
    assert human.code == 0 and "live-main" in human.stdout
    alerts = run_tci(
        "-c", str(config), "--json", "alerts", "--since", str(date(2026, 11, 29)), cwd=tmp_path
    )
    assert alerts.code == 0, alerts.stderr
    (failed,) = [a for a in alerts.json() if a["kind"] == "scheduler_job_failed"]
    assert failed["severity"] == "critical" and "limit_sync failed" in failed["message"]
