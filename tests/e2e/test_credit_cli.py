"""``tci credit`` as subprocesses: an application within the DCL granted at once (a
progressive plan's start amount: growth buyers follow the plan by default), one above it
sent to the insurer's outbox, ``show``, ``list``, ``line`` and ``stats``; Creditsafe and
D&B served by their in-process sandboxes (``base_url = "sandbox"``)."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tci_gateway.adapters.contract import Assessment
from tci_gateway.config import load_settings
from tci_gateway.ledger import identity as identity_repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.migrate import upgrade
from tci_gateway.services.importing import import_buyers

from .conftest import run_tci

pytestmark = pytest.mark.e2e

POLICY = """
[policies.main]
insurer = "atradius"
currency = "EUR"
insured_percentage = 90
max_credit_period_days = 120
max_extension_days = 60
overdue_notification_days = 90
waiting_days = 180
claim_filing_days = 360
discretionary_limit = 30000
claim_threshold = 1000
deductible = 0
timezone = "Europe/Paris"
external_ref = { customer_id = "CONTRACT-C1", policy_id = "CONTRACT-P1" }
"""


def setup(tmp_path: Path) -> Path:
    for name in ("creditsafe", "dnb"):
        seed = importlib.import_module(f"tci_adapters.{name}.sandbox_data").contract_seed()
        text = json.dumps(seed, default=lambda d: int(d) if d == int(d) else str(d))
        (tmp_path / f"{name}.json").write_text(text, encoding="utf-8")
    config = tmp_path / "tci.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n\n'
        '[insurers.atradius]\nadapter = "atradius"\nbase_url = "sandbox"\n'
        'environment = "sandbox"\n\n'
        + "".join(
            f'[bureaus.{name}]\nadapter = "{name}"\nbase_url = "sandbox"\n'
            f'environment = "sandbox"\n[bureaus.{name}.options.sandbox]\n'
            f'seed = "{name}.json"\n\n'
            for name in ("creditsafe", "dnb")
        )
        + "[credit.scorecard]\nthreshold = 45\n"
        + POLICY,
        encoding="utf-8",
    )
    (tmp_path / "buyers.csv").write_text(
        "erp_account,name,country,policy,duns,insurer_ids\n"
        "D1,Contract Delta GmbH,DE,main,219900101,atradius:990004\n",
        encoding="utf-8",
    )
    ledger = Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:  # in process (each `tci` start costs seconds on a loaded machine)
        upgrade(ledger.engine)
        policies = load_settings(config).domain_policies()
        import_buyers(ledger, tmp_path / "buyers.csv", policies=policies, now=datetime.now(UTC))
        # What `tci buyers resolve` stores: the buyer's company id at Creditsafe.
        with ledger.unit_of_work() as s:
            identity_repo.store_assessment(
                s,
                1,
                Assessment("creditsafe", "GB-0-09990101", None, "A-E", "60", as_of=date.today()),
                datetime.now(UTC),
            )
    finally:
        ledger.dispose()
    return config


def test_apply_show_and_stats(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run = run_tci(
        "-c",
        str(config),
        "credit",
        "apply",
        "D1",
        "20000",
        "--by",
        "sales.anna",
        "--json",
        cwd=tmp_path,
    )
    assert run.code == 0, run.stderr
    granted = run.json()
    assert (granted["state"], granted["route"]) == ("granted", "dcl")
    assert granted["granted_amount"] == "5000.0000"  # a growth buyer: the plan's start
    assert granted["plan_id"] is not None and granted["requested_by"] == "sales.anna"
    assert granted["evidence"]["bureaus"]["creditsafe"]["source"] == "live"
    assert granted["evidence"]["bureaus"]["dnb"]["source"] == "live"
    assert granted["cover_request_id"] is None  # no insurer call within the DCL
    steps = [e["step"] for e in granted["events"]]
    assert steps[0] == "received" and steps[-1] == "granted_dcl"

    shown = run_tci("-c", str(config), "credit", "show", granted["reference"], cwd=tmp_path)
    assert shown.code == 0, shown.stderr
    assert "Scorecard" in shown.stdout and "within_dcl" in shown.stdout
    assert granted["reference"] in shown.stderr + shown.stdout

    stats = run_tci("-c", str(config), "credit", "stats", "--json", cwd=tmp_path)
    assert stats.code == 0, stats.stderr
    (row,) = stats.json()["rows"]
    assert (row["tier"], row["route"], row["count"], row["decided"]) == ("growth", "dcl", 1, 1)
    assert row["p50_hours"] is not None
