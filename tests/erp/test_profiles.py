"""Mapping profiles: SAP and Odoo exports import to the same ledger state as canonical files;
decimal comma, thousands, trailing minus, sign conventions, Windows-1252; errors name the
original row and column; bad profiles are refused with a clear message."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tci_gateway.config import load_settings
from tci_gateway.domain.policy import Policy
from tci_gateway.erp.profiles import ErpProfile, load_profile, read_with_profile, resolve_profile
from tci_gateway.erp.reader import RawRecord
from tci_gateway.errors import ConfigError, InputError, RecordError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.migrate import upgrade
from tci_gateway.ledger.tables import (
    BuyerIdentifierRow,
    BuyerRow,
    ErpAccountRow,
    OpenItemRow,
    PolicyRow,
)
from tci_gateway.services.importing import import_buyers, import_open_items

from ..conftest import FIXTURES, REPO
from .conftest import NOW

ERP = FIXTURES / "erp"
PROFILES = REPO / "config" / "profiles"

ITEM_COLUMNS = {
    "erp_account": "Konto",
    "document_number": "Beleg",
    "kind": "Art",
    "document_date": "Datum",
    "due_date": "Fällig",
    "currency": "Währung",
    "amount": "Betrag",
    "open_amount": "Offen",
}


def items_profile(**overrides: Any) -> ErpProfile:
    """A small German-style open-items profile for the unit tests."""
    data: dict[str, Any] = {
        "kind": "open_items",
        "encoding": "windows-1252",
        "delimiter": ";",
        "decimal_separator": ",",
        "thousands_separator": ".",
        "date_format": "%d.%m.%Y",
        "sign_convention": "sap_trailing_minus",
        "columns": ITEM_COLUMNS,
        "kind_codes": {"RV": "INVOICE", "DG": "CREDIT_NOTE", "DZ": "PAYMENT"},
    }
    data.update(overrides)
    return ErpProfile.model_validate(data)


HEADER = "Konto;Beleg;Art;Datum;Fällig;Währung;Betrag;Offen;Text"


def write(tmp_path: Path, lines: list[str], encoding: str = "cp1252", name: str = "x.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def read(path: Path, profile: ErpProfile) -> tuple[list[RawRecord], list[RecordError]]:
    records: list[RawRecord] = []
    errors: list[RecordError] = []
    for item in read_with_profile(path, profile):
        if isinstance(item, RecordError):
            errors.append(item)
        else:
            records.append(item)
    return records, errors


# -- the same ledger state as canonical files -----------------------------------------


def state(ledger: Ledger) -> tuple[list[Any], list[Any]]:
    """The ledger's buyers and open items by natural keys (no ids, no timestamps)."""
    with ledger.unit_of_work() as s:
        idents: dict[int, set[tuple[str, str, str]]] = {}
        for row in s.scalars(select(BuyerIdentifierRow)):
            idents.setdefault(row.buyer_id, set()).add((row.scheme, row.issuer, row.value))
        accounts = sorted(
            (acc.account, acc.name, b.name, b.country, key, frozenset(idents.get(b.id, ())))
            for acc, b, key in s.execute(
                select(ErpAccountRow, BuyerRow, PolicyRow.key)
                .join(BuyerRow, BuyerRow.id == ErpAccountRow.buyer_id)
                .outerjoin(PolicyRow, PolicyRow.id == ErpAccountRow.policy_id)
            )
        )
        fields = ("document_number", "kind", "currency", "amount", "open_amount")
        dates = ("document_date", "delivery_date", "due_date", "disputed", "applies_to")
        items = sorted(
            (account, *(getattr(item, f) for f in fields + dates))
            for item, account in s.execute(
                select(OpenItemRow, ErpAccountRow.account).join(
                    ErpAccountRow, ErpAccountRow.id == OpenItemRow.erp_account_id
                )
            )
        )
    return accounts, items


@pytest.fixture
def canonical_ledger(tmp_path: Path) -> Any:
    led = Ledger.from_url(f"sqlite:///{tmp_path / 'canonical.db'}")
    upgrade(led.engine)
    yield led
    led.dispose()


