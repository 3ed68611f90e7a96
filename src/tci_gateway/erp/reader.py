"""Reading untrusted ERP files: CSV or JSON, streamed, strict.

* UTF-8 only (a byte-order mark is tolerated); bytes that are not UTF-8 stop the file
  with the row they are on.
* A size cap, the csv module's default field-size limit, and a cap on errors.
* The header must name every required column, no unknown column, no column twice.
* Rows are numbered as a spreadsheet shows them: the header is row 1. In JSON the row is
  the record's position in the array, from 1.

Problems become :class:`~tci_gateway.errors.RecordError` values; the caller decides.

Also the helpers every file import shares: :func:`decode_lines` (strict line decoding in
one of :data:`CODECS`, used by the mapping profiles and the FX rates import) and
:func:`file_sha256` (the fingerprint an import is recorded with).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from tci_gateway.errors import RecordError

MAX_CSV_BYTES = 4 * 1024**3
MAX_JSON_BYTES = 256 * 1024**2

CODECS = {"utf-8": "utf-8", "windows-1252": "cp1252", "latin-1": "latin-1"}
MAX_LINE_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"


class UndecodableError(Exception):
    """A line of a file that cannot be read in its declared encoding."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_lines(handle: BinaryIO, encoding: str = "utf-8") -> Iterator[str]:
    """The lines of ``handle`` decoded strictly (``utf-8``, ``windows-1252`` or
    ``latin-1``); a UTF-8 byte-order mark is skipped, and refused in another encoding."""
    codec = CODECS[encoding]
    offset = 0
    for number, raw in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), 1):
        if len(raw) > MAX_LINE_BYTES:
            raise UndecodableError(number, f"line is longer than {MAX_LINE_BYTES} bytes")
        if number == 1 and raw.startswith(_BOM) and codec == "utf-8":
            raw, offset = raw[3:], 3
        elif codec != "utf-8" and not raw.isascii() and (raw.startswith(_BOM) or _is_utf8(raw)):
            # Mojibake guard: "MÃ¼ller" would otherwise enter the ledger as a name.
            raise UndecodableError(number, f"the line is UTF-8, but the file should be {encoding}")
        try:
            yield raw.decode(codec)
        except UnicodeDecodeError as exc:
            raise UndecodableError(
                number, f"bytes that are not {encoding} (byte offset {offset + exc.start})"
            ) from exc
        offset += len(raw)


