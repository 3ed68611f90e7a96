"""On the demo data, as a subprocess: ``tci deadlines`` shows the clock a notified case
runs under after its oldest invoice is paid, and ``tci buyers review accept`` merges a
buyer that has a claim case (it used to end in an IntegrityError and exit 70) or refuses
two open cases under one policy with exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import REPO, run_tci
from .test_claims_cli import demo_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEMO = REPO / "fixtures" / "demo"
FEB20 = ("--as-of", "2027-02-20T10:00:00+00:00")
OCT20 = ("--as-of", "2026-10-20T10:00:00+00:00")


def tci(tmp: Path, config: Path, *args: str) -> tuple[int, str, str]:
    run = run_tci("-c", str(config), *args, cwd=tmp)
    return run.code, run.stdout, run.stderr


def ok(tmp: Path, config: Path, *args: str) -> str:
    code, out, err = tci(tmp, config, *args)
    assert code == 0, err
    return out


def demo_ledger(tmp: Path) -> Path:
    config = demo_config(tmp)
    ok(tmp, config, "db", "upgrade")
    ok(tmp, config, "import", "buyers", str(DEMO / "buyers.csv"))
    ok(tmp, config, "import", "receivables", str(DEMO / "open_items.csv"))
    return config


def test_deadlines_show_the_clock_of_a_notified_case(tmp_path: Path) -> None:
    config = demo_ledger(tmp_path)
    ok(tmp_path, config, *FEB20, "claims", "run")  # notifications go to manual packs
    cases = json.loads(ok(tmp_path, config, "--json", "claims", "list"))
    van_dijk = next(c for c in cases if c["buyer_name"] == "Bouwbedrijf Van Dijk B.V.")
    assert van_dijk["due_date"] == "2026-11-14"  # INV-1001-01
    show = ok(tmp_path, config, "--json", "claims", "show", str(van_dijk["id"]))
    claim_by = json.loads(show)["claim_by"]

    # The oldest invoice is paid: the next one is due 19 December, but the case was
    # notified under the clock of 14 November and keeps it.
    items = (DEMO / "open_items.csv").read_text(encoding="utf-8")
    paid = items.replace(
        "C1001,INV-1001-01,INVOICE,2026-09-15,2026-09-14,2026-11-14,EUR,40000.00,40000.00",
        "C1001,INV-1001-01,INVOICE,2026-09-15,2026-09-14,2026-11-14,EUR,40000.00,0.00",
    )
    assert paid != items
    (tmp_path / "paid.csv").write_text(paid, encoding="utf-8")
    ok(tmp_path, config, "import", "receivables", str(tmp_path / "paid.csv"))

    rows = json.loads(ok(tmp_path, config, "--json", *FEB20, "deadlines"))
    row = next(r for r in rows if r["buyer"] == "Bouwbedrijf Van Dijk B.V.")
    assert row["case_id"] == van_dijk["id"]
    assert (row["due_date"], row["claim_by"]) == ("2026-11-14", claim_by)
    assert row["overdue_invoices"] == 1
    # Each invoice keeps its own clock in --invoices.
    invoices = json.loads(ok(tmp_path, config, "--json", *FEB20, "deadlines", "--invoices"))
    inv = next(r for r in invoices if r["invoice"] == "INV-1001-02")
    assert inv["due_date"] == "2026-12-19"


def _second_account(tmp: Path, config: Path) -> None:
    """C2001: the same company as C1001 (Bouwbedrijf Van Dijk) without its identifiers,
    with an invoice overdue since 1 October 2026: a buyer of its own."""
    (tmp / "b2.csv").write_text(
        "erp_account,name,country,policy\nC2001,Bouwbedrijf van Dijk BV,NL,atradius-main\n",
        encoding="utf-8",
    )
    (tmp / "i2.csv").write_text(
        "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
        "amount,open_amount,disputed,applies_to\n"
        "C2001,INV-2001-01,INVOICE,2026-08-01,2026-08-01,2026-10-01,EUR,1000.00,1000.00,"
        "false,\n",
        encoding="utf-8",
    )
    ok(tmp, config, "import", "buyers", str(tmp / "b2.csv"))
    ok(tmp, config, "import", "receivables", str(tmp / "i2.csv"))


def _review(tmp: Path, config: Path) -> int:
    ok(tmp, config, "buyers", "resolve", "--no-bureaus", "--no-insurers")
    (item,) = json.loads(ok(tmp, config, "--json", "buyers", "review"))
    assert {item["account_a"], item["account_b"]} == {"C1001", "C2001"}
    return int(item["id"])


def test_accepting_a_review_merges_a_buyer_that_has_a_claim_case(tmp_path: Path) -> None:
    config = demo_ledger(tmp_path)
    _second_account(tmp_path, config)
    ok(tmp_path, config, *OCT20, "claims", "run")  # only C2001 is overdue on 20 October
    (case,) = json.loads(ok(tmp_path, config, "--json", "claims", "list"))
    assert case["buyer_name"] == "Bouwbedrijf van Dijk BV"
    item = _review(tmp_path, config)

    code, out, err = tci(tmp_path, config, "buyers", "review", "accept", str(item))
    assert code == 0, err
    assert "Traceback" not in err and "are one buyer" in out + err
    (merged,) = json.loads(ok(tmp_path, config, "--json", "claims", "list"))
    assert merged["id"] == case["id"]
    assert merged["buyer_name"] == "Bouwbedrijf Van Dijk B.V."
    # The next run follows the merged buyer: its oldest invoice now drives the one case.
    ok(tmp_path, config, *FEB20, "claims", "run")
    cases = json.loads(ok(tmp_path, config, "--json", "claims", "list"))
    van_dijk = [c for c in cases if c["buyer_name"] == "Bouwbedrijf Van Dijk B.V."]
    assert [c["id"] for c in van_dijk] == [case["id"]]


def test_two_open_cases_are_refused_with_nothing_written(tmp_path: Path) -> None:
    config = demo_ledger(tmp_path)
    _second_account(tmp_path, config)
    ok(tmp_path, config, *FEB20, "claims", "run")  # both buyers have an open case
    item = _review(tmp_path, config)
    code, _out, err = tci(tmp_path, config, "buyers", "review", "accept", str(item))
    assert code == 2
    assert "both have an open claim case under policy atradius-main" in err
    assert "Traceback" not in err and "IntegrityError" not in err
    # Nothing was written: the item still awaits a decision, the accounts stay apart.
    (pending,) = json.loads(ok(tmp_path, config, "--json", "buyers", "review"))
    assert pending["id"] == item
