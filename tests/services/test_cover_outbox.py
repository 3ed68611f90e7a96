"""Cover requests through the shared outbox at each insurer's sandbox, on SQLite and
PostgreSQL: an insurer's "a request is already in progress" is never a refusal (ours,
found by reference; another's, sent again once that one is decided); a request claimed
by another process is left to it; concurrent pollers send each request once, with
exact attempts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import tenacity

from tci_gateway.adapters.contract import AdapterContext, CoverAction, InsurerAdapter
from tci_gateway.adapters.registry import load_plugin
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.http.retry import RetryPolicy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.row_claims import claim
from tci_gateway.ledger.tables import CoverRequestRow
from tci_gateway.services import cover_requests as service
from tci_gateway.services.importing import import_buyers
from tci_gateway.services.outbox import CLAIMED_ELSEWHERE

from ..erp.conftest import NOW, make_policy
from .sandboxed import sandboxed_insurer

INSURERS = ("allianz", "atradius", "coface")


@dataclass
class World:
    ledger: Ledger
    adapter: InsurerAdapter
    sandbox: Any
    policy: Policy
    referred: Money
    delay: float

    def queue(self, action: CoverAction, amount: Money, buyer: str = "B1") -> int:
        return service.queue_request(
            self.ledger, self.policy, buyer=buyer, action=action, amount=amount, now=NOW
        )

    def advance(self, request_id: int, adapter: InsurerAdapter | None = None) -> str:
        return service.advance(
            self.ledger, request_id, adapter or self.adapter, self.policy, now=NOW
        )

    def reconcile(self) -> None:
        service.reconcile(
            self.ledger, {self.policy.insurer: self.adapter}, {"main": self.policy}, now=NOW
        )

    def row(self, request_id: int) -> service.CoverRequestView:
        (view,) = service.list_requests(self.ledger, request_id=request_id)
        return view

    def posts(self, request_id: int) -> int:
        return int(self.sandbox.posts_per_reference[self.row(request_id).client_reference])


def make_world(ledger: Ledger, tmp_path: Path, insurer: str, buyers: int = 1) -> World:
    adapter, sandbox, fixture = sandboxed_insurer(insurer)
    base = make_policy(insurer=insurer)
    policy = Policy("main", insurer, base.terms, dict(fixture.policy.external_ref))
    lines = ["erp_account,name,country,insurer_ids"]
    lines += [
        f"B{n + 1},Buyer {n} GmbH,DE,{insurer}:{fixture.uncovered_buyer_id}" for n in range(buyers)
    ]
    path = tmp_path / "buyers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_buyers(ledger, path, policies={"main": policy}, now=NOW)
    assert fixture.referred_amount is not None and fixture.decision_delay is not None
    return World(ledger, adapter, sandbox, policy, fixture.referred_amount, fixture.decision_delay)


@pytest.fixture(params=INSURERS)
def world(request: pytest.FixtureRequest, ledger: Ledger, tmp_path: Path) -> Iterator[World]:
    w = make_world(ledger, tmp_path, request.param)
    yield w
    w.adapter.close()


def twice(money: Money) -> Money:
    return Money(money.amount * 2, money.currency)


def test_another_request_in_progress_is_no_refusal_and_ours_goes_later(world: World) -> None:
    first = world.queue(CoverAction.NEW, world.referred)
    assert world.advance(first) == "PENDING"
    second = world.queue(CoverAction.INCREASE, twice(world.referred))
    # The insurer is still deciding the first: the second is not taken, and not refused.
    assert world.advance(second) == "QUEUED"
    v = world.row(second)
    assert (v.attempts, v.insurer_request_ref) == (1, None)
    assert v.last_error and "not taken" in v.last_error
    assert world.posts(second) == 1
    world.sandbox.advance(world.delay + 1)  # the first is decided...
    world.reconcile()  # ...then the second is looked up (not there) and sent
    assert world.row(first).state == "DECIDED"
    v = world.row(second)
    assert v.state in ("PENDING", "DECIDED") and v.insurer_request_ref, v
    assert (v.attempts, v.last_error) == (2, None)
    assert world.posts(second) == 2  # refused in progress once, taken once


def test_our_own_request_in_progress_is_found_by_reference(world: World) -> None:
    """The insurer holds the request already (a POST the ledger has no attempt for, as
    after a process died between its look-up and a late delivery): the insurer's "in
    progress" is resolved by looking the reference up."""
    request_id = world.queue(CoverAction.NEW, world.referred)
    with world.ledger.unit_of_work() as session:
        request = service._request(session.get_one(CoverRequestRow, request_id), world.policy)
    world.adapter.request_cover(request)  # stored and pending at the insurer
    assert world.advance(request_id) == "PENDING"
    v = world.row(request_id)
    assert v.attempts == 1 and v.insurer_request_ref and v.last_error is None
    assert world.posts(request_id) == 2  # the earlier one, and the one answered "in progress"
    world.sandbox.advance(world.delay + 1)
    world.reconcile()
    assert world.row(request_id).state == "DECIDED"


