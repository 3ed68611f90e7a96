"""kill -9 around a sync's reconciliation, through the CLI on SQLite and PostgreSQL: a run
killed after its reconciliation committed keeps its true figures; a run killed before it
leaves staged rows that the next sync prunes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tci_gateway.adapters.loopback import LoopbackServer
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import SyncRunRow, SyncStagingRow

from .conftest import run_tci
from .test_sync_faults import cleanup, config, counts, serve  # noqa: F401 (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def runs(url: str) -> list[tuple[str, int, int, int]]:
    ledger = Ledger.from_url(url)
    try:
        with ledger.unit_of_work() as s:
            return [
                (r.status, r.fetched, r.written, r.unchanged)
                for r in s.scalars(select(SyncRunRow).order_by(SyncRunRow.id))
            ]
    finally:
        ledger.dispose()


def staged_by_run(url: str) -> dict[int, int]:
    ledger = Ledger.from_url(url)
    try:
        with ledger.unit_of_work() as s:
            rows = s.execute(
                select(SyncStagingRow.sync_run_id, func.count()).group_by(
                    SyncStagingRow.sync_run_id
                )
            )
            return {run: n for run, n in rows}
    finally:
        ledger.dispose()


def sync_killed_at(
    crash_point: str, database_url: str, tmp_path: Path, servers: list[LoopbackServer]
) -> tuple[Path, dict[str, str]]:
    """A 300-cover Atradius sync killed with SIGKILL at ``crash_point``; its config and
    environment for the rerun."""
    server, sandbox = serve("atradius", 300)
    servers.append(server)
    path, env = config(tmp_path, database_url, {"atradius": (server, sandbox)}, {})
    killed = run_tci(
        "-c", str(path), "sync", "limits", cwd=tmp_path, env={**env, "TCI_CRASH_AT": crash_point}
    )
    assert killed.code == -9, killed.stderr
    return path, env


def test_killed_after_the_reconciliation_committed_the_run_keeps_its_figures(
    database_url: str,
    tmp_path: Path,
    cleanup: list[LoopbackServer],  # noqa: F811
) -> None:
    path, env = sync_killed_at("sync_after_reconcile", database_url, tmp_path, cleanup)
    assert counts(database_url) == {"atradius-pol": 300}
    assert runs(database_url) == [("succeeded", 300, 300, 0)]  # not "running", not zeros
    rerun = run_tci("-c", str(path), "--json", "sync", "limits", cwd=tmp_path, env=env)
    assert rerun.code == 0, rerun.stderr
    assert runs(database_url) == [("succeeded", 300, 300, 0), ("succeeded", 300, 0, 300)]


def test_killed_before_the_reconciliation_its_staged_rows_are_pruned(
    database_url: str,
    tmp_path: Path,
    cleanup: list[LoopbackServer],  # noqa: F811
) -> None:
    path, env = sync_killed_at("sync_after_stage", database_url, tmp_path, cleanup)
    assert counts(database_url) == {}
    (first,) = staged_by_run(database_url).items()
    assert first[1] == 300
    rerun = run_tci("-c", str(path), "--json", "sync", "limits", cwd=tmp_path, env=env)
    assert rerun.code == 0, rerun.stderr
    (report,) = rerun.json()
    assert report["staging_pruned"] == 300 and report["written"] == 300
    assert runs(database_url)[0][0] == "failed"
    assert list(staged_by_run(database_url)) == [report["run_id"]]
