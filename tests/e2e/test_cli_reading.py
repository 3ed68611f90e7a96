"""The CLI where people use it: ``--json`` (and the other global options) before or
after the command, tables at 80 and 120 columns with no amount or status cut, amounts
in their currency's minor units everywhere (never ``63000.0000``), counts that cannot be
negative, identifier schemes listed, and ``--as-of DATE`` as that date in every policy's
time zone. On SQLite and PostgreSQL (the ledger's NUMERIC(19,4) is where ``.0000`` came
from)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from .conftest import REPO, Run, run_tci

pytestmark = pytest.mark.e2e

DEMO = REPO / "fixtures" / "demo"
ECB = REPO / "fixtures" / "erp" / "eurofxref.csv"
AS_OF = "2027-02-20T10:00:00+00:00"
SYNCED = "2026-12-01T06:00:00+00:00"  # the setup's sync: pinned, so no result depends on today


def demo_config(tmp_path: Path, database_url: str) -> Path:
    text = (DEMO / "tci.toml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///tci-demo/ledger.db", database_url)
    text = text.replace(
        'seed = "atradius_sandbox.json"', f'seed = "{DEMO / "atradius_sandbox.json"}"'
    )
    path = tmp_path / "tci.toml"
    path.write_text(text, encoding="utf-8")
    return path


def tci(tmp_path: Path, config: Path, *args: str, columns: int | None = None) -> Run:
    env = {"COLUMNS": str(columns)} if columns else None
    return run_tci("-c", str(config), *args, cwd=tmp_path, env=env)


def demo_ledger(tmp_path: Path, database_url: str) -> tuple[Path, int]:
    """The demo's buyers, open items, limits, FX rates and cases; the Van Dijk case id."""
    config = demo_config(tmp_path, database_url)
    for args in (
        ("db", "upgrade"),
        ("import", "buyers", str(DEMO / "buyers.csv")),
        ("import", "receivables", str(DEMO / "open_items.csv")),
        ("fx", "import", str(ECB)),
        ("--as-of", SYNCED, "sync", "limits"),
        ("--as-of", AS_OF, "claims", "run"),
    ):
        run = tci(tmp_path, config, *args)
        assert run.code == 0, (args, run.stderr)
    cases = tci(tmp_path, config, "--json", "claims", "list").json()
    return config, next(c["id"] for c in cases if c["buyer_name"].startswith("Bouwbedrijf"))


# Every command that prints, with its arguments (read-only, or idempotent).
def printing_commands(case_id: int) -> list[tuple[str, ...]]:
    return [
        ("exposure",),
        ("exposure", "--groups"),
        ("alerts", "--limit", "50"),
        ("deadlines",),
        ("deadlines", "--invoices"),
        ("claims", "list", "--all"),
        ("claims", "show", str(case_id)),
        ("claims", "pack", str(case_id)),
        ("claims", "run", "--dry-run"),
        ("export", "limits"),
        ("fx", "rates", "--date", "2026-11-27"),
        ("scheduler", "status", "--limit", "5"),
        ("cover", "status", "--no-poll"),
        ("buyers", "review", "--all"),
        ("import", "buyers", str(DEMO / "buyers.csv")),
        ("sync", "limits"),
    ]


VOLATILE = re.compile(
    r'"(changed_at|created_at|started_at|finished_at|sent_at|updated_at|'
    r'seconds|duration|run_id|id)": [^,\n]+'
)


def stable(text: str) -> Any:
    return json.loads(VOLATILE.sub(r'"\1": null', text))


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The demo ledger on SQLite built once per module and worker (by the `tci`
    subprocesses of :func:`demo_ledger`): its folder and the Van Dijk case id."""
    folder = tmp_path_factory.mktemp("demo-ledger")
    _, case_id = demo_ledger(folder, f"sqlite:///{folder / 'ledger.db'}")
    return folder, case_id


def copied_demo(tmp_path: Path, sqlite_demo: tuple[Path, int]) -> tuple[Path, int]:
    """A copy of the module's SQLite demo ledger for one test (its commands write)."""
    folder, case_id = sqlite_demo
    for name in ("ledger.db", "ledger.db-wal"):
        if (folder / name).exists():
            shutil.copyfile(folder / name, tmp_path / name)
    return demo_config(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}"), case_id


def test_the_cli_on_the_demo_ledger(
    tmp_path: Path, database_url: str, request: pytest.FixtureRequest
) -> None:
    """On PostgreSQL only the amounts are checked (its NUMERIC(19,4) is where ``.0000``
    came from); option positions and table widths do not depend on the backend, so they
    run on SQLite, each in a test of its own (they run in parallel)."""
    if database_url.startswith("sqlite"):
        config, case_id = copied_demo(tmp_path, request.getfixturevalue("sqlite_demo"))
    else:
        config, case_id = demo_ledger(tmp_path, database_url)
    no_amount_handed_out_has_more_decimals_than_its_currency(tmp_path, config, case_id)