@dataclass(frozen=True)
class Columns:
    """The columns a format requires and the ones it allows besides."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self.required) | frozenset(self.optional)


class RawRecord(NamedTuple):
    """One record as read: its row number and its cells by column name. A named tuple,
    not a dataclass: a file has millions, and this is the cheapest immutable record."""

    row: int
    values: dict[str, Any]


class _NotUtf8(Exception):
    def __init__(self, line: int, offset: int) -> None:
        self.line, self.offset = line, offset


def _decoded_lines(handle: BinaryIO) -> Iterator[str]:
    offset = 0
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
            offset += 3
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _NotUtf8(number, offset + exc.start) from exc
        offset += len(raw)


def _check_header(header: list[str], columns: Columns, source: str) -> list[RecordError]:
    errors: list[RecordError] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append(RecordError(source, 1, name, "column appears twice"))
        seen.add(name)
        if name not in columns.allowed:
            allowed = ", ".join(sorted(columns.allowed))
            errors.append(RecordError(source, 1, name, f"unknown column (allowed: {allowed})"))
    for name in columns.required:
        if name not in seen:
            errors.append(RecordError(source, 1, name, "required column is missing"))
    return errors


def _csv_records(
    path: Path, columns: Columns, source: str, delimiter: str
) -> Iterator[RawRecord | RecordError]:
    with path.open("rb") as handle:
        yield from _csv_stream(handle, columns, source, delimiter)


def _csv_stream(
    handle: BinaryIO, columns: Columns, source: str, delimiter: str
) -> Iterator[RawRecord | RecordError]:
    reader = csv.reader(_decoded_lines(handle), delimiter=delimiter, strict=True)
    row = 1
    try:
        header = next(reader, None)
        if header is None:
            yield RecordError(source, None, None, "the file is empty")
            return
        header = [h.strip() for h in header]
        header_errors = _check_header(header, columns, source)
        if header_errors:
            yield from header_errors
            return
        for row, fields in enumerate(reader, start=2):
            if not fields or fields == [""]:
                continue
            if len(fields) != len(header):
                yield RecordError(
                    source,
                    row,
                    None,
                    f"{len(fields)} fields where the header has {len(header)}",
                )
                continue
            # Lengths were just compared: a strict zip would only cost time per row.
            yield RawRecord(row, dict(zip(header, fields)))  # noqa: B905
    except _NotUtf8 as exc:
        yield RecordError(
            source, exc.line, None, f"bytes that are not UTF-8 (byte offset {exc.offset})"
        )
    except csv.Error as exc:
        yield RecordError(source, row + 1, None, f"unreadable CSV: {exc}")


def _json_records(
    path: Path, columns: Columns, source: str, key: str
) -> Iterator[RawRecord | RecordError]:
    yield from _json_document(path.read_bytes(), columns, source, key)


def _json_document(
    data: bytes, columns: Columns, source: str, key: str
) -> Iterator[RawRecord | RecordError]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        yield RecordError(source, line, None, f"bytes that are not UTF-8 (byte offset {exc.start})")
        return
    try:
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        yield RecordError(source, exc.lineno, None, f"malformed JSON: {exc.msg}")
        return
    if isinstance(document, dict) and key in document:
        document = document[key]
    if not isinstance(document, list):
        yield RecordError(source, None, None, f"expected a JSON array or an object with {key!r}")
        return
    for row, record in enumerate(document, start=1):
        if not isinstance(record, dict):
            yield RecordError(source, row, None, "record is not a JSON object")
            continue
        unknown = sorted(set(record) - columns.allowed)
        missing = [c for c in columns.required if c not in record]
        if unknown or missing:
            for name in unknown:
                yield RecordError(source, row, name, "unknown field")
            for name in missing:
                yield RecordError(source, row, name, "required field is missing")
            continue
        yield RawRecord(row, record)


def read_records(
    path: Path,
    columns: Columns,
    *,
    json_key: str,
    delimiter: str = ",",
    max_bytes: int | None = None,
) -> Iterator[RawRecord | RecordError]:
    """Stream the records of a CSV or JSON file (by extension), with errors as data."""
    source = str(path)
    if not path.is_file():
        yield RecordError(source, None, None, "file not found")
        return
    size = path.stat().st_size
    is_json = path.suffix.lower() == ".json"
    cap = max_bytes or (MAX_JSON_BYTES if is_json else MAX_CSV_BYTES)
    if size > cap:
        yield RecordError(source, None, None, f"file is {size} bytes; the limit is {cap}")
        return
    if is_json:
        yield from _json_records(path, columns, source, json_key)
    else:
        yield from _csv_records(path, columns, source, delimiter)


def read_body(
    data: bytes, columns: Columns, *, fmt: str, json_key: str, source: str
) -> Iterator[RawRecord | RecordError]:
    """Stream the records of a request body (``fmt`` ``csv`` or ``json``) exactly as
    :func:`read_records` reads a file of that format: same checks, same row numbers."""
    if fmt == "json":
        yield from _json_document(data, columns, source, json_key)
    else:
        yield from _csv_stream(io.BytesIO(data), columns, source, ",")


def cell_text(value: Any) -> str:
    """A JSON or CSV value as text: numbers as written, ``null`` as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"expected text or a number, got {type(value).__name__}")


def first_errors(items: Iterable[RecordError], limit: int) -> list[RecordError]:
    out: list[RecordError] = []
    for item in items:
        out.append(item)
        if len(out) >= limit:
            break
    return out


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks: an import's fingerprint."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
