"""``tci deadlines`` and ``tci claims`` as a subprocess on the demo data (Atradius: no
overdue API, so its notifications go to a manual filing pack), and an escalation path
that could miss a deadline refused at start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import REPO, run_tci

pytestmark = pytest.mark.e2e

DEMO = REPO / "fixtures" / "demo"
AS_OF = ("--as-of", "2027-02-20T10:00:00+00:00")


def demo_config(tmp_path: Path, extra: str = "") -> Path:
    text = (DEMO / "tci.toml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///tci-demo/ledger.db", f"sqlite:///{tmp_path / 'ledger.db'}")
    text = text.replace(
        'seed = "atradius_sandbox.json"', f'seed = "{DEMO / "atradius_sandbox.json"}"'
    )
    path = tmp_path / "tci.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def tci(tmp_path: Path, config: Path, *args: str) -> tuple[int, str, str]:
    run = run_tci("-c", str(config), *args, cwd=tmp_path)
    return run.code, run.stdout, run.stderr


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = demo_config(tmp_path)
    for args in (
        ("db", "upgrade"),
        ("import", "buyers", str(DEMO / "buyers.csv")),
        ("import", "receivables", str(DEMO / "open_items.csv")),
        ("sync", "limits"),
    ):
        code, _out, err = tci(tmp_path, path, *args)
        assert code == 0, err
    return path


@pytest.mark.slow
def test_deadlines_claims_run_list_show_pack_confirm(tmp_path: Path, config: Path) -> None:
    code, out, err = tci(tmp_path, config, "--json", *AS_OF, "deadlines", "--within", "7")
    assert code == 0, err
    rows = json.loads(out)
    # On 20 Feb 2027 (Paris) C1001's oldest invoice (due 14 Nov) must be notified by 12 Feb:
    # past, so not "within"; Société Générale de Négoce's notify-by is 22 Feb (2 days).
    sgn = next(r for r in rows if r["buyer"].startswith("Société Générale"))
    assert sgn["within"] == {"notify_by": "2027-02-22"}
    assert all(r["buyer"] != "Bouwbedrijf Van Dijk B.V." for r in rows)

    code, out, err = tci(
        tmp_path, config, "--json", *AS_OF, "deadlines", "--invoices", "--within", "3"
    )
    assert code == 0, err
    (invoice,) = json.loads(out)  # each overdue invoice has its own clock
    assert (invoice["invoice"], invoice["notify_by"]) == ("INV-1003-01", "2027-02-22")

    code, out, err = tci(tmp_path, config, "--json", *AS_OF, "claims", "run", "--dry-run")
    assert code == 0, err
    planned = json.loads(out)
    assert planned["dry_run"] and planned["overdue_buyers"] == 8
    notify = [p for p in planned["planned"] if p["action"] == "OVERDUE_NOTIFICATION"]
    assert {p["channel"] for p in notify} == {"MANUAL"}  # Atradius: no overdue API
    code, out, _ = tci(tmp_path, config, "--json", "claims", "list")
    assert json.loads(out) == []  # the dry run wrote nothing

    code, out, err = tci(tmp_path, config, *AS_OF, "claims", "run")
    assert code == 0, err
    assert "8 overdue buyer(s); 8 case(s) opened" in out
    code, out, err = tci(tmp_path, config, "--json", *AS_OF, "claims", "run")
    assert code == 0 and json.loads(out)["planned"] == []  # once per case and action

    code, out, _ = tci(tmp_path, config, "--json", "claims", "list")
    cases = {c["buyer_name"]: c for c in json.loads(out)}
    van_dijk = cases["Bouwbedrijf Van Dijk B.V."]
    # 40,000 + 30,000 less a 2,500 credit note and a 3,000 payment, under a 100,000 limit,
    # at 90 %: 64,500 x 0.9 = 58,050.00.
    assert (van_dijk["insured_total"], van_dijk["indemnity"]) == ("64500.00", "58050.00")
    case_id = van_dijk["id"]

    code, out, _ = tci(tmp_path, config, "claims", "show", str(case_id))
    assert code == 0 and "notify by 2027-02-12" in out and "indemnity: 58050.00 EUR" in out

    pack = tmp_path / "pack.md"
    code, _out, err = tci(tmp_path, config, "claims", "pack", str(case_id), "-o", str(pack))
    assert code == 0, err
    text = pack.read_text(encoding="utf-8")
    for expected in (
        "Bouwbedrijf Van Dijk B.V. (NL)",
        "VAT: NL004495445B01",
        "customer_id 1000001",
        "notify the overdue by: 2027-02-12",
        "file the claim by: 2027-11-09",
        "| INV-1001-01 |",
        "**indemnity: 58050.00 EUR**",
        "tci-case",
    ):
        assert expected in text, expected

    code, out, err = tci(
        tmp_path,
        config,
        "claims",
        "confirm",
        str(case_id),
        "--action",
        "overdue_notification",
        "--reference",
        "ATR-NP-123",
    )
    assert code == 0, err
    assert "FILED_MANUALLY (ATR-NP-123)" in out
    code, _out, err = tci(
        tmp_path,
        config,
        "claims",
        "confirm",
        str(case_id),
        "--action",
        "claim",
        "--reference",
        "X",
    )
    assert code == 2 and "has no claim action" in err
    code, _out, err = tci(tmp_path, config, "claims", "show", "999")
    assert code == 2 and "no case 999" in err


def test_an_escalation_path_that_misses_a_deadline_is_refused(tmp_path: Path) -> None:
    config = demo_config(
        tmp_path,
        "\n[escalation.tiers.growth]\nreminder = 30\noverdue_notification = 120\nclaim = 200\n",
    )
    code, _out, err = tci(tmp_path, config, "claims", "list")
    assert code == 2
    assert "could miss an insurer deadline" in err
    assert "overdue_notification at D+120" in err and "D+90" in err
