"""The due date in force (an accepted extension moves it only with the policy's
``extension_moves_deadlines``, and only later) is one rule: the scan's SQL mirrors
:func:`~tci_gateway.domain.deadlines.effective_due_date` on every combination, and the
case, its notification (as filed with the Allianz Trade sandbox), its overdue total, its
indemnity lines and the deadline scan agree, with the option true and false (SQLite and
PostgreSQL)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tci_gateway.adapters.contract import InsurerAdapter
from tci_gateway.domain.deadlines import effective_due_date
from tci_gateway.domain.escalation import DEFAULT_PATHS, EscalationPath
from tci_gateway.domain.policy import Policy
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import CaseActionRow, ClaimCaseRow, OpenItemRow
from tci_gateway.services.claims import run_claims
from tci_gateway.services.deadlines import effective_due_sql, scan
from tci_gateway.services.importing import import_buyers, import_open_items

from ..erp.conftest import make_policy
from .sandboxed import sandboxed_insurer

BASE = make_policy("aci", "allianz")
REF = {"business_unit_code": "ACI", "policy_id": "CONTRACT-P1"}
PATHS = {
    tier: EscalationPath.of(
        tier, {"reminder": 3, "extension_request": 5, "overdue_notification": 14, "claim": 90}
    )
    for tier in DEFAULT_PATHS
}
DAY6 = datetime(2027, 2, 6, 10, 0, tzinfo=UTC)  # INV-1 (due 31 Jan) is 6 days overdue
DAY22 = datetime(2027, 2, 22, 10, 0, tzinfo=UTC)
ITEMS = (
    "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
    "amount,open_amount,disputed,applies_to\n"
    "A1,INV-1,INVOICE,2026-12-01,2026-12-01,2027-01-31,EUR,12000.00,12000.00,false,\n"
    "A1,INV-0,INVOICE,2026-12-10,2026-12-10,2027-02-08,EUR,3000.00,3000.00,false,\n"
    "A1,INV-2,INVOICE,2027-01-10,2027-01-10,2027-03-10,EUR,5000.00,5000.00,false,\n"
)


def policy(moves: bool) -> Policy:
    terms = replace(BASE.terms, overdue_notification_days=15, extension_moves_deadlines=moves)
    return Policy("aci", "allianz", terms, REF)


def _import(ledger: Ledger, tmp: Path, items: str, pol: Policy, buyers: str) -> None:
    (tmp / "buyers.csv").write_text(
        "erp_account,name,country,policy,insurer_ids,tier\n" + buyers, encoding="utf-8"
    )
    (tmp / "items.csv").write_text(items, encoding="utf-8")
    import_buyers(ledger, tmp / "buyers.csv", policies={"aci": pol}, now=DAY6)
    import_open_items(ledger, tmp / "items.csv", now=DAY6)


# --- the SQL mirror ----------------------------------------------------------------------

D = date(2027, 1, 31)
DUES = (None, D)
EXTENSIONS = (None, D - timedelta(days=1), D, D + timedelta(days=1))


def test_the_scan_sql_and_the_rule_agree_on_every_combination(
    ledger: Ledger, tmp_path: Path
) -> None:
    combos = list(itertools.product(DUES, EXTENSIONS))
    rows = "".join(
        f"A1,C{n},INVOICE,2026-12-01,2026-12-01,{D},EUR,1.00,1.00,false,\n"
        for n in range(len(combos))
    )
    head = ITEMS.splitlines()[0] + "\n"
    _import(ledger, tmp_path, head + rows, policy(True), "A1,Alpha SA,FR,aci,,growth\n")
    with ledger.unit_of_work() as s:  # an item without a due date cannot be imported
        for n, (due, extended) in enumerate(combos):
            s.execute(
                update(OpenItemRow)
                .where(OpenItemRow.document_number == f"C{n}")
                .values(due_date=due, extended_due_date=extended)
            )
    checked = 0
    for moves in (True, False):
        expr = effective_due_sql(policy(moves).terms)
        with ledger.unit_of_work() as s:
            found = s.execute(
                select(
                    OpenItemRow.due_date, OpenItemRow.extended_due_date, expr.label("effective")
                ).where(OpenItemRow.document_number.like("C%"))
            ).all()
        assert sorted(((r[0], r[1]) for r in found), key=repr) == sorted(combos, key=repr)
        for due, extended, in_sql in found:
            rule = effective_due_date(due, extended, extension_moves_deadlines=moves)
            assert in_sql == rule, (moves, due, extended)
            checked += 1
    assert checked == 2 * len(DUES) * len(EXTENSIONS)


# --- the claims run ----------------------------------------------------------------------


@dataclass
class World:
    ledger: Ledger
    adapter: InsurerAdapter
    sandbox: Any
    policy: Policy

    def run(self, now: datetime) -> Any:
        return run_claims(
            self.ledger,
            {"aci": self.policy},
            PATHS,
            {"allianz": self.adapter},
            default_tier="growth",
            now=now,
            extension_days=30,
        )

    def filed(self, reference: str) -> dict[str, Any]:
        return next(
            r for r in self.sandbox.overdues.records if r.get("customerReference") == reference
        )

    def open_case(self) -> tuple[ClaimCaseRow, dict[str, CaseActionRow]]:
        with self.ledger.unit_of_work() as s:
            case = s.scalars(select(ClaimCaseRow).where(ClaimCaseRow.state == "OPEN")).one()
            actions = {
                a.action: a
                for a in s.scalars(select(CaseActionRow).where(CaseActionRow.case_id == case.id))
            }
            s.expunge_all()
        return case, actions


@pytest.fixture(params=[True, False], ids=["extension-moves", "extension-stays"])
def world(request: pytest.FixtureRequest, ledger: Ledger, tmp_path: Path) -> Iterator[World]:
    adapter, sandbox, fixture = sandboxed_insurer("allianz")
    assert dict(fixture.policy.external_ref) == REF
    pol = policy(request.param)
    buyers = f"A1,Contract Alpha SA,FR,aci,allianz:{fixture.known_buyer_id},growth\n"
    _import(ledger, tmp_path, ITEMS, pol, buyers)
    yield World(ledger, adapter, sandbox, pol)
    adapter.close()


def test_case_notification_and_overdue_total_follow_one_due_date(world: World) -> None:
    world.run(DAY6)  # INV-1 only is overdue: an extension to 2 March is asked for it
    _, actions = world.open_case()
    exp = actions["EXTENSION_REQUEST"]
    assert [(i["number"], i["new_due_date"]) for i in exp.payload["invoices"]] == [
        ("INV-1", "2027-03-02")
    ]
    world.filed(exp.client_reference)["overdueStatusCode"] = "Accepted"
    world.run(DAY6 + timedelta(days=1))  # the insurer's acceptance is polled and applied
    with world.ledger.unit_of_work() as s:
        extended = s.scalar(
            select(OpenItemRow.extended_due_date).where(OpenItemRow.document_number == "INV-1")
        )
    assert extended == date(2027, 3, 2)

    world.run(DAY22)
    case, actions = world.open_case()
    notification = actions["OVERDUE_NOTIFICATION"]
    assert notification.state == "SENT"
    invoices = [(i["number"], i["due_date"]) for i in notification.payload["invoices"]]
    filed = world.filed(notification.client_reference)
    if world.policy.terms.extension_moves_deadlines:
        # INV-1 is due on 2 March now: INV-0 (due 8 February) alone is overdue.
        expected_due, expected = date(2027, 2, 8), [("INV-0", "2027-02-08")]
        total, inv1_due = Decimal("3000.00"), "2027-03-02"
    else:
        # The extension does not move deadlines: INV-1 stays overdue from 31 January.
        expected_due = date(2027, 1, 31)
        expected = [("INV-1", "2027-01-31"), ("INV-0", "2027-02-08")]
        total, inv1_due = Decimal("15000.00"), "2027-01-31"
    assert case.due_date == expected_due
    assert invoices == expected
    assert [i["invoiceNumber"] for i in filed["invoices"]] == [n for n, _ in expected]
    assert case.overdue_total == total
    assert sum(Decimal(i["outstanding"]) for i in notification.payload["invoices"]) == total
    lines = {line["number"]: line for line in case.details["indemnity"]["lines"]}
    assert lines["INV-1"]["due_date"] == inv1_due
    # The scan (SQL) and the case agree on the clock.
    (ob,) = scan(world.ledger, {"aci": world.policy}, PATHS, default_tier="growth", now=DAY22)
    assert ob.clock.due_date == case.due_date
    assert ob.clock.notify_by == case.notify_by and ob.clock.claim_by == case.claim_by