@pytest.mark.parametrize(
    ("buyers", "buyers_profile", "items", "items_profile_file", "count"),
    [
        ("sap_buyers", "sap_buyers.toml", "sap_open_items", "sap_open_items.toml", 8),
        ("odoo_buyers", None, "odoo_open_items", "odoo_open_items.toml", 7),
    ],
)
def test_samples_import_to_the_same_state_as_their_canonical_equivalents(
    ledger: Ledger,
    canonical_ledger: Ledger,
    policies: dict[str, Policy],
    buyers: str,
    buyers_profile: str | None,
    items: str,
    items_profile_file: str,
    count: int,
) -> None:
    bprofile = load_profile(PROFILES / buyers_profile) if buyers_profile else None
    iprofile = load_profile(PROFILES / items_profile_file)
    canonical_buyers = ERP / (f"{buyers}.canonical.csv" if bprofile else f"{buyers}.csv")
    import_buyers(ledger, ERP / f"{buyers}.csv", policies=policies, now=NOW, profile=bprofile)
    report = import_open_items(ledger, ERP / f"{items}.csv", now=NOW, profile=iprofile)
    assert (report.rows, report.inserted) == (count, count)

    import_buyers(canonical_ledger, canonical_buyers, policies=policies, now=NOW)
    import_open_items(canonical_ledger, ERP / f"{items}.canonical.csv", now=NOW)
    before = state(ledger)
    assert before == state(canonical_ledger)
    assert len(before[1]) == count

    # The canonical files over the profile import change nothing, and the other way round.
    again = import_buyers(ledger, canonical_buyers, policies=policies, now=NOW)
    assert (again.inserted, again.updated) == (0, 0)
    again = import_open_items(ledger, ERP / f"{items}.canonical.csv", now=NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, count)
    again = import_open_items(canonical_ledger, ERP / f"{items}.csv", now=NOW, profile=iprofile)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, count)
    assert state(ledger) == before


def test_the_sap_sample_keeps_umlauts_signs_and_disputes(
    ledger: Ledger, policies: dict[str, Policy]
) -> None:
    import_buyers(
        ledger,
        ERP / "sap_buyers.csv",
        policies=policies,
        now=NOW,
        profile=load_profile(PROFILES / "sap_buyers.toml"),
    )
    import_open_items(
        ledger,
        ERP / "sap_open_items.csv",
        now=NOW,
        profile=load_profile(PROFILES / "sap_open_items.toml"),
    )
    accounts, items = state(ledger)
    names = {a[0]: a[1] for a in accounts}
    assert names["100017"] == "Müller Maschinenbau GmbH"
    assert names["100068"] == "Großhandel Weiß & Söhne KG"
    assert names["100042"] == "Société Générale de Négoce; Lyon SAS"
    by_number = {i[1]: i for i in items}
    credit = by_number["90000201"]
    assert credit[2:6] == ("CREDIT_NOTE", "EUR", Decimal("1500.00"), Decimal("1500.00"))
    assert credit[-1] == "90000187"
    assert by_number["90000187"][-2] is True and by_number["90000123"][-2] is False
    assert by_number["90000222"][4] == Decimal("125000.00")
    assert by_number["90000250"][3:5] == ("USD", Decimal("18562.25"))
    assert by_number["1400000789"][2] == "PAYMENT"


# -- numbers, signs, dates ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,56", "1234.56"),
        ("1234,56", "1234.56"),
        ("1.234.567,5", "1234567.5"),
        ("0,00", "0.00"),
        ("12", "12"),
    ],
)
def test_decimal_comma_and_thousands_separator(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, [HEADER, f"K1;1;RV;01.10.2026;30.11.2026;EUR;{text};{text};"])
    (record,), errors = read(path, items_profile())
    assert errors == []
    assert record.values["amount"] == expected
    assert record.values["document_date"] == "2026-10-01"
    assert record.values["due_date"] == "2026-11-30"
    assert record.values["kind"] == "INVOICE"


@pytest.mark.parametrize("text", ["1,234.56", "1.23,4", "12.34", "1 234,56", "-5,00", ",5", "1e3"])
def test_numbers_not_in_the_profiles_format_are_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, [HEADER, f"K1;1;RV;01.10.2026;30.11.2026;EUR;{text};1,00;"])
    records, (error,) = read(path, items_profile())
    assert records == []
    assert (error.row, error.column) == (2, "Betrag")
    assert "1.234,56-" in error.reason


