"""The tci CLI as a subprocess: SAP exports imported through mapping profiles (by name from
the configuration and by file), a bad export refused with its own row and column, and ECB
rates imported and listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import REPO, run_tci

pytestmark = pytest.mark.e2e

ERP = REPO / "fixtures" / "erp"
PROFILES = REPO / "config" / "profiles"


def write_config(tmp_path: Path) -> Path:
    """A configuration with a SQLite ledger and the SAP buyers profile under a name."""
    profile = (PROFILES / "sap_buyers.toml").read_text(encoding="utf-8")
    path = tmp_path / "tci.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n\n'
        "[erp_profiles.sap_buyers]\n"
        + profile.replace("[columns]", "[erp_profiles.sap_buyers.columns]"),
        encoding="utf-8",
    )
    return path


def test_profiles_and_fx_rates_through_the_cli(tmp_path: Path) -> None:
    config = write_config(tmp_path)

    def tci(*args: str) -> tuple[int, str, str]:
        run = run_tci("-c", str(config), *args, cwd=tmp_path)
        return run.code, run.stdout, run.stderr

    assert tci("db", "upgrade")[0] == 0
    code, out, err = tci("import", "buyers", "--profile", "sap_buyers", str(ERP / "sap_buyers.csv"))
    assert code == 0, err
    assert "5 inserted" in out

    sap_profile = str(PROFILES / "sap_open_items.toml")
    items = str(ERP / "sap_open_items.csv")
    run = run_tci(
        "-c",
        str(config),
        "--json",
        "import",
        "receivables",
        "--profile",
        sap_profile,
        items,
        cwd=tmp_path,
    )
    assert run.code == 0, run.stderr
    assert (run.json()["rows"], run.json()["inserted"]) == (8, 8)
    run = run_tci(
        "-c",
        str(config),
        "--json",
        "import",
        "receivables",
        str(ERP / "sap_open_items.canonical.csv"),
        cwd=tmp_path,
    )
    assert run.code == 0, run.stderr
    assert (run.json()["inserted"], run.json()["updated"], run.json()["unchanged"]) == (0, 0, 8)

    code, _, err = tci("import", "receivables", "--profile", "nope", items)
    assert code == 2
    assert "unknown mapping profile 'nope'" in err and "sap_buyers" in err

    bad = tmp_path / "FBL5N.csv"
    bad.write_bytes(
        (ERP / "sap_open_items.csv").read_bytes().replace(b"25.10.2026;", b"25.13.2026;", 1)
    )
    code, _, err = tci("import", "receivables", "--profile", sap_profile, str(bad))
    assert code == 2
    assert f"{bad}, row 4, column 'Belegdatum': date '25.13.2026'" in err
    assert "nothing was written" in err

    code, out, err = tci("fx", "import", str(ERP / "eurofxref-hist.csv"), "--json")
    assert code == 0, err
    assert '"inserted": 60' in out and '"skipped": 18' in out
    code, out, err = tci("fx", "import", str(ERP / "eurofxref.csv"))
    assert code == 0, err
    assert "10 unchanged" in out
    run = run_tci(
        "-c",
        str(config),
        "--as-of",
        "2026-11-29",
        "--json",
        "fx",
        "rates",
        "--currency",
        "usd",
        cwd=tmp_path,
    )
    assert run.code == 0, run.stderr
    assert run.json() == [
        {
            "date": "2026-11-27",
            "base": "EUR",
            "currency": "USD",
            "rate": "1.1586",
            "age_days": 2,
            "source": "ECB",
        }
    ]
    code, out, _ = tci("--as-of", "2026-11-29", "fx", "rates")
    assert code == 0 and "0.87715" in out and "GBP" in out
