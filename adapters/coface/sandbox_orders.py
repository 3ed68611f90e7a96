"""The sandbox's credit-limit book: orders and decisions, in memory (SYNTHETIC rules).

Records are kept in the wire shape the sandbox serves (dicts, amounts as ``Decimal``)
plus ``policyNumber``. Rules, deterministic on the sandbox clock:

* ``ORDER`` for a buyer with no live limit and no order in progress: up to
  ``auto_approve_up_to`` it is decided at once (201, AGREED); above, it is accepted
  (202, IN_PROGRESS) and decided ``decision_delay`` seconds later as
  PARTIAL_AGREEMENT for the amount times ``partial_ratio``, rounded down to a whole
  unit (AGREED when nothing was cut, REFUSED when nothing is left);
* ``UPDATE`` of a live limit: a lower amount is decided at once (REDUCED); a higher one
  follows the ORDER rule, and an increase whose partial amount would not exceed the
  limit in force is REFUSED with the limit in force kept as its amount;
* ``CANCEL`` / ``STOP`` end the order in progress (its code becomes CANCELLED / STOPPED)
  or the live limit: a decided record CANCELLED / STOPPED with amount 0 and ``endDate``
  today;
* every action is a new record with its own ``orderId`` and ``customerReference``; a
  reference already used in the policy is refused (409).

The portfolio holds per buyer its latest decided record, or its order in progress when
it has no decision yet, sorted by EasyNumber.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tci_gateway.adapters.sandbox_support import DecidingBook

from .sandbox_http import Refused
from .wire import parse_timestamp

Record = dict[str, Any]

PENDING_CODES = frozenset({"IN_PROGRESS", "PENDING"})
ENDED_CODES = frozenset({"CANCELLED", "STOPPED", "EXPIRED"})
ACTIONS = ("ORDER", "UPDATE", "CANCEL", "STOP")


def stamp(moment: datetime) -> str:
    """A timestamp in UTC as the sandbox writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _amount(record: Record) -> Decimal:
    value = record.get("amount")
    return Decimal(value) if isinstance(value, int | Decimal) else Decimal(0)


def _pending(record: Record) -> bool:
    return str(record.get("decisionCode") or "IN_PROGRESS").upper() in PENDING_CODES


_NEVER = datetime.min.replace(tzinfo=UTC)


def _sort_key(item: tuple[int, Record]) -> tuple[datetime, int]:
    moment = parse_timestamp(item[1].get("decisionDate") or item[1].get("orderDate") or "")
    return (moment if isinstance(moment, datetime) else _NEVER, item[0])


