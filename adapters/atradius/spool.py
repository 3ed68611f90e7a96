"""The cover records of a portfolio answer, kept off the heap and given back buyer by buyer.

Atradius answers ``GET covers`` with every record of the policy in one answer: no paging,
and no documented order (``fixtures/atradius/README.md``). A buyer's records are judged
together (:mod:`.portfolio`), so they must be brought together, but a portfolio of N
records cannot be held: :class:`CoverSpool` writes each record's text, as the answer gave
it, to a temporary file (a private one, unlinked at once: nothing stays after a crash;
kept in memory while under :data:`IN_MEMORY_BYTES`) and holds only where each record
ends and which records each buyer has: about 130 bytes a record, against some 5 kB a
parsed record held with its model. :meth:`CoverSpool.groups` reads the records back,
buyer by buyer in the order buyers first appear, one buyer's records at a time.
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tci_gateway.http.jsonexact import loads
from tci_gateway.http.jsonstream import Element

IN_MEMORY_BYTES = 1024 * 1024
"""Record text kept in memory before the spool moves to a file."""

READ_BYTES = 256 * 1024
"""How much of the spool is read at once: records in order are sliced from one read."""
WRITE_BYTES = 64 * 1024
"""How much record text is gathered before it is written."""

Group = list[tuple[int, Any]]
"""One buyer's records: (position in the answers, JSON record)."""


class CoverSpool:
    """Records added with :meth:`add` (``key`` gives a record's buyer, ``None`` when it
    has none it can be grouped by), read back with :meth:`groups`. Close it when done."""

    def __init__(self, key: Callable[[Any], str | None]) -> None:
        self._key = key
        self._file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES)  # noqa: SIM115
        self._ends = array("q")  # where record i's text ends; it starts where i - 1's ends
        self._groups: dict[str | int, int | list[int]] = {}  # an int key: a keyless record
        self._block = b""  # the spool's bytes from _block_at on, as last read
        self._block_at = 0

    def __len__(self) -> int:
        return len(self._ends)

    def add(self, elements: Iterable[Element]) -> None:
        """Spool these records after those already spooled."""
        written = end = self._ends[-1] if self._ends else 0
        self._file.seek(written)
        self._block = b""
        texts: list[bytes] = []
        for element in elements:
            data = element.text.encode()
            texts.append(data)
            end += len(data)
            if end - written >= WRITE_BYTES:  # written a block at a time, never held whole
                self._file.write(b"".join(texts))
                texts.clear()
                written = end
            index = len(self._ends)
            self._ends.append(end)
            key = self._key(element.value)
            slot = index if key is None else key
            group = self._groups.setdefault(slot, index)
            if isinstance(group, list):
                group.append(index)
            elif group != index:
                self._groups[slot] = [group, index]
        self._file.write(b"".join(texts))

    def truncate(self, records: int) -> None:
        """Forget every record from position ``records`` on (those of an answer that was
        not read to its end)."""
        if records >= len(self._ends):
            return
        del self._ends[records:]
        for key, group in list(self._groups.items()):
            kept = [i for i in ([group] if isinstance(group, int) else group) if i < records]
            if not kept:
                del self._groups[key]
            else:
                self._groups[key] = kept[0] if len(kept) == 1 else kept
        self._file.seek(self._ends[-1] if self._ends else 0)
        self._file.truncate()
        self._block = b""

    def groups(self) -> Iterator[Group]:
        """Each buyer's records (a keyless record alone), in the order buyers first
        appear; each record parsed anew (numbers as ``Decimal``)."""
        for group in self._groups.values():
            if isinstance(group, int):
                yield [(group, loads(self._read(group)))]
            else:
                yield [(i, loads(self._read(i))) for i in group]

    def close(self) -> None:
        """Drop the spooled records."""
        self._file.close()
        self._groups.clear()
        del self._ends[:]
        self._block = b""

    def _read(self, index: int) -> str:
        start = self._ends[index - 1] if index else 0
        end = self._ends[index]
        offset = start - self._block_at
        if offset < 0 or end - self._block_at > len(self._block):
            self._file.seek(start)
            self._block = self._file.read(max(end - start, READ_BYTES))
            self._block_at, offset = start, 0
        return self._block[offset : offset + end - start].decode()
