"""The tci CLI as a subprocess: two SAP FBL5N-style exports (Windows-1252, semicolons,
decimal comma, trailing minus) through a mapping profile that says ``complete = true``;
the items paid in between are no longer listed, are closed, and exposure per account is
right to the cent. The mass-close guard, an empty file and --allow-mass-close."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from .conftest import REPO, Run, run_tci

pytestmark = pytest.mark.e2e

PROFILES = REPO / "config" / "profiles"
HEADER = (
    "Buchungskreis;Debitor;Name 1;Belegart;Belegnummer;Belegdatum;Buchungsdatum;"
    "Nettofälligkeit;Betrag in HW;Hauswährung;Betrag in BW;Währung;Zuordnung;Mahnsperre;Text"
)
NAMES = ["Müller", "Größner", "Weiß", "Köhler", "Schäfer", "Bäcker", "Jürgens", "Förster"]
KINDS = {"RV": "INVOICE", "DG": "CREDIT_NOTE", "DZ": "PAYMENT"}


@dataclass(frozen=True)
class Item:
    account: str
    number: str
    code: str  # SAP document type
    cents: int
    disputed: bool = False
    applies_to: str = ""

    @property
    def signed(self) -> Decimal:
        value = Decimal(self.cents) / 100
        return value if self.code == "RV" else -value


def sap_amount(cents: int, negative: bool) -> str:
    """``1.234,56`` with SAP's trailing minus for credits."""
    whole = f"{cents // 100:,}".replace(",", ".")
    return f"{whole},{cents % 100:02d}" + ("-" if negative else "")


def accounts() -> list[str]:
    return [f"1001{n:02d}" for n in range(40)]


def portfolio(seed: int = 10) -> list[Item]:
    """240 items over 40 accounts: per account 4 invoices, a credit note and a payment
    (credits smaller than the invoices, so every account owes something)."""
    rnd = random.Random(seed)
    items = []
    for n, account in enumerate(accounts()):
        invoices = [
            Item(
                account,
                f"9{n:03d}{k:04d}",
                "RV",
                rnd.randint(50_000, 9_000_000),
                k == 3 and n % 7 == 0,
            )
            for k in range(4)
        ]
        items += invoices
        items.append(
            Item(
                account,
                f"16{n:03d}001",
                "DG",
                rnd.randint(1_000, 40_000),
                False,
                invoices[1].number,
            )
        )
        items.append(Item(account, f"14{n:03d}001", "DZ", rnd.randint(1_000, 40_000)))
    return items


def write_export(path: Path, items: list[Item]) -> Path:
    lines = [HEADER]
    for item in items:
        amount = sap_amount(item.cents, item.code != "RV")
        name = f"{NAMES[int(item.account) % len(NAMES)]} GmbH {item.account}"
        lines.append(
            f"1000;{item.account};{name};{item.code};{item.number};15.09.2026;15.09.2026;"
            f"{14 + int(item.number) % 14:02d}.11.2026;{amount};EUR;{amount};EUR;{item.applies_to};"
            f"{'R' if item.disputed else ''};Lieferung {item.number}"
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("windows-1252"))
    return path


