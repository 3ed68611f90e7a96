"""The Atradius portfolio read as its one unpaged answer arrives: spooled by buyer
(tci_adapters.atradius.spool), the same entries as the answer read whole, and a
connection lost or a body cut short in the middle an adapter error that fails the sync
with nothing written."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import tenacity
from sqlalchemy import func, select

from tci_adapters.atradius import spool as spool_module
from tci_adapters.atradius.client import AtradiusAdapter
from tci_adapters.atradius.plugin import PLUGIN, create_adapter
from tci_adapters.atradius.portfolio import buyer_key, cover_versions
from tci_adapters.atradius.sandbox import AtradiusSandbox
from tci_adapters.atradius.spool import CoverSpool
from tci_adapters.atradius.wire import COVERS_PATH, HISTORIC_COVERS_PATH, TOKEN_PATH
from tci_gateway.adapters.contract import AdapterContext, PolicyRef, PortfolioEntry
from tci_gateway.adapters.contract_testing import ContractFixture
from tci_gateway.errors import ProtocolError, RecordError, TransientError
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.jsonexact import dumps, loads
from tci_gateway.http.jsonstream import Element
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import CoverDecisionRow
from tci_gateway.services.sync import sync_limits

from ...erp.conftest import make_policy
from .test_client import POLICY, fixture_bytes

NOW = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)


class Chunks(httpx.SyncByteStream):
    """``body`` in chunks of ``size`` bytes, broken off with ``fail`` after ``stop``."""

    def __init__(
        self, body: bytes, size: int, stop: int | None = None, fail: Exception | None = None
    ) -> None:
        self.body, self.size, self.stop, self.fail = body, size, stop, fail

    def __iter__(self) -> Iterator[bytes]:
        end = len(self.body) if self.stop is None else self.stop
        for start in range(0, end, self.size):
            yield self.body[start : min(start + self.size, end)]
        if self.fail is not None:
            raise self.fail


def chunked(response: httpx.Response, size: int = 7, **cut: Any) -> httpx.Response:
    return httpx.Response(
        response.status_code,
        headers={"Content-Type": "application/json"},
        stream=Chunks(response.content, size, **cut),
    )


def answering(body: bytes, size: int) -> Callable[[httpx.Request], httpx.Response]:
    """A token, then ``body`` for any other call, in chunks of ``size`` bytes."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, content=fixture_bytes("token.json"))
        return chunked(httpx.Response(200, content=body), size)

    return handler