def test_json_and_as_of_before_and_after_every_command(
    tmp_path: Path, sqlite_demo: tuple[Path, int]
) -> None:
    config, case_id = copied_demo(tmp_path, sqlite_demo)
    json_and_as_of_work_before_and_after_every_command(tmp_path, config, case_id)


@pytest.mark.parametrize("columns", [80, 120])
def test_tables_never_cut_an_amount_or_a_status(
    tmp_path: Path, columns: int, sqlite_demo: tuple[Path, int]
) -> None:
    config, case_id = copied_demo(tmp_path, sqlite_demo)
    tables_never_cut_an_amount_or_a_status(tmp_path, config, case_id, columns)


def json_and_as_of_work_before_and_after_every_command(
    tmp_path: Path, config: Path, case_id: int
) -> None:
    for command in printing_commands(case_id):
        before = tci(tmp_path, config, "--json", "--as-of", AS_OF, *command)
        after = tci(tmp_path, config, *command, "--json", "--as-of", AS_OF)
        assert before.code == 0, (command, before.stderr)
        assert after.code == 0, (command, after.stderr)
        assert stable(before.stdout) == stable(after.stdout), command
    export = tci(tmp_path, config, "--json", "export", "limits").json()
    assert {"cursor", "covered_limits"} <= set(export)
    assert tci(tmp_path, config, "export", "limits").stdout.startswith("erp_accounts,")


def no_amount_handed_out_has_more_decimals_than_its_currency(
    tmp_path: Path, config: Path, case_id: int
) -> None:
    outputs = {
        "claims show": tci(tmp_path, config, "--json", "claims", "show", str(case_id)),
        "claims list": tci(tmp_path, config, "--json", "claims", "list"),
        "exposure": tci(tmp_path, config, "--json", "--as-of", AS_OF, "exposure"),
        "pack": tci(tmp_path, config, "claims", "pack", str(case_id)),
        "pack json": tci(tmp_path, config, "--json", "claims", "pack", str(case_id)),
        "show": tci(tmp_path, config, "claims", "show", str(case_id)),
        "export": tci(tmp_path, config, "--json", "export", "limits"),
    }
    for name, run in outputs.items():
        assert run.code == 0, (name, run.stderr)
        assert ".0000" not in run.stdout, name
        # Every amount here is in EUR: two decimals, never three or four.
        # (Timestamps' fractions of a second follow a colon.)
        assert not re.search(r"(?<![\d:.])\d+\.\d{3,}\b", run.stdout), (name, run.stdout)
    show = outputs["claims show"].json()
    assert (show["insured_total"], show["indemnity"]) == ("64500.00", "58050.00")
    pack = outputs["pack json"].json()
    assert pack["amounts"]["indemnity"] == "58050.00"
    assert all(
        re.fullmatch(r"\d+\.\d\d", i["amount"]) for a in pack["actions"] for i in a["invoices"]
    )


def amounts_of(row: dict[str, Any]) -> list[str]:
    """The exposure row's amounts as the table shows them (64,500.00)."""
    return [
        f"{float(row[k]):,.2f}" if row[k] is not None else "-"
        for k in ("exposure", "limit", "covered", "uncovered")
    ]


def tables_never_cut_an_amount_or_a_status(
    tmp_path: Path, config: Path, case_id: int, columns: int
) -> None:
    rows = tci(tmp_path, config, "--json", "--as-of", AS_OF, "exposure").json()
    table = tci(tmp_path, config, "--as-of", AS_OF, "exposure", columns=columns)
    assert table.code == 0, table.stderr
    assert "…" not in table.stdout
    assert max(cell_len(line) for line in table.stdout.splitlines()) <= columns
    for row in rows:
        for amount in amounts_of(row):
            if amount != "-":
                assert re.search(rf"(?<![\d,.]){re.escape(amount)}(?![\d])", table.stdout), (
                    row["buyer_name"],
                    amount,
                )
        assert (row["status"] or "NO COVER") in table.stdout
    assert "Total EUR: exposure 282,000.00, covered 222,500.00, uncovered 59,500.00" in (
        table.stdout
    )

    cases = tci(tmp_path, config, "--json", "claims", "list").json()
    listing = tci(tmp_path, config, "claims", "list", columns=columns)
    for case in cases:
        for key in ("overdue_total", "indemnity", "notify_by", "claim_by"):
            value = case[key]
            shown = f"{float(value):,.2f}" if key in ("overdue_total", "indemnity") else value
            assert shown in listing.stdout, (case["buyer_name"], key)
    deadlines = tci(tmp_path, config, "--json", "--as-of", AS_OF, "deadlines").json()
    clock = tci(tmp_path, config, "--as-of", AS_OF, "deadlines", columns=columns)
    for row in deadlines:
        for key in ("due_date", "cover_stop", "notify_by", "date_of_loss", "claim_by"):
            assert row[key] in clock.stdout, (row["buyer"], key)
    for command in (
        ("claims", "list", "--all"),
        ("claims", "show", str(case_id)),
        ("deadlines", "--invoices"),
        ("alerts",),
        ("fx", "rates", "--date", "2026-11-27"),
        ("scheduler", "status"),
        ("cover", "status", "--no-poll"),
        ("claims", "run", "--dry-run"),
    ):
        run = tci(tmp_path, config, "--as-of", AS_OF, *command, columns=columns)
        assert run.code == 0, (command, run.stderr)
        assert "…" not in run.stdout, (command, run.stdout)
        widest = max(cell_len(line) for line in run.stdout.splitlines() if "─" in line)
        assert widest <= columns, (command, run.stdout)


