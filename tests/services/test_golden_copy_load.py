"""`load_golden_copy`: the watermark rules, the idempotent upsert and full-file
replacement, on SQLite and PostgreSQL (written files from the GLEIF sandbox writer)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from tci_adapters.gleif.golden_copy import read_golden_copy
from tci_adapters.gleif.sandbox_golden_copy import (
    lei_with_check_digits,
    synthetic_records,
    synthetic_relationships,
    write_golden_copy,
)
from tci_gateway.adapters.contract import LeiRecord, LeiRelationship
from tci_gateway.errors import InputError
from tci_gateway.ledger import golden_copy as repo
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.golden_copy_tables import LEI_RECORD_COLUMNS, RELATIONSHIP_COLUMNS
from tci_gateway.ledger.tables import GoldenCopyLoadRow, LeiRecordRow, LeiRelationshipRow
from tci_gateway.services.golden_copy import load_golden_copy

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def _load(ledger: Ledger, path: Path, *, delta: bool = False, force: bool = False):  # type: ignore[no-untyped-def]
    return load_golden_copy(
        ledger, "gleif", read_golden_copy(path, {}), now=NOW, delta_expected=delta, force=force
    )


def _records(ledger: Ledger) -> dict[str, SimpleNamespace]:
    with ledger.reading() as session:
        rows = session.execute(select(LeiRecordRow.__table__)).mappings()
        return {r["lei"]: SimpleNamespace(**r) for r in rows}


def _loads(ledger: Ledger) -> list[tuple[str, str]]:
    with ledger.reading() as session:
        rows = session.scalars(select(GoldenCopyLoadRow).order_by(GoldenCopyLoadRow.id))
        return [(r.publication, r.status) for r in rows]


def test_the_ledger_columns_are_the_contract_fields() -> None:
    assert LeiRecord._fields == LEI_RECORD_COLUMNS
    assert LeiRelationship._fields == RELATIONSHIP_COLUMNS


def test_full_rerun_delta_gap_and_replacement(ledger: Ledger, tmp_path: Path) -> None:
    full = write_golden_copy(tmp_path, synthetic_records(30), publication="20261205-0800")
    first = _load(ledger, full)
    assert (first.status, first.inserted, first.updated, first.deleted) == ("applied", 30, 0, 0)
    stored = _records(ledger)
    assert len(stored) == 30
    gb = stored[lei_with_check_digits(f"TCIG00{0:012d}")]
    assert (gb.registration_authority, gb.scheme, gb.national_id) == (
        "RA000585",
        "GB_CRN",
        "10000000",
    )
    unknown_ra = stored[lei_with_check_digits(f"TCIG00{1:012d}")]
    assert (unknown_ra.registration_authority, unknown_ra.scheme) == ("RA000754", None)
    assert unknown_ra.registered_as == "X1"

    rerun = _load(ledger, full)
    assert (rerun.status, rerun.records, rerun.unchanged) == ("applied", 30, 30)
    assert rerun.inserted == rerun.updated == rerun.deleted == 0

    # 16:00 LastDay delta: 5 changed names and 3 new records.
    changed = [*synthetic_records(5, name_suffix=" (renamed)"), *synthetic_records(3, start=30)]
    day = write_golden_copy(tmp_path, changed, publication="20261205-1600", delta="LastDay")
    applied = _load(ledger, day, delta=True)
    assert (applied.status, applied.inserted, applied.updated, applied.unchanged) == (
        "applied",
        3,
        5,
        0,
    )
    assert applied.previous_watermark == "20261205-0800"
    assert applied.watermark == "20261205-1600"
    stored = _records(ledger)
    assert len(stored) == 33
    renamed = stored[lei_with_check_digits(f"TCIG00{4:012d}")]
    assert renamed.legal_name.endswith("(renamed)")
    assert renamed.publication == "20261205-1600"

    # The same delta again, and an older one: already applied, nothing done.
    again = _load(ledger, day, delta=True)
    assert again.status == "already_applied" and again.ok
    older = write_golden_copy(
        tmp_path, synthetic_records(2), publication="20261205-0800", delta="IntraDay"
    )
    assert _load(ledger, older, delta=True).status == "already_applied"

    # An IntraDay delta 24 h later reaches back 8 h only: a gap, refused.
    gap = write_golden_copy(
        tmp_path, synthetic_records(2), publication="20261206-1600", delta="IntraDay"
    )
    refused = _load(ledger, gap, delta=True)
    assert refused.status == "refused" and not refused.ok
    assert "20261205-1600" in (refused.reason or "") and "LastDay" in (refused.reason or "")
    assert len(_records(ledger)) == 33

    # A newer full file replaces: records it does not list are deleted.
    replacement = write_golden_copy(tmp_path, synthetic_records(20), publication="20261206-0800")
    replaced = _load(ledger, replacement)
    assert (replaced.status, replaced.deleted) == ("applied", 13)
    assert replaced.updated == 5  # the renamed ones are back to their names
    assert len(_records(ledger)) == 20

    # An older full file is refused unless forced.
    assert _load(ledger, full).status == "refused"
    assert _load(ledger, full, force=True).status == "applied"
    assert len(_records(ledger)) == 30
    with ledger.reading() as session:
        # The watermark is the last applied load's: a forced older file moves it back.
        assert repo.watermark(session, "gleif", "lei2") == "20261205-0800"
        assert repo.watermark(session, "gleif", "rr") is None
    statuses = [s for _, s in _loads(ledger)]
    assert statuses.count("refused") == 2 and statuses.count("already_applied") == 2


def test_delta_before_any_full_load_and_flag_mismatch(ledger: Ledger, tmp_path: Path) -> None:
    delta = write_golden_copy(
        tmp_path, synthetic_records(2), publication="20261205-1600", delta="LastDay"
    )
    report = _load(ledger, delta, delta=True)
    assert report.status == "refused" and "no full lei2" in (report.reason or "")
    wrong_flag = _load(ledger, delta, delta=False)
    assert wrong_flag.status == "refused" and "--delta" in (wrong_flag.reason or "")
    assert "is a LastDay delta file" in (wrong_flag.reason or "")
    intra = write_golden_copy(
        tmp_path, synthetic_records(2), publication="20261205-1600", delta="IntraDay"
    )
    assert "is an IntraDay delta file" in (_load(ledger, intra, delta=False).reason or "")
    full = write_golden_copy(tmp_path, synthetic_records(2), publication="20261205-0800")
    assert _load(ledger, full, delta=True).status == "refused"
    assert _records(ledger) == {}


def test_bad_row_writes_nothing(ledger: Ledger, tmp_path: Path) -> None:
    rows = list(synthetic_records(5))
    rows[3]["LEI"] = rows[3]["LEI"][:-2] + "00"
    path = write_golden_copy(tmp_path, rows, publication="20261205-0800")
    with pytest.raises(InputError) as caught:
        _load(ledger, path)
    error = caught.value.errors[0]
    assert (error.row, error.column) == (5, "LEI")
    assert "check digits" in error.reason
    assert _records(ledger) == {}
    assert _loads(ledger) == [("20261205-0800", "rejected")]


def test_a_file_parsed_by_worker_processes(ledger: Ledger, tmp_path: Path) -> None:
    # Workers fork while the load's transaction is open: the ledger must not notice.
    path = write_golden_copy(tmp_path, synthetic_records(50), publication="20261205-0800")
    for expected in (50, 0):
        file = read_golden_copy(path, {})
        file.workers = 2
        report = load_golden_copy(ledger, "gleif", file, now=NOW, delta_expected=False)
        assert (report.status, report.inserted, report.unchanged) == (
            "applied",
            expected,
            50 - expected,
        )
    assert len(_records(ledger)) == 50


def test_an_lei_listed_twice_writes_nothing(ledger: Ledger, tmp_path: Path) -> None:
    rows = [*synthetic_records(3), *synthetic_records(1, start=1)]
    path = write_golden_copy(tmp_path, rows, publication="20261205-0800")
    with pytest.raises(InputError, match="listed more than once"):
        _load(ledger, path)
    assert _records(ledger) == {}


def test_relationships_with_deleted_at(ledger: Ledger, tmp_path: Path) -> None:
    full = write_golden_copy(
        tmp_path, synthetic_relationships(12), publication="20261205-0800", kind="rr"
    )
    assert _load(ledger, full).inserted == 12
    # rr has its own watermark: a lei2 delta still needs a lei2 full load.
    lei2_delta = write_golden_copy(
        tmp_path, synthetic_records(1), publication="20261205-1600", delta="LastDay"
    )
    assert _load(ledger, lei2_delta, delta=True).status == "refused"

    withdrawn = next(synthetic_relationships(1, start=3))
    withdrawn["DeletedAt"] = "2026-12-05T12:00:00Z"
    inactive = next(synthetic_relationships(1, start=4))
    inactive["Relationship.RelationshipStatus"] = "INACTIVE"
    delta = write_golden_copy(
        tmp_path,
        [withdrawn, inactive],
        publication="20261205-1600",
        kind="rr",
        delta="IntraDay",
    )
    report = _load(ledger, delta, delta=True)
    assert (report.status, report.deleted, report.updated) == ("applied", 1, 1)
    with ledger.reading() as session:
        found = session.execute(select(LeiRelationshipRow.__table__)).mappings()
        rels = {r["child_lei"]: SimpleNamespace(**r) for r in found}
    assert len(rels) == 11
    assert withdrawn["Relationship.StartNode.NodeID"] not in rels
    assert rels[inactive["Relationship.StartNode.NodeID"]].status == "INACTIVE"
    child = rels[lei_with_check_digits(f"TCIG00{5:012d}")]
    assert child.parent_lei == lei_with_check_digits(f"TCIG00{0:012d}")
    assert child.relationship_type == "IS_DIRECTLY_CONSOLIDATED_BY"


def test_a_reload_after_a_first_load_refreshes_the_statistics(
    ledger: Ledger, tmp_path: Path
) -> None:
    """PostgreSQL: the first full load goes straight into ``lei_records``; the next load
    finds the table's statistics counting (nearly) nothing and analyzes it before its
    anti-joins are planned (planned as empty, they were nested loops over the file)."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    full = write_golden_copy(tmp_path, synthetic_records(400), publication="20261205-0800")
    assert _load(ledger, full).inserted == 400
    later = write_golden_copy(tmp_path, synthetic_records(400), publication="20261205-1600")
    assert _load(ledger, later).unchanged == 400
    with ledger.reading() as session:
        known = session.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('lei_records')")
        )
    assert known is not None and float(known) >= 400
