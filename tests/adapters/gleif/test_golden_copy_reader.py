"""The GLEIF golden-copy reader on files the sandbox writer makes: the wide published
header, the crosswalk through the adapter's option, bad rows as record errors, refused
files (name, ZIP, missing column), level 2 with ``DeletedAt``."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tci_adapters.gleif.golden_copy import lei_is_valid, read_golden_copy
from tci_adapters.gleif.plugin import PLUGIN
from tci_adapters.gleif.sandbox_golden_copy import (
    LEI2_COLUMNS,
    lei_with_check_digits,
    synthetic_records,
    synthetic_relationships,
    write_golden_copy,
)
from tci_gateway.adapters.contract import LeiRecord, LeiRelationship
from tci_gateway.errors import InputError, RecordError

GB_LEI = lei_with_check_digits("TCIG00000000000042")


def test_wide_file_read_with_the_crosswalk_and_a_bad_row(tmp_path: Path) -> None:
    assert len(LEI2_COLUMNS) > 200
    rows = [
        {
            "LEI": GB_LEI,
            "Entity.LegalName": 'Quote "and", comma Ltd',
            "Entity.OtherEntityNames.OtherEntityName.1": "Trading\nName",
            "Entity.LegalAddress.Country": "gb",
            "Entity.RegistrationAuthority.RegistrationAuthorityID": "RA000585",
            "Entity.RegistrationAuthority.RegistrationAuthorityEntityID": "9990311",
            "Entity.EntityStatus": "ACTIVE",
            "Registration.RegistrationStatus": "LAPSED",
            "Registration.LastUpdateDate": "2026-12-01T10:00:00Z",
        },
        {  # the number fails the scheme: kept raw, no national id, not an error
            "LEI": lei_with_check_digits("TCIG00000000000043"),
            "Entity.LegalName": "Bad Number Ltd",
            "Entity.LegalAddress.Country": "XK",
            "Entity.RegistrationAuthority.OtherRegistrationAuthorityID": "ra000585",
            "Entity.RegistrationAuthority.RegistrationAuthorityEntityID": "NOT A NUMBER",
        },
        {"LEI": "TCIG0000000000004400", "Entity.LegalName": "Wrong Check Digits"},
        {"LEI": "SHORT", "Entity.LegalName": "Too short"},
        {"LEI": lei_with_check_digits("TCIG00000000000045"), "Entity.LegalAddress.Country": "GBR"},
    ]
    path = write_golden_copy(tmp_path, rows, publication="20261206-1600")
    file = PLUGIN.read_golden_copy(path, {"registration_authorities": {}})  # type: ignore[misc]
    assert (file.kind, file.delta, file.publication) == ("lei2", None, "20261206-1600")
    assert file.published_at == datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
    gb, bad_number, wrong, short, too_long = list(file.records())
    assert isinstance(gb, LeiRecord)
    assert (gb.lei, gb.legal_name, gb.country) == (GB_LEI, 'Quote "and", comma Ltd', "GB")
    assert (gb.scheme, gb.national_id, gb.registered_as) == ("GB_CRN", "09990311", "9990311")
    assert (gb.registration_status, gb.last_update) == ("LAPSED", "2026-12-01T10:00:00Z")
    assert len(gb.digest) == 32
    assert isinstance(bad_number, LeiRecord)
    assert (bad_number.registration_authority, bad_number.national_id) == ("RA000585", None)
    assert bad_number.registered_as == "NOT A NUMBER" and bad_number.country == "XK"
    assert wrong == RecordError(
        path.name,
        4,
        "LEI",
        "invalid LEI 'TCIG0000000000004400': the check digits do not match (ISO 17442)",
    )
    assert isinstance(short, RecordError) and (short.row, short.column) == (5, "LEI")
    assert "expected 20 characters" in short.reason
    assert too_long == RecordError(
        path.name, 6, "Entity.LegalAddress.Country", "longer than 2 characters"
    )
    # The crosswalk table is the adapter's option: without RA000585 no national id.
    file = read_golden_copy(path, {"registration_authorities": {"RA000585": None}})
    first = next(file.records())
    assert isinstance(first, LeiRecord) and first.national_id is None
    assert first.digest == gb.digest


def test_digest_changes_with_any_column(tmp_path: Path) -> None:
    (base,) = synthetic_records(1)
    changed = dict(base, **{"Entity.HeadquartersAddress.PostalCode": "LS2 7EW"})
    one = write_golden_copy(tmp_path, [base], publication="20261206-0800")
    two = write_golden_copy(tmp_path, [changed], publication="20261206-1600")
    (a,) = read_golden_copy(one, {}).records()
    (b,) = read_golden_copy(two, {}).records()
    assert isinstance(a, LeiRecord) and isinstance(b, LeiRecord)
    assert a[:-1] == b[:-1] and a.digest != b.digest


@pytest.mark.parametrize(
    "name",
    [
        "golden-copy.csv.zip",
        "20261206-0800-gleif-goldencopy-lei2-golden-copy.json.zip",
        "20261206-0800-gleif-goldencopy-repex-last-day.csv.zip",
        "20261206-0800-gleif-goldencopy-lei2-last-year.csv.zip",
    ],
)
def test_a_name_outside_the_pattern_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"expected \{YYYYMMDD\}-\{HHMM\}-gleif-goldencopy"):
        read_golden_copy(path, {})


def test_a_missing_column_or_not_a_zip_is_refused(tmp_path: Path) -> None:
    name = "20261206-0800-gleif-goldencopy-lei2-last-day.csv.zip"
    with zipfile.ZipFile(tmp_path / name, "w") as archive:
        archive.writestr(name.removesuffix(".zip"), "LEI,Entity.LegalName\n")
    with pytest.raises(InputError) as caught:
        read_golden_copy(tmp_path / name, {})
    columns = {e.column for e in caught.value.errors}
    assert "Entity.LegalAddress.Country" in columns and "Registration.RegistrationStatus" in columns
    assert all(e.row == 1 and e.reason == "required column is missing" for e in caught.value.errors)
    (tmp_path / name).write_text("not a zip")
    with pytest.raises(InputError, match="not a ZIP file"):
        read_golden_copy(tmp_path / name, {})


def test_level_two_delta_with_deleted_at(tmp_path: Path) -> None:
    rows = list(synthetic_relationships(3))
    rows[1]["DeletedAt"] = "2026-12-06T07:12:00Z"
    rows[2]["Relationship.EndNode.NodeID"] = "NOT-AN-LEI"
    path = write_golden_copy(
        tmp_path, rows, publication="20261206-0800", kind="rr", delta="LastWeek"
    )
    file = read_golden_copy(path, {})
    assert (file.kind, file.delta) == ("rr", "LastWeek")
    kept, withdrawn, bad = file.records()
    assert isinstance(kept, LeiRelationship) and not kept.deleted
    assert kept.child_lei == rows[0]["Relationship.StartNode.NodeID"]
    assert kept.parent_lei == rows[0]["Relationship.EndNode.NodeID"]
    assert kept.relationship_type == "IS_DIRECTLY_CONSOLIDATED_BY"
    assert isinstance(withdrawn, LeiRelationship) and withdrawn.deleted
    assert isinstance(bad, RecordError) and bad.column == "Relationship.EndNode.NodeID"


def test_synthetic_leis_are_valid() -> None:
    assert all(lei_is_valid(r["LEI"]) for r in synthetic_records(50))
    assert lei_is_valid("5299000TCIGWALPHA040")  # fixtures/gleif: built with stdnum
    assert not lei_is_valid("tcig0000000000000042")


def test_worker_processes_read_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tci_adapters.gleif import golden_copy_workers

    rows = list(synthetic_records(40))
    rows[9]["Entity.LegalName"] = 'Two\nlines, "quoted"'
    rows[23]["LEI"] = "TCIG0000000000002300"
    path = write_golden_copy(tmp_path, rows, publication="20261206-1600")
    serial = read_golden_copy(path, {})
    serial.workers = 0
    expected = list(serial.records())
    for size in (300, 700, 1100, 1500, 2600):  # blocks of a few rows, cut anywhere
        monkeypatch.setattr(golden_copy_workers, "BLOCK_BYTES", size)
        parallel = read_golden_copy(path, {})
        parallel.workers = 2
        found = list(parallel.records())
        assert found == expected
        assert [type(r) for r in found] == [type(r) for r in expected]
    assert isinstance(found[9], LeiRecord) and found[9].legal_name == 'Two\nlines, "quoted"'
    assert isinstance(found[23], RecordError) and found[23].row == 25


def test_all_quoted_and_minimally_quoted_files_read_alike(tmp_path: Path) -> None:
    """GLEIF quotes every field; the sandbox quotes only where needed: the reader's
    fast paths (split on ``,`` or on ``","``) and ``csv`` give the same records."""
    import csv
    import io

    rows = list(synthetic_records(6))
    rows[2]["Entity.LegalName"] = 'Quote "and", comma\nLtd'  # csv only
    rows[4]["Entity.RegistrationAuthority.RegistrationAuthorityEntityID"] = "10,000,004"
    read = []
    for quoting, name in ((csv.QUOTE_ALL, "all"), (csv.QUOTE_MINIMAL, "minimal")):
        folder = tmp_path / name
        folder.mkdir()
        path = folder / "20261206-0800-gleif-goldencopy-lei2-golden-copy.csv.zip"
        with (
            zipfile.ZipFile(path, "w") as archive,
            archive.open(path.name.removesuffix(".zip"), "w") as member,
            io.TextIOWrapper(member, encoding="utf-8", newline="") as text,
        ):
            writer = csv.writer(text, quoting=quoting, lineterminator="\r\n")
            writer.writerow(LEI2_COLUMNS)
            writer.writerows([r.get(c, "") for c in LEI2_COLUMNS] for r in rows)
            writer.writerow(["short", "row"])
        read.append(list(read_golden_copy(path, {}).records()))
    quoted, minimal = read
    assert [r[:-1] for r in quoted[:-1]] == [r[:-1] for r in minimal[:-1]]
    assert [r[:-1] for r in quoted[:-1]] == [
        r[:-1]
        for r in read_golden_copy(
            write_golden_copy(tmp_path, rows, publication="20261206-0800"), {}
        ).records()
    ]
    assert isinstance(quoted[2], LeiRecord) and quoted[2].legal_name == rows[2]["Entity.LegalName"]
    assert isinstance(quoted[4], LeiRecord) and quoted[4].registered_as == "10,000,004"
    short = quoted[-1]
    assert short == minimal[-1] and isinstance(short, RecordError)
    assert (short.row, short.column) == (8, None)
    assert short.reason == f"expected {len(LEI2_COLUMNS)} columns (the header's), got 2"
