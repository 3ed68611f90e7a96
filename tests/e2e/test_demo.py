"""`tci demo` end to end: the numbers are computed by the code from fixtures/demo and
checked here against hand-computed values (fixtures/demo/README.md shows the sums)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from .conftest import REPO, run_tci

pytestmark = pytest.mark.e2e

# buyer -> (exposure, limit, covered, uncovered, status, alerts), by hand from the fixtures
EXPECTED = {
    "Bouwbedrijf Van Dijk B.V.": ("64500.00", "100000.00", "64500.00", "0.00", "APPROVED", []),
    "Müller Maschinenbau GmbH": (
        "55000.00",
        "40000.00",
        "40000.00",
        "15000.00",
        "REDUCED",
        ["over_limit"],
    ),
    "Société Générale de Négoce SAS": (
        "80000.00",
        "75000.00",
        "75000.00",
        "5000.00",
        "APPROVED",
        ["over_limit"],
    ),
    "Harbour Freight Supplies Ltd": (
        "12000.00",
        "0.00",
        "0.00",
        "12000.00",
        "REFUSED",
        ["uncovered", "cover_refused"],
    ),
    "Iberia Componentes S.L.": (
        "20000.00",
        "0.00",
        "0.00",
        "20000.00",
        "PENDING",
        ["uncovered", "cover_pending"],
    ),
    "深圳华强电子有限公司": ("25000.00", "30000.00", "25000.00", "0.00", "PARTIALLY_APPROVED", []),
    "Nordic Timber AB": (
        "18000.00",
        "50000.00",
        "18000.00",
        "0.00",
        "APPROVED",
        ["pending_withdrawal"],
    ),
    "Alpine Retail AG": ("7500.00", None, "0.00", "7500.00", None, ["uncovered"]),
    "Danube Logistics Kft": ("0.00", "20000.00", "0.00", "0.00", "APPROVED", ["inactive_buyer"]),
}


def test_demo_numbers_export_and_rerun(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    first = run_tci("--json", "--as-of", "2026-11-29", "demo", "--dir", str(out), cwd=REPO)
    assert first.code == 0, first.stderr
    result = first.json()
    rows = {r["buyer_name"]: r for r in result["exposure"]}
    assert set(rows) == set(EXPECTED)
    for name, (exposure, limit, covered, uncovered, status, alerts) in EXPECTED.items():
        r = rows[name]
        assert (r["exposure"], r["limit"], r["covered"], r["uncovered"]) == (
            exposure,
            limit,
            covered,
            uncovered,
        ), name
        assert (r["status"], r["alerts"]) == (status, alerts), name
    assert rows["Société Générale de Négoce SAS"]["erp_accounts"] == ["C1003", "C1004"]
    assert rows["Müller Maschinenbau GmbH"]["disputed"] == "20000.00"
    assert result["totals"]["EUR"] == {
        "exposure": "282000.00",
        "covered": "222500.00",
        "uncovered": "59500.00",
    }
    assert [s["written"] for s in result["syncs"]] == [8]

    with (out / "covered-limits.csv").open(encoding="utf-8", newline="") as handle:
        exported = {r["buyer_name"]: r for r in csv.DictReader(handle)}
    assert len(exported) == 9
    assert exported["Société Générale de Négoce SAS"]["erp_accounts"] == "C1003;C1004"
    assert exported["Müller Maschinenbau GmbH"]["covered_amount"] == "40000.00"
    assert exported["Alpine Retail AG"]["status"] == "NO_COVER"
    assert sum(Decimal(r["covered_amount"]) for r in exported.values()) == Decimal("315000.00")
    assert (out / "covered-limits.json").is_file()

    again = run_tci("--json", "--as-of", "2026-11-29", "demo", "--dir", str(out), cwd=REPO)
    assert again.code == 0, again.stderr
    second = again.json()
    assert second["syncs"][0]["written"] == 0 and second["syncs"][0]["unchanged"] == 8
    assert second["imports"]["open_items"]["unchanged"] == 14
    assert second["exposure"] == result["exposure"]


def test_demo_human_output(tmp_path: Path) -> None:
    run = run_tci("--as-of", "2026-11-29", "demo", "--dir", str(tmp_path / "d"), cwd=REPO)
    assert run.code == 0, run.stderr
    assert "Exposure against cover" in run.stdout
    assert "Total EUR: exposure 282,000.00, covered 222,500.00, uncovered 59,500.00" in run.stdout
    assert "imported open items: 14 rows" in run.stderr
