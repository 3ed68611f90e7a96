"""Buyer import: identity by exact identifiers, all-or-nothing, idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tci_gateway.domain.policy import Policy
from tci_gateway.errors import InputError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import BuyerIdentifierRow, BuyerRow, ErpAccountRow
from tci_gateway.services.importing import import_buyers

from .conftest import NOW

HEADER = "erp_account,name,country,policy,lei,duns,vat,registration_number,insurer_ids\n"


def write(tmp_path: Path, body: str, name: str = "buyers.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def counts(ledger: Ledger) -> tuple[int, int, int]:
    with ledger.unit_of_work() as s:
        return (
            s.scalar(select(func.count()).select_from(BuyerRow)) or 0,
            s.scalar(select(func.count()).select_from(ErpAccountRow)) or 0,
            s.scalar(select(func.count()).select_from(BuyerIdentifierRow)) or 0,
        )


def test_two_accounts_sharing_an_identifier_become_one_buyer(
    ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]
) -> None:
    path = write(
        tmp_path,
        "A1,Société Générale de Négoce SAS,FR,main,,,,552100554,atradius:100003\n"
        "A2,SGN Lyon,FR,main,,,FR40303265045,552 100 554,\n"
        "A3,Other Ltd,GB,,,,,04511325,\n",
    )
    report = import_buyers(ledger, path, policies=policies, now=NOW)
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (3, 3, 0, 0)
    with ledger.unit_of_work() as s:
        accounts = {
            a: b for a, b in s.execute(select(ErpAccountRow.account, ErpAccountRow.buyer_id))
        }
    assert accounts["A1"] == accounts["A2"] != accounts["A3"]
    assert counts(ledger) == (2, 3, 4)  # SIREN, insurer id, FR VAT, GB company number


def test_reimport_changes_nothing_and_later_file_updates(
    ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]
) -> None:
    path = write(tmp_path, "A1,Alpha GmbH,DE,main,,,DE136695976,,\n")
    import_buyers(ledger, path, policies=policies, now=NOW)
    again = import_buyers(ledger, path, policies=policies, now=NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    renamed = write(tmp_path, "A1,Alpha Maschinen GmbH,DE,main,,,DE136695976,,\n", "b2.csv")
    later = import_buyers(ledger, renamed, policies=policies, now=NOW)
    assert (later.inserted, later.updated, later.unchanged) == (0, 1, 0)
    with ledger.unit_of_work() as s:
        assert s.scalar(select(BuyerRow.name)) == "Alpha Maschinen GmbH"


def test_contradicting_identifiers_are_refused(
    ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]
) -> None:
    first = write(tmp_path, "A1,Alpha,DE,main,,,DE136695976,,\nA2,Beta,FR,main,,,,552100554,\n")
    import_buyers(ledger, first, policies=policies, now=NOW)
    clash = write(tmp_path, "A3,Mixed,FR,main,,,DE136695976,552100554,\n", "clash.csv")
    with pytest.raises(InputError) as info:
        import_buyers(ledger, clash, policies=policies, now=NOW)
    assert "different buyers" in info.value.errors[0].reason
    assert counts(ledger) == (2, 2, 2)


@pytest.mark.parametrize(
    ("body", "row", "column", "reason"),
    [
        ("A1,Alpha,DE,main,,,DE136695975,,\n", 2, "vat", "checksum"),
        ("A1,Alpha,XX,main,,,,,\n", 2, "country", "alpha-2"),
        ("A1,Alpha,FR,main,,,,55210055400013,\n", 2, "registration_number", "SIRET"),
        ("A1,Alpha,DE,nope,,,,,\n", 2, "policy", "unknown policy"),
        ("A1,,DE,main,,,,,\n", 2, "name", "empty"),
        ("A1,Alpha,DE,main,,,,,\nA1,Alpha again,DE,main,,,,,\n", 3, "erp_account", "twice"),
        ("A1,Alpha,DE,main,,12345,,,\n", 2, "duns", "9 digits"),
        ("A1,Alpha,IT,main,,,,123,\n", 2, "registration_number", "no national registration"),
        ("A1,Alpha,DE,main,,,,,atradius\n", 2, "insurer_ids", "insurer:buyer-id"),
    ],
)
def test_bad_rows_name_row_column_and_reason(
    ledger: Ledger,
    tmp_path: Path,
    policies: dict[str, Policy],
    body: str,
    row: int,
    column: str,
    reason: str,
) -> None:
    path = write(tmp_path, "B0,Good Row GmbH,DE,main,,,,,\n" + body)
    with pytest.raises(InputError) as info:
        import_buyers(ledger, path, policies=policies, now=NOW)
    errors = info.value.errors
    assert any(
        e.source == str(path) and e.row == row + 1 and e.column == column and reason in e.reason
        for e in errors
    ), errors
    assert counts(ledger) == (0, 0, 0)  # not even the good row


def test_wrong_and_missing_columns(
    ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]
) -> None:
    path = write(tmp_path, "A1,Alpha,DE\n", header="erp_account,name,land\n")
    with pytest.raises(InputError) as info:
        import_buyers(ledger, path, policies=policies, now=NOW)
    found = {(e.row, e.column) for e in info.value.errors}
    assert (1, "land") in found and (1, "country") in found


def test_json_buyers(ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]) -> None:
    path = tmp_path / "buyers.json"
    path.write_text(
        '{"buyers": [{"erp_account": "A1", "name": "Alpha", "country": "DE", '
        '"vat": "DE136695976"}, '
        '{"erp_account": "A2", "name": "Beta", "country": "NL", "vat": "bad"}]}',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        import_buyers(ledger, path, policies=policies, now=NOW)
    assert [(e.row, e.column) for e in info.value.errors] == [(2, "vat")]
    path.write_text('[{"erp_account": "A1", "name": "Alpha", "country": "DE"}]', encoding="utf-8")
    assert import_buyers(ledger, path, policies=policies, now=NOW).inserted == 1


def test_an_account_whose_identifiers_contradict_its_buyer_is_refused(
    ledger: Ledger, tmp_path: Path, policies: dict[str, Policy]
) -> None:
    first = write(tmp_path, "A1,Alpha,FR,main,529900T8BM49AURSDO55,,,552100554,\n")
    import_buyers(ledger, first, policies=policies, now=NOW)
    second = write(tmp_path, "A2,Alpha bis,FR,main,5493001KJTIIGC8Y1R12,,,552100554,\n", "b2.csv")
    with pytest.raises(InputError) as info:
        import_buyers(ledger, second, policies=policies, now=NOW)
    assert "contradict" in info.value.errors[0].reason and "LEI" in info.value.errors[0].reason
