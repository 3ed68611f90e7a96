"""`tci bureaus load gleif FILE`: a synthetic GLEIF golden copy of N records (default
1,000,000; the real one holds about 3.5M) written by the sandbox writer with the full
published header (not timed), then loaded (timed: read from the ZIP, parsed, validated,
crosswalked, staged and merged), then the same file again (the rerun writes nothing),
then a LastDay delta changing 1 % of the records.

Floor (the machine's limit for the write): the same parsed rows put into an empty
``lei_records`` with its indexes, PostgreSQL ``COPY FROM STDIN`` / SQLite ``executemany``
in one transaction; only the database calls are timed (the rows are parsed chunk by
chunk beforehand, so the floor holds no more than a chunk in memory). The load's own
parsing of the ~240-column CSV is therefore outside the floor: the ratio says what the
reading costs on top of the write.

``reader_only_s`` is the reader alone (unzip, CSV parse, checks, crosswalk, digest),
measured while the floor's rows are made.

``raw_csv_copy_s`` (PostgreSQL) is what letting the server parse the file would cost at
the least: the ZIP member's bytes streamed into ``COPY ... FROM STDIN (FORMAT csv,
HEADER)`` of a TEMP table as wide as the header (all text, no index), before any check,
digest, crosswalk or write into ``lei_records``. It is larger than the floor: the
server parsing the ~240-column CSV on its one core costs more than the whole write.

Peak memory is the load's own (the resident peak is reset before it)."""

from __future__ import annotations

import argparse
import csv
import gc
import io
import tempfile
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from benchmarks.common import StageResult, scaled, timed
from benchmarks.ledgers import fresh_ledger
from tci_gateway.adapters.contract import GoldenCopyFile
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.golden_copy_tables import LEI_RECORD_COLUMNS
from tci_gateway.logs import configure_logging
from tci_gateway.services.golden_copy import load_golden_copy

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
FULL = "20261206-0800"
DELTA = "20261206-1600"
CHUNK = 20_000
COLUMNS = ("source", *LEI_RECORD_COLUMNS, "publication")


def _reset_peak() -> None:
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _parsed(file: GoldenCopyFile) -> Iterator[list[tuple[Any, ...]]]:
    """The file's records as ``lei_records`` tuples, a chunk at a time."""
    rows = (("gleif", *r, FULL) for r in file.records() if isinstance(r, tuple))
    while chunk := list(islice(rows, CHUNK)):
        yield chunk


def _floor(ledger: Ledger, file: GoldenCopyFile) -> tuple[float, float]:
    """Seconds spent in the database putting the parsed rows into ``lei_records``, and
    seconds spent reading and parsing them (the reader alone, not in the floor)."""
    spent = 0.0
    began = time.perf_counter()
    names = ", ".join(COLUMNS)
    raw = ledger.engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        if ledger.engine.dialect.name == "postgresql":
            cursor = driver.cursor()
            copy_cm = cursor.copy(f"COPY lei_records ({names}) FROM STDIN")
            started = time.perf_counter()
            copy = copy_cm.__enter__()
            spent += time.perf_counter() - started
            for chunk in _parsed(file):
                started = time.perf_counter()
                for row in chunk:
                    copy.write_row(row)
                spent += time.perf_counter() - started
            started = time.perf_counter()
            copy_cm.__exit__(None, None, None)
            driver.commit()
            spent += time.perf_counter() - started
            cursor.close()
        else:
            sql = f"INSERT INTO lei_records ({names}) VALUES ({', '.join('?' * len(COLUMNS))})"
            cursor = driver.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            for chunk in _parsed(file):
                started = time.perf_counter()
                cursor.executemany(sql, chunk)
                spent += time.perf_counter() - started
            started = time.perf_counter()
            cursor.execute("COMMIT")
            spent += time.perf_counter() - started
            cursor.close()
    finally:
        raw.close()
    return spent, time.perf_counter() - began - spent


