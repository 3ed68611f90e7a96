"""Cover requests through the outbox against the Atradius sandbox: decided, pending then
polled, and every ambiguous path ending in exactly one request applied at the insurer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tci_gateway.adapters.contract import CoverAction, InsurerAdapter
from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import InputError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.services import cover_requests as service
from tci_gateway.services.importing import import_buyers

from ..erp.conftest import NOW, make_policy
from .sandboxed import sandboxed_insurer

POLICY: Policy = make_policy()
POLICY = Policy(
    POLICY.key,
    POLICY.insurer,
    POLICY.terms,
    {"customer_id": "CONTRACT-C1", "policy_id": "CONTRACT-P1"},
)


@dataclass
class World:
    ledger: Ledger
    adapter: InsurerAdapter
    sandbox: object

    def applied(self, reference: str) -> int:
        book = self.sandbox.book  # type: ignore[attr-defined]
        return sum(
            1 for r in book.covers + book.historic if r.get("customerRefNumber") == reference
        )

    def posts(self) -> int:
        received = self.sandbox.received  # type: ignore[attr-defined]
        return sum(n for (method, _), n in received.items() if method == "POST")


@pytest.fixture
def world(ledger: Ledger, tmp_path: Path) -> Iterator[World]:
    adapter, sandbox, _fixture = sandboxed_insurer("atradius")
    buyers = tmp_path / "b.csv"
    buyers.write_text(
        "erp_account,name,country,insurer_ids\nD1,Contract Delta GmbH,DE,atradius:990004\n"
        "X1,Nobody Ltd,GB,\n",
        encoding="utf-8",
    )
    import_buyers(ledger, buyers, policies={"main": POLICY}, now=NOW)
    yield World(ledger, adapter, sandbox)
    adapter.close()


def eur(amount: int) -> Money:
    return Money(Decimal(amount), "EUR")


def queue(w: World, amount: int = 10000, action: CoverAction = CoverAction.NEW) -> int:
    return service.queue_request(
        w.ledger, POLICY, buyer="D1", action=action, amount=eur(amount), now=NOW
    )


def view(w: World, request_id: int) -> service.CoverRequestView:
    (v,) = service.list_requests(w.ledger, request_id=request_id)
    return v


def test_small_request_is_decided_at_once(world: World) -> None:
    rid = queue(world)
    service.advance(world.ledger, rid, world.adapter, POLICY, now=NOW)
    v = view(world, rid)
    assert (v.state, v.outcome_status, v.outcome_amount) == (
        "DECIDED",
        "APPROVED",
        Decimal("10000"),
    )
    assert v.client_reference.startswith(f"tci-{rid:07d}-")
    assert world.applied(v.client_reference) == 1


def test_referred_request_is_polled_to_its_decision(world: World) -> None:
    rid = queue(world, 200000)
    service.advance(world.ledger, rid, world.adapter, POLICY, now=NOW)
    assert view(world, rid).state == "PENDING"
    service.reconcile(world.ledger, {"atradius": world.adapter}, {"main": POLICY}, now=NOW)
    assert view(world, rid).state == "PENDING"
    world.sandbox.advance(3600)  # type: ignore[attr-defined]
    service.reconcile(world.ledger, {"atradius": world.adapter}, {"main": POLICY}, now=NOW)
    v = view(world, rid)
    assert v.state == "DECIDED" and v.outcome_status == "PARTIALLY_APPROVED"
    assert v.outcome_amount == Decimal("100000")


def test_applied_but_unanswered_is_found_not_resent(world: World) -> None:
    rid = queue(world)
    world.sandbox.inject(Fault(status=503, method="POST", after_processing=True))  # type: ignore[attr-defined]
    service.advance(world.ledger, rid, world.adapter, POLICY, now=NOW)
    v = view(world, rid)
    assert v.state == "AMBIGUOUS" and "503" in (v.last_error or "")
    posts = world.posts()
    service.reconcile(world.ledger, {"atradius": world.adapter}, {"main": POLICY}, now=NOW)
    assert view(world, rid).state == "DECIDED"
    assert world.posts() == posts  # looked up, not sent again
    assert world.applied(v.client_reference) == 1


def test_lost_before_the_insurer_is_sent_again_once(world: World) -> None:
    rid = queue(world)
    world.sandbox.inject(Fault(raise_exc=httpx.ReadTimeout, method="POST"))  # type: ignore[attr-defined]
    service.advance(world.ledger, rid, world.adapter, POLICY, now=NOW)
    assert view(world, rid).state == "AMBIGUOUS"
    service.reconcile(world.ledger, {"atradius": world.adapter}, {"main": POLICY}, now=NOW)
    v = view(world, rid)
    assert v.state == "DECIDED" and v.attempts == 2
    assert world.applied(v.client_reference) == 1


def test_crash_after_send_before_commit_is_reconciled_by_reference(world: World) -> None:
    """The process dies after the insurer applied the request and before the ledger
    recorded the answer: the row is QUEUED with an attempt counted. Reconcile looks the
    reference up and never sends a second request."""
    rid = queue(world)
    from tci_gateway.ledger.tables import CoverRequestRow

    with world.ledger.unit_of_work() as session:  # what advance() commits before sending
        row = session.get_one(CoverRequestRow, rid)
        row.attempts = 1
        request = service._request(row, POLICY)
    world.adapter.request_cover(request)  # sent and applied; the answer is lost
    posts = world.posts()
    service.reconcile(world.ledger, {"atradius": world.adapter}, {"main": POLICY}, now=NOW)
    v = view(world, rid)
    assert v.state == "DECIDED" and world.posts() == posts
    assert world.applied(v.client_reference) == 1


def test_refused_request_is_rejected(world: World) -> None:
    first = queue(world)
    service.advance(world.ledger, first, world.adapter, POLICY, now=NOW)
    second = queue(world)  # a second NEW cover for the same buyer
    service.advance(world.ledger, second, world.adapter, POLICY, now=NOW)
    v = view(world, second)
    assert v.state == "REJECTED" and "already exists" in (v.last_error or "")


@pytest.mark.parametrize(
    ("buyer", "amount", "needle"),
    [
        ("NOPE", 10000, "no ERP account"),
        ("X1", 10000, "has no atradius buyer id"),
        ("D1", None, "needs an amount"),
    ],
)
def test_bad_requests_are_input_errors(
    world: World, buyer: str, amount: int | None, needle: str
) -> None:
    with pytest.raises(InputError) as info:
        service.queue_request(
            world.ledger,
            POLICY,
            buyer=buyer,
            action=CoverAction.NEW,
            amount=eur(amount) if amount else None,
            now=NOW,
        )
    assert needle in info.value.errors[0].reason


def test_a_pass_is_ok_only_when_the_insurer_answered_every_request(world: World) -> None:
    rid = queue(world, 200000)
    service.advance(world.ledger, rid, world.adapter, POLICY, now=NOW)  # referred: pending
    world.sandbox.inject(Fault(status=400, method="GET"))  # type: ignore[attr-defined]
    failed = service.reconcile(world.ledger, {"atradius": world.adapter}, {"main": POLICY}, now=NOW)
    assert (failed.polled, failed.ok) == (1, False)
    assert failed.errors[0].startswith(f"cover request {rid} (tci-{rid:07d}-")
    answered = service.reconcile(
        world.ledger, {"atradius": world.adapter}, {"main": POLICY}, now=NOW
    )
    assert (answered.polled, answered.ok, answered.errors) == (1, True, [])


def test_a_pass_with_a_refused_request_is_not_ok(world: World) -> None:
    service.advance(world.ledger, queue(world), world.adapter, POLICY, now=NOW)
    second = queue(world)  # a second NEW cover for the same buyer: refused when sent
    report = service.reconcile(world.ledger, {"atradius": world.adapter}, {"main": POLICY}, now=NOW)
    assert not report.ok and "REJECTED" in report.errors[0] and "already exists" in report.errors[0]
    assert view(world, second).state == "REJECTED"
