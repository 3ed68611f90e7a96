"""``tci scheduler`` as subprocesses: several instances on one PostgreSQL ledger over
simulated nights (one leader, each job once per business date, the survivor takes over
after a kill -9), ``--once``, ``status``, and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tci_gateway.ledger.engine import make_engine, normalise_url

from .conftest import REPO, TCI, run_tci

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PG_URL = os.environ.get("TCI_TEST_DATABASE_URL")
DEMO = REPO / "fixtures" / "demo"
POLICY = (DEMO / "tci.toml").read_text(encoding="utf-8").split("[policies.atradius-main]")[1]
JOB_KEYS = ("limit_sync", "pending_requests_poll@1200", "alert_digest")


def write_config(tmp_path: Path, url: str, heartbeat: float = 0.25, lease: float = 2.0) -> Path:
    path = tmp_path / "tci.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n\n'
        '[insurers.atradius]\nadapter = "atradius"\nbase_url = "sandbox"\n'
        'environment = "sandbox"\n\n'
        "[insurers.atradius.options.sandbox]\n"
        f'seed = "{DEMO / "atradius_sandbox.json"}"\ndecision_delay = 604800\n\n'
        f"[policies.atradius-main]{POLICY}\n"
        f"[scheduler]\nheartbeat_seconds = {heartbeat}\nlease_seconds = {lease}\n",
        encoding="utf-8",
    )
    return path


def prepare(tmp_path: Path, config: Path) -> None:
    for args in (
        ("db", "upgrade"),
        ("import", "buyers", str(DEMO / "buyers.csv")),
        ("import", "receivables", str(DEMO / "open_items.csv")),
    ):
        run = run_tci("-c", str(config), *args, cwd=tmp_path)
        assert run.code == 0, run.stderr


def start(config: Path, cwd: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
    with log.open("wb") as handle:
        return subprocess.Popen(
            [str(TCI), "-c", str(config), "--log-format", "json", "scheduler", "run", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def job_runs(engine: Engine) -> list[tuple[str, date, str, str, int]]:
    with engine.connect() as conn:
        return [
            (r[0], r[1], r[2], r[3], r[4])
            for r in conn.execute(
                text(
                    "SELECT job, business_date, state, owner, attempts FROM job_runs "
                    "ORDER BY business_date, job"
                )
            )
        ]


def pid_of(owner: str) -> int:
    return int(owner.split(":")[-2])


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("TCI_TEST_DATABASE_URL is not set: the multi-instance scheduler test needs PG")
    schema = f"e2e_sched_{uuid.uuid4().hex[:10]}"
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


def test_two_instances_one_run_per_business_date_and_takeover_after_kill_9(
    tmp_path: Path, pg_schema_url: str
) -> None:
    # A simulated day (3 s) is longer than a run's lease (1 s), as a real day is: a run
    # killed with its leader resumes on the same business date, so the day's later jobs
    # (claims, digest), which wait for it, still run on that date.
    config = write_config(tmp_path, pg_schema_url, lease=1.0)
    prepare(tmp_path, config)
    ticks, interval = 9, 3.0
    first = datetime.fromisoformat("2026-12-01T12:00:00+00:00")
    days = [first.date() + timedelta(days=n) for n in range(ticks)]
    epoch = time.time() + 8.0  # both processes are up before simulated time starts
    sim = [
        "--simulate-from", first.isoformat(), "--simulate-step-seconds", "86400",
        "--simulate-ticks", str(ticks), "--tick-interval", str(interval),
        "--simulate-epoch", str(epoch),
    ]  # fmt: skip
    procs = [start(config, tmp_path, tmp_path / f"sched{n}.log", *sim) for n in range(2)]
    engine = make_engine(pg_schema_url)
    try:
        # Phase 1: both alive; one leads; each job once per simulated business date.
        def synced(n: int) -> bool:
            done = [r for r in job_runs(engine) if r[0] == "limit_sync" and r[2] == "SUCCEEDED"]
            return len(done) >= n

        wait_for(lambda: synced(4), 60, "four simulated nights")
        before = job_runs(engine)
        leaders = {pid_of(r[3]) for r in before}
        assert len(leaders) == 1, before
        (leader_pid,) = leaders
        assert leader_pid in {p.pid for p in procs}
        # Phase 2: kill -9 the leader; the other instance takes over.
        victim = next(p for p in procs if p.pid == leader_pid)
        survivor = next(p for p in procs if p.pid != leader_pid)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
        assert survivor.wait(ticks * interval + 30) == 0, (
            tmp_path / f"sched{procs.index(survivor)}.log"
        ).read_text()
        after = job_runs(engine)
        # On a loaded machine the processes may start a simulated day or two late: from
        # the first date they ran on, every date runs once, none missed.
        first_day = min(r[1] for r in after)
        assert first_day <= days[2], after
        days = [day for day in days if day >= first_day]
        for key in JOB_KEYS:
            mine = [r for r in after if r[0] == key]
            assert [r[1] for r in mine] == days, (key, mine)  # one run per date, none missed
            assert all(r[2] == "SUCCEEDED" for r in mine), mine
        owners = [pid_of(r[3]) for r in after if r[0] == "limit_sync"]
        assert owners[0] == leader_pid and owners[-1] == survivor.pid
        assert owners == sorted(owners, key=lambda pid: pid == survivor.pid)  # one handover
        resumed = sum(r[4] - 1 for r in after if r[0] == "limit_sync")
        with engine.connect() as conn:
            syncs = dict(
                conn.execute(
                    text(
                        "SELECT business_date, count(*) FROM sync_runs "
                        "WHERE status = 'succeeded' GROUP BY business_date"
                    )
                ).all()
            )
        # limit_sync really synced every night (a run killed mid-sync resumes on a later
        # simulated day, so its night may carry its sync)
        assert len(set(syncs) & set(days)) >= len(days) - resumed
        assert len(days) <= sum(syncs.values()) <= len(days) + resumed  # and never twice
        log = (tmp_path / f"sched{procs.index(survivor)}.log").read_text()
        assert "scheduler_leader_acquired" in log and "scheduler_stopped" in log
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        engine.dispose()


def test_once_then_status_on_sqlite(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")
    prepare(tmp_path, config)
    now = "2026-11-29T07:05:00+00:00"
    once = run_tci(
        "-c", str(config), "--json", "--as-of", now, "scheduler", "run", "--once", cwd=tmp_path
    )
    assert once.code == 0, once.stderr
    assert sorted((o["key"], o["state"]) for o in once.json()) == [
        ("alert_digest", "SUCCEEDED"),
        ("claims_run", "SUCCEEDED"),
        ("credit_review", "SUCCEEDED"),
        ("limit_sync", "SUCCEEDED"),
        ("pending_requests_poll@0700", "SUCCEEDED"),
    ]
    again = run_tci(
        "-c", str(config), "--json", "--as-of", now, "scheduler", "run", "--once", cwd=tmp_path
    )
    assert (again.code, again.json()) == (0, [])
    status = run_tci(
        "-c", str(config), "--as-of", now, "scheduler", "status", "--json", cwd=tmp_path
    )
    assert status.code == 0, status.stderr
    payload = status.json()
    assert payload["leader"] == {
        "backend": "sqlite", "held": False, "leader": None, "lease_until": None
    }  # fmt: skip
    fires = {j["job"]: j["next_fire"] for j in payload["jobs"]}
    assert fires == {
        "alert_digest": "2026-11-30T07:00:00+00:00",
        "claims_run": "2026-11-30T04:30:00+00:00",
        "credit_review": "2026-11-30T05:00:00+00:00",
        "limit_sync": "2026-11-30T02:30:00+00:00",
        "pending_requests_poll": "2026-11-29T07:30:00+00:00",
    }
    assert {r["job"] for r in payload["runs"]} == {
        "alert_digest",
        "claims_run",
        "credit_review",
        "limit_sync",
        "pending_requests_poll@0700",
    }
    human = run_tci("-c", str(config), "scheduler", "status", cwd=tmp_path)
    assert human.code == 0 and "limit_sync" in human.stdout and "leader (sqlite)" in human.stdout
    bad = run_tci(
        "-c", str(config), "scheduler", "run", "--once", "--simulate-from", now, cwd=tmp_path
    )
    assert bad.code == 2


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_on_a_signal(tmp_path: Path, signum: signal.Signals) -> None:
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, f"sqlite:///{db}", heartbeat=0.1, lease=5)
    prepare(tmp_path, config)
    log = tmp_path / "run.log"
    proc = start(config, tmp_path, log)
    engine = make_engine(f"sqlite:///{db}")
    try:
        wait_for(lambda: "scheduler_leader_acquired" in log.read_text(), 30, "leadership")
        wait_for(lambda: len(job_runs(engine)) == 5, 30, "the startup catch-up")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM scheduler_leases")).scalar() == 1
        proc.send_signal(signum)
        assert proc.wait(20) == 0, log.read_text()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM scheduler_leases")).scalar() == 0
        assert all(r[2] == "SUCCEEDED" for r in job_runs(engine))
        assert '"event": "scheduler_stopped"' in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        engine.dispose()
