"""GLEIF's golden copy and delta files (CSV in a ZIP), read streamed.

``read_golden_copy(path, options)`` (the plugin's ``read_golden_copy``) takes the kind,
the delta kind and the publication from GLEIF's published file name
(:data:`NAME_PATTERN`), checks the ZIP holds one CSV member whose header has the
columns it needs, and returns a :class:`GleifGoldenCopy` whose ``records()`` reads the
member row by row (``zipfile`` + ``io.TextIOWrapper`` + ``csv.reader``): the whole file,
about 5 GB unzipped for 3.5M records, is never in memory. A large file is parsed by
worker processes (:mod:`.golden_copy_workers`), in file order.

Level 1 (``lei2``): one :class:`~tci_gateway.adapters.contract.LeiRecord` per row, the
national identifier crosswalked from ``RegistrationAuthorityID`` (else
``OtherRegistrationAuthorityID``) and ``RegistrationAuthorityEntityID`` through the
adapter's ``registration_authorities`` table (:func:`.mapping.crosswalk_number`); a
number that fails its scheme's validation leaves ``national_id`` empty (the raw number
stays in ``registered_as``), it is not an error. Level 2 (``rr``): one
:class:`~tci_gateway.adapters.contract.LeiRelationship` per row, the child being the
start node and the parent the end node; a non-empty ``DeletedAt`` (delta files) marks a
withdrawn relationship.

A row that cannot be kept (an LEI that fails ISO 17442, a value longer than the ledger
keeps) is a :class:`~tci_gateway.errors.RecordError` naming the file, the row (the
header is row 1), the column and the reason. ``digest`` is a BLAKE2b (16 bytes) of the
row's raw text, so a reload of an unchanged record is recognised without comparing
columns.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import blake2b
from itertools import pairwise
from pathlib import Path
from typing import Any

from tci_gateway.adapters.contract import LeiRecord, LeiRelationship
from tci_gateway.adapters.golden_copy import GoldenCopyKind
from tci_gateway.errors import ConfigError, InputError, RecordError

from .mapping import RegistrationAuthority, crosswalk_number, parse_authorities

__all__ = ["NAME_PATTERN", "GleifGoldenCopy", "lei_is_valid", "read_golden_copy"]

NAME_PATTERN = (
    "{YYYYMMDD}-{HHMM}-gleif-goldencopy-{lei2|rr}-"
    "{golden-copy|intra-day|last-day|last-week|last-month}.csv.zip"
)
_NAME_RE = re.compile(
    r"(?P<date>[0-9]{8})-(?P<time>[0-9]{4})-gleif-goldencopy-(?P<kind>lei2|rr)-"
    r"(?P<delta>golden-copy|intra-day|last-day|last-week|last-month)\.csv\.zip"
)
_DELTAS: dict[str, str | None] = {
    "golden-copy": None,
    "intra-day": "IntraDay",
    "last-day": "LastDay",
    "last-week": "LastWeek",
    "last-month": "LastMonth",
}

LEI = "LEI"
NAME = "Entity.LegalName"
COUNTRY = "Entity.LegalAddress.Country"
JURISDICTION = "Entity.LegalJurisdiction"
RA_ID = "Entity.RegistrationAuthority.RegistrationAuthorityID"
RA_OTHER = "Entity.RegistrationAuthority.OtherRegistrationAuthorityID"
RA_ENTITY = "Entity.RegistrationAuthority.RegistrationAuthorityEntityID"
ENTITY_STATUS = "Entity.EntityStatus"
CATEGORY = "Entity.EntityCategory"
REG_STATUS = "Registration.RegistrationStatus"
LAST_UPDATE = "Registration.LastUpdateDate"
LEI2_NEEDED = (
    LEI,
    NAME,
    COUNTRY,
    JURISDICTION,
    RA_ID,
    RA_OTHER,
    RA_ENTITY,
    ENTITY_STATUS,
    CATEGORY,
    REG_STATUS,
    LAST_UPDATE,
)
"""The level-1 columns the reader needs; a header without one of them is refused."""

CHILD = "Relationship.StartNode.NodeID"
PARENT = "Relationship.EndNode.NodeID"
REL_TYPE = "Relationship.RelationshipType"
REL_STATUS = "Relationship.RelationshipStatus"
DELETED_AT = "DeletedAt"
RR_NEEDED = (CHILD, PARENT, REL_TYPE, REL_STATUS, REG_STATUS)
"""The level-2 columns the reader needs (``DeletedAt`` is read when present)."""

# The ledger's column widths (migration 0012): a longer value is refused, never cut.
_WIDTHS: dict[str, int] = {
    NAME: 500,
    COUNTRY: 2,
    JURISDICTION: 16,
    RA_ID: 16,
    RA_OTHER: 16,
    RA_ENTITY: 128,
    ENTITY_STATUS: 16,
    REG_STATUS: 24,
    CATEGORY: 40,
    LAST_UPDATE: 40,
    REL_TYPE: 40,
    REL_STATUS: 16,
}

_LEI_RE = re.compile(r"[0-9A-Z]{18}[0-9]{2}")
_LETTERS = [chr(code) for code in range(128)]
"""ISO 7064 letter values by code point (A = 10 .. Z = 35, others unchanged): a list,
which ``translate`` looks up several times faster than the dict ``str.maketrans`` makes."""
for _code in range(ord("A"), ord("Z") + 1):
    _LETTERS[_code] = str(_code - 55)
_record = LeiRecord._make
_relationship = LeiRelationship._make
PARALLEL_FROM_BYTES = 2 << 20
"""A (compressed) file from this size is parsed by worker processes by default."""


def _gap(header: tuple[str, ...], needed: tuple[str, ...]) -> tuple[int, int]:
    """``(a, b)``: the widest run of columns between two needed ones (``a`` and ``b``
    needed, none between), which :func:`_split_records` leaves unsplit."""
    at = sorted({header.index(c) for c in needed if c in header})
    if len(at) < 2:
        return len(header) - 1, len(header)
    a, b = max(pairwise(at), key=lambda pair: pair[1] - pair[0])
    return (a, b) if b - a >= 2 else (len(header) - 1, len(header))


def _position(column: int, gap: tuple[int, int]) -> int:
    """Where :func:`_split_records` puts ``column`` among a record's cells."""
    a, b = gap
    return column if column <= a else column - b + a + 2


