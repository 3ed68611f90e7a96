"""Payment overdues (reference section 1, "Overdues"): bodies and results, pure.

``overdueCategoryTypeCode`` OVD (report a default), EXP (extend one invoice's due
date), RES (repayment plan) is documented (H). The routes and every other field are
**not public**: the body below is SYNTHETIC (see ``fixtures/allianz/README.md``):

.. code-block:: json

    {"overdueCategoryTypeCode": "OVD",
     "policy": {"businessUnitCode": "ACI", "policyId": "5550001"},
     "companyId": "123456789", "customerReference": "ovd-...",
     "firstDefaultDate": "2024-03-01", "currencyCode": "EUR",
     "totalOutstandingAmount": 1200.50,
     "invoices": [{"invoiceNumber": "F-1", "invoiceDate": "2024-01-01",
                   "originalDueDate": "2024-02-29", "newDueDate": null,
                   "invoiceAmount": 1500.00, "outstandingAmount": 1200.50,
                   "currencyCode": "EUR"}]}

The answer is ``{overdueId, overdueStatusCode, ...}``; statuses are normalised with
:data:`OVERDUE_STATUSES` (SYNTHETIC codes) to the model's DRAFT / SUBMITTED /
ACKNOWLEDGED / ACCEPTED / REJECTED / CLOSED.
"""

from __future__ import annotations

from typing import Any

from tci_gateway.adapters.contract import OverdueKind, OverdueNotice, OverdueResult, PolicyRef
from tci_gateway.adapters.toolkit import parse_answer, parse_model
from tci_gateway.domain.money import CurrencyMismatchError, total
from tci_gateway.errors import RejectedError

from .base import AllianzBase
from .wire import OverdueRecord

OVERDUE_CATEGORIES: dict[OverdueKind, str] = {
    OverdueKind.OVERDUE: "OVD",
    OverdueKind.EXTENSION_REQUEST: "EXP",
    OverdueKind.RESCHEDULE: "RES",
}

OVERDUE_STATUSES: dict[str, str] = {  # SYNTHETIC codes
    "draft": "DRAFT",
    "submitted": "SUBMITTED",
    "received": "ACKNOWLEDGED",
    "acknowledged": "ACKNOWLEDGED",
    "accepted": "ACCEPTED",
    "granted": "ACCEPTED",
    "rejected": "REJECTED",
    "refused": "REJECTED",
    "closed": "CLOSED",
}


def overdue_body(
    notice: OverdueNotice, policy: dict[str, str], reference_field: str, adapter: str
) -> dict[str, Any]:
    """The SYNTHETIC request body for ``notice``. An extension request needs a new due
    date on every invoice; amounts must share one currency; both are refused
    (:class:`RejectedError`) before anything is sent."""
    if not notice.invoices:
        raise RejectedError("an overdue notice needs at least one invoice", adapter=adapter)
    if notice.kind is OverdueKind.EXTENSION_REQUEST:
        missing = [i.number for i in notice.invoices if i.new_due_date is None]
        if missing:
            raise RejectedError(
                f"an extension request (EXP) needs a new due date on invoice(s) {missing}",
                adapter=adapter,
            )
    currency = notice.invoices[0].outstanding.currency
    try:
        outstanding = total((i.outstanding for i in notice.invoices), currency)
        total((i.amount for i in notice.invoices), currency)
    except CurrencyMismatchError as exc:
        raise RejectedError(
            f"overdue invoices in several currencies: {exc}", adapter=adapter
        ) from exc
    invoices = [
        {
            "invoiceNumber": invoice.number,
            "invoiceDate": invoice.issue_date.isoformat(),
            "originalDueDate": invoice.original_due_date.isoformat(),
            "newDueDate": invoice.new_due_date.isoformat() if invoice.new_due_date else None,
            "invoiceAmount": invoice.amount.amount,
            "outstandingAmount": invoice.outstanding.amount,
            "currencyCode": invoice.outstanding.currency,
        }
        for invoice in notice.invoices
    ]
    return {
        "overdueCategoryTypeCode": OVERDUE_CATEGORIES[notice.kind],
        "policy": policy,
        "companyId": notice.insurer_buyer_id,
        reference_field: notice.client_reference,
        "firstDefaultDate": notice.first_default_date.isoformat(),
        "currencyCode": currency,
        "totalOutstandingAmount": outstanding.amount,
        "invoices": invoices,
    }


def overdue_status(raw: str | None) -> str:
    """The normalised status of a raw ``overdueStatusCode``. A filing the insurer
    answered with an unknown (or no) status counts as SUBMITTED; the raw code is kept."""
    if raw is None:
        return "SUBMITTED"
    return OVERDUE_STATUSES.get(raw.strip().casefold(), "SUBMITTED")


def overdue_result(record: OverdueRecord, client_reference: str) -> OverdueResult:
    """An overdue record as an :class:`OverdueResult`."""
    return OverdueResult(
        client_reference=client_reference,
        insurer_reference=record.overdueId,
        status=overdue_status(record.overdueStatusCode),
        raw_status=record.overdueStatusCode,
    )


class OverdueMixin(AllianzBase):
    """:class:`~tci_gateway.adapters.contract.OverdueFiling` for the adapter."""

    def submit_overdue(self, notice: OverdueNotice) -> OverdueResult:
        """File an overdue (OVD), extension request (EXP) or repayment plan (RES): a
        non-idempotent POST with the client reference (SYNTHETIC route and body). An
        ambiguous outcome raises :class:`~tci_gateway.errors.AmbiguousOutcomeError`:
        call :meth:`find_overdue` before sending again."""
        body = overdue_body(
            notice, self.policy_body(notice.policy), self.options.reference_field, self.name
        )
        response = self.client.request(
            "POST",
            self.paths["overdues"],
            json_body=body,
            idempotent=False,
            client_reference=notice.client_reference,
        )
        record = parse_answer(
            OverdueRecord.from_record,
            response,
            "the overdue answer has no overdueId",
            adapter=self.name,
        )
        return overdue_result(record, notice.client_reference)

    def find_overdue(self, policy: PolicyRef, client_reference: str) -> OverdueResult | None:
        """Look an overdue filing up by client reference (the SYNTHETIC search route,
        also matched here); ``None`` when there is none."""
        field = self.options.reference_field
        body = {"policies": [self.policy_body(policy)], field: client_reference}
        for page in self.pager("overdues_search", body):
            for record in page.records:
                if isinstance(record, dict) and str(record.get(field)) == client_reference:
                    message = "unreadable overdue record"
                    parsed = parse_model(
                        OverdueRecord.from_record, record, message, adapter=self.name
                    )
                    return overdue_result(parsed, client_reference)
        return None