def _raw_csv_copy(ledger: Ledger, path: Path) -> float | None:
    """PostgreSQL: seconds to ``COPY`` the raw CSV member of ``path`` into a TEMP table
    of the header's width (rolled back); ``None`` on SQLite."""
    if ledger.engine.dialect.name != "postgresql":
        return None
    with zipfile.ZipFile(path) as archive:
        (member,) = archive.namelist()
        with archive.open(member) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig") as text:
            width = len(next(csv.reader(text)))
        cols = ", ".join(f"c{i} text" for i in range(width))
        connection = ledger.engine.raw_connection()
        try:
            driver: Any = connection.driver_connection
            with driver.cursor() as cursor:
                cursor.execute(f"CREATE TEMP TABLE gc_raw_floor ({cols})")
                started = time.perf_counter()
                with (
                    archive.open(member) as raw,
                    cursor.copy("COPY gc_raw_floor FROM STDIN (FORMAT csv, HEADER true)") as copy,
                ):
                    while chunk := raw.read(1 << 20):
                        copy.write(chunk)
                spent = time.perf_counter() - started
            driver.rollback()
        finally:
            connection.close()
    return spent


def run(args: list[str]) -> StageResult:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=scaled(1_000_000, args))
    parser.add_argument("--backend", default="sqlite")
    opts, _ = parser.parse_known_args(args)
    configure_logging("console", "warning")
    from tci_adapters.gleif.sandbox_golden_copy import synthetic_records, write_golden_copy

    n = opts.records
    plugin = load_plugin("gleif")
    read = plugin.read_golden_copy
    assert read is not None
    with tempfile.TemporaryDirectory(prefix="tci-gleif-") as tmp:
        folder = Path(tmp)
        write_s, path = timed(
            lambda: write_golden_copy(folder, synthetic_records(n), publication=FULL)
        )
        changed = max(1, n // 100)
        delta_path = write_golden_copy(
            folder,
            synthetic_records(changed, start=0, name_suffix=" (renamed)"),
            publication=DELTA,
            delta="LastDay",
        )
        with fresh_ledger(opts.backend) as (ledger, _url):
            _reset_peak()
            measured, report = timed(
                lambda: load_golden_copy(
                    ledger, "gleif", read(path, {}), now=NOW, delta_expected=False
                )
            )
            peak = _peak_mb()
            rerun_s, rerun = timed(
                lambda: load_golden_copy(
                    ledger, "gleif", read(path, {}), now=NOW, delta_expected=False
                )
            )
            delta_s, delta = timed(
                lambda: load_golden_copy(
                    ledger, "gleif", read(delta_path, {}), now=NOW, delta_expected=True
                )
            )
        with fresh_ledger(opts.backend) as (ledger, _url):
            floor, parse_s = _floor(ledger, read(path, {}))
            raw_copy_s = _raw_csv_copy(ledger, path)
        file_mb = path.stat().st_size / 1e6
    if report.status != "applied" or rerun.inserted + rerun.updated or delta.updated != changed:
        raise SystemExit(f"gleif_load: unexpected reports {report} / {rerun} / {delta}")
    return StageResult(
        stage=f"gleif_load@{opts.backend}",
        measured_s=measured,
        floor_s=floor,
        floor=(
            "the parsed rows into lei_records: COPY FROM STDIN (PostgreSQL) / one "
            "executemany in one transaction (SQLite), database time only"
        ),
        goal="<= 2x the floor; rerun writes nothing; peak flat in N",
        peak_rss_mb=round(peak, 1),
        extra={
            "records": n,
            "file_mb": round(file_mb, 1),
            "write_file_s": round(write_s, 2),
            "inserted": report.inserted,
            "reader_only_s": round(parse_s, 2),
            "raw_csv_copy_s": None if raw_copy_s is None else round(raw_copy_s, 2),
            "rerun_s": round(rerun_s, 3),
            "rerun_written": rerun.inserted + rerun.updated,
            "rerun_ratio": round(rerun_s / floor, 3) if floor else None,
            "delta_records": changed,
            "delta_s": round(delta_s, 3),
        },
    )
