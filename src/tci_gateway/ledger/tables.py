"""The ledger's tables (SQLAlchemy 2.x, typed).

Invariants live in the database as well as in code: amounts are non-negative exact
decimals, currencies three letters, statuses from the normalised enum, an open amount
never above its document amount, one identifier per (scheme, issuer, value) and one
open item per (ERP account, document number). Alembic migrations in ``migrations/``
create exactly these tables; a test compares the two.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false

from tci_gateway.domain.alerts import Severity
from tci_gateway.domain.cover import (
    NO_COVER,
    CoverAction,
    CoverRequestState,
    CoverStatus,
    LimitChangeReason,
    PendingAction,
)
from tci_gateway.domain.identity import ParentRelation, ReviewState
from tci_gateway.domain.receivables import ItemKind
from tci_gateway.domain.sync import SyncStatus

# The claims tables live in case_tables.py and the HTTP API's in api_tables.py;
# re-exported so that this module is the whole schema: importing it registers every table
# in Base.metadata.
from tci_gateway.ledger.api_tables import ApiKeyRow as ApiKeyRow
from tci_gateway.ledger.api_tables import AuditRow as AuditRow
from tci_gateway.ledger.api_tables import EventCursorRow as EventCursorRow
from tci_gateway.ledger.api_tables import IdempotencyRow as IdempotencyRow
from tci_gateway.ledger.api_tables import InsurerHookRow as InsurerHookRow
from tci_gateway.ledger.api_tables import SubscriptionRow as SubscriptionRow
from tci_gateway.ledger.api_tables import WebhookAttemptRow as WebhookAttemptRow
from tci_gateway.ledger.api_tables import WebhookDeliveryRow as WebhookDeliveryRow
from tci_gateway.ledger.base import Amount
from tci_gateway.ledger.base import Base as Base
from tci_gateway.ledger.case_tables import CaseActionRow as CaseActionRow
from tci_gateway.ledger.case_tables import ClaimCaseRow as ClaimCaseRow
from tci_gateway.ledger.credit_tables import BehaviourSnapshotRow as BehaviourSnapshotRow
from tci_gateway.ledger.credit_tables import CreditApplicationEventRow as CreditApplicationEventRow
from tci_gateway.ledger.credit_tables import CreditApplicationRow as CreditApplicationRow
from tci_gateway.ledger.credit_tables import CreditLineRow as CreditLineRow
from tci_gateway.ledger.credit_tables import CreditPlanRow as CreditPlanRow
from tci_gateway.ledger.credit_tables import CreditRunRow as CreditRunRow
from tci_gateway.ledger.credit_tables import TierChangeRow as TierChangeRow
from tci_gateway.ledger.golden_copy_tables import GoldenCopyLoadRow as GoldenCopyLoadRow
from tci_gateway.ledger.golden_copy_tables import LeiRecordRow as LeiRecordRow
from tci_gateway.ledger.golden_copy_tables import LeiRelationshipRow as LeiRelationshipRow
from tci_gateway.ledger.job_state import JobState
from tci_gateway.ledger.types import ExactDecimal, UTCDateTime, state_enum
from tci_gateway.ledger.unlisted_tables import UnlistedBuyerRow as UnlistedBuyerRow
from tci_gateway.ledger.unlisted_tables import UnlistedCheckRow as UnlistedCheckRow
from tci_gateway.ledger.web_tables import NotificationPreferenceRow as NotificationPreferenceRow
from tci_gateway.ledger.web_tables import NotificationRow as NotificationRow
from tci_gateway.ledger.web_tables import UserRow as UserRow
from tci_gateway.ledger.web_tables import WebSessionRow as WebSessionRow


def _in(column: str, values: list[str]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class PolicyRow(Base):
    __tablename__ = "policies"
    __table_args__ = (
        CheckConstraint("length(currency) = 3", name="currency_len"),
        # Scale-free checks only: on SQLite exact decimals are stored scaled (see types.py),
        # so a literal bound such as "<= 100" would compare against the scaled integer.
        CheckConstraint("insured_percentage > 0", name="insured_percentage"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    insurer: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    insured_percentage: Mapped[Decimal] = mapped_column(ExactDecimal(scale=4))
    max_credit_period_days: Mapped[int] = mapped_column(Integer)
    max_extension_days: Mapped[int] = mapped_column(Integer)
    overdue_notification_days: Mapped[int] = mapped_column(Integer)
    waiting_days: Mapped[int] = mapped_column(Integer)
    claim_filing_days: Mapped[int] = mapped_column(Integer)
    discretionary_limit: Mapped[Decimal] = mapped_column(Amount)
    claim_threshold: Mapped[Decimal] = mapped_column(Amount)
    deductible: Mapped[Decimal] = mapped_column(Amount)
    timezone: Mapped[str] = mapped_column(String(64))
    external_ref: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BuyerRow(Base):
    __tablename__ = "buyers"
    __table_args__ = (
        CheckConstraint("length(country) = 2", name="country_len"),
        # The workspace's buyers list sorted by name, keyset-paged on (name, id).
        Index("ix_buyers_name_id", "name", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2))
    tier: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A tier a risk manager pinned by hand: the nightly tier rules leave it alone until
    # it is unpinned (migration 0011). The database's default fills it, read when first
    # used (not RETURNING on insert: code writing buyers also runs on older schemas in
    # the migration tests).
    tier_pinned: Mapped[bool] = mapped_column(Boolean, server_default=false())

    __mapper_args__ = {"eager_defaults": False}


class BuyerIdentifierRow(Base):
    __tablename__ = "buyer_identifiers"
    __table_args__ = (
        UniqueConstraint("scheme", "issuer", "value", name="uq_buyer_identifiers_scheme_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id", ondelete="CASCADE"), index=True)
    scheme: Mapped[str] = mapped_column(String(16))
    issuer: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[str] = mapped_column(String(64), index=True)  # found by value alone too
    # Provenance: where the identifier came from ("erp:C1001", "bureau:gleif",
    # "insurer:atradius", "sync:coface", "search:allianz") and when it was recorded;
    # NULL for identifiers recorded before provenance was kept.
    source: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ErpAccountRow(Base):
    __tablename__ = "erp_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SyncRunRow(Base):
    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    insurer: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    business_date: Mapped[date] = mapped_column(Date)
    status: Mapped[SyncStatus] = mapped_column(state_enum(SyncStatus, name="status", length=16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    written: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    stale: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)


class CoverDecisionRow(Base):
    """One version of a decision. History is append-only: a change is a new row."""

    __tablename__ = "cover_decisions"
    __table_args__ = (
        CheckConstraint("granted_amount >= 0", "granted_nonneg"),
        CheckConstraint("requested_amount IS NULL OR requested_amount >= 0", "requested_nonneg"),
        CheckConstraint("length(currency) = 3", "currency_len"),
        CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", "dates"),
        Index("ix_cover_decisions_policy_buyer", "policy_id", "buyer_id", "effective_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    insurer_cover_ref: Mapped[str] = mapped_column(String(64))
    status: Mapped[CoverStatus] = mapped_column(state_enum(CoverStatus, name="status", length=32))
    is_preliminary: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(3))
    granted_amount: Mapped[Decimal] = mapped_column(Amount)
    requested_amount: Mapped[Decimal | None] = mapped_column(Amount)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    pending_action: Mapped[PendingAction | None] = mapped_column(
        state_enum(PendingAction, name="pending_action", length=32)
    )
    raw_codes: Mapped[dict[str, str]] = mapped_column(JSON)
    unknown_codes: Mapped[list[str]] = mapped_column(JSON)
    conditions: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sync_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id"))


class CoverTrancheRow(Base):
    __tablename__ = "cover_tranches"
    __table_args__ = (
        UniqueConstraint("decision_id", "position", name="uq_cover_tranches_position"),
        CheckConstraint("amount >= 0", "amount_nonneg"),
        CheckConstraint("expires_on IS NULL OR expires_on >= valid_from", "dates"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int] = mapped_column(
        ForeignKey("cover_decisions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Amount)
    valid_from: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)


class ImportRow(Base):
    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    closed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OpenItemRow(Base):
    __tablename__ = "open_items"
    __table_args__ = (
        UniqueConstraint("erp_account_id", "document_number", name="uq_open_items_document"),
        Index("ix_open_items_scope", "source", "company_code"),
        CheckConstraint(_in("kind", [k.value for k in ItemKind]), "kind"),
        CheckConstraint("amount >= 0", "amount_nonneg"),
        CheckConstraint("open_amount >= 0 AND open_amount <= amount", "open_amount"),
        CheckConstraint("length(currency) = 3", "currency_len"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    erp_account_id: Mapped[int] = mapped_column(ForeignKey("erp_accounts.id"), index=True)
    document_number: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Amount)
    open_amount: Mapped[Decimal] = mapped_column(Amount)
    document_date: Mapped[date] = mapped_column(Date)
    delivery_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    applies_to: Mapped[str | None] = mapped_column(String(64))
    extended_due_date: Mapped[date | None] = mapped_column(Date)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The scope a complete export closes within: the import source and, optionally, the
    # ERP's company code. Items imported without one belong to the source "default".
    source: Mapped[str] = mapped_column(String(64), default="default", server_default="default")
    company_code: Mapped[str | None] = mapped_column(String(32))
    # Set when a complete export no longer listed the item: its open amount was set to 0
    # on that business date by that import (the row is kept, never deleted).
    closed_on: Mapped[date | None] = mapped_column(Date)
    closed_import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    # The business date the ledger first saw the item fully settled (open amount 0, by the
    # file or by a complete export's closure), and the date it first saw it disputed:
    # payment behaviour (days beyond terms, dispute age) counts from these (0011).
    settled_on: Mapped[date | None] = mapped_column(Date)
    disputed_since: Mapped[date | None] = mapped_column(Date)


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (CheckConstraint(_in("severity", [s.value for s in Severity]), "severity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("buyers.id"), index=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id"))
    business_date: Mapped[date] = mapped_column(Date)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    sync_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when a person marks the alert seen in the workspace (who: a user name).
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class CoverRequestRow(Base):
    """A cover request as an outbox row: written with its client reference before it is
    sent, then updated with what the insurer said."""

    __tablename__ = "cover_requests"
    __table_args__ = (
        CheckConstraint("amount IS NULL OR amount > 0", "amount_positive"),
        CheckConstraint("(amount IS NULL) = (currency IS NULL)", "amount_currency"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_reference: Mapped[str] = mapped_column(String(64), unique=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    insurer: Mapped[str] = mapped_column(String(64))
    insurer_buyer_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[CoverAction] = mapped_column(state_enum(CoverAction, name="action", length=16))
    cover_type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal | None] = mapped_column(Amount)
    currency: Mapped[str | None] = mapped_column(String(3))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[CoverRequestState] = mapped_column(
        state_enum(CoverRequestState, name="state", length=16), index=True
    )
    insurer_request_ref: Mapped[str | None] = mapped_column(String(64))
    outcome_status: Mapped[CoverStatus | None] = mapped_column(
        state_enum(CoverStatus, name="outcome_status", length=32)
    )
    outcome_amount: Mapped[Decimal | None] = mapped_column(Amount)
    # The insurer's own codes behind ``outcome_status``, as it sent them (migration 0009).
    outcome_raw_codes: Mapped[dict[str, str] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AssessmentRow(Base):
    """A bureau's credit assessment of a buyer, kept per provider, never averaged."""

    __tablename__ = "assessments"
    __table_args__ = (
        UniqueConstraint("buyer_id", "provider", "provider_id", "as_of", name="uq_assessments_key"),
        CheckConstraint("recommended_limit IS NULL OR recommended_limit >= 0", "limit_nonneg"),
        CheckConstraint("(recommended_limit IS NULL) = (limit_currency IS NULL)", "limit_currency"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    provider: Mapped[str] = mapped_column(String(64))
    provider_id: Mapped[str] = mapped_column(String(64))
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    scale: Mapped[str] = mapped_column(String(128))
    score_raw: Mapped[str | None] = mapped_column(String(64))
    band: Mapped[str | None] = mapped_column(String(64))
    failure_score: Mapped[str | None] = mapped_column(String(64))
    paydex: Mapped[int | None] = mapped_column(Integer)
    recommended_limit: Mapped[Decimal | None] = mapped_column(Amount)
    limit_currency: Mapped[str | None] = mapped_column(String(3))
    as_of: Mapped[date | None] = mapped_column(Date)
    missing: Mapped[list[str]] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BuyerParentRow(Base):
    """A buyer's parent (direct or ultimate) as a bureau reported it, for group exposure."""

    __tablename__ = "buyer_parents"
    __table_args__ = (
        UniqueConstraint("buyer_id", "relation", "source", name="uq_buyer_parents_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    relation: Mapped[ParentRelation] = mapped_column(
        state_enum(ParentRelation, name="relation", length=16)
    )
    scheme: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReviewItemRow(Base):
    """A proposed link between two ERP accounts that a person must accept or reject."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_a: Mapped[str] = mapped_column(String(64))
    account_b: Mapped[str] = mapped_column(String(64))
    score: Mapped[Decimal] = mapped_column(ExactDecimal(scale=2))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[ReviewState] = mapped_column(
        state_enum(ReviewState, name="state", length=16), index=True
    )
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FxRateRow(Base):
    """A dated reference rate: 1 ``base`` = ``rate`` ``quote`` (ECB: base EUR)."""

    __tablename__ = "fx_rates"
    __table_args__ = (
        UniqueConstraint("rate_date", "base", "quote", name="uq_fx_rates_key"),
        CheckConstraint("rate > 0", "rate_positive"),
        CheckConstraint("length(base) = 3 AND length(quote) = 3", "codes"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rate_date: Mapped[date] = mapped_column(Date)
    base: Mapped[str] = mapped_column(String(3))
    quote: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(ExactDecimal(scale=8))
    source: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JobRunRow(Base):
    """One run of a scheduled job for one business date: a duplicate fire is a no-op."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "business_date", name="uq_job_runs_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    business_date: Mapped[date] = mapped_column(Date)
    state: Mapped[JobState] = mapped_column(state_enum(JobState, name="state", length=16))
    owner: Mapped[str] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class SchedulerLeaseRow(Base):
    """The scheduler leader's lease (SQLite; PostgreSQL uses an advisory lock)."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SyncStagingRow(Base):
    """A raw portfolio record as fetched, with its provenance, before reconciliation."""

    __tablename__ = "sync_staging"
    __table_args__ = (
        # the digests of a run's positions read from the index alone (0015)
        Index("ix_sync_staging_run_digest", "sync_run_id", "position", "digest"),
        Index("ix_sync_staging_external", "sync_run_id", "external_id"),  # 0013
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sync_run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    buyer_name: Mapped[str] = mapped_column(String(300))
    buyer_country: Mapped[str | None] = mapped_column(String(2))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[str] = mapped_column(Text)
    normalised: Mapped[str] = mapped_column(Text)
    digest: Mapped[str | None] = mapped_column(String(32))  # of the raw record (0013)


class LimitInForceRow(Base):
    """The covered limit in force per buyer and policy on ``business_date``: derived from
    the decision history by the domain rule (``domain.cover``), kept as data so that a
    change by date (an announced reduction taking effect, a tranche expiring) is a change
    the ERP can be sent. Maintained by the sync and by the date roll of each cycle."""

    __tablename__ = "limits_in_force"
    __table_args__ = (
        CheckConstraint("amount >= 0", "amount_nonneg"),
        CheckConstraint("length(currency) = 3", "currency_len"),
        CheckConstraint(_in("status", [*(s.value for s in CoverStatus), NO_COVER]), "status"),
    )

    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), primary_key=True, index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("cover_decisions.id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[date | None] = mapped_column(Date)
    # indexed: the limits that change by a date (the API's "expiring within N days")
    valid_to: Mapped[date | None] = mapped_column(Date, index=True)
    business_date: Mapped[date] = mapped_column(Date)
    change_id: Mapped[int] = mapped_column(Integer, index=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LimitRollRow(Base):
    """A policy whose limits are rolled through ``business_date``: every buyer with cover
    history has a stored limit computed on that date that does not end by it, so a date
    roll of that day has nothing to do (``services.limits.roll_limits``). Set in the
    roll's transaction; deleted by the limit writers' code when they store limits of
    another date, and by triggers (migration 0014) when cover history changes outside a
    sync run or a stored limit is deleted."""

    __tablename__ = "limit_rolls"

    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date)


class LimitChangeRow(Base):
    """One change of a limit in force (by sync or by date); its id is the ERP's cursor."""

    __tablename__ = "limit_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[LimitChangeReason] = mapped_column(
        state_enum(LimitChangeReason, name="reason", length=16)
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