def _split_records(
    lines: Iterator[str], width: int, gap: tuple[int, int]
) -> Iterator[tuple[str, list[str], int]]:
    """``(raw, cells, count)`` per CSV record of ``lines`` (physical lines, ends kept):
    ``raw`` the record's text (the digest is taken of it), ``count`` its number of
    fields, and ``cells`` its fields as ``csv.reader`` reads them, except that the
    columns strictly between ``gap``'s two are one cell (see :func:`_position`); no
    cells when ``count`` is not ``width``. A line without quotes is split on commas,
    and a line whose fields are all quoted, without a quote inside, on ``","``: both
    give what ``csv.reader`` gives, at a fraction of its cost on a 240-column row, the
    more so as the columns nobody reads are not split. Any other line (a quote inside a
    field, a field holding a newline) is read by ``csv``."""
    a, b = gap
    tail = width - b
    all_quoted = 2 * width
    separators = width - 1
    pending: list[str] = []
    odd = False
    for line in lines:
        quotes = line.count('"')
        if pending:
            pending.append(line)
            odd ^= quotes % 2 == 1
            if not odd:
                yield _csv_record("".join(pending), pending, width, gap)
                pending = []
            continue
        if quotes == 0:
            body = line.rstrip("\r\n")
            count = body.count(",") + 1 if body else 0
            if count != width:
                yield line, [], count
                continue
            cells = body.split(",", a + 1)
            cells.extend(cells.pop().rsplit(",", tail))
            yield line, cells, width
            continue
        body = line.rstrip("\r\n")
        if (
            quotes == all_quoted
            and body[0] == '"'
            and body[-1] == '"'
            and body.count('","') == separators
        ):
            cells = body[1:-1].split('","', a + 1)
            cells.extend(cells.pop().rsplit('","', tail))
            yield line, cells, width
        elif quotes % 2 == 0:
            yield _csv_record(line, (line,), width, gap)
        else:
            pending, odd = [line], True
    if pending:  # a quote never closed: what csv.reader makes of it
        yield _csv_record("".join(pending), pending, width, gap)