class Cutting:
    """The sandbox, with the body of its next ``times`` answers at ``path`` cut in the
    middle: broken off by ``fail`` (a connection lost) or just ended (``fail=None``)."""

    def __init__(
        self, sandbox: AtradiusSandbox, path: str, times: int, fail: Exception | None
    ) -> None:
        self.sandbox, self.path, self.times, self.fail = sandbox, path, times, fail

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.sandbox.handle(request)
        if request.url.path != self.path or self.times <= 0:
            return chunked(response)
        self.times -= 1
        # other cover ids in what is cut: were those records kept, they would be versions
        content = response.content.replace(b'"coverId":', b'"coverId":9')
        cut = httpx.Response(response.status_code, content=content)
        return chunked(cut, stop=len(content) // 2, fail=self.fail)


def contract_adapter(
    handler: Callable[[httpx.Request], httpx.Response], sandbox: AtradiusSandbox
) -> AtradiusAdapter:
    return create_adapter(
        AdapterContext(
            name="atradius",
            base_url=PLUGIN.sandbox_base_url,
            environment="sandbox",
            credentials=dict(sandbox.credentials),
            retry=RetryPolicy(max_attempts=3, wait=tenacity.wait_none(), sleep=lambda s: None),
            transport=httpx.MockTransport(handler),
        ),
        token_cache=TokenCache(),
    )


@pytest.fixture
def contract() -> tuple[AtradiusSandbox, ContractFixture]:
    sandbox = AtradiusSandbox()
    return sandbox, sandbox.seed_contract_fixture()


def summary(items: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (i.insurer_buyer_id, i.decision.insurer_cover_ref, i.decision.status, i.raw)
        if isinstance(i, PortfolioEntry)
        else (i.row, i.column, str(i))
        for i in items
    ]


def record(cover_id: int, buyer: Any, amount: int, start: str, **extra: Any) -> dict[str, Any]:
    return {
        "coverId": cover_id,
        "policyId": "5550001",
        "buyerId": buyer,
        "coverType": "credit-limit",
        "coverStatus": "DECISION",
        "decisionCode": "DC01",
        "totalDecision": {"decisionAmtInPolicyCurrency": Decimal(amount)},
        "decisionDate": f"{start}T09:00:00Z",
        "effectFromDate": start,
        **extra,
    }


# -- the spool ------------------------------------------------------------------------


def elements(*records: Any) -> list[Element]:
    return [Element(r, dumps(r)) for r in records]


@pytest.mark.parametrize("cache", [spool_module.CACHE_BYTES, 1])
def test_the_spool_gives_each_buyers_records_together_in_order_of_appearance(
    monkeypatch: pytest.MonkeyPatch, cache: int
) -> None:
    monkeypatch.setattr(spool_module, "CACHE_BYTES", cache)  # 1: SQLite's smallest cache
    spool = CoverSpool(buyer_key)
    a1, b1, keyless, a2, b2, a3 = (
        {"buyerId": 7, "n": Decimal("1.10")},
        {"buyerId": "08", "n": 2},
        {"n": 3},
        {"buyerId": "7", "n": 4},
        {"buyerId": 8, "n": 5},
        {"buyerId": " 7 ", "n": 6},
    )
    spool.add(elements(a1, b1, keyless))
    spool.add(elements(a2, b2, a3))
    assert len(spool) == 6
    groups = list(spool.groups())
    assert groups == [[(0, a1), (3, a2), (5, a3)], [(1, b1), (4, b2)], [(2, keyless)]]
    assert str(groups[0][0][1]["n"]) == "1.10"  # read back exactly
    spool.truncate(4)  # an answer that broke off after its first record
    spool.add(elements(b2))
    assert list(spool.groups()) == [[(0, a1), (3, a2)], [(1, b1), (4, b2)], [(2, keyless)]]
    spool.close()


def grouped_in_memory(records: list[Any]) -> list[list[tuple[int, Any]]]:
    """What the spool gave before it was a database: a dict of each buyer's records, in
    the order buyers first appear (a keyless record alone)."""
    groups: dict[str | int, list[tuple[int, Any]]] = {}
    for index, value in enumerate(records):
        key = buyer_key(value)
        groups.setdefault(index if key is None else key, []).append((index, value))
    return list(groups.values())


@pytest.mark.parametrize("seed", [1, 2])
def test_a_shuffled_answer_spools_into_the_same_groups_in_the_same_order(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr(spool_module, "CACHE_BYTES", 1)  # on disk well before the end
    monkeypatch.setattr(spool_module, "BATCH_RECORDS", 7)  # a buyer's records across batches
    shuffled = random.Random(seed)
    records: list[Any] = [  # a buyer's id written two ways: "07" is buyer 7
        {"buyerId": b if n % 2 else f"0{b}", "n": Decimal(f"{n}.{b}0"), "pad": "x" * 300}
        for b in range(400)
        for n in range(1 + b % 4)
    ] + [{"n": n} for n in range(30)]  # keyless, each a group of its own
    shuffled.shuffle(records)
    expected = grouped_in_memory(records)
    for _ in range(2):  # the same answer, the same order
        spool = CoverSpool(buyer_key)
        half = len(records) // 2
        spool.add(elements(*records[: half + 50]))
        spool.truncate(half)  # an answer cut short, read again from there
        spool.add(elements(*records[half:]))
        assert len(spool) == len(records)
        assert list(spool.groups()) == expected
        spool.close()


def test_the_spool_holds_no_more_than_a_block_of_record_text() -> None:
    text = dumps({"buyerId": 1, "note": "x" * 1000})
    lazily = (Element({"buyerId": i % 10}, text) for i in range(20_000))  # 20 MB of text
    spool = CoverSpool(buyer_key)
    tracemalloc.start()
    try:
        spool.add(lazily)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(spool) == 20_000
    assert peak < 4_000_000  # a batch of records at most, never the text of all
    assert next(spool.groups())[1] == (10, loads(text))
    spool.close()


# -- the same entries as the answer read whole -------------------------------------------


def test_the_fixture_portfolio_in_small_chunks_reads_as_the_whole_answer() -> None:
    handler = answering(fixture_bytes("covers_portfolio.json"), 3)
    adapter = contract_adapter(handler, AtradiusSandbox())
    adapter.clock = lambda: NOW
    whole = loads(fixture_bytes("covers_portfolio.json"))["data"]
    expected = summary(list(cover_versions(whole, "EUR", observed_at=NOW)))
    assert summary(list(adapter.fetch_portfolio(POLICY))) == expected
    assert len(expected) == 12


def test_a_buyers_records_scattered_through_the_answer_are_judged_together() -> None:
    records = [
        record(1, 501, 100000, "2026-01-01", historicCode="SCLD"),
        record(2, 502, 5000, "2026-02-01"),
        {"coverId": 3, "buyerId": 503, "coverStatus": "DECISION"},  # unreadable
        record(4, "0501", 40000, "2026-06-01", decisionCode="DC09"),  # 501's reduction
        record(5, 503, 7000, "2026-03-01"),
        record(2, 502, 5000, "2026-02-01"),  # listed twice
    ]
    adapter = contract_adapter(answering(dumps({"data": records}).encode(), 5), AtradiusSandbox())
    items = list(adapter.fetch_portfolio(POLICY))
    assert summary(items) == summary(list(cover_versions(records, "EUR")))
    entries = [
        (i.insurer_buyer_id, i.decision.insurer_cover_ref)
        for i in items
        if not isinstance(i, RecordError)
    ]
    assert entries == [("501", "4"), ("501", "1"), ("502", "2")]  # the newest first
    errors = [i for i in items if isinstance(i, RecordError)]
    assert [e.row for e in errors] == [2, None]  # 503 left out: one record unreadable


# -- faults in the middle of the body -----------------------------------------------------


def test_a_connection_lost_in_the_body_is_retried(
    contract: tuple[AtradiusSandbox, ContractFixture],
) -> None:
    sandbox, fx = contract
    cutting = Cutting(sandbox, COVERS_PATH, 1, httpx.ReadError("connection reset by peer"))
    adapter = contract_adapter(cutting, sandbox)
    assert len(list(adapter.fetch_portfolio(fx.policy))) == fx.portfolio_size
    assert sandbox.received[("GET", COVERS_PATH)] == 2


def test_the_history_retries_its_second_answer_without_doubling_records(
    contract: tuple[AtradiusSandbox, ContractFixture],
) -> None:
    sandbox, fx = contract
    cutting = Cutting(sandbox, COVERS_PATH, 2, httpx.RemoteProtocolError("peer closed"))
    adapter = contract_adapter(cutting, sandbox)
    history = list(adapter.fetch_cover_history(fx.policy))
    assert len(history) == fx.history_size
    assert sandbox.received[("GET", HISTORIC_COVERS_PATH)] == 1
    assert sandbox.received[("GET", COVERS_PATH)] == 3


@pytest.mark.parametrize(
    ("fail", "error"),
    [
        (httpx.ReadError("connection reset by peer"), TransientError),
        (None, ProtocolError),  # the body just ends: the JSON is cut short
    ],
    ids=["reset", "truncated"],
)
def test_a_body_broken_off_fails_the_sync_with_nothing_written(
    ledger: Ledger,
    contract: tuple[AtradiusSandbox, ContractFixture],
    fail: Exception | None,
    error: type[Exception],
) -> None:
    sandbox, fx = contract
    policy = make_policy(key="contract", insurer="atradius")
    policy = type(policy)(policy.key, policy.insurer, policy.terms, fx.policy.external_ref)
    good = sync_limits(
        ledger, contract_adapter(Cutting(sandbox, "", 0, None), sandbox), policy, now=NOW
    )
    assert good.ok and good.written == fx.portfolio_size
    with ledger.unit_of_work() as s:
        before = s.scalar(select(func.count()).select_from(CoverDecisionRow))
    sandbox.seed_contract_fixture()  # the same records again, listed twice: all would change
    cutting = Cutting(sandbox, COVERS_PATH, 10, fail)
    adapter = contract_adapter(cutting, sandbox)
    with pytest.raises(error):
        list(adapter.fetch_portfolio(fx.policy))
    report = sync_limits(ledger, adapter, policy, now=NOW)
    assert report.status == "failed" and "nothing written" in report.errors[0]
    with ledger.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(CoverDecisionRow)) == before


def test_records_that_cannot_be_read_stay_record_errors_when_streamed() -> None:
    handler = answering(fixture_bytes("covers_bad_records.json"), 2)
    items = list(contract_adapter(handler, AtradiusSandbox()).fetch_portfolio(POLICY))
    assert [i.insurer_buyer_id for i in items if isinstance(i, PortfolioEntry)] == ["30001"]
    assert {(e.row, e.column) for e in items if isinstance(e, RecordError)} == {
        (1, "totalDecision.decisionAmtInPolicyCurrency"),
        (2, "buyerId"),
        (3, "policyCurrency"),
        (None, None),
    }


def test_request_status_and_find_request_read_the_answer_as_it_arrives(
    contract: tuple[AtradiusSandbox, ContractFixture],
) -> None:
    sandbox, fx = contract
    adapter = contract_adapter(Cutting(sandbox, "", 0, None), sandbox)
    entry = next(i for i in adapter.fetch_portfolio(fx.policy) if isinstance(i, PortfolioEntry))
    found = adapter.request_status(fx.policy, entry.decision.insurer_cover_ref)
    assert found is not None and found.insurer_request_ref == entry.decision.insurer_cover_ref
    assert adapter.request_status(fx.policy, "no-such-cover") is None
    assert adapter.find_request(fx.policy, "no-such-reference") is None
    assert isinstance(fx.policy, PolicyRef)