def write_buyers(path: Path) -> Path:
    lines = [
        "Debitorenstammdaten (KNA1) - Buchungskreis 1000",
        "Exportiert am 29.11.2026",
        "Debitor;Name 1;Ort;Land;USt-IdNr.;D-U-N-S-Nummer;Suchbegriff",
    ]
    for account in accounts():
        name = f"{NAMES[int(account) % len(NAMES)]} GmbH {account}"
        lines.append(f"{account};{name};Köln;DE;;;{account}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("windows-1252"))
    return path


def complete_profile(tmp_path: Path) -> Path:
    """The shipped SAP FBL5N profile, made complete for source sap-1000 with the company
    code read from the Buchungskreis column."""
    text = (PROFILES / "sap_open_items.toml").read_text(encoding="utf-8")
    text = text.replace(
        'kind = "open_items"\n', 'kind = "open_items"\ncomplete = true\nsource = "sap-1000"\n'
    )
    text = text.replace("[columns]\n", '[columns]\ncompany_code = "Buchungskreis"\n')
    path = tmp_path / "fbl5n_complete.toml"
    path.write_text(text, encoding="utf-8")
    return path


def expected_exposure(items: list[Item]) -> dict[str, Decimal]:
    """Open invoices less open credit notes and payments, per account (no policy, no cover)."""
    out: dict[str, Decimal] = {a: Decimal("0.00") for a in accounts()}
    for item in items:
        out[item.account] += item.signed
    return out


def test_a_complete_sap_export_closes_what_it_no_longer_lists(tmp_path: Path) -> None:
    config = tmp_path / "tci.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n', encoding="utf-8")

    def tci(*args: str) -> Run:
        return run_tci("-c", str(config), "--as-of", "2026-11-30", *args, cwd=tmp_path)

    def exposure() -> dict[str, Decimal]:
        run = tci("--json", "exposure")
        assert run.code == 0, run.stderr
        return {r["erp_accounts"][0]: Decimal(str(r["exposure"])) for r in run.json()}

    profile = str(complete_profile(tmp_path))

    def import_items(path: Path, *extra: str) -> Run:
        return tci("--json", "import", "receivables", "--profile", profile, str(path), *extra)

    assert tci("db", "upgrade").code == 0
    buyers = write_buyers(tmp_path / "KNA1.csv")
    run = tci("import", "buyers", "--profile", str(PROFILES / "sap_buyers.toml"), str(buyers))
    assert run.code == 0, run.stderr

    first_items = portfolio()
    run = import_items(write_export(tmp_path / "FBL5N-1.csv", first_items))
    assert run.code == 0, run.stderr
    report = run.json()
    assert (report["rows"], report["inserted"], report["closed"]) == (240, 240, 0)
    assert report["complete"] is True
    assert report["scope"] == {"source": "sap-1000", "company_codes": ["1000"]}
    assert exposure() == expected_exposure(first_items)

    # 21 items paid (invoices, a credit note, payments) and 2 new invoices.
    rnd = random.Random(21)
    paid = set(rnd.sample(range(len(first_items)), 21))
    second_items = [item for n, item in enumerate(first_items) if n not in paid]
    second_items += [
        Item("100103", "95550001", "RV", 1_234_567),
        Item("100139", "95550002", "RV", 99),
    ]
    second = write_export(tmp_path / "FBL5N-2.csv", second_items)
    run = import_items(second)
    assert run.code == 0, run.stderr
    report = run.json()
    assert (report["inserted"], report["updated"], report["unchanged"], report["closed"]) == (
        2,
        0,
        219,
        21,
    )
    after_second = expected_exposure(second_items)
    assert exposure() == after_second  # every account, to the cent
    assert after_second != expected_exposure(first_items)

    # The same complete file again writes nothing.
    run = import_items(second)
    assert run.code == 0, run.stderr
    report = run.json()
    assert (report["inserted"], report["updated"], report["closed"]) == (0, 0, 0)

    # A truncated export would close 121 of the 221 open items: refused, nothing written.
    truncated = write_export(tmp_path / "FBL5N-3.csv", second_items[:100])
    run = import_items(truncated)
    assert run.code == 2
    assert "would close 121 of the 221 open items of source 'sap-1000', company code 1000" in (
        run.stderr
    )
    assert "--allow-mass-close" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and run.stdout == ""
    assert exposure() == after_second

    # An empty (header-only) export is refused the same way.
    empty = write_export(tmp_path / "FBL5N-empty.csv", [])
    run = import_items(empty)
    assert run.code == 2 and "lists no items" in run.stderr
    assert "would close 221 of the 221 open items" in run.stderr
    assert exposure() == after_second

    # Unless the user says so.
    run = tci("import", "receivables", "--profile", profile, str(truncated), "--allow-mass-close")
    assert run.code == 0, run.stderr
    assert "121 closed (complete export of source sap-1000, company code 1000)" in run.stdout
    assert exposure() == expected_exposure(second_items[:100])

    # A source name that cannot be one is a usage error.
    run = tci("import", "receivables", "--profile", profile, str(second), "--source", "a b")
    assert run.code == 2 and "source 'a b'" in run.stderr


def test_complete_without_a_profile_uses_the_default_source(tmp_path: Path) -> None:
    config = tmp_path / "tci.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n', encoding="utf-8")

    def tci(*args: str) -> Run:
        return run_tci("-c", str(config), *args, cwd=tmp_path)

    assert tci("db", "upgrade").code == 0
    buyers = tmp_path / "buyers.csv"
    buyers.write_text("erp_account,name,country\nA1,Alpha GmbH,DE\n", encoding="utf-8")
    assert tci("import", "buyers", str(buyers)).code == 0
    header = "erp_account,document_number,kind,document_date,due_date,currency,amount,open_amount\n"
    rows = [f"A1,INV-{n},INVOICE,2026-10-01,2026-12-30,EUR,10.00,10.00\n" for n in range(4)]
    items = tmp_path / "items.csv"
    items.write_text(header + "".join(rows), encoding="utf-8")
    assert tci("import", "receivables", str(items)).code == 0
    items.write_text(header + "".join(rows[:3]), encoding="utf-8")
    run = tci("--json", "import", "receivables", "--complete", str(items))
    assert run.code == 0, run.stderr
    assert (run.json()["closed"], run.json()["scope"]["source"]) == (1, "default")
    # [import] max_close_share from the configuration: 1 of 3 is more than 20 %.
    config.write_text(config.read_text() + "\n[import]\nmax_close_share = 0.2\n", encoding="utf-8")
    items.write_text(header + "".join(rows[:2]), encoding="utf-8")
    run = tci("import", "receivables", "--complete", str(items))
    assert run.code == 2 and "more than the 20 % allowed" in run.stderr