def _csv_record(
    raw: str, lines: Iterable[str], width: int, gap: tuple[int, int]
) -> tuple[str, list[str], int]:
    cells = next(csv.reader(lines), [])
    if len(cells) != width:
        return raw, [], len(cells)
    a, b = gap
    return raw, [*cells[: a + 1], "", *cells[b:]], width


def lei_is_valid(value: str) -> bool:
    """ISO 17442: 18 upper-case letters or digits and two check digits (ISO 7064
    MOD 97-10: the whole code, letters as 10..35, is 1 modulo 97)."""
    return _LEI_RE.fullmatch(value) is not None and int(value.translate(_LETTERS)) % 97 == 1


def _lei_error(value: str) -> str:
    if len(value) != 20:
        return f"invalid LEI {value!r}: expected 20 characters, got {len(value)}"
    if _LEI_RE.fullmatch(value) is None:
        return f"invalid LEI {value!r}: expected 18 upper-case letters or digits and 2 digits"
    return f"invalid LEI {value!r}: the check digits do not match (ISO 17442)"


@dataclass
class GleifGoldenCopy:
    """One GLEIF golden-copy or delta file, opened (header checked) but not yet read
    (:class:`~tci_gateway.adapters.contract.GoldenCopyFile`)."""

    path: Path
    kind: GoldenCopyKind
    delta: str | None
    publication: str
    published_at: datetime
    member: str
    header: tuple[str, ...]
    authorities: Mapping[str, RegistrationAuthority]
    workers: int | None = None
    """Processes parsing the CSV beside the one reading the ZIP (:mod:`.golden_copy_workers`);
    ``None``: two for a file above :data:`PARALLEL_FROM_BYTES` on a machine with two
    cores or more, else none (0 or 1: parsed in this process)."""

    def records(self) -> Iterator[LeiRecord | LeiRelationship | RecordError]:
        """Every row in file order: a record, or a :class:`RecordError` for a row that
        cannot be kept. Streamed from the ZIP member."""
        workers = self.workers
        if workers is None:
            big = self.path.stat().st_size >= PARALLEL_FROM_BYTES
            workers = min(2, os.cpu_count() or 1) if big else 0
        if workers > 1:
            from .golden_copy_workers import parallel_records

            yield from parallel_records(self, workers)
            return
        with (
            zipfile.ZipFile(self.path) as archive,
            archive.open(self.member) as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
        ):
            found = 0
            records = _split_records(text, len(self.header), self._gap())
            parse = self._lei2 if self.kind == "lei2" else self._rr
            make = _record if self.kind == "lei2" else _relationship
            try:
                next(records, None)  # the header, checked when the file was opened
                for item in parse(records, 2, make):
                    found += 1
                    yield item
            except (csv.Error, UnicodeDecodeError, zipfile.BadZipFile, EOFError) as exc:
                # A damaged archive or text: the rest of the file cannot be read.
                yield RecordError(self._where(), found + 2, None, f"unreadable from here: {exc}")

    def _where(self) -> str:
        return self.path.name

    def _gap(self) -> tuple[int, int]:
        return _gap(self.header, LEI2_NEEDED if self.kind == "lei2" else (*RR_NEEDED, DELETED_AT))

    def parse_block(
        self, block: bytes, first_row: int
    ) -> tuple[list[tuple[Any, ...] | RecordError], bool]:
        """Parse ``block``, the UTF-8 bytes of whole records (the first being row
        ``first_row``), into plain tuples in the field order of ``LeiRecord`` /
        ``LeiRelationship`` (or record errors): what a worker process sends back, with
        whether the whole block could be read (not: bytes that are not UTF-8, the last
        item then says where)."""
        try:
            text, complete, failure = block.decode("utf-8"), True, ""
        except UnicodeDecodeError as exc:
            good = block[: exc.start]
            text = good[: good.rfind(b"\n") + 1].decode("utf-8")
            complete, failure = False, f"unreadable from here: {exc}"
        lines = io.StringIO(text, newline="")  # lines as the single-process reader cuts them
        records = _split_records(lines, len(self.header), self._gap())
        parse = self._lei2 if self.kind == "lei2" else self._rr
        found: list[tuple[Any, ...] | RecordError] = []
        try:
            found.extend(parse(records, first_row, tuple))
        except csv.Error as exc:
            complete, failure = False, f"unreadable from here: {exc}"
        if not complete:
            found.append(RecordError(self._where(), first_row + len(found), None, failure))
        return found, complete

    def _lei2(
        self,
        records: Iterator[tuple[str, list[str], int]],
        first_row: int,
        make: Callable[[tuple[Any, ...]], Any],
    ) -> Iterator[Any]:
        gap = self._gap()
        at = {c: _position(self.header.index(c), gap) for c in LEI2_NEEDED}
        i_lei, i_name, i_country, i_juris = at[LEI], at[NAME], at[COUNTRY], at[JURISDICTION]
        i_ra, i_other, i_entity = at[RA_ID], at[RA_OTHER], at[RA_ENTITY]
        i_status, i_cat, i_reg, i_upd = (
            at[ENTITY_STATUS],
            at[CATEGORY],
            at[REG_STATUS],
            at[LAST_UPDATE],
        )
        width = len(self.header)
        checked = [(at[c], c, n) for c, n in _WIDTHS.items() if c in at]
        authorities = self.authorities
        where = self._where()
        for row, (raw, cells, count) in enumerate(records, start=first_row):
            if count != width:
                yield RecordError(
                    where, row, None, f"expected {width} columns (the header's), got {count}"
                )
                continue
            lei = cells[i_lei]
            if not lei_is_valid(lei):
                yield RecordError(where, row, LEI, _lei_error(lei))
                continue
            if (
                len(cells[i_name]) > 500
                or len(cells[i_country]) > 2
                or len(cells[i_entity]) > 128
                or len(cells[i_juris]) > 16
                or len(cells[i_ra]) > 16
                or len(cells[i_other]) > 16
                or len(cells[i_status]) > 16
                or len(cells[i_reg]) > 24
                or len(cells[i_cat]) > 40
                or len(cells[i_upd]) > 40
            ):
                column, limit = next((c, n) for i, c, n in checked if len(cells[i]) > n)
                yield RecordError(where, row, column, f"longer than {limit} characters")
                continue
            code = (cells[i_ra] or cells[i_other]).upper()
            number = cells[i_entity]
            national = (
                crosswalk_number(code, number, authorities)[0]
                if number and code in authorities
                else None
            )
            yield make(
                (
                    lei,
                    cells[i_name],
                    cells[i_country].upper(),
                    cells[i_juris] or None,
                    code or None,
                    number or None,
                    national.scheme.value if national else None,
                    national.value if national else None,
                    cells[i_status],
                    cells[i_reg],
                    cells[i_cat] or None,
                    cells[i_upd] or None,
                    blake2b(raw.encode(), digest_size=16).hexdigest(),
                )
            )

    def _rr(
        self,
        records: Iterator[tuple[str, list[str], int]],
        first_row: int,
        make: Callable[[tuple[Any, ...]], Any],
    ) -> Iterator[Any]:
        gap = self._gap()
        at = {c: _position(self.header.index(c), gap) for c in RR_NEEDED}
        i_child, i_parent, i_type, i_status, i_reg = (at[c] for c in RR_NEEDED)
        i_deleted = (
            _position(self.header.index(DELETED_AT), gap) if DELETED_AT in self.header else None
        )
        width = len(self.header)
        checked = [(at[c], c, n) for c, n in _WIDTHS.items() if c in at]
        where = self._where()
        for row, (raw, cells, count) in enumerate(records, start=first_row):
            if count != width:
                yield RecordError(
                    where, row, None, f"expected {width} columns (the header's), got {count}"
                )
                continue
            bad = next(
                (
                    (c, cells[i])
                    for c, i in ((CHILD, i_child), (PARENT, i_parent))
                    if not lei_is_valid(cells[i])
                ),
                None,
            )
            if bad is not None:
                yield RecordError(where, row, bad[0], _lei_error(bad[1]))
                continue
            too_long = next(((c, n) for i, c, n in checked if len(cells[i]) > n), None)
            if too_long is not None:
                column, limit = too_long
                yield RecordError(where, row, column, f"longer than {limit} characters")
                continue
            if not cells[i_type]:
                yield RecordError(where, row, REL_TYPE, "the relationship type is empty")
                continue
            yield make(
                (
                    cells[i_child],
                    cells[i_type],
                    cells[i_parent],
                    cells[i_status],
                    cells[i_reg] or None,
                    blake2b(raw.encode(), digest_size=16).hexdigest(),
                    bool(cells[i_deleted]) if i_deleted is not None else False,
                )
            )


