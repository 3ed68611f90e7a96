"""The sync's prefetch thread: batches in fetch order with their digests and the records
that could not be read, an exception raised after the batches fetched before it, and a
consumer that stops early stops the fetch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tci_gateway.adapters.contract import PortfolioEntry, PortfolioItem
from tci_gateway.errors import RecordError, TransientError
from tci_gateway.services.sync_prefetch import Prefetch, batches

from .fakes import decision, entry


def _entry(n: int) -> PortfolioEntry:
    return entry(str(n), decision("1000"))


def _digest(e: PortfolioEntry) -> str:
    return f"d{e.insurer_buyer_id}"


def test_batches_in_order_with_digests_and_errors() -> None:
    items: list[PortfolioItem] = [_entry(1), RecordError("p", 2, None, "bad"), _entry(3), _entry(4)]
    with Prefetch(batches(items, size=2, digest=_digest), depth=1) as pages:
        got = [(p.digests, p.errors) for p in pages]
    assert got == [(["d1", "d3"], ["p, row 2: bad"]), (["d4"], [])]


def test_a_failure_is_raised_after_the_batches_before_it() -> None:
    def items() -> Iterator[PortfolioItem]:
        yield from (_entry(n) for n in range(5))
        yield RecordError("p", 5, None, "bad")
        raise TransientError("HTTP 503 from the insurer", adapter="atradius", status=503)

    seen: list[list[str]] = []
    with pytest.raises(TransientError), Prefetch(batches(items(), size=2, digest=_digest)) as pages:
        for page in pages:
            seen.append(page.digests + page.errors)
    assert seen == [
        ["d0", "d1"],
        ["d2", "d3"],
        ["p, row 5: bad"],
    ]  # the partial batch not handed on


def test_a_consumer_that_stops_stops_the_fetch() -> None:
    fetched: list[int] = []
    closed: list[bool] = []

    def items() -> Iterator[PortfolioItem]:
        try:
            for n in range(10_000):
                fetched.append(n)
                yield _entry(n)
        finally:
            closed.append(True)

    with Prefetch(batches(items(), size=10, digest=_digest), depth=2) as pages:
        next(iter(pages))
    assert closed == [True]
    assert len(fetched) < 100  # a few batches ahead at most, not the portfolio


def test_the_batches_read_in_the_foreground_then_ahead_are_the_same() -> None:
    """What a rerun does at its first difference: the same batches, none lost or read
    twice, whichever thread reads them."""
    items: list[PortfolioItem] = [_entry(n) for n in range(7)]
    pages = batches(items, size=2, digest=_digest)
    first = next(pages)
    with Prefetch(pages, depth=1) as ahead:
        rest = [p.digests for p in ahead]
    assert [first.digests, *rest] == [["d0", "d1"], ["d2", "d3"], ["d4", "d5"], ["d6"]]


def test_a_failure_read_in_the_foreground_is_raised_after_the_batches_before_it() -> None:
    def items() -> Iterator[PortfolioItem]:
        yield _entry(0)
        yield RecordError("p", 1, None, "bad")
        raise TransientError("HTTP 503 from the insurer", adapter="atradius", status=503)

    seen: list[list[str]] = []
    with pytest.raises(TransientError):
        for page in batches(items(), size=2, digest=_digest):
            seen.append(page.digests + page.errors)
    assert seen == [["p, row 1: bad"]]
