"""Writing files for the ERP: CSV and JSON, atomically, safe to open in a spreadsheet.

A file is written to a temporary name beside the target and renamed into place only
when complete, so the ERP never reads half a file. CSV cells starting with ``= + - @``,
tab, CR or NUL are prefixed with ``'`` against formula injection (OWASP / ASVS 5.0).
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")


def escape_cell(value: str) -> str:
    """Neutralise a cell a spreadsheet would evaluate as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


@contextmanager
def atomic_text_file(path: Path | None) -> Iterator[TextIO]:
    """Write to ``path`` atomically (``None`` writes to stdout)."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        record = {c: (None if row.get(c) is None else _text(row.get(c))) for c in columns}
        handle.write(("," if count else "") + "\n  " + json.dumps(record, ensure_ascii=False))
        count += 1
    handle.write("\n]}\n")
    return count