class OrderBook(DecidingBook):
    """Every credit-limit record of the sandbox and the rules that change them."""

    def __init__(
        self, *, auto_approve_up_to: Any, decision_delay: float, partial_ratio: Any
    ) -> None:
        super().__init__(
            auto_approve_up_to=auto_approve_up_to,
            decision_delay=decision_delay,
            partial_ratio=partial_ratio,
        )
        self.records: list[Record] = []
        self._due: dict[str, datetime] = {}
        self._views: dict[str, list[Record]] = {}  # portfolio per policy, until a change
        self._next_id = 8000001

    # -- reading ------------------------------------------------------------------------

    def add(self, record: Record, now: datetime) -> None:
        """Add a seeded record; one in progress is decided ``decision_delay`` from now."""
        self._views.clear()
        record = dict(record)
        order_id = str(record.setdefault("orderId", str(self._take_id())))
        if order_id.isdigit():
            self._next_id = max(self._next_id, int(order_id) + 1)
        if _pending(record):
            self._due[order_id] = now + self.decision_delay
        self.records.append(record)

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _buyer(self, policy: str, easy_number: str) -> list[tuple[int, Record]]:
        return [
            (index, r)
            for index, r in enumerate(self.records)
            if r["policyNumber"] == policy and str(r["easyNumber"]) == easy_number
        ]

    def current(self, policy: str, easy_number: str) -> Record | None:
        """The buyer's latest decided record, else its order in progress."""
        return _current_of(self._buyer(policy, easy_number))

    def portfolio(self, policy: str) -> list[Record]:
        """One record per buyer of ``policy``, by EasyNumber: copies, safe to change."""
        return [dict(record) for record in self.portfolio_view(policy)]

    def portfolio_view(self, policy: str) -> list[Record]:
        """The records :meth:`portfolio` copies, computed in one pass and kept until the
        book changes (a large portfolio is paged 20 records at a time); read only."""
        if policy in self._views:
            return self._views[policy]
        groups: dict[str, list[tuple[int, Record]]] = {}
        for index, r in enumerate(self.records):
            if r["policyNumber"] == policy:
                groups.setdefault(str(r["easyNumber"]), []).append((index, r))
        found = (_current_of(groups[buyer]) for buyer in sorted(groups))
        self._views[policy] = [record for record in found if record is not None]
        return self._views[policy]

    def by_id(self, policy: str, order_id: str) -> Record | None:
        """The record ``order_id`` of ``policy``."""
        for record in self.records:
            if record["policyNumber"] == policy and str(record["orderId"]) == order_id:
                return dict(record)
        return None

    def by_reference(self, policy: str, reference: str) -> list[Record]:
        """Records of ``policy`` whose ``customerReference`` is ``reference``."""
        return [
            dict(r)
            for r in self.records
            if r["policyNumber"] == policy and r.get("customerReference") == reference
        ]

    # -- changing -----------------------------------------------------------------------

    def order(
        self, base: Record, action: str, amount: Decimal | None, now: datetime
    ) -> tuple[int, Record]:
        """Apply one order. ``base`` holds policyNumber, easyNumber, companyName,
        countryCode, currency and customerReference."""
        self._views.clear()
        policy, buyer = base["policyNumber"], str(base["easyNumber"])
        reference = base.get("customerReference")
        if reference and self.by_reference(policy, reference):
            raise Refused(409, "DUPLICATE_REFERENCE", "customerReference already used")
        items = [r for _, r in self._buyer(policy, buyer)]
        in_progress = [r for r in items if _pending(r)]
        current = self.current(policy, buyer)
        live = current if current is not None and self._live(current) else None
        record: Record = {
            "orderId": str(self._take_id()),
            **base,
            "action": action,
            "orderDate": stamp(now),
        }
        if action in ("CANCEL", "STOP"):
            code = "CANCELLED" if action == "CANCEL" else "STOPPED"
            if not in_progress and live is None:
                raise Refused(409, "NO_CREDIT_LIMIT", "No credit limit or order to end")
            for pending in in_progress:
                self._decide(pending, Decimal(0), code, now)
            self._decide(record, Decimal(0), code, now)
            record["endDate"] = now.date().isoformat()
            self.records.append(record)
            return 201, dict(record)
        assert amount is not None
        if in_progress:
            raise Refused(409, "ORDER_IN_PROGRESS", "An order is already in progress")
        if action == "ORDER" and live is not None:
            raise Refused(409, "CREDIT_LIMIT_EXISTS", "A credit limit already exists")
        if action == "UPDATE" and live is None:
            raise Refused(409, "NO_CREDIT_LIMIT", "No credit limit to update")
        record["requestedAmount"] = amount
        self.records.append(record)
        if live is not None and amount < _amount(live):
            self._decide(record, amount, "REDUCED", now)
            return 201, dict(record)
        if amount <= self.auto_approve_up_to:
            self._decide(record, amount, "AGREED", now)
            return 201, dict(record)
        record["decisionCode"] = "IN_PROGRESS"
        self._due[record["orderId"]] = now + self.decision_delay
        return 202, dict(record)

    @staticmethod
    def _live(record: Record) -> bool:
        code = str(record.get("decisionCode") or "").upper()
        return code not in ENDED_CODES and _amount(record) > 0

    @staticmethod
    def _decide(record: Record, amount: Decimal, code: str, at: datetime) -> None:
        record.update(
            decisionCode=code,
            amount=amount,
            decisionDate=stamp(at),
            effectiveDate=at.date().isoformat(),
        )

    def decide_due(self, now: datetime) -> None:
        """Decide every order in progress whose time has come."""
        due = sorted((at, order_id) for order_id, at in self._due.items() if at <= now)
        if due:
            self._views.clear()
        for at, order_id in due:
            del self._due[order_id]
            record = next((r for r in self.records if str(r["orderId"]) == order_id), None)
            if record is None or not _pending(record):
                continue
            requested = Decimal(record.get("requestedAmount") or 0)
            offered = self.offered(requested)
            code = "AGREED" if offered >= requested else "PARTIAL_AGREEMENT"
            others = [
                r
                for _, r in self._buyer(record["policyNumber"], str(record["easyNumber"]))
                if r is not record and not _pending(r)
            ]
            before = max(enumerate(others), key=_sort_key)[1] if others else None
            kept = _amount(before) if before is not None and self._live(before) else Decimal(0)
            if kept > 0 and offered <= kept:
                code, offered = "REFUSED", kept
            elif offered <= 0:
                code, offered = "REFUSED", Decimal(0)
            self._decide(record, offered, code, at)


def _current_of(items: list[tuple[int, Record]]) -> Record | None:
    decided = [item for item in items if not _pending(item[1])]
    pool = decided or items
    return max(pool, key=_sort_key)[1] if pool else None
