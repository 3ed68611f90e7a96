"""Sync faults through the CLI on SQLite and PostgreSQL: kill -9 in the middle of a sync
then a rerun, and one insurer failing half-way while the others sync."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from benchmarks.portfolios import POLICIES, SEEDS
from sqlalchemy import func, select

from tci_gateway.adapters.loopback import LoopbackServer, serve_on_loopback
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import CoverDecisionRow, PolicyRow, SyncRunRow, SyncStagingRow

from .conftest import TCI, run_tci

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TERMS = """currency = "EUR"
insured_percentage = 90
max_credit_period_days = 120
max_extension_days = 60
overdue_notification_days = 90
waiting_days = 180
claim_filing_days = 360
timezone = "Europe/Paris"
"""


class Slow:
    """A sandbox that answers ``delay`` seconds late and, after ``fail_after`` portfolio
    pages, answers 503 for good (an insurer going down half-way)."""

    def __init__(
        self, inner: Any, *, delay: float = 0.0, fail_after: int | None = None, prefix: str = ""
    ) -> None:
        self.inner, self.delay, self.fail_after, self.prefix = inner, delay, fail_after, prefix
        self.credentials = inner.credentials
        self.pages = 0
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        time.sleep(self.delay)
        if self.fail_after is not None and request.url.path.startswith(self.prefix):
            with self._lock:
                self.pages += 1
                if self.pages > self.fail_after:
                    return httpx.Response(503, json={"message": "down for maintenance"})
        return self.inner.handle(request)  # type: ignore[no-any-return]


def serve(name: str, covers: int, **slow: Any) -> tuple[LoopbackServer, Any]:
    plugin = load_plugin(name)
    assert plugin.create_sandbox is not None
    sandbox = plugin.create_sandbox({"seed": SEEDS[name](covers)})
    front = Slow(sandbox, **slow)
    return serve_on_loopback(front, hang_seconds=1), sandbox  # type: ignore[arg-type]


def config(
    tmp_path: Path,
    url: str,
    servers: dict[str, tuple[LoopbackServer, Any]],
    options: dict[str, str],
) -> tuple[Path, dict[str, str]]:
    text = f'[database]\nurl = "{url}"\n'
    text += "[http]\nmax_attempts = 2\nbackoff_max = 0.05\ncall_deadline = 20.0\n"
    env = {}
    for name, (server, sandbox) in servers.items():
        text += f'[insurers.{name}]\nadapter = "{name}"\nbase_url = "{server.url}"\n'
        text += 'environment = "sandbox"\n'
        if name in options:
            text += f"[insurers.{name}.options]\n{options[name]}\n"
        ref = ", ".join(f'{k} = "{v}"' for k, v in POLICIES[name].items())
        text += f'[policies.{name}-pol]\ninsurer = "{name}"\n{TERMS}external_ref = {{ {ref} }}\n'
        for key, value in sandbox.credentials.items():
            env[f"TCI_INSURERS__{name.upper()}__CREDENTIALS__{key.upper()}"] = value
    path = tmp_path / "tci.toml"
    path.write_text(text, encoding="utf-8")
    return path, env


def counts(url: str) -> dict[str, int]:
    ledger = Ledger.from_url(url)
    try:
        with ledger.unit_of_work() as s:
            rows = s.execute(
                select(PolicyRow.key, func.count(CoverDecisionRow.id))
                .join(CoverDecisionRow, CoverDecisionRow.policy_id == PolicyRow.id)
                .group_by(PolicyRow.key)
            )
            return {key: n for key, n in rows}
    finally:
        ledger.dispose()


def staged(url: str) -> int:
    ledger = Ledger.from_url(url)
    try:
        with ledger.unit_of_work() as s:
            return s.scalar(select(func.count()).select_from(SyncStagingRow)) or 0
    finally:
        ledger.dispose()


def run_states(url: str) -> list[str]:
    ledger = Ledger.from_url(url)
    try:
        with ledger.unit_of_work() as s:
            return list(s.scalars(select(SyncRunRow.status).order_by(SyncRunRow.id)))
    finally:
        ledger.dispose()


@pytest.fixture
def cleanup() -> Iterator[list[LoopbackServer]]:
    servers: list[LoopbackServer] = []
    yield servers
    for server in servers:
        server.close()


def test_kill_9_in_the_middle_of_a_sync_then_rerun(
    database_url: str, tmp_path: Path, cleanup: list[LoopbackServer]
) -> None:
    server, sandbox = serve("allianz", 5000, delay=0.08)
    cleanup.append(server)
    path, env = config(
        tmp_path, database_url, {"allianz": (server, sandbox)}, {"allianz": "page_size = 100"}
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("TCI_")}
    proc = subprocess.Popen(
        [str(TCI), "-c", str(path), "sync", "limits"],
        env={**base, **env},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while staged(database_url) < 1000:  # part-way: a first batch staged, more to come
        assert proc.poll() is None, "the sync finished before it could be killed"
        assert time.monotonic() < deadline, "the sync did not start"
        time.sleep(0.05)
    assert proc.poll() is None, "the sync finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert counts(database_url) == {}  # nothing half-written
    assert run_states(database_url) == ["running"]
    rerun = run_tci("-c", str(path), "--json", "sync", "limits", cwd=tmp_path, env=env)
    assert rerun.code == 0, rerun.stderr
    assert counts(database_url) == {"allianz-pol": 5000}
    assert run_states(database_url) == ["failed", "succeeded"]  # the killed run, marked


def test_one_insurer_failing_half_way_leaves_its_limits_and_others_sync(
    database_url: str, tmp_path: Path, cleanup: list[LoopbackServer]
) -> None:
    servers = {
        "atradius": serve("atradius", 200),
        "allianz": serve("allianz", 500),
        "coface": serve("coface", 300),
    }
    cleanup.extend(s for s, _ in servers.values())
    path, env = config(tmp_path, database_url, servers, {"allianz": "page_size = 100"})
    first = run_tci("-c", str(path), "--json", "sync", "limits", cwd=tmp_path, env=env)
    assert first.code == 0, first.stderr
    assert counts(database_url) == {"atradius-pol": 200, "allianz-pol": 500, "coface-pol": 300}
    # Every limit changes at the insurers; then Coface goes down after 5 pages of 15.
    servers["atradius"][1].seed(SEEDS["atradius"](200, bump=1))
    servers["allianz"][1].seed(SEEDS["allianz"](500, bump=1))
    coface_front = servers["coface"][0].sandbox
    servers["coface"][1].seed(SEEDS["coface"](300, bump=1))
    coface_front.fail_after, coface_front.prefix = 5, "/policies/"
    second = run_tci("-c", str(path), "--json", "sync", "limits", cwd=tmp_path, env=env)
    assert second.code == 1
    reports = {r["insurer"]: r for r in second.json()}
    assert reports["coface"]["status"] == "failed" and reports["coface"]["written"] == 0
    assert (
        "503" in reports["coface"]["errors"][0] or "maintenance" in reports["coface"]["errors"][0]
    )
    assert reports["atradius"]["written"] == 200 and reports["allianz"]["written"] == 500
    assert counts(database_url) == {"atradius-pol": 400, "allianz-pol": 1000, "coface-pol": 300}
