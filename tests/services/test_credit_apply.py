"""Credit applications end to end through the sandboxes (Atradius behind the policy,
Creditsafe and D&B in process): within the DCL granted with no insurer call; above it
exactly one cover request, even when the routing transaction runs again and the poll
runs twice; the insurer's decision followed; referrals and a person's decisions; the
bureau fallbacks; the time-to-decision statistics. Pre-screen flows run on SQLite; the
ledger parts (lines, listing, stats) on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.domain.cover import CoverRequestState, CoverStatus
from tci_gateway.domain.money import Money
from tci_gateway.domain.progressive import PlanRules
from tci_gateway.errors import InputError
from tci_gateway.ledger.credit_tables import CreditPlanRow
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import (
    AlertRow,
    AssessmentRow,
    CoverDecisionRow,
    CoverRequestRow,
    LimitInForceRow,
    OpenItemRow,
)
from tci_gateway.services import cover_requests
from tci_gateway.services import credit_apply as service
from tci_gateway.services.credit_decide import provisional_line
from tci_gateway.services.credit_lines import credit_lines, set_internal_line
from tci_gateway.services.credit_stats import credit_stats, nearest_rank

from .credit_apply_world import NOW, POLICY, CreditWorld, build, options

D = Decimal
STEPS_DCL = [
    "received",
    "assessment:creditsafe",
    "assessment:dnb",
    "behaviour",
    "scored",
    "screened",
    "granted_dcl",
]


@pytest.fixture
def world(ledger: Ledger, tmp_path: Path) -> Iterator[CreditWorld]:
    yield from build(ledger, tmp_path)


def apply(
    w: CreditWorld, amount: int, buyer: str = "D1", **changes: Any
) -> service.ApplicationView:
    return service.apply_for_credit(
        w.ledger,
        w.policies,
        w.bureaus,
        options(**changes),
        buyer=buyer,
        amount=Money(D(amount), "EUR"),
        policy=None,
        requested_by="sales.anna",
        channel="cli",
        now=NOW,
    )


def count(ledger: Ledger, table: Any) -> int:
    with ledger.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(table)) or 0


def test_within_the_dcl_is_granted_without_an_insurer_call(world: CreditWorld) -> None:
    assessments = count(world.ledger, AssessmentRow)
    view = apply(world, 20000)
    assert (view.state, view.route, view.granted_amount) == ("granted", "dcl", D(20000))
    assert view.reference == f"CA-20261130-{view.id:06d}"
    assert view.decided_by == "pre-screen" and view.decided_at is not None
    assert world.insurer_calls() == 0  # no call at all to the insurer
    assert [e.step for e in view.events] == STEPS_DCL
    assert all("duration_ms" in e.detail for e in view.events[1:])
    # Creditsafe 64 -> 73.33 x 60, D&B failure 81 -> 88.75 x 40: (4399.80 + 3550) / 100.
    assert view.score == D("79.49")
    assert [c["name"] for c in view.conditions if not c["passed"]] == []
    bureaus = view.evidence["bureaus"]
    assert bureaus["creditsafe"]["source"] == "live" and bureaus["creditsafe"]["score"] == "64"
    assert bureaus["dnb"]["source"] == "live" and bureaus["dnb"]["failure_score"] == "81"
    assert view.evidence["insurer_grades"]["atradius"]["source"] == "missing"
    assert count(world.ledger, AssessmentRow) == assessments + 2  # the live answers stored
    with world.ledger.unit_of_work() as s:
        lines = credit_lines(s, NOW.date(), [view.buyer_id])
    line = lines[(view.buyer_id, 1)]
    assert (line.insurer_limit, line.dcl, line.total) == (None, D(20000), D(20000))


test_within_the_dcl_is_granted_without_an_insurer_call.sqlite_only = True  # type: ignore[attr-defined]


def test_above_the_dcl_one_cover_request_exactly_once(
    world: CreditWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = service._to_insurer

    def twice(ledger: Ledger, outcome: Any) -> None:  # the routing transaction run again
        real(ledger, outcome)
        real(ledger, outcome)

    monkeypatch.setattr(service, "_to_insurer", twice)
    view = apply(world, 45000)
    assert (view.state, view.route, view.granted_amount) == ("with_insurer", "insurer", None)
    assert count(world.ledger, CoverRequestRow) == 1
    assert [c["name"] for c in view.conditions if not c["passed"]] == ["within_dcl"]
    assert view.cover_request_state == "QUEUED" and view.cover_request_reference
    assert view.events[-1].step == "cover_request_queued"
    assert view.events[-1].detail["action"] == "NEW"
    adapters, policies = {"atradius": world.insurer}, world.policies
    for _ in range(2):  # the poll runs twice: sent once, then nothing to do
        cover_requests.reconcile(world.ledger, adapters, policies, now=NOW)
    assert world.cover_posts() == {view.cover_request_reference: 1}
    assert service.follow_insurer(world.ledger, now=NOW + timedelta(hours=2)) == 1
    done = service.get_application(world.ledger, view.reference)
    assert (done.state, done.granted_amount, done.decided_by) == (
        "granted",
        D(45000),
        "insurer:atradius",
    )
    assert done.events[-1].step == "insurer_decided"
    # Timed when the poll learned it (NOW), not when follow_insurer ran two hours later.
    assert done.decided_at == NOW and done.hours_to_decision == D("0.00")
    assert service.follow_insurer(world.ledger, now=NOW) == 0


test_above_the_dcl_one_cover_request_exactly_once.sqlite_only = True  # type: ignore[attr-defined]


def test_a_failed_routing_transaction_writes_nothing_and_a_rerun_queues_once(
    world: CreditWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_line = provisional_line
    real_route = service._to_insurer
    calls = {"n": 0}

    def failing_once(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the database went away")
        real_line(*args, **kwargs)

    def retried(ledger: Ledger, outcome: Any) -> None:
        with pytest.raises(RuntimeError):
            real_route(ledger, outcome)
        assert count(ledger, CoverRequestRow) == 0  # rolled back with the application
        real_route(ledger, outcome)

    monkeypatch.setattr(service, "provisional_line", failing_once)
    monkeypatch.setattr(service, "_to_insurer", retried)
    view = apply(world, 45000, provisional_enabled=True, provisional_share=D("0.4"))
    assert view.state == "with_insurer" and view.provisional_amount == D(18000)
    assert count(world.ledger, CoverRequestRow) == 1


test_a_failed_routing_transaction_writes_nothing_and_a_rerun_queues_once.sqlite_only = True  # type: ignore[attr-defined]


def test_provisional_line_meanwhile_ended_by_a_refusal(world: CreditWorld) -> None:
    view = apply(world, 45000, provisional_enabled=True, provisional_share=D("0.5"))
    assert view.provisional_amount == D(22500)
    assert [e.step for e in view.events][-2:] == ["cover_request_queued", "provisional_line"]
    with world.ledger.unit_of_work() as s:
        assert credit_lines(s, NOW.date())[(view.buyer_id, 1)].provisional == D(22500)
        request = s.get_one(CoverRequestRow, view.cover_request_id)
        request.state, request.outcome_status = CoverRequestState.DECIDED, CoverStatus.REFUSED
        request.outcome_amount = D(0)
    assert service.follow_insurer(world.ledger, now=NOW) == 1
    done = service.get_application(world.ledger, view.reference)
    assert (done.state, done.granted_amount) == ("refused", D(0))
    assert done.events[-1].detail["provisional_ended"] == ["22500.0000"]
    with world.ledger.unit_of_work() as s:
        line = credit_lines(s, NOW.date()).get((view.buyer_id, 1))
    assert line is None or line.provisional == 0


test_provisional_line_meanwhile_ended_by_a_refusal.sqlite_only = True  # type: ignore[attr-defined]


def test_a_request_the_insurer_refused_goes_to_a_person(world: CreditWorld) -> None:
    view = apply(world, 45000)
    with world.ledger.unit_of_work() as s:
        request = s.get_one(CoverRequestRow, view.cover_request_id)
        request.state, request.last_error = CoverRequestState.REJECTED, "409 already exists"
    assert service.follow_insurer(world.ledger, now=NOW) == 1
    done = service.get_application(world.ledger, view.reference)
    assert done.state == "referred" and "409 already exists" in (done.reason or "")
    assert done.events[-1].step == "insurer_rejected"
    assert count(world.ledger, AlertRow) == 1


test_a_request_the_insurer_refused_goes_to_a_person.sqlite_only = True  # type: ignore[attr-defined]


def test_a_watch_buyer_is_referred_and_a_person_grants(world: CreditWorld) -> None:
    world.set_tier(1, "watch")
    view = apply(world, 20000)
    assert (view.state, view.route, view.tier) == ("referred", "person", "watch")
    assert view.events[-1].step == "referred" and "A person decides" in (view.reason or "")
    assert world.insurer_calls() == 0
    with world.ledger.unit_of_work() as s:
        alert = s.scalars(select(AlertRow).where(AlertRow.kind == "credit_referred")).one()
        assert view.reference in alert.message and alert.buyer_id == 1
    with pytest.raises(InputError):
        service.decide(
            world.ledger,
            view.reference,
            decision="grant",
            amount=None,
            by="risk.bo",
            reason=" ",
            now=NOW,
        )
    done = service.decide(
        world.ledger,
        view.reference,
        decision="grant",
        amount=Money(D(15000), "EUR"),
        by="risk.bo",
        reason="known for years",
        now=NOW + timedelta(hours=3),
    )
    assert (done.state, done.granted_amount, done.decided_by) == ("granted", D(15000), "risk.bo")
    assert done.events[-1].detail["line"] == "dcl"  # the policy's conditions all held
    assert done.hours_to_decision == D("3.00")
    with pytest.raises(InputError):  # decided: no second decision
        service.decide(
            world.ledger,
            view.reference,
            decision="refuse",
            amount=None,
            by="x",
            reason="y",
            now=NOW,
        )


test_a_watch_buyer_is_referred_and_a_person_grants.sqlite_only = True  # type: ignore[attr-defined]


def test_adverse_information_refers_and_a_person_grants_an_internal_line(
    world: CreditWorld,
) -> None:
    with world.ledger.unit_of_work() as s:  # due 100 days ago: past the 60-day extension
        s.add(
            OpenItemRow(
                erp_account_id=1,
                document_number="OLD1",
                kind="INVOICE",
                currency="EUR",
                amount=D(900),
                open_amount=D(900),
                document_date=date(2026, 7, 1),
                due_date=date(2026, 8, 22),
                updated_at=NOW,
            )
        )
    view = apply(world, 20000)
    assert view.state == "referred"
    failed = [c["name"] for c in view.conditions if not c["passed"]]
    assert "no_adverse_information" in failed
    assert "1 open invoice(s) past the policy's maximum extension" in view.evidence["adverse"][0]
    done = service.decide(
        world.ledger,
        view.reference,
        decision="grant",
        amount=None,
        by="risk.bo",
        reason="paid since",
        now=NOW,
    )
    assert done.events[-1].detail["line"] == "internal"  # uninsured: the policy said no
    with world.ledger.unit_of_work() as s:
        line = credit_lines(s, NOW.date())[(1, 1)]
    assert (line.dcl, line.internal) == (D(0), D(20000))


test_adverse_information_refers_and_a_person_grants_an_internal_line.sqlite_only = True  # type: ignore[attr-defined]


def test_a_person_sends_a_referral_to_the_insurer(world: CreditWorld) -> None:
    world.set_tier(1, "watch")
    view = apply(world, 20000)
    with pytest.raises(InputError):  # without the policies it cannot queue
        service.decide(
            world.ledger,
            view.reference,
            decision="send-to-insurer",
            amount=None,
            by="risk.bo",
            reason="ask",
            now=NOW,
        )
    sent = service.decide(
        world.ledger,
        view.reference,
        decision="send-to-insurer",
        amount=None,
        by="risk.bo",
        reason="ask",
        now=NOW,
        policies=world.policies,
    )
    assert (sent.state, sent.route) == ("with_insurer", "insurer")
    assert [e.step for e in sent.events][-2:] == ["person_decided", "cover_request_queued"]
    assert count(world.ledger, CoverRequestRow) == 1


test_a_person_sends_a_referral_to_the_insurer.sqlite_only = True  # type: ignore[attr-defined]


def test_bureau_failure_falls_back_to_the_stored_assessment(world: CreditWorld) -> None:
    world.bureau_sandboxes["creditsafe"].inject(Fault(status=400))
    view = apply(world, 20000)
    creditsafe = view.evidence["bureaus"]["creditsafe"]
    assert creditsafe["source"] == "stored" and "live call failed" in creditsafe["note"]
    assert creditsafe["score"] == "55" and creditsafe["as_of"] == "2026-07-01"
    assert view.state == "granted"  # a report of 2026-07-01 is under 6 months old


test_bureau_failure_falls_back_to_the_stored_assessment.sqlite_only = True  # type: ignore[attr-defined]


def test_no_bureau_id_is_named_missing_and_goes_to_a_person(world: CreditWorld) -> None:
    view = apply(world, 20000, buyer="N1")
    bureaus = view.evidence["bureaus"]
    assert (
        bureaus["creditsafe"]["source"] == "missing"
        and "no creditsafe" in bureaus["creditsafe"]["note"]
    )
    assert bureaus["dnb"]["source"] == "missing"
    assert view.scorecard["missing"] == ["Bureau score", "Failure percentile"]
    assert view.state == "referred"  # score 0 below the pass mark: a person decides


test_no_bureau_id_is_named_missing_and_goes_to_a_person.sqlite_only = True  # type: ignore[attr-defined]


def test_a_progressive_tier_grants_the_start_amount_and_starts_a_plan(world: CreditWorld) -> None:
    rules = PlanRules(D("0.25"), D("0.25"), 3, 3)
    view = apply(world, 20000, progressive=rules, tier_progressive={"growth": True})
    assert (view.state, view.granted_amount) == ("granted", D(5000))
    assert view.plan_id is not None
    with world.ledger.unit_of_work() as s:
        plan = s.get_one(CreditPlanRow, view.plan_id)
        assert (plan.target_amount, plan.current_amount) == (D(20000), D(5000))
        assert credit_lines(s, NOW.date())[(1, 1)].dcl == D(5000)


test_a_progressive_tier_grants_the_start_amount_and_starts_a_plan.sqlite_only = True  # type: ignore[attr-defined]


def test_a_failing_prescreen_leaves_the_application_with_a_person(
    world: CreditWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("behaviour query failed")

    monkeypatch.setattr(service, "buyer_behaviour", broken)
    with pytest.raises(RuntimeError):
        apply(world, 20000)
    (view,) = service.list_applications(world.ledger)
    assert view.state == "referred" and "behaviour query failed" in (view.reason or "")
    full = service.get_application(world.ledger, view.reference)
    assert [e.step for e in full.events] == ["received", "failed"]
    assert count(world.ledger, AlertRow) == 1


test_a_failing_prescreen_leaves_the_application_with_a_person.sqlite_only = True  # type: ignore[attr-defined]


def test_bad_applications_are_input_errors(world: CreditWorld) -> None:
    with pytest.raises(InputError, match="no ERP account"):
        apply(world, 20000, buyer="NOPE")
    with pytest.raises(InputError, match="positive"):
        apply(world, 0)
    with pytest.raises(InputError, match="not USD"):
        service.apply_for_credit(
            world.ledger,
            world.policies,
            world.bureaus,
            options(),
            buyer="D1",
            amount=Money(D(5), "USD"),
            policy=None,
            requested_by="x",
            channel="cli",
            now=NOW,
        )
    with pytest.raises(LookupError):
        service.get_application(world.ledger, "CA-20261130-999999")


test_bad_applications_are_input_errors.sqlite_only = True  # type: ignore[attr-defined]


# -- the ledger parts, on both backends ---------------------------------------------------


def test_lines_listing_and_stats(world: CreditWorld) -> None:
    granted = apply(world, 20000)
    world.set_tier(1, "watch")
    referred = apply(world, 10000)
    service.decide(
        world.ledger,
        referred.reference,
        decision="refuse",
        amount=None,
        by="risk.bo",
        reason="no",
        now=NOW + timedelta(hours=6),
    )
    change = set_internal_line(
        world.ledger,
        buyer="D1",
        policy=POLICY,
        amount=Money(D(7000), "EUR"),
        by="risk.manager",
        reason="strategic account",
        now=NOW,
    )
    assert change.replaced is None and change.line is not None
    assert (change.line.dcl, change.line.internal, change.line.total) == (
        D(20000),
        D(7000),
        D(27000),
    )
    again = set_internal_line(
        world.ledger,
        buyer="D1",
        policy=POLICY,
        amount=Money(D(9000), "EUR"),
        by="risk.manager",
        reason="raised",
        now=NOW + timedelta(days=1),
    )
    assert again.replaced == D(7000) and again.line is not None and again.line.internal == 9000
    with world.ledger.unit_of_work() as s:
        assert credit_lines(s, NOW.date())[(1, 1)].internal == D(7000)  # the day before
    listed = service.list_applications(world.ledger)
    assert [v.reference for v in listed] == [referred.reference, granted.reference]
    assert [v.reference for v in service.list_applications(world.ledger, state="refused")] == [
        referred.reference
    ]
    assert service.list_applications(world.ledger, before=referred.id)[0].id == granted.id
    stats = credit_stats(world.ledger)
    by_key = {(r.tier, r.route): r for r in stats.rows}
    assert by_key[("growth", "dcl")].decided == 1
    assert by_key[("growth", "dcl")].p50_hours is not None
    assert by_key[("growth", "dcl")].p50_hours < D("0.01") + D("0.01")
    person = by_key[("watch", "person")]
    assert (person.count, person.decided, person.pending, person.p90_hours) == (1, 1, 0, D("6.00"))
    assert stats.total is not None and stats.total.count == 2
    assert credit_stats(world.ledger, since=date(2026, 12, 1)).rows == []


def test_nearest_rank() -> None:
    values = [D(1), D(2), D(3), D(4), D(10)]
    assert nearest_rank(values, D("0.5")) == D(3)
    assert nearest_rank(values, D("0.9")) == D(10)
    assert nearest_rank([], D("0.5")) is None


def _insurer_decision(ledger: Ledger, status: str, amount: int) -> None:
    with ledger.unit_of_work() as s:
        decision = CoverDecisionRow(
            policy_id=1,
            buyer_id=1,
            insurer_cover_ref="C-1",
            status=status,
            currency="EUR",
            granted_amount=D(amount),
            effective_from=date(2026, 10, 1),
            raw_codes={},
            unknown_codes=[],
            conditions=[],
            recorded_at=NOW,
        )
        s.add(decision)
        s.flush()
        s.add(
            LimitInForceRow(
                policy_id=1,
                buyer_id=1,
                decision_id=decision.id,
                status=status,
                amount=D(amount),
                currency="EUR",
                valid_from=date(2026, 10, 1),
                business_date=NOW.date(),
                change_id=1,
                changed_at=NOW,
            )
        )


def test_an_increase_when_the_insurer_has_a_named_limit(world: CreditWorld) -> None:
    _insurer_decision(world.ledger, "APPROVED", 10000)
    view = apply(world, 20000)
    assert (view.state, view.route) == ("with_insurer", "insurer")
    assert [c["name"] for c in view.conditions if not c["passed"]] == ["no_named_limit"]
    assert view.events[-1].detail["action"] == "INCREASE"
    assert view.evidence["insurer_limit"] == "10000.0000"


test_an_increase_when_the_insurer_has_a_named_limit.sqlite_only = True  # type: ignore[attr-defined]


def test_an_insurer_refusal_goes_to_a_person(world: CreditWorld) -> None:
    _insurer_decision(world.ledger, "REFUSED", 0)
    view = apply(world, 20000)
    assert view.state == "referred" and view.evidence["insurer_refusals"][0].startswith("REFUSED")
    assert world.insurer_calls() == 0


test_an_insurer_refusal_goes_to_a_person.sqlite_only = True  # type: ignore[attr-defined]
