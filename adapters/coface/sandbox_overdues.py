"""The sandbox's overdue declarations (OVERDUE service, SYNTHETIC rules).

A declaration needs a known EasyNumber, a ``type`` the sandbox accepts (``OVERDUE`` by
default, option ``overdue_types``), a first default date, invoices in one currency and
a ``totalOutstanding`` equal to the sum of their outstanding amounts. It is stored
``RECEIVED`` and reads ``REGISTERED`` from ``decision_delay`` seconds later. A
``customerReference`` already used in the policy is refused (409).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from .sandbox_http import Refused, check_amount
from .sandbox_orders import stamp
from .wire import parse_timestamp

Record = dict[str, Any]
DECLARATION_FIELDS = (
    "easyNumber",
    "customerReference",
    "type",
    "firstDefaultDate",
    "currency",
    "totalOutstanding",
    "invoices",
)
INVOICE_FIELDS = ("invoiceNumber", "issueDate", "dueDate", "amount", "outstandingAmount")


def _day(value: Any, field: str) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise Refused(400, "INVALID_DATE", "Invalid date", [{"field": field}]) from None


class OverdueBook:
    """Every overdue declaration of the sandbox."""

    def __init__(self, *, types: Iterable[str], registration_delay: float) -> None:
        self.types = frozenset(t.upper() for t in types)
        self.registration_delay = timedelta(seconds=registration_delay)
        self.records: list[Record] = []
        self._next_id = 9000001

    def add(self, record: Record) -> None:
        """Add a seeded declaration (wire shape plus ``policyNumber``)."""
        record = dict(record)
        overdue_id = str(record.setdefault("overdueId", f"OVD-{self._next_id}"))
        if overdue_id.startswith("OVD-") and overdue_id[4:].isdigit():
            self._next_id = max(self._next_id, int(overdue_id[4:]) + 1)
        record.setdefault("status", "RECEIVED")
        self.records.append(record)

    def declare(self, policy: str, body: Record, now: datetime) -> Record:
        """Check and store a declaration; the stored record."""
        kind = str(body["type"]).upper()
        if kind not in self.types:
            raise Refused(400, "UNSUPPORTED_TYPE", f"Declaration type {kind} is not accepted")
        reference = str(body["customerReference"])
        if self.by_reference(policy, reference, now):
            raise Refused(409, "DUPLICATE_REFERENCE", "customerReference already used")
        currency = str(body["currency"])
        invoices = body["invoices"]
        if not isinstance(invoices, list) or not invoices:
            raise Refused(400, "MISSING_FIELD", "At least one invoice", [{"field": "invoices"}])
        outstanding = Decimal(0)
        for index, invoice in enumerate(invoices):
            where = f"invoices[{index}]"
            if not isinstance(invoice, dict):
                raise Refused(
                    400, "MALFORMED_BODY", "Invoice must be an object", [{"field": where}]
                )
            for name in INVOICE_FIELDS:
                if invoice.get(name) in (None, ""):
                    raise Refused(
                        400,
                        "MISSING_FIELD",
                        "Mandatory field missing",
                        [{"field": f"{where}.{name}"}],
                    )
            if invoice.get("currency", currency) != currency:
                raise Refused(
                    400,
                    "INVALID_CURRENCY",
                    "One currency per declaration",
                    [{"field": f"{where}.currency"}],
                )
            _day(invoice["dueDate"], f"{where}.dueDate")
            check_amount(invoice["amount"], currency, f"{where}.amount")
            outstanding += check_amount(
                invoice["outstandingAmount"], currency, f"{where}.outstandingAmount"
            )
        total = check_amount(body["totalOutstanding"], currency, "totalOutstanding")
        if total != outstanding:
            raise Refused(
                400,
                "INVALID_AMOUNT",
                "totalOutstanding is not the invoices' sum",
                [{"field": "totalOutstanding"}],
            )
        record: Record = {
            "policyNumber": policy,
            "overdueId": f"OVD-{self._next_id}",
            "status": "RECEIVED",
            "customerReference": reference,
            "easyNumber": str(body["easyNumber"]),
            "type": kind,
            "firstDefaultDate": _day(body["firstDefaultDate"], "firstDefaultDate"),
            "currency": currency,
            "totalOutstanding": total,
            "invoices": invoices,
            "declarationDate": stamp(now),
        }
        self._next_id += 1
        self.records.append(record)
        return self._view(record, now)

    def _view(self, record: Record, now: datetime) -> Record:
        view = dict(record)
        declared = parse_timestamp(record.get("declarationDate") or "")
        if (
            view.get("status") == "RECEIVED"
            and isinstance(declared, datetime)
            and now >= declared + self.registration_delay
        ):
            view["status"] = "REGISTERED"
        return view

    def by_reference(self, policy: str, reference: str, now: datetime) -> list[Record]:
        """Declarations of ``policy`` with this ``customerReference``."""
        return [
            self._view(r, now)
            for r in self.records
            if r["policyNumber"] == policy and r.get("customerReference") == reference
        ]

    def by_id(self, policy: str, overdue_id: str, now: datetime) -> Record | None:
        """The declaration ``overdue_id`` of ``policy``."""
        for record in self.records:
            if record["policyNumber"] == policy and str(record["overdueId"]) == overdue_id:
                return self._view(record, now)
        return None
