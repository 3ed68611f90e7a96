"""The claims run against the Allianz Trade sandbox (overdue API) on SQLite and
PostgreSQL: due actions queued once, sent once, found by reference after an ambiguous
outcome, cases closed when the buyer pays, manual filings confirmed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from tci_gateway.adapters.contract import InsurerAdapter
from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.domain.escalation import DEFAULT_PATHS, EscalationPath
from tci_gateway.domain.policy import Policy
from tci_gateway.errors import InputError
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import AlertRow, CaseActionRow, ClaimCaseRow, OpenItemRow
from tci_gateway.scheduler.jobs import JobContext, claims_run
from tci_gateway.services import case_views, deadlines
from tci_gateway.services.claims import run_claims
from tci_gateway.services.importing import import_buyers, import_open_items
from tci_gateway.services.nightly import ClaimsOptions, NightlyCycle, NightlyOptions

from ..erp.conftest import make_policy
from .sandboxed import sandboxed_insurer

BASE = make_policy("aci", "allianz")
POLICY = Policy(
    "aci",
    "allianz",
    replace(BASE.terms, overdue_notification_days=15),
    {"business_unit_code": "ACI", "policy_id": "CONTRACT-P1"},
)
PATHS = {
    tier: EscalationPath.of(tier, {"reminder": 7, "overdue_notification": 14, "claim": 90})
    for tier in DEFAULT_PATHS
}
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # 11:00 in Paris


@dataclass
class World:
    ledger: Ledger
    adapter: InsurerAdapter
    sandbox: Any
    tmp: Path

    def filings(self, reference: str) -> int:
        return sum(
            1 for r in self.sandbox.overdues.records if r.get("customerReference") == reference
        )

    def posts(self) -> int:
        return sum(
            n
            for (method, path), n in self.sandbox.received.items()
            if method == "POST" and path == self.sandbox.paths["overdues"]
        )

    def run(self, now: datetime = NOW, **kwargs: Any) -> Any:
        return run_claims(
            self.ledger,
            {"aci": POLICY},
            PATHS,
            {"allianz": self.adapter},
            default_tier="growth",
            now=now,
            **kwargs,
        )

    def actions(self) -> list[CaseActionRow]:
        with self.ledger.unit_of_work() as s:
            return list(s.scalars(select(CaseActionRow).order_by(CaseActionRow.id)))


@pytest.fixture
def world(ledger: Ledger, tmp_path: Path) -> Iterator[World]:
    adapter, sandbox, fixture = sandboxed_insurer("allianz")
    assert dict(fixture.policy.external_ref) == dict(POLICY.external_ref)
    buyers = tmp_path / "buyers.csv"
    buyers.write_text(
        "erp_account,name,country,policy,insurer_ids,tier\n"
        f"A1,Contract Alpha SA,FR,aci,allianz:{fixture.known_buyer_id},growth\n"
        "B1,No Id GmbH,DE,aci,,watch\n",
        encoding="utf-8",
    )
    items = tmp_path / "items.csv"
    items.write_text(
        "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
        "amount,open_amount,disputed,applies_to\n"
        "A1,INV-1,INVOICE,2026-12-01,2026-12-01,2027-01-31,EUR,12000.00,12000.00,false,\n"
        "A1,INV-2,INVOICE,2027-01-10,2027-01-10,2027-03-10,EUR,5000.00,5000.00,false,\n"
        "A1,INV-3,INVOICE,2026-12-05,2026-12-05,2027-02-04,EUR,900.00,900.00,true,\n"
        "B1,INV-9,INVOICE,2027-01-01,2027-01-01,2027-02-10,EUR,700.00,700.00,false,\n",
        encoding="utf-8",
    )
    import_buyers(ledger, buyers, policies={"aci": POLICY}, now=NOW)
    import_open_items(ledger, items, now=NOW)
    yield World(ledger, adapter, sandbox, tmp_path)
    adapter.close()


def test_due_actions_are_queued_and_the_notification_filed_once(world: World) -> None:
    report = world.run()
    # A1: oldest due 2027-01-31 -> D+29 on 1 March: reminder (D+7) and notification (D+14).
    # B1: due 2027-02-10 -> D+19: the same two, but no Allianz buyer id.
    assert report.overdue_buyers == 2
    assert sorted((p.buyer_name, p.action) for p in report.planned) == [
        ("Contract Alpha SA", "OVERDUE_NOTIFICATION"),
        ("Contract Alpha SA", "REMINDER"),
        ("No Id GmbH", "OVERDUE_NOTIFICATION"),
        ("No Id GmbH", "REMINDER"),
    ]
    by_ref = {a.client_reference: a for a in world.actions()}
    alpha = next(
        a for a in by_ref.values() if a.action == "OVERDUE_NOTIFICATION" and a.case_id == 1
    )
    assert alpha.state == "SENT" and alpha.insurer_reference
    assert alpha.insurer_status == "SUBMITTED"
    assert world.filings(alpha.client_reference) == 1
    filed = next(
        r
        for r in world.sandbox.overdues.records
        if r["customerReference"] == alpha.client_reference
    )
    # Overdue, undisputed invoices only; the disputed INV-3 and the not yet due INV-2 stay out.
    assert [i["invoiceNumber"] for i in filed["invoices"]] == ["INV-1"]
    assert filed["firstDefaultDate"] == "2027-02-01"
    nobody = next(
        a for a in by_ref.values() if a.action == "OVERDUE_NOTIFICATION" and a.case_id == 2
    )
    assert nobody.state == "REJECTED" and "buyer id" in (nobody.last_error or "")
    posts = world.posts()
    again = world.run()
    assert again.planned == [] and world.posts() == posts  # idempotent for the day


def test_a_lost_answer_is_found_by_reference_not_resent(world: World) -> None:
    world.sandbox.inject(Fault(status=503, method="POST", after_processing=True))
    world.run()
    (alpha,) = [a for a in world.actions() if a.case_id == 1 and a.action != "REMINDER"]
    assert alpha.state == "AMBIGUOUS" and alpha.attempts == 1
    assert world.filings(alpha.client_reference) == 1
    posts = world.posts()
    world.run()
    (alpha,) = [a for a in world.actions() if a.case_id == 1 and a.action != "REMINDER"]
    assert alpha.state == "SENT" and alpha.insurer_reference
    assert world.posts() == posts and world.filings(alpha.client_reference) == 1


def test_a_request_lost_on_the_way_is_sent_again_once(world: World) -> None:
    world.sandbox.inject(Fault(raise_exc=httpx.ReadTimeout, method="POST"))
    world.run()
    (alpha,) = [a for a in world.actions() if a.case_id == 1 and a.action != "REMINDER"]
    assert alpha.state == "AMBIGUOUS" and world.filings(alpha.client_reference) == 0
    world.run()
    (alpha,) = [a for a in world.actions() if a.case_id == 1 and a.action != "REMINDER"]
    assert alpha.state == "SENT" and world.filings(alpha.client_reference) == 1


def test_dry_run_changes_nothing(world: World) -> None:
    report = world.run(dry_run=True)
    assert len(report.planned) == 4 and report.cases == 0
    with world.ledger.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ClaimCaseRow)) == 0
        assert s.scalar(select(func.count()).select_from(CaseActionRow)) == 0
    assert world.posts() == 0


def test_deadlines_and_indemnity_are_recorded_on_the_case(world: World) -> None:
    world.run(lead_days=(31, 7))  # the cover stop (1 April) is 31 days away
    case = case_views.get_case(world.ledger, 1)
    # Allianz terms: D = 2027-01-31; cover stop D+60, notify D+15, loss D+180, claim D+360.
    assert case.due_date == date(2027, 1, 31)
    assert case.cover_stop == date(2027, 4, 1)
    assert case.notify_by == date(2027, 2, 15)
    assert case.date_of_loss == date(2027, 7, 30)
    assert case.claim_by == date(2028, 1, 26)
    # No cover decision in the ledger: nothing insured, the disputed invoice listed.
    assert case.indemnity == Decimal(0)
    lines = case.details["indemnity"]["lines"]
    assert [(line["number"], line["excluded"]) for line in lines] == [
        ("INV-1", None),
        ("INV-3", "DISPUTED"),
        ("INV-2", None),
    ]
    assert case.overdue_total == Decimal("12000.00")
    with world.ledger.unit_of_work() as s:
        kinds = set(s.scalars(select(AlertRow.kind)))
    # The notification was due by 15 February: filed late on 1 March, and alerted.
    assert {"overdue_reminder", "deadline_late", "deadline_approaching"} <= kinds
    assert "stop_deliveries" not in kinds


def test_a_claim_waits_for_the_date_of_loss_then_goes_to_a_manual_pack(world: World) -> None:
    world.run()
    later = datetime(2027, 5, 10, 10, 0, tzinfo=UTC)  # D+99: claim step day passed, loss not
    report = world.run(now=later)
    assert all(p.action != "CLAIM" for p in report.planned)
    at_loss = datetime(2027, 7, 30, 10, 0, tzinfo=UTC)
    report = world.run(now=at_loss)
    claims = [p for p in report.planned if p.action == "CLAIM"]
    # Alpha's date of loss is 30 July (D 31 Jan + 180); B1's (D 10 Feb) is 9 August.
    assert [(p.buyer_name, p.channel) for p in claims] == [("Contract Alpha SA", "MANUAL")]
    pack = case_views.filing_pack(world.ledger, 1)
    assert pack["deadlines"]["claim_by"] == "2028-01-26"
    assert pack["buyer"]["erp_accounts"] == ["A1"]
    claim = next(a for a in pack["actions"] if a["action"] == "CLAIM")
    assert claim["state"] == "MANUAL" and [i["number"] for i in claim["invoices"]] == [
        "INV-1",
        "INV-2",
    ]
    view = case_views.confirm_manual(world.ledger, 1, "claim", "AT-CLAIM-77", now=at_loss)
    assert (view.state, view.insurer_reference) == ("FILED_MANUALLY", "AT-CLAIM-77")
    with pytest.raises(InputError, match="only a manual or rejected filing"):
        case_views.confirm_manual(world.ledger, 1, "claim", "AGAIN", now=at_loss)
    with pytest.raises(InputError, match="unknown action"):
        case_views.confirm_manual(world.ledger, 1, "appeal", "X", now=at_loss)


def test_a_buyer_that_pays_closes_its_case(world: World) -> None:
    world.run()
    with world.ledger.unit_of_work() as s:
        s.execute(
            update(OpenItemRow).where(OpenItemRow.document_number == "INV-9").values(open_amount=0)
        )
    report = world.run(now=NOW + timedelta(days=1))
    assert report.closed == [2]
    assert [c.id for c in case_views.list_cases(world.ledger)] == [1]
    (closed,) = case_views.list_cases(world.ledger, state="CLOSED")
    assert closed.buyer_name == "No Id GmbH" and closed.closed_on == date(2027, 3, 2)


def test_a_run_in_pages_of_one_buyer_closes_only_the_settled_cases(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run works page by page (deadlines.PAGE_SIZE buyers): each page's settled cases
    # are closed by the page's buyer-id range, the last page's range open to the end.
    monkeypatch.setattr(deadlines, "PAGE_SIZE", 1)
    first = world.run()
    assert (first.overdue_buyers, len(first.planned), first.opened) == (2, 4, 2)
    assert world.run().planned == []  # the same day again: nothing new, in any page
    with world.ledger.unit_of_work() as s:
        s.execute(
            update(OpenItemRow).where(OpenItemRow.document_number == "INV-9").values(open_amount=0)
        )
    assert world.run(now=NOW + timedelta(days=1)).closed == [2]
    assert [c.id for c in case_views.list_cases(world.ledger)] == [1]
    with world.ledger.unit_of_work() as s:
        s.execute(update(OpenItemRow).values(open_amount=0))
    assert world.run(now=NOW + timedelta(days=2)).closed == [1]
    assert case_views.list_cases(world.ledger) == []


def test_the_scheduler_job_runs_the_same_service(world: World) -> None:
    context = JobContext(
        world.ledger,
        {"allianz": world.adapter},
        {"aci": POLICY},
        NOW,
        NOW.date(),
        "claims_run",
        options=lambda: NightlyOptions(claims=ClaimsOptions(PATHS, "growth")),
    )
    first = claims_run(context)
    assert first["overdue_buyers"] == 2 and first["queued"] == 4
    assert first["sent"] == {"SENT": 1, "REJECTED": 1} or first["sent"].get("SENT") == 1
    second = claims_run(context)
    assert second["queued"] == 0
    skipped = claims_run(replace(context, options=NightlyOptions))
    assert skipped == {"ok": True, "skipped": "no escalation paths configured"}


def test_an_accepted_extension_moves_the_due_date_and_the_deadlines(world: World) -> None:
    paths = {
        tier: EscalationPath.of(
            tier, {"reminder": 3, "extension_request": 5, "overdue_notification": 14, "claim": 90}
        )
        for tier in DEFAULT_PATHS
    }
    day6 = datetime(2027, 2, 6, 10, 0, tzinfo=UTC)  # A1: D (31 Jan) + 6; B1 not yet due
    run_claims(
        world.ledger,
        {"aci": POLICY},
        paths,
        {"allianz": world.adapter},
        default_tier="growth",
        now=day6,
        extension_days=30,
    )
    (exp,) = [a for a in world.actions() if a.action == "EXTENSION_REQUEST"]
    assert exp.state == "SENT"
    filed = next(
        r for r in world.sandbox.overdues.records if r["customerReference"] == exp.client_reference
    )
    assert filed["overdueCategoryTypeCode"] == "EXP"
    assert [(i["invoiceNumber"], i["newDueDate"]) for i in filed["invoices"]] == [
        ("INV-1", "2027-03-02")
    ]
    filed["overdueStatusCode"] = "Accepted"  # the insurer grants it
    run_claims(
        world.ledger,
        {"aci": POLICY},
        paths,
        {"allianz": world.adapter},
        default_tier="growth",
        now=day6 + timedelta(days=1),
    )
    with world.ledger.unit_of_work() as s:
        extended = s.scalar(
            select(OpenItemRow.extended_due_date).where(OpenItemRow.document_number == "INV-1")
        )
    assert extended == date(2027, 3, 2)
    case = case_views.get_case(world.ledger, 1)
    assert case.insurer_status == "ACCEPTED"
    # INV-1 is no longer overdue; the disputed INV-3 (due 4 Feb) now drives the clock.
    assert case.due_date == date(2027, 2, 4) and case.notify_by == date(2027, 2, 19)


def test_a_payment_after_the_claim_updates_it_or_alerts(world: World) -> None:
    at_loss = datetime(2027, 7, 30, 10, 0, tzinfo=UTC)
    world.run(now=at_loss)

    def claim() -> CaseActionRow:
        return next(a for a in world.actions() if a.case_id == 1 and a.action == "CLAIM")

    assert (claim().state, claim().payload["claimed_amount"]) == ("MANUAL", "17000.00")

    def pay(number: str, left: str) -> None:
        with world.ledger.unit_of_work() as s:
            s.execute(
                update(OpenItemRow)
                .where(OpenItemRow.document_number == number)
                .values(open_amount=Decimal(left))
            )

    pay("INV-2", "1000.00")  # 4,000 paid before the claim was filed: the pack follows
    world.run(now=at_loss + timedelta(days=1))
    assert claim().payload["claimed_amount"] == "13000.00"
    case_views.confirm_manual(world.ledger, 1, "claim", "AT-9", now=at_loss)
    pay("INV-1", "11000.00")  # 1,000 paid after filing: the insurer must be told
    world.run(now=at_loss + timedelta(days=2))
    assert claim().payload["claimed_amount"] == "13000.00"  # what was filed stays
    with world.ledger.unit_of_work() as s:
        (message,) = s.scalars(select(AlertRow.message).where(AlertRow.kind == "claim_changed"))
    assert "filed for 13000.00 EUR; outstanding now 12000.00" in message


def test_a_notified_case_keeps_its_clock_when_the_oldest_invoice_is_paid(world: World) -> None:
    world.run()  # notified on 1 March for INV-1, due 31 January
    with world.ledger.unit_of_work() as s:
        s.execute(
            update(OpenItemRow).where(OpenItemRow.document_number == "INV-1").values(open_amount=0)
        )
    # The oldest overdue invoice is now the disputed INV-3 (due 4 February), but the claim
    # still falls due at the date of loss of the notified clock: 31 Jan + 180 = 30 July.
    report = world.run(now=datetime(2027, 7, 30, 10, 0, tzinfo=UTC))
    assert [(p.buyer_name, p.action, p.due_on) for p in report.planned if p.case_id == 1] == [
        ("Contract Alpha SA", "CLAIM", date(2027, 7, 30))
    ]
    case = case_views.get_case(world.ledger, 1)
    assert (case.due_date, case.claim_by) == (date(2027, 1, 31), date(2028, 1, 26))


class BuggyOnce:
    """The adapter, but its first overdue filing raises a bug (not an AdapterError)."""

    def __init__(self, adapter: InsurerAdapter) -> None:
        self._adapter: Any = adapter
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)

    def submit_overdue(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise RuntimeError("bug in the adapter")
        return self._adapter.submit_overdue(*args, **kwargs)


def test_a_bug_sending_one_action_does_not_stop_the_others(world: World) -> None:
    buggy = BuggyOnce(world.adapter)
    options = NightlyOptions(claims=ClaimsOptions(PATHS, "growth"))
    cycle = NightlyCycle(
        world.ledger, {"aci": POLICY}, {"allianz": buggy}, now=NOW, options=options
    )
    first = cycle.claims()
    assert first is not None and buggy.failed
    assert [e.reason for e in first.errors] == ["RuntimeError: bug in the adapter"] and not first.ok
    assert first.sent == {"REJECTED": 1}  # the next action was still taken up after the bug
    second = cycle.claims()  # the failed one is looked up by reference, then sent once
    assert second is not None and second.errors == [] and second.sent == {"SENT": 1}
    assert world.posts() == 1
