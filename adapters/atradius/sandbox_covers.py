"""The sandbox's cover book: applications, decisions and history, in memory.

Records are kept in the Atradius wire shape (dicts, amounts as ``Decimal``) so the
sandbox serves them as they are. Rules (deterministic, driven by the sandbox clock):

* an application up to ``auto_approve_up_to`` is decided at once (201, DC01);
* above, it is REFERRED (202) and decided ``decision_delay`` seconds later: the
  requested amount times ``partial_ratio``, rounded down to a multiple of 1000 (DC04;
  DC01 when nothing was cut, DC03 when nothing is left). For an increase (``supersede``)
  that would not exceed the existing cover, the decision is DC05 with the existing
  amount (increase refused, existing cover unchanged);
* ``reduce`` is decided at once (DC09); ``cancel`` ends a decision (historicCode CCLD,
  withdrawalDate now) or an application (CCLA);
* a replaced record moves to the history (historicCode SCLD), served by
  ``covers/historic`` with the seed's ``historic`` records and the listed records that
  carry a historic code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tci_gateway.adapters.sandbox_support import DecidingBook

from .wire import COVER_STATUS_DECISION, COVER_STATUS_REFERRED, parse_timestamp

AMOUNT_MESSAGE = "Must be positive number greater than zero and a multiple of 1000."
EXISTS_MESSAGE = "Credit limit/credit check already exists for this buyer."
SUPERSEDE_MESSAGE = "New Application cannot supersede existing cover"
NO_COVER_MESSAGE = "No cover found for this buyer"
COVER_TYPES = ("credit-limit", "credit-check")
_THOUSAND = Decimal(1000)

Record = dict[str, Any]


class Refused(Exception):
    """A request the sandbox refuses: served as the Atradius error envelope."""

    def __init__(self, status: int, detail: str, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.parameter = parameter


def stamp(moment: datetime) -> str:
    """A timestamp as Atradius writes it in UTC."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_amount(value: Any) -> Decimal:
    """A requested amount: a JSON number, positive, a multiple of 1000."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Refused(400, AMOUNT_MESSAGE, "creditLimitAmount")
    amount = Decimal(value)
    if not amount.is_finite() or amount <= 0 or amount % _THOUSAND != 0:
        raise Refused(400, AMOUNT_MESSAGE, "creditLimitAmount")
    return amount


def granted(record: Record) -> Decimal:
    """The total decision in the policy currency (zero when there is none)."""
    total = record.get("totalDecision") or {}
    value = total.get("decisionAmtInPolicyCurrency")
    return Decimal(value) if isinstance(value, int | Decimal) else Decimal(0)


def _when(record: Record, key: str) -> datetime | None:
    value = record.get(key)
    if not value:
        return None
    parsed = parse_timestamp(value)
    return parsed if isinstance(parsed, datetime) else None


@dataclass
class _Application:
    decide_at: datetime
    previous: str | None  # coverId of the decision an increase would supersede


class CoverBook(DecidingBook):
    """Every cover record of the sandbox and the rules that change them."""

    def __init__(
        self, *, auto_approve_up_to: Any, decision_delay: float, partial_ratio: Any
    ) -> None:
        super().__init__(
            auto_approve_up_to=auto_approve_up_to,
            decision_delay=decision_delay,
            partial_ratio=partial_ratio,
        )
        self.covers: list[Record] = []
        self.historic: list[Record] = []
        self._pending: dict[str, _Application] = {}
        self._next_id = 700000001

    # -- reading ------------------------------------------------------------------------

    def add(self, record: Record, now: datetime) -> None:
        """Add a seeded record. A REFERRED one is decided ``decision_delay`` from now, as
        an increase of the buyer's live decision seeded before it, if any."""
        record = dict(record)
        cover_id = str(record["coverId"])
        if cover_id.isdigit():
            self._next_id = max(self._next_id, int(cover_id) + 1)
        if record.get("coverStatus") == COVER_STATUS_REFERRED and not record.get("historicCode"):
            current = self._current(
                str(record.get("customerId")), str(record["policyId"]), int(record["buyerId"])
            )
            decided = [r for r in current if self._live(r) and r not in self._referred(current)]
            previous = str(decided[-1]["coverId"]) if decided else None
            self._pending[cover_id] = _Application(now + self.decision_delay, previous)
        self.covers.append(record)

    def add_historic(self, record: Record) -> None:
        """Add a seeded record of the past: served by ``covers/historic`` only."""
        cover_id = str(record["coverId"])
        if cover_id.isdigit():
            self._next_id = max(self._next_id, int(cover_id) + 1)
        self.historic.append(dict(record))

    def listing(
        self,
        customer_id: str,
        policy_id: str,
        *,
        kind: str = "all",
        buyer_id: int | None = None,
        cover_type: str | None = None,
        since: datetime | None = None,
    ) -> list[Record]:
        """Records of one policy: ``kind`` all, decisions, applications or historic (the
        records a historic code ended: those replaced, and those still listed with one)."""
        if kind == "historic":
            source = self.historic + [r for r in self.covers if r.get("historicCode")]
        else:
            source = self.covers
        found = []
        for record in source:
            if str(record.get("customerId")) != customer_id or str(record["policyId"]) != policy_id:
                continue
            status = record.get("coverStatus")
            if kind == "decisions" and status != COVER_STATUS_DECISION:
                continue
            if kind == "applications" and status != COVER_STATUS_REFERRED:
                continue
            if buyer_id is not None and int(record["buyerId"]) != buyer_id:
                continue
            if cover_type is not None and record.get("coverType") != cover_type:
                continue
            if since is not None:
                changed = _when(record, "decisionDate") or _when(record, "applicationDate")
                if changed is None or changed < since:
                    continue
            found.append(dict(record))
        return found

    def _current(self, customer_id: str, policy_id: str, buyer_id: int) -> list[Record]:
        return [
            r
            for r in self.covers
            if str(r.get("customerId")) == customer_id
            and str(r["policyId"]) == policy_id
            and int(r["buyerId"]) == buyer_id
        ]

    @staticmethod
    def _referred(records: list[Record]) -> list[Record]:
        return [r for r in records if r.get("coverStatus") == COVER_STATUS_REFERRED]

    @staticmethod
    def _live(record: Record) -> bool:
        if record.get("historicCode"):
            return False
        if record.get("coverStatus") == COVER_STATUS_REFERRED:
            return True
        return granted(record) > 0 and record.get("decisionCode") != "DC08"

    # -- changing -----------------------------------------------------------------------

    def _retire(self, record: Record, code: str) -> None:
        self.covers.remove(record)
        self._pending.pop(str(record["coverId"]), None)
        self.historic.append({**record, "historicCode": record.get("historicCode") or code})

    def _application(self, base: Record, amount: Decimal, reference: Any, now: datetime) -> Record:
        record: Record = {
            "coverId": self._next_id,
            **base,
            "coverStatus": COVER_STATUS_REFERRED,
            "creditLimitApplicationAmountInPolicyCurrency": amount,
            "applicationDate": stamp(now),
            "customerRefNumber": reference,
        }
        self._next_id += 1
        self.covers.append(record)
        return record

    @staticmethod
    def _decide(record: Record, amount: Decimal, code: str, at: datetime) -> None:
        record.update(
            coverStatus=COVER_STATUS_DECISION,
            decisionCode=code,
            decisionDate=stamp(at),
            effectFromDate=at.date().isoformat(),
            totalDecision={
                "decisionAmtInPolicyCurrency": amount,
                "decisionAmtInUserCurrency": amount,
            },
        )

    def apply(
        self, base: Record, amount: Decimal, reference: Any, now: datetime
    ) -> tuple[int, Record]:
        """A new application (POST). ``base`` holds customerId, policyId, buyerId,
        buyerName, coverType and policyCurrency."""
        current = self._current(str(base["customerId"]), str(base["policyId"]), base["buyerId"])
        if any(self._live(r) for r in current):
            raise Refused(400, EXISTS_MESSAGE, "buyerId")
        for old in current:
            self._retire(old, "SCLD")
        record = self._application(base, amount, reference, now)
        if amount <= self.auto_approve_up_to:
            self._decide(record, amount, "DC01", now)
            return 201, dict(record)
        self._pending[str(record["coverId"])] = _Application(now + self.decision_delay, None)
        return 202, dict(record)

    def change(
        self, base: Record, action: str, amount: Decimal | None, reference: Any, now: datetime
    ) -> tuple[int, Record]:
        """An amendment (PUT) with ``action`` supersede, reduce or cancel."""
        current = self._current(str(base["customerId"]), str(base["policyId"]), base["buyerId"])
        decisions = [
            r for r in current if self._live(r) and r["coverStatus"] != COVER_STATUS_REFERRED
        ]
        applications = [r for r in current if self._live(r) and r not in decisions]
        if action == "cancel":
            if applications:
                target, code = applications[0], "CCLA"
            elif decisions:
                target, code = decisions[0], "CCLD"
                target["withdrawalDate"] = stamp(now)
            else:
                raise Refused(400, NO_COVER_MESSAGE, "buyerId")
            target["historicCode"] = code
            self._pending.pop(str(target["coverId"]), None)
            return 200, dict(target)
        assert amount is not None
        if action == "supersede":
            if not decisions or applications:
                raise Refused(400, SUPERSEDE_MESSAGE, "action")
            previous = decisions[0]
            base = {**base, "coverType": base.get("coverType") or previous["coverType"]}
            record = self._application(base, amount, reference, now)
            if amount <= self.auto_approve_up_to:
                self._retire(previous, "SCLD")
                self._decide(record, amount, "DC01", now)
                return 201, dict(record)
            self._pending[str(record["coverId"])] = _Application(
                now + self.decision_delay, str(previous["coverId"])
            )
            return 202, dict(record)
        if not decisions:
            raise Refused(400, NO_COVER_MESSAGE, "buyerId")
        previous = decisions[0]
        if amount >= granted(previous):
            raise Refused(
                400, "Reduced amount must be lower than the current cover", "creditLimitAmount"
            )
        base = {**base, "coverType": base.get("coverType") or previous["coverType"]}
        record = self._application(base, amount, reference, now)
        self._retire(previous, "SCLD")
        self._decide(record, amount, "DC09", now)
        return 201, dict(record)

    def decide_due(self, now: datetime) -> None:
        """Decide every referred application whose time has come."""
        due = sorted(
            (app.decide_at, cover_id)
            for cover_id, app in self._pending.items()
            if app.decide_at <= now
        )
        for _, cover_id in due:
            app = self._pending.pop(cover_id)
            record = next((r for r in self.covers if str(r["coverId"]) == cover_id), None)
            if record is None:
                continue
            requested = Decimal(record.get("creditLimitApplicationAmountInPolicyCurrency") or 0)
            amount = self.offered(requested, _THOUSAND)
            code = "DC01" if amount >= requested else "DC04"
            previous = next(
                (r for r in self.covers if app.previous and str(r["coverId"]) == app.previous), None
            )
            if previous is not None:
                if amount <= granted(previous):
                    code, amount = "DC05", granted(previous)
                self._retire(previous, "SCLD")
            elif amount <= 0:
                code, amount = "DC03", Decimal(0)
            self._decide(record, amount, code, app.decide_at)
