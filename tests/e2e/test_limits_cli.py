"""``tci export limits --changed-since`` day by day: changes by date reach the ERP."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tci_gateway.adapters.loopback import LoopbackServer, serve_on_loopback
from tci_gateway.adapters.registry import load_plugin

from .conftest import run_tci
from .test_cli import DEMO, credentials_env, loopback_config, prepare

pytestmark = pytest.mark.e2e


def dated_seed(path: Path) -> Path:
    """The demo portfolio with two changes by date: Van Dijk's seasonal 20,000 tranche
    ends on 3 December, Nordic Timber's announced withdrawal takes effect on 5 December."""
    seed: dict[str, Any] = json.loads((DEMO / "atradius_sandbox.json").read_text("utf-8"))
    for cover in seed["covers"]:
        if cover["buyerName"].startswith("Bouwbedrijf"):
            cover["totalDecision"] = {"decisionAmtInPolicyCurrency": 120000}
            cover["secondAmtDecision"] = {
                "decisionAmtInPolicyCurrency": 20000,
                "decisionExpiryDate": "2026-12-03T00:00:00Z",
                "decisionConditions": [],
            }
        if cover["buyerName"] == "Nordic Timber AB":
            cover["withdrawalDate"] = "2026-12-05T00:00:00Z"
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


@pytest.fixture
def dated_sandbox(tmp_path: Path) -> Iterator[tuple[LoopbackServer, object]]:
    plugin = load_plugin("atradius")
    assert plugin.create_sandbox is not None
    seed = dated_seed(tmp_path / "seed.json")
    sandbox = plugin.create_sandbox({"seed": str(seed), "decision_delay": 10**6})
    with serve_on_loopback(sandbox, hang_seconds=2) as server:
        yield server, sandbox


def test_changed_since_day_by_day_lists_tranche_expiry_and_withdrawal(
    tmp_path: Path, dated_sandbox: tuple[LoopbackServer, object]
) -> None:
    server, sandbox = dated_sandbox
    config = loopback_config(tmp_path, server.url)
    env = credentials_env(sandbox)
    prepare(tmp_path, config, env)
    base = ("-c", str(config))
    sync = run_tci(*base, "--as-of", "2026-11-30", "sync", "limits", cwd=tmp_path, env=env)
    assert sync.code == 0, sync.stderr
    cursor_file = tmp_path / "cursor"
    full = run_tci(
        *base,
        "--as-of",
        "2026-11-30",
        "export",
        "limits",
        "--format",
        "json",
        "--cursor-file",
        str(cursor_file),
        cwd=tmp_path,
    )
    assert full.code == 0, full.stderr
    rows = {r["buyer_name"]: r for r in json.loads(full.stdout)["covered_limits"]}
    assert rows["Bouwbedrijf Van Dijk B.V."]["covered_amount"] == "120000.00"
    assert rows["Bouwbedrijf Van Dijk B.V."]["valid_to"] == "2026-12-03"  # first tranche end
    assert rows["Nordic Timber AB"]["valid_to"] == "2026-12-05"
    assert rows["Nordic Timber AB"]["raw_codes"]["decisionCode"] == "DC21"
    assert int(cursor_file.read_text("utf-8")) == json.loads(full.stdout)["cursor"]

    seen: dict[str, list[tuple[str, str]]] = {}
    for day in ("2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04", "2026-12-05", "2026-12-06"):
        run = run_tci(
            *base,
            "--as-of",
            day,
            "export",
            "limits",
            "--cursor-file",
            str(cursor_file),
            cwd=tmp_path,
        )
        assert run.code == 0, run.stderr
        seen[day] = [
            (r["buyer_name"], r["status"], r["covered_amount"])
            for r in csv.DictReader(io.StringIO(run.stdout))
        ]
    assert seen == {
        "2026-12-01": [],
        "2026-12-02": [],
        "2026-12-03": [("Bouwbedrijf Van Dijk B.V.", "APPROVED", "100000.00")],
        "2026-12-04": [],
        "2026-12-05": [("Nordic Timber AB", "WITHDRAWN", "0.00")],
        "2026-12-06": [],
    }
    explicit = run_tci(
        *base, "--as-of", "2026-12-06", "export", "limits", "--changed-since", "0", cwd=tmp_path
    )
    assert explicit.code == 0, explicit.stderr
    listed = {r["buyer_name"] for r in csv.DictReader(io.StringIO(explicit.stdout))}
    assert "Nordic Timber AB" in listed and "Alpine Retail AG" not in listed  # no NO_COVER rows
    ahead = run_tci(*base, "export", "limits", "--changed-since", "999999", cwd=tmp_path)
    assert ahead.code == 2 and ahead.stdout == ""
    assert "cursor 999999 is ahead of this ledger's last limit change" in ahead.stderr
    assert "Traceback" not in ahead.stderr
