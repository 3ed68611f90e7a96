"""The checks of ``tci doctor`` in process: clocks (a skewed machine against PostgreSQL,
a clock gone back on SQLite), a scheduler leader whose lease stopped being renewed, and
the token probe's reading of each kind of answer (no secret in any detail)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text

from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.cli.doctor_checks import Check, probe_token, run_checks
from tci_gateway.config import HttpSettings
from tci_gateway.ledger import jobs as job_runs
from tci_gateway.ledger.engine import Ledger, make_engine, normalise_url
from tci_gateway.ledger.job_state import JobState
from tci_gateway.ledger.locks import NamedLock, is_locked
from tci_gateway.ledger.migrate import upgrade
from tci_gateway.ledger.tables import JobRunRow
from tci_gateway.scheduler.leader import LEASE_NAME
from tci_gateway.wiring import Connection

API_KEY = "doctor-canary-key-5f1e2d"
PG_URL = os.environ.get("TCI_TEST_DATABASE_URL")


def config_for(tmp_path: Path, url: str, *, jobs_enabled: bool = True) -> Path:
    disabled = "".join(
        f"[scheduler.jobs.{job}]\nenabled = false\n"
        for job in (
            "limit_sync",
            "pending_requests_poll",
            "claims_run",
            "credit_review",
            "alert_digest",
        )
    )
    path = tmp_path / "tci.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[scheduler]\nheartbeat_seconds = 1\n'
        + ("" if jobs_enabled else disabled),
        encoding="utf-8",
    )
    return path


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_no_insurer_and_no_job_is_all_well(tmp_path: Path, database_url: str) -> None:
    checks = by_name(run_checks(config_for(tmp_path, database_url, jobs_enabled=False)))
    assert all(c.status == "ok" for c in checks.values()), checks
    assert checks["credentials"].detail == "no insurer or bureau configured"
    assert checks["scheduler"].detail == "no scheduler job is enabled"
    assert "UTC (scheduler): today is" in checks["time zones"].detail


def test_a_skewed_clock_fails(tmp_path: Path, database_url: str) -> None:
    config = config_for(tmp_path, database_url, jobs_enabled=False)
    ledger = Ledger.from_url(database_url)
    try:
        now = datetime.now(UTC)
        with ledger.unit_of_work() as session:  # a run the ledger recorded just now
            session.add(
                JobRunRow(
                    job="limit_sync",
                    business_date=date(2026, 12, 1),
                    state=JobState.SUCCEEDED,
                    owner="elsewhere:1:abc",
                    attempts=1,
                    started_at=now,
                    lease_until=now,
                    finished_at=now,
                    detail={},
                )
            )
        behind = by_name(run_checks(config, clock=lambda: datetime.now(UTC) - timedelta(hours=1)))
    finally:
        ledger.dispose()
    clock = behind["clock"]
    assert clock.status == "fail"
    if database_url.startswith("sqlite"):
        assert "the clock went back" in clock.detail, clock
    else:
        assert "s behind the ledger server's: synchronise both with NTP" in clock.detail, clock
        assert clock.detail.startswith("this machine's clock is 36"), clock  # ~3600 s
    ok = by_name(run_checks(config))["clock"]
    assert ok.status == "ok", ok


def test_a_leader_that_stopped_renewing_fails(tmp_path: Path, database_url: str) -> None:
    config = config_for(tmp_path, database_url)
    ledger = Ledger.from_url(database_url)
    lock = NamedLock(ledger, LEASE_NAME)
    try:
        assert by_name(run_checks(config))["scheduler"].status == "fail"  # nobody leads
        assert lock.try_acquire()
        now = datetime.now(UTC)
        job_runs.note_leader(ledger, LEASE_NAME, "host:42:cafe01", now, timedelta(seconds=60))
        fine = by_name(run_checks(config))["scheduler"]
        assert fine.status == "ok" and fine.detail.startswith("led by host:42:cafe01"), fine
        job_runs.note_leader(
            ledger, LEASE_NAME, "host:42:cafe01", now - timedelta(minutes=5), timedelta(seconds=60)
        )
        stuck = by_name(run_checks(config))["scheduler"]
        assert stuck.status == "fail" and "its heartbeat is stuck" in stuck.detail, stuck
    finally:
        lock.release()
        ledger.dispose()


class _Front:
    """A token endpoint answering ``answer`` (the probe's transport)."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.seen: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.answer(request)


def _connection(front: _Front) -> Connection:
    plugin = load_plugin("allianz")
    adapter = plugin.create(
        AdapterContext(
            name="allianz",
            base_url="https://api.example.test",
            environment="uat",
            credentials={"api_key": API_KEY},
        )
    )
    return Connection(adapter, front)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "ok", "words"),
    [
        (
            httpx.Response(
                200, json={"access_token": "t0k", "token_type": "Bearer", "expires_in": 60}
            ),
            True,
            "issued a token",
        ),
        (
            httpx.Response(401, json={"message": "bad key"}),
            False,
            "refused the credentials (HTTP 401",
        ),
        (httpx.Response(503), False, "is failing (HTTP 503"),
        (httpx.Response(404), False, "answered HTTP 404 Not Found: is base_url right?"),
        (httpx.Response(200, json={"nothing": 1}), False, "without a usable token"),
    ],
)
def test_probe_token_reads_each_answer(answer: httpx.Response, ok: bool, words: str) -> None:
    front = _Front(lambda _request: answer)
    connection = _connection(front)
    try:
        got, detail = probe_token(connection, HttpSettings())
    finally:
        connection.adapter.close()
    assert got is ok and words in detail, detail
    assert API_KEY not in detail
    (sent,) = front.seen
    assert sent.method == "POST" and API_KEY.encode() in sent.content  # the real token call


def test_probe_token_when_nothing_answers() -> None:
    def refuse(request: httpx.Request) -> Any:
        raise httpx.ConnectError("connection refused", request=request)

    connection = _connection(_Front(refuse))
    try:
        ok, detail = probe_token(connection, HttpSettings())
    finally:
        connection.adapter.close()
    assert not ok and "does not answer (ConnectError: connection refused)" in detail


@pytest.mark.postgres
@pytest.mark.slow
def test_a_lock_held_in_another_database_is_not_ours(tmp_path: Path) -> None:
    """A restored copy on the same PostgreSQL server (same schema name, same lock key)
    has no leader because the original has one: advisory locks belong to a database."""
    if not PG_URL:
        pytest.skip("TCI_TEST_DATABASE_URL is not set: the two-database case needs PostgreSQL")
    other = f"tci_doctor_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{other}"'))
    base = make_url(normalise_url(PG_URL))
    original = Ledger.from_url(base.render_as_string(hide_password=False))
    copy = Ledger.from_url(base.set(database=other).render_as_string(hide_password=False))
    lock = NamedLock(original, LEASE_NAME)
    try:
        assert lock.try_acquire()
        assert is_locked(original, LEASE_NAME)
        assert not is_locked(copy, LEASE_NAME)
        upgrade(copy.engine)
        config = config_for(tmp_path, base.set(database=other).render_as_string(False))
        scheduler = by_name(run_checks(config))["scheduler"]
        assert scheduler.status == "fail" and "no scheduler is running" in scheduler.detail
    finally:
        lock.release()
        original.dispose()
        copy.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{other}"'))
        admin.dispose()