def test_a_request_claimed_by_another_process_is_left_to_it(world: World) -> None:
    request_id = world.queue(CoverAction.NEW, world.referred)
    with claim(world.ledger, "cover_requests", request_id) as held:
        assert held
        assert world.advance(request_id) == CLAIMED_ELSEWHERE
        with claim(world.ledger, "cover_requests", request_id) as again:
            assert not again
    v = world.row(request_id)
    assert (v.state, v.attempts, world.posts(request_id)) == ("QUEUED", 0, 0)
    assert world.advance(request_id) == "PENDING"  # released: sent
    assert world.posts(request_id) == 1


def _threaded_adapter(name: str, sandbox: Any, delay: float) -> InsurerAdapter:
    """An adapter of its own (one per thread) on the shared sandbox, each call
    ``delay`` seconds slow."""
    plugin = load_plugin(name)

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(delay)
        response: httpx.Response = sandbox.handle(request)
        return response

    adapter = plugin.create(
        AdapterContext(
            name=name,
            base_url=plugin.sandbox_base_url,
            environment="sandbox",
            credentials=dict(sandbox.credentials),
            retry=RetryPolicy(max_attempts=1, wait=tenacity.wait_none(), sleep=lambda s: None),
            transport=httpx.MockTransport(slow),
        )
    )
    assert isinstance(adapter, InsurerAdapter)
    return adapter


@pytest.mark.parametrize("insurer", ["atradius"])
def test_concurrent_pollers_send_once_with_exact_attempts(
    ledger: Ledger, tmp_path: Path, insurer: str
) -> None:
    w = make_world(ledger, tmp_path, insurer, buyers=1)
    ids = [w.queue(CoverAction.NEW, Money(Decimal(10000), "EUR"))]
    # More requests, each for its own buyer id at the insurer.
    for n, buyer in enumerate(("990005", "990006", "990007"), 2):
        w.sandbox.buyers[int(buyer)] = {**w.sandbox.buyers[990004], "buyerId": int(buyer)}
        path = tmp_path / f"b{n}.csv"
        path.write_text(
            f"erp_account,name,country,insurer_ids\nB{n},Buyer {n} GmbH,DE,{insurer}:{buyer}\n",
            encoding="utf-8",
        )
        import_buyers(ledger, path, policies={"main": w.policy}, now=NOW)
        ids.append(w.queue(CoverAction.NEW, Money(Decimal(10000), "EUR"), buyer=f"B{n}"))
    adapters = [_threaded_adapter(insurer, w.sandbox, 0.05) for _ in range(3)]
    errors: list[BaseException] = []

    def poll(adapter: InsurerAdapter) -> None:
        try:
            service.reconcile(ledger, {insurer: adapter}, {"main": w.policy}, now=NOW)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(a,)) for a in adapters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for a in adapters:
        a.close()
    w.adapter.close()
    assert not errors, errors
    for request_id in ids:
        v = w.row(request_id)
        assert (v.state, v.attempts, v.outcome_amount) == ("DECIDED", 1, Decimal(10000)), v
        assert w.posts(request_id) == 1