def test_sap_trailing_minus_gives_the_sign_of_credits_and_payments(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            HEADER,
            "K1;1;RV;01.10.2026;30.11.2026;EUR;1.000,00;1.000,00;",
            "K1;2;DG;02.10.2026;02.10.2026;EUR;150,00-;150,00-;",
            "K1;3;DZ;03.10.2026;;EUR;0,00-;0,00;",
            "K1;4;DG;04.10.2026;;EUR;150,00;150,00;",
            "K1;5;RV;05.10.2026;30.11.2026;EUR;10,00-;10,00-;",
        ],
    )
    records, errors = read(path, items_profile())
    assert [r.values["amount"] for r in records] == ["1000.00", "150.00", "0.00"]
    assert [r.values["kind"] for r in records] == ["INVOICE", "CREDIT_NOTE", "PAYMENT"]
    assert [(e.row, e.column) for e in errors] == [
        (5, "Betrag"),
        (5, "Offen"),
        (6, "Betrag"),
        (6, "Offen"),
    ]
    assert "CREDIT_NOTE should be negative" in errors[0].reason
    assert "INVOICE should be positive" in errors[2].reason


def test_signed_and_positive_conventions(tmp_path: Path) -> None:
    lines = [
        "Konto,Beleg,Art,Datum,Fällig,Währung,Betrag,Offen,Text",
        "K1,1,INVOICE,2026-10-01,2026-11-30,EUR,100.00,100.00,",
        "K1,2,CREDIT_NOTE,2026-10-02,,EUR,-100.00,-40.00,",
        "K1,3,PAYMENT,2026-10-03,,EUR,25.00,25.00,",
    ]
    path = write(tmp_path, lines, "utf-8")
    signed = items_profile(
        encoding="utf-8",
        delimiter=",",
        decimal_separator=".",
        thousands_separator="none",
        date_format="%Y-%m-%d",
        sign_convention="signed",
        kind_codes={},
    )
    records, errors = read(path, signed)
    assert [r.values["open_amount"] for r in records] == ["100.00", "40.00"]
    assert [(e.row, e.column) for e in errors] == [(4, "Betrag"), (4, "Offen")]
    assert "PAYMENT should be negative" in errors[0].reason

    positive = signed.model_copy(update={"sign_convention": "positive"})
    records, errors = read(path, positive)
    assert [r.values["document_number"] for r in records] == ["1", "3"]
    assert {(e.row, e.column) for e in errors} == {(3, "Betrag"), (3, "Offen")}


def test_dates_in_another_format_or_not_on_the_calendar(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            HEADER,
            "K1;1;RV;2026-10-01;30.11.2026;EUR;1,00;1,00;",
            "K1;2;RV;31.02.2026;30.11.2026;EUR;1,00;1,00;",
        ],
    )
    _, errors = read(path, items_profile())
    assert [(e.row, e.column) for e in errors] == [(2, "Datum"), (3, "Datum")]
    assert "date_format '%d.%m.%Y'" in errors[0].reason
    assert "not a calendar date" in errors[1].reason


def test_unknown_document_type_and_flag_values(tmp_path: Path) -> None:
    columns = {**ITEM_COLUMNS, "disputed": "Text"}
    profile = items_profile(columns=columns, true_values=["R"], false_values=["-"])
    path = write(
        tmp_path,
        [
            HEADER,
            "K1;1;XX;01.10.2026;30.11.2026;EUR;1,00;1,00;",
            "K1;2;RV;01.10.2026;30.11.2026;EUR;1,00;1,00;r",
            "K1;3;RV;01.10.2026;30.11.2026;EUR;1,00;1,00;-",
            "K1;4;RV;01.10.2026;30.11.2026;EUR;1,00;1,00;",
            "K1;5;RV;01.10.2026;30.11.2026;EUR;1,00;1,00;vielleicht",
        ],
    )
    records, errors = read(path, profile)
    assert [r.values["disputed"] for r in records] == ["true", "false", "false"]
    assert [(e.row, e.column) for e in errors] == [(2, "Art"), (6, "Text")]
    assert "'XX' is not in the profile's kind_codes (known: DG, DZ, RV)" in errors[0].reason
    assert "true_values" in errors[1].reason


def test_constants_fill_columns_the_file_does_not_have(tmp_path: Path) -> None:
    columns = {k: v for k, v in ITEM_COLUMNS.items() if k != "currency"}
    profile = items_profile(columns=columns, constants={"currency": "CHF"})
    path = write(tmp_path, [HEADER, "K1;1;RV;01.10.2026;30.11.2026;EUR;1,00;1,00;"])
    (record,), _ = read(path, profile)
    assert record.values["currency"] == "CHF"
    assert profile.column_label("currency") == "currency (profile constant)"
    assert profile.column_label("delivery_date") == "delivery_date (not mapped by the profile)"


# -- encodings ------------------------------------------------------------------------


