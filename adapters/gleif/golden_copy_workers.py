"""Parsing a large golden copy in worker processes.

Parsing the ~240-column CSV, checking the LEIs, crosswalking and hashing cost several
times what the database spends writing the rows, so for a large file this process only
inflates the ZIP and cuts its lines into blocks of whole records (a quoted field may hold
a newline: a record ends where the count of ``"`` is even), and worker processes parse
the blocks (:meth:`.golden_copy.GleifGoldenCopy.parse_block`). Results come back in file
order; at most ``2 x workers`` blocks are in flight, so memory stays flat.
"""

from __future__ import annotations

import io
import multiprocessing
import zipfile
from collections import deque
from collections.abc import Iterator
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, Protocol

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
        self, block: list[str], first_row: int
    ) -> list[tuple[Any, ...] | RecordError]: ...


BLOCK_RECORDS = 4000

_file: BlockParser | None = None


def _start(file: BlockParser) -> None:
    global _file
    _file = file


def _parse(block: list[str], first_row: int) -> list[tuple[Any, ...] | RecordError]:
    assert _file is not None
    return _file.parse_block(block, first_row)


def _blocks(text: Iterator[str]) -> Iterator[tuple[list[str], int]]:
    """``(lines, records)``: blocks of whole records, the header record skipped."""
    block: list[str] = []
    records = 0
    odd = False
    header = True
    for line in text:
        if line.count('"') % 2:
            odd = not odd
        if header:
            header = odd
            continue
        block.append(line)
        if not odd:
            records += 1
            if records >= BLOCK_RECORDS:
                yield block, records
                block, records = [], 0
    if block:
        yield block, records + (1 if odd else 0)


def parallel_records(
    file: BlockParser, workers: int
) -> Iterator[LeiRecord | LeiRelationship | RecordError]:
    """``file.records()`` parsed by ``workers`` processes, in file order."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    make = LeiRecord._make if file.kind == "lei2" else LeiRelationship._make
    row = 2
    pending: deque[AsyncResult[list[tuple[Any, ...] | RecordError]]] = deque()
    with (
        context.Pool(workers, initializer=_start, initargs=(file,)) as pool,
        zipfile.ZipFile(file.path) as archive,
        archive.open(file.member) as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
    ):
        try:
            for block, records in _blocks(text):
                pending.append(pool.apply_async(_parse, (block, row)))
                row += records
                if len(pending) > 2 * workers:
                    yield from _unpack(pending.popleft().get(), make)
        except (UnicodeDecodeError, zipfile.BadZipFile, EOFError) as exc:
            while pending:
                yield from _unpack(pending.popleft().get(), make)
            yield RecordError(file.path.name, row, None, f"unreadable from here: {exc}")
            return
        while pending:
            yield from _unpack(pending.popleft().get(), make)


def _unpack(
    found: list[tuple[Any, ...] | RecordError], make: Any
) -> Iterator[LeiRecord | LeiRelationship | RecordError]:
    for item in found:
        yield item if isinstance(item, RecordError) else make(item)