def _refuse(
    path: Path, reason: str, *, row: int | None = None, column: str | None = None
) -> InputError:
    return InputError([RecordError(path.name, row, column, reason)])


def read_golden_copy(path: Path, options: Mapping[str, Any]) -> GleifGoldenCopy:
    """Open a GLEIF golden-copy or delta CSV file (see the module docstring).

    Raises :class:`InputError` for a name outside :data:`NAME_PATTERN`, a file that is
    not a ZIP with one CSV member, or a header without a needed column (named), and
    :class:`ConfigError` for a bad ``registration_authorities`` option."""
    path = Path(path)
    match = _NAME_RE.fullmatch(path.name)
    if match is None:
        raise _refuse(path, f"not a GLEIF golden-copy CSV file name; expected {NAME_PATTERN}")
    try:
        published_at = datetime.strptime(match["date"] + match["time"] + "+0000", "%Y%m%d%H%M%z")
    except ValueError:
        raise _refuse(path, "the publication date and time in the name are not valid") from None
    try:
        authorities = parse_authorities(options.get("registration_authorities"))
    except ValueError as exc:
        raise ConfigError(f"gleif: {exc}") from None
    kind: GoldenCopyKind = "lei2" if match["kind"] == "lei2" else "rr"
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
                raise _refuse(path, "expected a ZIP holding one CSV file")
            member = members[0].filename
            with (
                archive.open(member) as raw,
                io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
            ):
                header = tuple(next(csv.reader(text), []))
    except zipfile.BadZipFile:
        raise _refuse(path, "not a ZIP file") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _refuse(path, f"unreadable header: {exc}", row=1) from None
    needed = LEI2_NEEDED if kind == "lei2" else RR_NEEDED
    missing = [c for c in needed if c not in header]
    if missing:
        raise InputError(
            [RecordError(path.name, 1, c, "required column is missing") for c in missing]
        )
    return GleifGoldenCopy(
        path=path,
        kind=kind,
        delta=_DELTAS[match["delta"]],
        publication=f"{match['date']}-{match['time']}",
        published_at=published_at.astimezone(UTC),
        member=member,
        header=header,
        authorities=authorities,
    )
