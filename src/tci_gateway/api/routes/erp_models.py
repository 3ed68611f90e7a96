"""The ERP endpoints' documents: every figure a decimal string beside its currency."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

from tci_gateway.erp.reader import Columns
from tci_gateway.ledger.runs import AlertEntry
from tci_gateway.services.export import LimitRow
from tci_gateway.services.exposure import ExposureRow
from tci_gateway.services.importing import ImportReport

Amount = Annotated[
    Decimal,
    PlainSerializer(lambda v: format(v, "f"), return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "examples": ["125000.00"]}
    ),
]
"""Money as a decimal string (never a JSON number): read it with a decimal type."""


class CoveredLimit(BaseModel):
    """The limit in force for one buyer under one policy, as ``tci export limits``."""

    erp_accounts: list[str] = Field(description="the ERP accounts mapped to the buyer")
    buyer_id: int
    buyer_name: str
    insurer: str
    policy: str
    status: str = Field(description="the decision's normalised status, or NO_COVER")
    covered_amount: Amount
    currency: str
    valid_from: date | None
    valid_to: date | None = Field(description="the date the limit next changes")
    decision_reference: str | None
    changed_at: datetime | None
    raw_codes: dict[str, str] = Field(description="the insurer's own codes of the decision")

    @classmethod
    def of(cls, row: LimitRow) -> CoveredLimit:
        return cls(
            erp_accounts=list(row.erp_accounts),
            buyer_id=row.buyer_id,
            buyer_name=row.buyer_name,
            insurer=row.insurer,
            policy=row.policy,
            status=row.status,
            covered_amount=row.covered_amount,
            currency=row.currency,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            decision_reference=row.decision_reference,
            changed_at=row.changed_at,
            raw_codes={str(k): str(v) for k, v in row.raw_codes.items()},
        )


class LimitsPage(BaseModel):
    """A page of covered limits, in policy and buyer order."""

    covered_limits: list[CoveredLimit]
    next_cursor: str | None = Field(
        description="give it as `cursor` for the next page; null: this is the last page"
    )
    changed_since_cursor: int = Field(
        description="once every page is read, give it as `changed_since` next time"
    )


class ExposureItem(BaseModel):
    """Exposure against cover for one buyer and policy, as ``tci exposure --json``."""

    buyer_id: int
    buyer_name: str
    erp_accounts: list[str]
    policy: str | None
    insurer: str | None
    business_date: date
    status: str | None
    pending_action: str | None
    currency: str
    invoices: Amount
    credits: Amount
    disputed: Amount
    exposure: Amount
    limit: Amount | None
    covered: Amount
    uncovered: Amount
    alerts: list[str]
    unconverted_documents: list[str]
    decision_reference: str | None
    raw_codes: dict[str, str] | None

    @classmethod
    def of(cls, r: ExposureRow) -> ExposureItem:
        e = r.exposure
        return cls(
            buyer_id=r.buyer_id,
            buyer_name=r.buyer_name,
            erp_accounts=list(r.erp_accounts),
            policy=r.policy,
            insurer=r.insurer,
            business_date=r.business_date,
            status=e.status.value if e.status else None,
            pending_action=e.pending_action.value if e.pending_action else None,
            currency=e.currency,
            invoices=e.invoices.rounded().amount,
            credits=e.credits.rounded().amount,
            disputed=e.disputed.rounded().amount,
            exposure=e.exposure.rounded().amount,
            limit=e.limit.rounded().amount if e.limit is not None else None,
            covered=e.covered.rounded().amount,
            uncovered=e.uncovered.rounded().amount,
            alerts=[a.value for a in e.alerts],
            unconverted_documents=list(e.unconverted),
            decision_reference=r.version.decision.insurer_cover_ref if r.version else None,
            raw_codes=dict(e.raw_codes) if e.raw_codes is not None else None,
        )


class ExposurePage(BaseModel):
    exposure: list[ExposureItem]
    next_cursor: str | None = Field(description="give it as `cursor` for the next page")


class Alert(BaseModel):
    id: int
    kind: str
    severity: str
    business_date: date
    buyer_id: int | None
    buyer: str | None
    policy: str | None
    message: str
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, a: AlertEntry) -> Alert:
        return cls(**a.__dict__)


class AlertsPage(BaseModel):
    alerts: list[Alert]
    next_cursor: str | None = Field(
        description="more alerts follow: give it as `since` for the next page"
    )
    since: int = Field(description="the last alert seen: give it as `since` next time")


class ImportScope(BaseModel):
    source: str
    company_codes: list[str]


class ImportResult(BaseModel):
    """What a batch did, as ``tci import ... --json`` says it."""

    kind: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    sha256: str
    closed: int | None = None
    complete: bool | None = None
    scope: ImportScope | None = None

    @classmethod
    def of(cls, report: ImportReport) -> ImportResult:
        result = cls(
            kind=report.kind,
            rows=report.rows,
            inserted=report.inserted,
            updated=report.updated,
            unchanged=report.unchanged,
            sha256=report.sha256,
        )
        if report.kind == "open_items":
            result.closed = report.closed
            result.complete = report.complete
            result.scope = ImportScope(
                source=report.item_source or "", company_codes=report.company_codes
            )
        return result


def batch_body(columns: Columns, key: str, description: str) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a batch: the canonical JSON (an array of records,
    or an object holding it under ``key``) or the canonical CSV, read by the file
    import's own reader."""
    cell = {"type": ["string", "number", "boolean", "null"]}
    record = {
        "type": "object",
        "properties": {name: cell for name in sorted(columns.allowed)},
        "required": list(columns.required),
        "additionalProperties": False,
    }
    array = {"type": "array", "items": record}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            array,
                            {
                                "type": "object",
                                "properties": {key: array},
                                "required": [key],
                            },
                        ]
                    }
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    }
