"""Writing files for the ERP: CSV and JSON, atomically, safe to open in a spreadsheet.

A file is written to a temporary name beside the target and renamed into place only
when complete (flushed and fsynced first), so the ERP never reads half a file; it gets
the mode the umask gives a new file. CSV cells starting with ``= + - @``,
tab, CR or NUL are prefixed with ``'`` against formula injection (OWASP / ASVS 5.0).
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from tci_gateway.errors import ConfigError

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")


def escape_cell(value: str) -> str:
    """Neutralise a cell a spreadsheet would evaluate as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_text_file(path: Path | None) -> Iterator[TextIO]:
    """Write to ``path`` atomically (``None`` writes to stdout): a temporary file beside
    it, flushed and fsynced, then renamed over it. The file gets the usual mode of a new
    file (``0666`` less the umask, e.g. ``0644``), not the ``0600`` of a temporary file.
    A file that cannot be written is a :class:`ConfigError` naming it."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    _fsync_directory(path.parent)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def write_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], handle: TextIO) -> int:
    """Write rows as RFC 4180 CSV with a header; returns the row count."""
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([escape_cell(_text(row.get(c))) for c in columns])
        count += 1
    return count


def write_csv_cells(
    rows: Iterable[Sequence[Any]],
    columns: Sequence[str],
    handle: TextIO,
    text_cells: Collection[int],
) -> int:
    """:func:`write_csv` for rows already as cells in ``columns`` order (a streamed
    export): the cells at the indexes ``text_cells`` are formula-escaped, the others are
    written as ``csv`` writes them (``None`` empty, ``str()`` else), so they must be
    values whose text cannot start a formula (ids, dates). Returns the row count."""
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(columns)
    count = 0
    escaped = tuple(text_cells)

    def cells() -> Iterator[list[Any]]:
        nonlocal count
        for row in rows:
            out = list(row)
            for i in escaped:
                value = out[i]
                if value and value.startswith(_FORMULA_START):
                    out[i] = "'" + value
            count += 1
            yield out

    writer.writerows(cells())
    return count


def _json_value(value: Any) -> Any:
    """A cell as JSON: text, except ``None`` and mappings of text (raw codes) kept as is."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): _text(v) for k, v in value.items()}
    return _text(value)


def write_json(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    handle: TextIO,
    key: str,
    meta: Mapping[str, Any] | None = None,
) -> int:
    """Write ``{meta..., key: [...]}``; amounts as strings so no reader turns them into
    floats."""
    count = 0
    head = "".join(f"{json.dumps(k)}: {json.dumps(v)}, " for k, v in (meta or {}).items())
    handle.write("{" + head + json.dumps(key) + ": [")
    for row in rows:
        record = {c: _json_value(row.get(c)) for c in columns}
        handle.write(("," if count else "") + "\n  " + json.dumps(record, ensure_ascii=False))
        count += 1
    handle.write("\n]}\n")
    return count
