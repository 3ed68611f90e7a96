"""The portfolio fetched ahead of the limit sync: a thread of its own reads the adapter's
records into batches (with their digests) and hands them over through a bounded queue,
so the insurer's answers arrive while the previous batch is written.

An insurer is remote: while it prepares a page, the process waits. Fetching in the
foreground left the ledger idle then, and the insurer idle while a batch was written.
At most ``depth`` batches wait in the queue (memory bounded, flat in the portfolio).
The batches are made by :func:`batches` (a generator a caller may read in the
foreground too). A run that has nothing to write beside its fetch does not use the
thread (:mod:`tci_gateway.services.sync_stage`): the hand-over of every batch, and the
batches held meanwhile, cost some 10 % of the fetch on the benchmark's sandboxes.
An exception of the fetch (:class:`~tci_gateway.errors.AdapterError`, or any other) is
raised in the consumer when it reaches that point, after the batches fetched before it,
exactly as a foreground fetch would; a consumer that stops early stops the thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tci_gateway.adapters.contract import PortfolioEntry, PortfolioItem
from tci_gateway.errors import RecordError


@dataclass
class Batch:
    """Up to a batch of fetched entries, their digests, and the records that could not be
    read since the previous batch (in fetch order)."""

    entries: list[PortfolioEntry] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


_END = object()


def batches(
    items: Iterable[PortfolioItem], *, size: int, digest: Callable[[PortfolioEntry], str]
) -> Generator[Batch, None, None]:
    """``items`` in :class:`Batch` es of ``size`` entries with their digests, the
    records that could not be read listed in the batch they came in; the last batch may
    be short (or empty). An exception of the fetch is raised after the batches before it
    and, if records could not be read since, a batch of those alone. Closing the
    iterator closes ``items``."""
    batch = Batch()
    try:
        for item in items:
            if isinstance(item, RecordError):
                batch.errors.append(str(item))
                continue
            batch.entries.append(item)
            batch.digests.append(digest(item))
            if len(batch.entries) >= size:
                yield batch
                batch = Batch()
    except Exception:
        if batch.errors:  # the records that could not be read before it, listed
            yield Batch(errors=batch.errors)
        raise
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
    yield batch


class Prefetch:
    """Iterate the :class:`Batch` es of ``pages`` (:func:`batches`) produced by a thread
    (see the module doc). Use as a context manager: leaving it stops the thread (at its
    next batch) and closes ``pages``."""

    def __init__(self, pages: Iterator[Batch], *, depth: int = 4) -> None:
        self._pages = pages
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        context = contextvars.copy_context()  # the log's bound fields go along
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name="sync-prefetch", daemon=True
        )

    def __enter__(self) -> Prefetch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):  # room for a thread blocked on put
                self._queue.get(timeout=0.05)
        self._thread.join()

    def _put(self, value: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for batch in self._pages:
                if not self._put(batch):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
        finally:
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[Batch]:
        while True:
            try:
                value = self._queue.get(timeout=1)
            except queue.Empty:
                if self._thread.is_alive() or not self._queue.empty():
                    continue
                raise RuntimeError("the portfolio's fetch stopped without an answer") from None
            if value is _END:
                return
            if isinstance(value, BaseException):
                raise value
            yield value
