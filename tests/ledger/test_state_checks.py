"""Every state column holds only its enum's values, on SQLite and PostgreSQL: the
database refuses any other (a CHECK constraint), the column type refuses it before it is
sent, and the migrations create exactly the CHECKs the tables declare."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

import pytest
from alembic import command
from sqlalchemy import CheckConstraint, Enum, inspect, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from tci_gateway.domain.cases import ActionChannel, ActionState, CaseState, InsurerCaseStatus
from tci_gateway.domain.cover import (
    NO_COVER,
    CoverAction,
    CoverRequestState,
    CoverStatus,
    LimitChangeReason,
    PendingAction,
)
from tci_gateway.domain.escalation import StepAction
from tci_gateway.domain.identity import ParentRelation, ReviewState
from tci_gateway.domain.sync import SyncStatus
from tci_gateway.ledger.api_tables import (
    DeliveryState,
    SubscriptionRow,
    SubscriptionState,
    WebhookDeliveryRow,
)
from tci_gateway.ledger.credit_tables import (
    ApplicationRoute,
    ApplicationState,
    CreditApplicationRow,
    CreditLineRow,
    CreditPlanRow,
    LineKind,
    PlanState,
)
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.job_state import JobState
from tci_gateway.ledger.migrate import alembic_config, upgrade
from tci_gateway.ledger.tables import (
    Base,
    BuyerParentRow,
    BuyerRow,
    CaseActionRow,
    ClaimCaseRow,
    CoverDecisionRow,
    CoverRequestRow,
    JobRunRow,
    LimitChangeRow,
    LimitInForceRow,
    PolicyRow,
    ReviewItemRow,
    SyncRunRow,
)
from tci_gateway.ledger.web_tables import Channel, MessageState, NotificationRow, Role, UserRow

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
DAY = date(2026, 12, 5)
_LITERAL = re.compile(r"'([^']*)'")

# Every state column: its table, column and enum (the test below checks the list is
# complete against the tables' declared enum columns).
STATE_COLUMNS: list[tuple[str, str, type[StrEnum]]] = [
    ("sync_runs", "status", SyncStatus),
    ("cover_decisions", "status", CoverStatus),
    ("cover_decisions", "pending_action", PendingAction),
    ("cover_requests", "state", CoverRequestState),
    ("cover_requests", "action", CoverAction),
    ("cover_requests", "outcome_status", CoverStatus),
    ("buyer_parents", "relation", ParentRelation),
    ("review_items", "state", ReviewState),
    ("job_runs", "state", JobState),
    ("limit_changes", "reason", LimitChangeReason),
    ("claim_cases", "state", CaseState),
    ("claim_cases", "insurer_status", InsurerCaseStatus),
    ("case_actions", "action", StepAction),
    ("case_actions", "state", ActionState),
    ("case_actions", "channel", ActionChannel),
    ("case_actions", "insurer_status", InsurerCaseStatus),
    ("subscriptions", "state", SubscriptionState),
    ("webhook_deliveries", "state", DeliveryState),
    ("users", "role", Role),
    ("notifications", "channel", Channel),
    ("notifications", "state", MessageState),
    ("credit_applications", "state", ApplicationState),
    ("credit_applications", "route", ApplicationRoute),
    ("credit_lines", "kind", LineKind),
    ("credit_plans", "state", PlanState),
]


def test_the_list_names_every_enum_column_of_the_tables() -> None:
    declared = {
        (table.name, column.name, column.type.enum_class)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Enum)
    }
    assert declared == set(STATE_COLUMNS)


def test_the_migrations_create_the_checks_the_tables_declare(ledger: Ledger) -> None:
    """Same names, same allowed values (the quoted literals of each CHECK)."""
    inspector = inspect(ledger.engine)
    dialect = ledger.engine.dialect
    for table in Base.metadata.sorted_tables:
        found = {c["name"]: c["sqltext"] for c in inspector.get_check_constraints(table.name)}
        declared = {
            str(c.name): str(
                c.sqltext.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            )
            for c in table.constraints
            if isinstance(c, CheckConstraint)
        }
        assert set(found) == set(declared), table.name
        for name, sql in declared.items():
            assert set(_LITERAL.findall(found[name])) == set(_LITERAL.findall(sql)), name


def _one_of_each(session: Session, *, api_tables: bool = True) -> dict[str, int]:
    """A row in every table with a state column; returns their ids by table (without
    the HTTP API's tables, of migration 0009, when ``api_tables`` is false)."""
    policy = PolicyRow(
        key="P1",
        insurer="atradius",
        currency="EUR",
        insured_percentage=Decimal(90),
        max_credit_period_days=90,
        max_extension_days=60,
        overdue_notification_days=60,
        waiting_days=150,
        claim_filing_days=30,
        discretionary_limit=Decimal(0),
        claim_threshold=Decimal(0),
        deductible=Decimal(0),
        timezone="UTC",
        external_ref={},
        updated_at=NOW,
    )
    buyer = BuyerRow(name="Buyer", country="FR", created_at=NOW, updated_at=NOW)
    session.add_all([policy, buyer])
    session.flush()
    run = SyncRunRow(
        insurer="atradius",
        policy_id=policy.id,
        business_date=DAY,
        status=SyncStatus.RUNNING,
        started_at=NOW,
    )
    session.add(run)
    session.flush()
    decision = CoverDecisionRow(
        policy_id=policy.id,
        buyer_id=buyer.id,
        insurer_cover_ref="C1",
        status=CoverStatus.APPROVED,
        currency="EUR",
        granted_amount=Decimal(100),
        effective_from=DAY,
        pending_action=PendingAction.OTHER,
        raw_codes={},
        unknown_codes=[],
        conditions=[],
        recorded_at=NOW,
        sync_run_id=run.id,
    )
    request = CoverRequestRow(
        client_reference="tci-req-1",
        policy_id=policy.id,
        buyer_id=buyer.id,
        insurer="atradius",
        insurer_buyer_id="B1",
        action=CoverAction.NEW,
        cover_type="CREDIT_LIMIT",
        state=CoverRequestState.DECIDED,
        outcome_status=CoverStatus.APPROVED,
        created_at=NOW,
        updated_at=NOW,
    )
    parent = BuyerParentRow(
        buyer_id=buyer.id,
        relation=ParentRelation.DIRECT,
        scheme="LEI",
        value="X",
        source="gleif",
        updated_at=NOW,
    )
    review = ReviewItemRow(
        account_a="A",
        account_b="B",
        score=Decimal("0.9"),
        reason="name",
        state=ReviewState.PENDING,
        dedupe_key="A|B",
        created_at=NOW,
    )
    job = JobRunRow(
        job="limit_sync",
        business_date=DAY,
        state=JobState.RUNNING,
        owner="me",
        started_at=NOW,
        lease_until=NOW,
        detail={},
    )
    limit = LimitInForceRow(
        policy_id=policy.id,
        buyer_id=buyer.id,
        status=NO_COVER,
        amount=Decimal(0),
        currency="EUR",
        business_date=DAY,
        change_id=1,
        changed_at=NOW,
    )
    change = LimitChangeRow(
        policy_id=policy.id,
        buyer_id=buyer.id,
        business_date=DAY,
        amount=Decimal(0),
        currency="EUR",
        reason=LimitChangeReason.SYNC,
        created_at=NOW,
    )
    case = ClaimCaseRow(
        policy_id=policy.id,
        buyer_id=buyer.id,
        tier="default",
        state=CaseState.OPEN,
        insurer_status=InsurerCaseStatus.SUBMITTED,
        due_date=DAY,
        cover_stop=DAY,
        notify_by=DAY,
        date_of_loss=DAY,
        claim_by=DAY,
        opened_on=DAY,
        currency="EUR",
        overdue_total=Decimal(0),
        insured_total=Decimal(0),
        indemnity=Decimal(0),
        details={},
        created_at=NOW,
        updated_at=NOW,
    )
    session.add_all([decision, request, parent, review, job, limit, change, case])
    session.flush()
    action = CaseActionRow(
        case_id=case.id,
        action=StepAction.CLAIM,
        client_reference="tci-case-1",
        channel=ActionChannel.API,
        state=ActionState.QUEUED,
        due_on=DAY,
        payload={},
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(action)
    session.flush()
    ids = {
        "sync_runs": run.id,
        "cover_decisions": decision.id,
        "cover_requests": request.id,
        "buyer_parents": parent.id,
        "review_items": review.id,
        "job_runs": job.id,
        "limit_changes": change.id,
        "claim_cases": case.id,
        "case_actions": action.id,
    }
    if not api_tables:
        return ids
    subscription = SubscriptionRow(
        url="https://erp.example/hooks",
        events=["limit.changed"],
        secret="s",
        state=SubscriptionState.ACTIVE,
        created_at=NOW,
    )
    session.add(subscription)
    session.flush()
    delivery = WebhookDeliveryRow(
        subscription_id=subscription.id,
        event_id="e1",
        event_type="limit.changed",
        ordering_key="buyer:1",
        payload={},
        state=DeliveryState.PENDING,
        next_attempt_at=NOW,
        created_at=NOW,
    )
    session.add(delivery)
    session.flush()
    user = UserRow(
        name="alice",
        role=Role.VIEWER,
        password_hash="x",
        created_at=NOW,
        password_changed_at=NOW,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    message = NotificationRow(
        user_id=user.id,
        channel=Channel.EMAIL,
        event_id="digest:2026-12-05",
        subject="s",
        body="b",
        payload={},
        state=MessageState.PENDING,
        attempts=0,
        next_attempt_at=NOW,
        created_at=NOW,
    )
    session.add(message)
    session.flush()
    plan = CreditPlanRow(
        buyer_id=buyer.id,
        policy_id=policy.id,
        target_amount=Decimal(100),
        current_amount=Decimal(25),
        currency="EUR",
        state=PlanState.ACTIVE,
        step=0,
        last_step_on=DAY,
        next_step={},
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(plan)
    session.flush()
    application = CreditApplicationRow(
        reference="CA-20261205-000001",
        buyer_id=buyer.id,
        policy_id=policy.id,
        amount=Decimal(100),
        currency="EUR",
        requested_by="alice",
        channel="cli",
        tier="growth",
        state=ApplicationState.GRANTED,
        route=ApplicationRoute.DCL,
        scorecard={},
        conditions=[],
        evidence={},
        received_at=NOW,
        updated_at=NOW,
    )
    session.add(application)
    session.flush()
    line = CreditLineRow(
        buyer_id=buyer.id,
        policy_id=policy.id,
        kind=LineKind.DCL,
        amount=Decimal(100),
        currency="EUR",
        effective_from=DAY,
        application_id=application.id,
        approved_by="pre-screen",
        reason="within the DCL",
        created_at=NOW,
    )
    session.add(line)
    session.flush()
    return {
        **ids,
        "credit_applications": application.id,
        "credit_lines": line.id,
        "credit_plans": plan.id,
        "subscriptions": subscription.id,
        "webhook_deliveries": delivery.id,
        "users": user.id,
        "notifications": message.id,
    }


def _set(ledger: Ledger, table: str, column: str, value: str, row_id: int) -> None:
    # Raw SQL: past the column type, straight to the database's CHECK.
    with ledger.unit_of_work() as session:
        session.execute(
            text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),  # noqa: S608 (names from STATE_COLUMNS)
            {"value": value, "id": row_id},
        )


def test_the_database_refuses_a_state_outside_its_enum(ledger: Ledger) -> None:
    with ledger.unit_of_work() as session:
        ids = _one_of_each(session)
    for table, column, enum in STATE_COLUMNS:
        for member in enum:  # every value of the enum is accepted ...
            _set(ledger, table, column, member.value, ids[table])
        with pytest.raises(IntegrityError):  # ... and nothing else
            _set(ledger, table, column, "NOPE", ids[table])
        with pytest.raises(IntegrityError):  # values are case-sensitive
            _set(ledger, table, column, next(iter(enum)).value.swapcase(), ids[table])


def test_the_database_refuses_a_limit_status_outside_cover_statuses(ledger: Ledger) -> None:
    with ledger.unit_of_work() as session:
        _one_of_each(session)
    update = "UPDATE limits_in_force SET status = :value"
    for value in [*(s.value for s in CoverStatus), NO_COVER]:
        with ledger.unit_of_work() as session:
            session.execute(text(update), {"value": value})
    with pytest.raises(IntegrityError), ledger.unit_of_work() as session:
        session.execute(text(update), {"value": "UNKNOWN"})


def test_the_column_type_refuses_a_bad_state_before_sending_it(ledger: Ledger) -> None:
    refused = pytest.raises(StatementError, match="is not among the defined enum values")
    with refused, ledger.unit_of_work() as session:
        session.add(
            JobRunRow(
                job="limit_sync",
                business_date=DAY,
                state="DONE",
                owner="me",
                started_at=NOW,
                lease_until=NOW,
                detail={},
            )
        )
    with ledger.unit_of_work() as session:
        ids = _one_of_each(session)
    with ledger.unit_of_work() as session:
        row = session.get_one(JobRunRow, ids["job_runs"])
        assert row.state is JobState.RUNNING  # loaded as the enum's member


def test_rows_written_before_the_state_checks_pass_the_upgrade(database_url: str) -> None:
    """Migration 0008 adds CHECKs to columns that held values without one: the values
    the code has always written there pass."""
    ledger = Ledger.from_url(database_url)
    try:
        command.downgrade(alembic_config(ledger.engine), "0007")
        with ledger.unit_of_work() as session:
            ids = _one_of_each(session, api_tables=False)
        for status in CoverStatus:
            _set(ledger, "cover_requests", "outcome_status", status.value, ids["cover_requests"])
        for case_status in InsurerCaseStatus:
            _set(ledger, "case_actions", "insurer_status", case_status.value, ids["case_actions"])
        for reason in LimitChangeReason:
            _set(ledger, "limit_changes", "reason", reason.value, ids["limit_changes"])
        upgrade(ledger.engine)
        with pytest.raises(IntegrityError):
            _set(ledger, "limit_changes", "reason", "roll", ids["limit_changes"])
    finally:
        ledger.dispose()