def test_windows_1252_is_decoded_strictly(tmp_path: Path) -> None:
    good = write(tmp_path, [HEADER, "K1;1;RV;01.10.2026;30.11.2026;EUR;1,00;1,00;Grüße"])
    (record,), errors = read(good, items_profile(columns={**ITEM_COLUMNS, "applies_to": "Text"}))
    assert errors == [] and record.values["applies_to"] == "Grüße"

    undefined = tmp_path / "undefined.csv"  # 0x81 has no character in Windows-1252
    undefined.write_bytes(HEADER.encode("cp1252") + b"\r\nK1;1;RV;01.10.2026;;EUR;1;1;\x81\r\n")
    _, (error,) = read(undefined, items_profile())
    assert error.row == 2 and "not windows-1252" in error.reason

    utf8 = write(tmp_path, [HEADER, "K1;1;RV;01.10.2026;;EUR;1;1;Grüße"], "utf-8", "utf8.csv")
    _, (error,) = read(utf8, items_profile())
    assert error.row == 1 and "UTF-8" in error.reason  # the header's "ä" is UTF-8: refused

    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + good.read_bytes())
    _, (error,) = read(bom, items_profile())
    assert error.row == 1 and "UTF-8" in error.reason


def test_utf8_with_a_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    text = "\r\n".join([HEADER, "K1;1;RV;01.10.2026;30.11.2026;EUR;1,00;1,00;"])
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (record,), errors = read(path, items_profile(encoding="UTF-8"))
    assert errors == [] and record.values["erp_account"] == "K1"

    bad = tmp_path / "bad.csv"
    bad.write_bytes(text.encode("utf-8") + b"\r\nK1;2;RV;01.10.2026;;EUR;1;1;\xfc\r\n")
    _, (error,) = read(bad, items_profile(encoding="utf-8"))
    assert error.row == 3 and "not utf-8" in error.reason


# -- errors name the original row and column; nothing is written ----------------------


def test_errors_name_the_original_row_and_column_and_nothing_is_written(
    ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]
) -> None:
    import_buyers(ledger, ERP / "odoo_buyers.csv", policies=policies, now=NOW)
    profile = items_profile(skip_rows=2)
    path = write(
        tmp_path,
        [
            "Debitoren Einzelposten",
            "Stichtag 29.11.2026",
            HEADER,
            "CUST-0042;1;RV;01.10.2026;30.11.2026;EUR;1.000,00;1.000,00;",
            "",
            "CUST-0042;2;RV;01.10.2026;30.11.2026;XYZ;1.000,00;1.000,00;",
            "CUST-0042;3;RV;01.10.2026;30.11.2026;EUR;100,00;200,00;",
            "NOBODY;4;RV;01.10.2026;30.11.2026;EUR;1,00;1,00;",
            "CUST-0042;1;RV;01.10.2026;30.11.2026;EUR;1,00;1,00;",
            "CUST-0042;5;RV;01.10.2026;;EUR;1,00;1,00;",
            "CUST-0042;6;RV;01.10.2026;30.11.2026;EUR;1,005;1,00;",
        ],
    )
    with pytest.raises(InputError) as caught:
        import_open_items(ledger, path, now=NOW, profile=profile)
    found = sorted((e.row, e.column) for e in caught.value.errors)
    assert found == [
        (6, "Währung"),
        (7, "Offen"),
        (8, "Konto"),
        (9, "Beleg"),
        (10, "Fällig"),
        (11, "Betrag"),
    ]
    assert all(e.source == str(path) for e in caught.value.errors)
    reasons = {e.row: e.reason for e in caught.value.errors}
    assert "unknown currency 'XYZ'" in reasons[6]
    assert "unknown ERP account 'NOBODY'" in reasons[8]
    assert "appears twice (first at row 4)" in reasons[9]
    with ledger.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(OpenItemRow)) == 0


def test_a_mapped_column_missing_from_the_file_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path, ["Titel", "Konto;Beleg;Art;Datum;Währung;Betrag;Offen;Offen", "K1;1;RV;;;;;"]
    )
    records, errors = read(path, items_profile(skip_rows=1))
    assert records == []
    assert [(e.row, e.column) for e in errors] == [(2, "Fällig"), (2, "Offen")]
    assert "missing from the header (the profile maps due_date to it)" in errors[0].reason
    assert "appears twice" in errors[1].reason


def test_short_rows_json_files_and_missing_files(tmp_path: Path) -> None:
    path = write(tmp_path, [HEADER, "K1;1;RV", ";;;;;;;;"])
    _, (error,) = read(path, items_profile())
    assert (error.row, error.column) == (2, None) and "3 fields" in error.reason
    json_file = tmp_path / "items.json"
    json_file.write_text("[]", encoding="utf-8")
    _, (error,) = read(json_file, items_profile())
    assert "CSV" in error.reason
    _, (error,) = read(tmp_path / "nope.csv", items_profile())
    assert error.reason == "file not found"


