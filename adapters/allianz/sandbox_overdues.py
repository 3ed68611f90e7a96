"""The sandbox's payment overdues (SYNTHETIC routes and body, see :mod:`.overdues`).

A filing is checked (category OVD/EXP/RES, known policy and company, invoices with
numbers, dates and amounts in the policy currency, a new due date on every invoice of
an EXP) and stored with ``overdueStatusCode`` ``Submitted``. A second filing with the
same client reference is refused with 409 (the sandbox's choice: the real behaviour is
not public). ``search`` filters by policy, company and client reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from .sandbox_covers import CoverBook, policy_key, stamp
from .sandbox_http import Record, Refused, check_amount, check_currency, required

CATEGORIES = frozenset({"OVD", "EXP", "RES"})


def _day(value: Any, field: str) -> None:
    try:
        date.fromisoformat(str(value))
    except ValueError:
        raise Refused(400, f"{field} must be a date (YYYY-MM-DD)", "INVALID_DATE", field) from None


class OverdueBook:
    """Overdue filings of the sandbox."""

    def __init__(self, book: CoverBook, reference_field: str) -> None:
        self.book = book
        self.reference_field = reference_field
        self.records: list[Record] = []
        self._next = 8000001

    def add(self, record: Mapping[str, Any]) -> None:
        """A seeded filing (wire shape)."""
        stored = dict(record)
        if str(stored.get("overdueId", "")).isdigit():
            self._next = max(self._next, int(stored["overdueId"]) + 1)
        self.records.append(stored)

    def file(self, body: Record, now: datetime) -> Record:
        """Check and store one filing; the answer is the stored record."""
        required(body, "overdueCategoryTypeCode", "policy", "companyId", "invoices")
        category = str(body["overdueCategoryTypeCode"]).upper()
        if category not in CATEGORIES:
            raise Refused(
                400, "Unknown overdueCategoryTypeCode", "INVALID_FIELD", "overdueCategoryTypeCode"
            )
        policy, _company = self.book.overdue_parties(body)
        currency = policy["currencyCode"]
        reference = body.get(self.reference_field)
        if reference and any(r.get(self.reference_field) == reference for r in self.records):
            raise Refused(409, "An overdue with this reference exists", "DUPLICATE_REFERENCE")
        if body.get("firstDefaultDate"):
            _day(body["firstDefaultDate"], "firstDefaultDate")
        invoices = body["invoices"]
        if not isinstance(invoices, list):
            raise Refused(400, "invoices must be a list", "INVALID_FIELD", "invoices")
        for index, invoice in enumerate(invoices):
            where = f"invoices[{index}]"
            if not isinstance(invoice, dict):
                raise Refused(400, "an invoice must be an object", "INVALID_FIELD", where)
            required(invoice, "invoiceNumber", "originalDueDate", "outstandingAmount")
            _day(invoice["originalDueDate"], f"{where}.originalDueDate")
            check_currency(invoice.get("currencyCode"), currency, f"{where}.currencyCode")
            check_amount(invoice["outstandingAmount"], currency, f"{where}.outstandingAmount")
            if category == "EXP" and not invoice.get("newDueDate"):
                raise Refused(
                    400, "An extension needs newDueDate", "MANDATORY_FIELD", f"{where}.newDueDate"
                )
            if invoice.get("newDueDate"):
                _day(invoice["newDueDate"], f"{where}.newDueDate")
        record: Record = {
            **body,
            "overdueId": str(self._next),
            "overdueCategoryTypeCode": category,
            "overdueStatusCode": "Submitted",
            "creationDate": stamp(now),
        }
        self._next += 1
        self.records.append(record)
        return record

    def search(self, body: Mapping[str, Any]) -> list[Record]:
        """Filings of the ``policies``, by ``companyId`` and reference when given."""
        policies = body.get("policies")
        if not isinstance(policies, list) or not policies:
            raise Refused(400, "policies is mandatory", "MANDATORY_FIELD", "policies")
        keys = {policy_key(p) for p in policies}
        wanted = {
            name: str(body[name])
            for name in ("companyId", self.reference_field)
            if body.get(name) is not None
        }
        return [
            dict(r)
            for r in self.records
            if policy_key(r.get("policy")) in keys
            and all(str(r.get(name)) == value for name, value in wanted.items())
        ]
