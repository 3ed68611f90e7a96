"""A buyer merge handles every table that points at a buyer (derived from the schema's
foreign keys), each by its rule, on SQLite and PostgreSQL: a buyer with a claim case
merges (it used to end in an IntegrityError), two open cases or two covers under one
policy are refused with nothing written, and the limit in force is computed again for
the staying buyer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, func, select
from sqlalchemy.orm import Session

from tci_gateway.domain.alerts import AlertKind
from tci_gateway.domain.cover import LimitChangeReason
from tci_gateway.domain.escalation import DEFAULT_PATHS, EscalationPath
from tci_gateway.ledger import buyer_merge
from tci_gateway.ledger.credit_tables import (
    ApplicationRoute,
    ApplicationState,
    LineKind,
    PlanState,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.identity import MergeConflict
from tci_gateway.ledger.policies import policy_ids
from tci_gateway.ledger.runs import add_alert
from tci_gateway.ledger.tables import (
    AssessmentRow,
    Base,
    BehaviourSnapshotRow,
    BuyerIdentifierRow,
    BuyerParentRow,
    BuyerRow,
    ClaimCaseRow,
    CoverDecisionRow,
    CoverRequestRow,
    CreditApplicationRow,
    CreditLineRow,
    CreditPlanRow,
    LimitChangeRow,
    LimitInForceRow,
    TierChangeRow,
    UnlistedBuyerRow,
)
from tci_gateway.services.claims import run_claims
from tci_gateway.services.identity import merge
from tci_gateway.services.importing import import_buyers, import_open_items
from tci_gateway.services.limits import refresh

from ..erp.conftest import make_policy

POLICY = make_policy("main", "atradius")
PATHS = {
    tier: EscalationPath.of(tier, {"reminder": 7, "overdue_notification": 14, "claim": 90})
    for tier in DEFAULT_PATHS
}
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
HEAD = (
    "erp_account,document_number,kind,document_date,delivery_date,due_date,currency,"
    "amount,open_amount,disputed,applies_to\n"
)


def test_every_table_that_points_at_buyers_has_a_merge_rule() -> None:
    refs = buyer_merge.buyer_references()
    assert "claim_cases.buyer_id" in refs and "limits_in_force.buyer_id" in refs
    assert buyer_merge.unhandled() == set()
    assert set(buyer_merge.RULES) == refs  # no rule for a reference that is gone


def test_a_new_table_pointing_at_buyers_is_caught() -> None:
    metadata = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    Table(
        "buyer_notes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("buyer_id", ForeignKey("buyers.id")),
    )
    assert buyer_merge.unhandled(metadata) == {"buyer_notes.buyer_id"}


def _seed(ledger: Ledger, tmp: Path, a1_due: str = "2027-04-30") -> None:
    """Buyer 1 (A1, nothing overdue) and buyer 2 (B1, overdue), both under ``main``."""
    (tmp / "buyers.csv").write_text(
        "erp_account,name,country,policy,vat,tier\n"
        "A1,Alpha Handel GmbH,DE,main,DE136695976,growth\n"
        "B1,Alpha Handel,DE,main,,watch\n",
        encoding="utf-8",
    )
    (tmp / "items.csv").write_text(
        HEAD + f"A1,INV-A,INVOICE,2027-01-05,2027-01-05,{a1_due},EUR,4000.00,4000.00,false,\n"
        "B1,INV-B,INVOICE,2026-12-01,2026-12-01,2027-01-31,EUR,7000.00,7000.00,false,\n",
        encoding="utf-8",
    )
    import_buyers(ledger, tmp / "buyers.csv", policies={"main": POLICY}, now=NOW)
    import_open_items(ledger, tmp / "items.csv", now=NOW)


def _run(ledger: Ledger, now: datetime = NOW) -> None:
    report = run_claims(
        ledger, {"main": POLICY}, PATHS, {}, default_tier="growth", now=now, lead_days=(7,)
    )
    assert report.errors == []


def _decision(buyer: int, policy_id: int, ref: str, amount: str) -> CoverDecisionRow:
    return CoverDecisionRow(
        policy_id=policy_id,
        buyer_id=buyer,
        insurer_cover_ref=ref,
        status="APPROVED",
        currency="EUR",
        granted_amount=Decimal(amount),
        requested_amount=Decimal(amount),
        effective_from=date(2026, 6, 1),
        raw_codes={"status": "DC01"},
        unknown_codes=[],
        conditions=[],
        recorded_at=NOW,
    )


def _assessment(buyer: int, provider_id: str) -> AssessmentRow:
    return AssessmentRow(
        buyer_id=buyer,
        provider="bureau",
        provider_id=provider_id,
        scale="1-100",
        missing=[],
        fetched_at=NOW,
    )


def _parent(buyer: int, source: str, value: str) -> BuyerParentRow:
    return BuyerParentRow(
        buyer_id=buyer,
        relation="ULTIMATE",
        scheme="LEI",
        value=value,
        source=source,
        updated_at=NOW,
    )


def _references_to(ledger: Ledger, buyer: int) -> dict[str, int]:
    """How many rows of each table point at ``buyer`` (every foreign key to buyers)."""
    found = {}
    with ledger.unit_of_work() as s:
        for ref in sorted(buyer_merge.buyer_references()):
            name, column = ref.split(".")
            table = Base.metadata.tables[name]
            count = select(func.count()).select_from(table).where(table.c[column] == buyer)
            found[ref] = s.scalars(count).one()
    return found


def _credit_rows(s: Session, *, buyer_id: int, policy_id: int) -> None:
    """A credit application, its DCL line, a progressive plan, a tier change and a
    behaviour snapshot of ``buyer_id``."""
    plan = CreditPlanRow(
        buyer_id=buyer_id,
        policy_id=policy_id,
        target_amount=Decimal(20000),
        current_amount=Decimal(5000),
        currency="EUR",
        state=PlanState.ACTIVE,
        step=0,
        last_step_on=NOW.date(),
        next_step={},
        created_at=NOW,
        updated_at=NOW,
    )
    s.add(plan)
    s.flush()
    app = CreditApplicationRow(
        reference=f"CA-TEST-{buyer_id}",
        buyer_id=buyer_id,
        policy_id=policy_id,
        amount=Decimal(20000),
        currency="EUR",
        requested_by="rita",
        channel="cli",
        tier="growth",
        state=ApplicationState.GRANTED,
        route=ApplicationRoute.DCL,
        scorecard={},
        conditions=[],
        evidence={},
        plan_id=plan.id,
        received_at=NOW,
        updated_at=NOW,
    )
    s.add(app)
    s.flush()
    s.add(
        CreditLineRow(
            buyer_id=buyer_id,
            policy_id=policy_id,
            kind=LineKind.DCL,
            amount=Decimal(5000),
            currency="EUR",
            effective_from=NOW.date(),
            application_id=app.id,
            approved_by="pre-screen",
            reason="within the DCL",
            created_at=NOW,
        )
    )
    s.add(
        TierChangeRow(
            buyer_id=buyer_id,
            business_date=NOW.date(),
            old_tier=None,
            new_tier="watch",
            reason="test",
            details={},
            source="rules",
            created_at=NOW,
        )
    )
    zero = Decimal(0)
    s.add(
        BehaviourSnapshotRow(
            scope="buyer",
            scope_key=str(buyer_id),
            business_date=NOW.date(),
            currency="EUR",
            receivables=zero,
            sales_3m=zero,
            current=zero,
            days_1_30=zero,
            days_31_60=zero,
            days_61_90=zero,
            days_over_90=zero,
            disputed_amount=zero,
            details={},
            computed_at=NOW,
        )
    )


def test_a_merge_moves_every_reference_and_recomputes_the_limit(
    ledger: Ledger, tmp_path: Path
) -> None:
    _seed(ledger, tmp_path)
    _run(ledger)  # buyer 2 (B1) has an open case with a notification; buyer 1 has none
    with ledger.unit_of_work() as s:
        pid = policy_ids(s)["main"]
        s.add(_decision(2, pid, "COV-B", "50000"))
        s.add_all([_assessment(1, "X"), _assessment(2, "X"), _assessment(2, "Y")])
        s.add_all([_parent(1, "gleif", "LEI-1"), _parent(2, "gleif", "LEI-2")])
        s.add(_parent(2, "dnb", "DUNS-2"))
        s.add(BuyerIdentifierRow(buyer_id=2, scheme="DUNS", issuer="", value="150483782"))
        s.add(
            CoverRequestRow(
                client_reference="REQ-B",
                policy_id=pid,
                buyer_id=2,
                insurer="atradius",
                insurer_buyer_id="100002",
                action="NEW",
                cover_type="CL",
                amount=Decimal("60000"),
                currency="EUR",
                state="QUEUED",
                attempts=0,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        add_alert(
            s,
            kind=AlertKind.CASE_CLOSED,
            message="x",
            business_date=NOW.date(),
            dedupe_key="merge-test",
            now=NOW,
            buyer_id=2,
        )
        _credit_rows(s, buyer_id=2, policy_id=pid)
        s.add(UnlistedBuyerRow(policy_id=pid, buyer_id=2))  # a sync's check found it
        s.flush()
        refresh(s, POLICY, pid, [2], now=NOW, reason=LimitChangeReason.SYNC)
    before = _references_to(ledger, 2)
    # The test seeds every table that points at buyers: a new one must be added here.
    assert {ref for ref, n in before.items() if n == 0} == set(), before
    case_id = next(iter(_case_ids(ledger)))

    with ledger.unit_of_work() as s:
        result = merge(s, 1, 2, policies={"main": POLICY}, now=NOW)
    assert result.limit_policies == {pid}
    assert set(_references_to(ledger, 2).values()) == {0}
    with ledger.unit_of_work() as s:
        assert s.get(BuyerRow, 2) is None
        case = s.get(ClaimCaseRow, case_id)
        assert case is not None and (case.buyer_id, case.state) == (1, "OPEN")
        # The staying buyer's own assessment and parent win; the others moved.
        assessments = s.execute(
            select(AssessmentRow.provider_id).where(AssessmentRow.buyer_id == 1)
        ).scalars()
        assert sorted(assessments) == ["X", "Y"]
        parents = s.execute(
            select(BuyerParentRow.source, BuyerParentRow.value).where(BuyerParentRow.buyer_id == 1)
        ).all()
        assert sorted(parents) == [("dnb", "DUNS-2"), ("gleif", "LEI-1")]
        # The limit in force was computed again for the staying buyer, as a change.
        limit = s.get(LimitInForceRow, (pid, 1))
        assert limit is not None and limit.amount == Decimal("50000")
        reasons = s.scalars(
            select(LimitChangeRow.reason)
            .where(LimitChangeRow.buyer_id == 1)
            .order_by(LimitChangeRow.id)
        ).all()
        assert reasons == [LimitChangeReason.SYNC, LimitChangeReason.MERGE]
        # The merged buyer's snapshots went (no foreign key points at them).
        assert s.scalars(select(BehaviourSnapshotRow.scope_key)).all() == []

    # The next claims run follows the merged case: no second case, no error.
    _run(ledger, NOW + timedelta(days=1))
    assert _case_ids(ledger) == {case_id}


def _case_ids(ledger: Ledger) -> set[int]:
    with ledger.unit_of_work() as s:
        return set(s.scalars(select(ClaimCaseRow.id).where(ClaimCaseRow.state == "OPEN")))


def test_two_open_cases_under_one_policy_are_refused_with_nothing_written(
    ledger: Ledger, tmp_path: Path
) -> None:
    _seed(ledger, tmp_path, a1_due="2027-02-01")  # both buyers overdue
    _run(ledger)
    assert len(_case_ids(ledger)) == 2
    before = _references_to(ledger, 2)
    refused = pytest.raises(MergeConflict, match="both have an open claim case under policy main")
    with refused, ledger.unit_of_work() as s:
        merge(s, 1, 2, policies={"main": POLICY}, now=NOW)
    assert _references_to(ledger, 2) == before
    with ledger.unit_of_work() as s:
        assert s.get(BuyerRow, 2) is not None


def test_two_covers_under_one_policy_are_refused(ledger: Ledger, tmp_path: Path) -> None:
    _seed(ledger, tmp_path)
    with ledger.unit_of_work() as s:
        pid = policy_ids(s)["main"]
        s.add_all([_decision(1, pid, "COV-A", "10000"), _decision(2, pid, "COV-B", "20000")])
    refused = pytest.raises(MergeConflict, match="both have cover under policy main")
    with refused, ledger.unit_of_work() as s:
        merge(s, 1, 2, policies={"main": POLICY}, now=NOW)


def test_a_merge_without_a_rule_for_a_table_writes_nothing(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(ledger, tmp_path)
    rules = dict(buyer_merge.RULES)
    del rules["claim_cases.buyer_id"]
    monkeypatch.setattr(buyer_merge, "RULES", rules)
    refused = pytest.raises(RuntimeError, match=r"no merge rule for claim_cases\.buyer_id")
    with refused, ledger.unit_of_work() as s:
        merge(s, 1, 2, policies={}, now=NOW)
    with ledger.unit_of_work() as s:
        assert s.get(BuyerRow, 2) is not None


def test_a_merge_with_credit_lines_on_both_sides_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    _seed(ledger, tmp_path)
    with ledger.unit_of_work() as s:
        pid = policy_ids(s)["main"]
        _credit_rows(s, buyer_id=1, policy_id=pid)
    with ledger.unit_of_work() as s:
        for plan in s.scalars(select(CreditPlanRow)):
            plan.state = PlanState.COMPLETE  # only the lines conflict
        s.add(
            CreditLineRow(
                buyer_id=2,
                policy_id=pid,
                kind=LineKind.INTERNAL,
                amount=Decimal(3000),
                currency="EUR",
                effective_from=NOW.date(),
                approved_by="rita",
                reason="test",
                created_at=NOW,
            )
        )
    with (
        pytest.raises(MergeConflict, match="credit line in force under policy main"),
        ledger.unit_of_work() as s,
    ):
        merge(s, 1, 2, policies={"main": POLICY}, now=NOW)