ZONES = """
[policies.nz]
insurer = "atradius"
currency = "NZD"
insured_percentage = 90
max_credit_period_days = 120
max_extension_days = 60
overdue_notification_days = 90
waiting_days = 180
claim_filing_days = 360
timezone = "Pacific/Auckland"

[policies.us]
insurer = "atradius"
currency = "USD"
insured_percentage = 90
max_credit_period_days = 120
max_extension_days = 60
overdue_notification_days = 90
waiting_days = 180
claim_filing_days = 360
timezone = "America/Los_Angeles"
"""


def test_as_of_a_date_is_that_date_under_every_policys_time_zone(
    tmp_path: Path, database_url: str
) -> None:
    """Pacific/Auckland is UTC+13 and America/Los_Angeles UTC-8 on 30 November: no
    single instant is 30 November in both, yet ``--as-of 2026-11-30`` is, for both."""
    config = tmp_path / "tci.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n\n[insurers.atradius]\nadapter = "atradius"\n'
        'base_url = "sandbox"\nenvironment = "sandbox"\n' + ZONES,
        encoding="utf-8",
    )
    (tmp_path / "buyers.csv").write_text(
        "erp_account,name,country,policy\nK1,Kiwi Timber Ltd,NZ,nz\nU1,Pacific Goods Inc,US,us\n",
        encoding="utf-8",
    )
    (tmp_path / "items.csv").write_text(
        "erp_account,document_number,kind,document_date,due_date,currency,amount,open_amount\n"
        "K1,NZ-1,INVOICE,2026-08-01,2026-10-01,NZD,1000.00,1000.00\n"
        "U1,US-1,INVOICE,2026-08-01,2026-10-01,USD,2000.00,2000.00\n",
        encoding="utf-8",
    )
    for args in (
        ("db", "upgrade"),
        ("import", "buyers", "buyers.csv"),
        ("import", "receivables", "items.csv"),
    ):
        run = tci(tmp_path, config, *args)
        assert run.code == 0, run.stderr
    exposure = tci(tmp_path, config, "--json", "--as-of", "2026-11-30", "exposure")
    assert exposure.code == 0, exposure.stderr
    assert {r["policy"]: r["business_date"] for r in exposure.json()} == {
        "nz": "2026-11-30",
        "us": "2026-11-30",
    }
    deadlines = tci(tmp_path, config, "--json", "deadlines", "--as-of", "2026-11-30")
    assert deadlines.code == 0, deadlines.stderr
    assert {r["policy"]: (r["business_date"], r["days_overdue"]) for r in deadlines.json()} == {
        "nz": ("2026-11-30", 60),
        "us": ("2026-11-30", 60),
    }
    # An instant stays an instant: noon UTC is already 1 December in Auckland.
    noon = tci(tmp_path, config, "--json", "--as-of", "2026-11-30T12:00:00+00:00", "exposure")
    assert {r["policy"]: r["business_date"] for r in noon.json()} == {
        "nz": "2026-12-01",
        "us": "2026-11-30",
    }


def one_line_usage_error(run: Run, *needles: str) -> None:
    assert run.code == 2, run.stderr
    assert run.stdout == ""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("alerts", "--limit", "-1"),
        ("deadlines", "--within", "-1"),
        ("deadlines", "--invoices", "--within", "-3"),
        ("export", "limits", "--changed-since", "-1"),
        ("scheduler", "status", "--limit", "-5"),
        ("cover", "status", "--request", "-1"),
        ("sandbox", "serve", "atradius", "--port", "-1"),
    ],
)
def test_negative_counts_are_refused(tmp_path: Path, args: tuple[str, ...]) -> None:
    one_line_usage_error(run_tci(*args, cwd=tmp_path), args[-2])
    assert not (tmp_path / "tci.db").exists()  # refused before the ledger was opened


def test_identifier_schemes_are_listed_and_a_wrong_one_is_one_line(tmp_path: Path) -> None:
    help_text = run_tci("buyers", "search", "--help", cwd=tmp_path).stdout
    for scheme in ("LEI", "DUNS", "VAT", "GB_CRN", "FR_SIREN", "CN_USCC"):
        assert scheme in help_text
    run = run_tci("buyers", "search", "--country", "FR", "--id", "SIREN:552100554", cwd=tmp_path)
    one_line_usage_error(run, "--id", "'SIREN'", "FR_SIREN", "GB_CRN")
    sandbox = (REPO / "config" / "sandbox.toml").read_text(encoding="utf-8")
    assert "--id FR_SIREN:" in sandbox and "--id SIREN:" not in sandbox