def test_a_profile_of_the_wrong_kind_is_a_config_error(
    ledger: Ledger, policies: dict[str, Policy]
) -> None:
    with pytest.raises(ConfigError, match="for open_items files, not buyers"):
        import_buyers(
            ledger, ERP / "odoo_buyers.csv", policies=policies, now=NOW, profile=items_profile()
        )


# -- profiles themselves --------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"columns": {**ITEM_COLUMNS, "amout": "X"}}, "unknown canonical column(s) amout"),
        ({"columns": {k: v for k, v in ITEM_COLUMNS.items() if k != "kind"}}, "not mapped: kind"),
        (
            {
                "columns": {k: v for k, v in ITEM_COLUMNS.items() if k != "kind"},
                "constants": {"kind": "INVOICE"},
            },
            "kind_codes need the document-type column in columns.kind",
        ),
        ({"constants": {"kind": "INVOICE"}}, "both in columns and in constants"),
        ({"encoding": "utf-16"}, "encoding 'utf-16'"),
        ({"delimiter": ";;"}, "exactly one character"),
        ({"quotechar": ";"}, "delimiter and quotechar must differ"),
        ({"thousands_separator": ","}, "must differ"),
        ({"thousands_separator": "_"}, "thousands_separator '_'"),
        ({"date_format": "%m.%Y"}, "does not read back"),
        ({"kind_codes": {"RV": "BILL"}}, "kind_codes.RV = 'BILL'"),
        ({"sign_convention": "negative"}, "sign_convention"),
        ({"true_values": ["X"], "false_values": ["x"]}, "in both true_values and false_values"),
        ({"skip_rows": -1}, "skip_rows"),
        ({"colums": {}}, "colums"),
    ],
)
def test_bad_profiles_are_refused_clearly(
    tmp_path: Path, override: dict[str, Any], message: str
) -> None:
    data = items_profile().model_dump(exclude_none=True) | override
    lines = [f"{k} = {_toml(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += [f"[{k}]", *(f'"{kk}" = {_toml(vv)}' for kk, vv in v.items())]
    path = tmp_path / "profile.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_profiles_from_the_configuration_and_from_files(tmp_path: Path) -> None:
    config = tmp_path / "tci.toml"
    config.write_text(
        (
            "[erp_profiles.odoo]\n"
            + (PROFILES / "odoo_open_items.toml")
            .read_text(encoding="utf-8")
            .replace("[columns]", "[erp_profiles.odoo.columns]")
            .replace("[kind_codes]", "[erp_profiles.odoo.kind_codes]")
        ),
        encoding="utf-8",
    )
    settings = load_settings(config)
    odoo = settings.erp_profiles["odoo"]
    assert odoo == load_profile(PROFILES / "odoo_open_items.toml")
    assert resolve_profile("odoo", settings.erp_profiles) is odoo
    sap = resolve_profile("sap_open_items.toml", settings.erp_profiles, base_dir=PROFILES)
    assert sap.encoding == "windows-1252" and sap.sign_convention == "sap_trailing_minus"
    nested = tmp_path / "nested.toml"
    nested.write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_profile(nested) == odoo
    with pytest.raises(ConfigError, match=r"unknown mapping profile 'sap'.*configured: odoo"):
        resolve_profile("sap", settings.erp_profiles)

    config.write_text(
        '[erp_profiles.bad]\nkind = "open_items"\n[erp_profiles.bad.columns]\namout = "X"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"erp_profiles\.bad.*unknown canonical column"):
        load_settings(config)


def test_one_cell_read_as_two_columns_is_reported_once(
    ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]
) -> None:
    import_buyers(
        ledger,
        ERP / "sap_buyers.csv",
        policies=policies,
        now=NOW,
        profile=load_profile(PROFILES / "sap_buyers.toml"),
    )
    bad = tmp_path / "FBL5N.csv"
    bad.write_bytes((ERP / "sap_open_items.csv").read_bytes().replace(b"980,00", b"980,005"))
    with pytest.raises(InputError) as caught:
        import_open_items(
            ledger, bad, now=NOW, profile=load_profile(PROFILES / "sap_open_items.toml")
        )
    (error,) = caught.value.errors  # amount and open_amount both read "Betrag in BW"
    assert (error.row, error.column) == (9, "Betrag in BW")
    assert "3 decimal places; EUR has 2" in error.reason
