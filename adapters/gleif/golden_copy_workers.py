"""Parsing a large golden copy in worker processes.

Parsing the ~240-column CSV, checking the LEIs, crosswalking and hashing cost several
times what the database spends writing the rows, so for a large file this process only
inflates the ZIP and cuts the bytes into blocks of whole records with ``bytes`` methods
(a quoted field may hold a newline: a record ends at a newline with an even count of
``"`` before it), and worker processes decode and parse the blocks
(:meth:`.golden_copy.GleifGoldenCopy.parse_block`). Results come back in file order and
their rows are numbered here; at most ``2 x workers`` blocks are in flight, so memory
stays flat.
"""

from __future__ import annotations

import multiprocessing
import zipfile
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import IO, Any, Protocol

from tci_gateway.adapters.contract import LeiRecord, LeiRelationship
from tci_gateway.errors import RecordError


class BlockParser(Protocol):
    """What the workers need of :class:`.golden_copy.GleifGoldenCopy` (not imported:
    that module imports this one)."""

    @property
    def path(self) -> Path: ...
    @property
    def member(self) -> str: ...
    @property
    def kind(self) -> str: ...

    def parse_block(
        self, block: bytes, first_row: int
    ) -> tuple[list[tuple[Any, ...] | RecordError], bool]: ...


BLOCK_BYTES = 2 << 20
"""About this many bytes of whole records go to a worker at a time."""

_file: BlockParser | None = None


def _start(file: BlockParser) -> None:
    global _file
    _file = file


def _parse(block: bytes) -> tuple[list[tuple[Any, ...] | RecordError], bool]:
    assert _file is not None
    return _file.parse_block(block, 0)


def _record_end(data: bytes, start: int, last: bool) -> int:
    """The index just past the last (``last``) or the first newline of ``data`` at or
    after ``start`` that ends a record (an even number of ``"`` before it: not inside a
    quoted field); -1 when there is none."""
    at = data.rfind(b"\n", start) if last else data.find(b"\n", start)
    while at >= 0 and data.count(b'"', 0, at) % 2:
        at = data.rfind(b"\n", start, at) if last else data.find(b"\n", at + 1)
    return at + 1 if at >= 0 else -1


def _blocks(raw: IO[bytes], size: int) -> Iterator[bytes]:
    """Blocks of whole records (``size`` bytes or so), the header record skipped: cut
    with ``bytes`` methods, no line handled here one by one."""
    carry = b""
    header = True
    while True:
        chunk = raw.read(size)
        data = carry + chunk if carry else chunk
        if header:
            begin = _record_end(data, 0, last=False) if chunk else len(data)
            if begin < 0:
                carry = data
                continue
            data, header = data[begin:], False
        if not chunk:
            if data:
                yield data
            return
        end = _record_end(data, 0, last=True)
        if end <= 0:
            carry = data
            continue
        carry = data[end:]
        yield data[:end]


def parallel_records(
    file: BlockParser, workers: int
) -> Iterator[LeiRecord | LeiRelationship | RecordError]:
    """``file.records()`` parsed by ``workers`` processes, in file order. A worker
    numbers its block's rows from 0; they are renumbered here, in file order."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    make = LeiRecord._make if file.kind == "lei2" else LeiRelationship._make
    row = 2
    pending: deque[AsyncResult[tuple[list[tuple[Any, ...] | RecordError], bool]]] = deque()

    def unpack(found: list[tuple[Any, ...] | RecordError]) -> Iterator[Any]:
        for item in found:
            if isinstance(item, RecordError):
                yield replace(item, row=None if item.row is None else item.row + row)
            else:
                yield make(item)

    with (
        context.Pool(workers, initializer=_start, initargs=(file,)) as pool,
        zipfile.ZipFile(file.path) as archive,
        archive.open(file.member) as raw,
    ):
        failure: RecordError | None = None
        try:
            for block in _blocks(raw, BLOCK_BYTES):
                pending.append(pool.apply_async(_parse, (block,)))
                if len(pending) > 2 * workers:
                    found, complete = pending.popleft().get()
                    yield from unpack(found)
                    row += len(found)
                    if not complete:  # text that cannot be decoded: the rest is unreadable
                        return
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            failure = RecordError(file.path.name, None, None, f"unreadable from here: {exc}")
        while pending:
            found, complete = pending.popleft().get()
            yield from unpack(found)
            row += len(found)
            if not complete:
                return
        if failure is not None:
            yield replace(failure, row=row)
