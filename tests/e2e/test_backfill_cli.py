"""`tci sync limits --backfill` end to end, on SQLite and PostgreSQL: the demo's Atradius
sandbox serves Müller's first decision in its history only; the back-fill keeps it as a
version of its own, a rerun writes nothing, and the claim on an invoice delivered before
the reduction is exact instead of "limit at delivery unknown". An insurer without a
history is refused with exit 2 before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tci_gateway.adapters.loopback import LoopbackServer
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import CoverDecisionRow, SyncRunRow

from .conftest import REPO, run_tci
from .test_sync_faults import cleanup, config, serve  # noqa: F401 (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def count(url: str, table: type) -> int:
    ledger = Ledger.from_url(url)
    try:
        with ledger.unit_of_work() as s:
            return s.scalar(select(func.count()).select_from(table)) or 0
    finally:
        ledger.dispose()


def test_backfill_loads_the_history_and_the_claim_becomes_exact(
    database_url: str, tmp_path: Path
) -> None:
    for name in ("tci.toml", "atradius_sandbox.json", "buyers.csv", "open_items.csv"):
        shutil.copy(REPO / "fixtures" / "demo" / name, tmp_path / name)
    env = {"TCI_DATABASE__URL": database_url}

    def tci(*args: str) -> tuple[int, str, str]:
        run = run_tci("-c", str(tmp_path / "tci.toml"), *args, cwd=tmp_path, env=env)
        return run.code, run.stdout, run.stderr

    for args in (("import", "buyers", "buyers.csv"), ("import", "receivables", "open_items.csv")):
        code, _, err = tci(*args)
        assert code == 0, err
    code, out, err = tci("--json", "sync", "limits")
    assert code == 0, err
    (plain,) = json.loads(out)
    assert (plain["written"], plain["backfill"]) == (8, False)
    code, _, err = tci("--as-of", "2027-06-01", "claims", "run")
    assert code == 0, err
    code, out, err = tci("--json", "claims", "list")
    (muller,) = [c for c in json.loads(out) if c["buyer_name"].startswith("Müller")]
    code, out, err = tci("claims", "show", str(muller["id"]))
    assert code == 0, err
    assert "limit at delivery unknown: cover history starts on 2026-10-14" in out
    assert "**indemnity: 0.00 EUR** (a lower bound)" in out

    code, out, err = tci("--json", "sync", "limits", "--backfill")
    assert code == 0, err
    (backfill,) = json.loads(out)
    assert (backfill["backfill"], backfill["fetched"], backfill["written"]) == (True, 9, 1)
    assert backfill["alerts"] == 0  # history behind the newest version raises nothing
    code, out, err = tci("--json", "sync", "limits", "--backfill")
    (again,) = json.loads(out)
    assert (again["written"], again["unchanged"]) == (0, 9)
    assert count(database_url, CoverDecisionRow) == 9

    code, _, err = tci("--as-of", "2027-06-01", "claims", "run")
    assert code == 0, err
    code, out, err = tci("--json", "claims", "show", str(muller["id"]))
    case = json.loads(out)
    assert case["indemnity"] == "31500.00"  # 90 % of INV-1002-01 (35,000) under 60,000
    assert case["indemnity_lower_bound"] is False and case["indemnity_note"] is None


def test_backfill_is_refused_for_an_insurer_without_history(
    database_url: str,
    tmp_path: Path,
    cleanup: list[LoopbackServer],  # noqa: F811
) -> None:
    server, sandbox = serve("allianz", 20)
    cleanup.append(server)
    path, env = config(tmp_path, database_url, {"allianz": (server, sandbox)}, {})
    run = run_tci("-c", str(path), "sync", "limits", "--backfill", cwd=tmp_path, env=env)
    assert run.code == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "offers no cover history" in lines[0], run.stderr
    assert "Traceback" not in run.stderr
    assert count(database_url, SyncRunRow) == 0  # refused before anything was written
    assert sum(sandbox.received.values()) == 0
