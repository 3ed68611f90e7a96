"""The sandbox's cover book: policies, companies, covers, cover requests and jobs.

Records are kept in the Allianz wire shape (dicts, amounts as ``Decimal``) and served
as they are. Rules (deterministic, driven by the sandbox clock):

* every cover request is asynchronous: ``POST covers`` creates a request
  (``InProgress``) and a job (``pending``) and answers 202 ``{jobId}``; the request is
  decided ``decision_delay`` seconds later, when the next call arrives;
* a request for a company with one still pending is refused with 409;
* Primary, GradeCover and Increase: ``AlreadyAgreed`` when the amount equals the limit
  in force; else up to ``auto_approve_up_to`` -> ``Agreement`` for the full amount; above ->
  ``PartialAgreement`` for the amount times ``partial_ratio`` (whole units, rounded
  down), ``Refusal`` (amount 0) when nothing is left; an increase whose offer would not
  exceed the limit in force is a ``Refusal`` that keeps the existing amount;
* Reduction -> ``Reduction`` for the requested (lower) amount; Cancellation ->
  ``Cancellation`` with amount 0;
* a decision appends a credit limit to the company's cover (created at the first
  decision), marks the request ``Processed`` with its ``coverId`` and the job
  ``processed`` with its ``resourceUrl``; with a callback header, the notification that
  Allianz would post is recorded in ``notifications``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tci_gateway.adapters.sandbox_support import DecidingBook

from .sandbox_http import Record, Refused, check_amount, check_currency, required
from .wire import parse_timestamp

REQUEST_TYPES = {
    "primary": "Primary",
    "gradecover": "GradeCover",
    "increase": "Increase",
    "reduction": "Reduction",
    "cancellation": "Cancellation",
}
IN_PROGRESS = "InProgress"
PROCESSED = "Processed"  # SYNTHETIC
PolicyKey = tuple[str, str, str]


def stamp(moment: datetime) -> str:
    """A timestamp as the sandbox writes it (UTC, ``Z``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def policy_key(policy: Any) -> PolicyKey:
    """``(businessUnitCode, policyId, extensionId or "")`` of a policy object."""
    if not isinstance(policy, dict):
        raise Refused(400, "policy must be an object", "INVALID_FIELD", "policy")
    unit, number = policy.get("businessUnitCode"), policy.get("policyId")
    if unit in (None, "") or number in (None, ""):
        raise Refused(400, "businessUnitCode and policyId are mandatory", "MANDATORY_FIELD")
    return str(unit), str(number), str(policy.get("extensionId") or "")


def _moment(value: Any) -> datetime | None:
    parsed = parse_timestamp(value) if value else None
    return parsed if isinstance(parsed, datetime) else None


@dataclass
class _Pending:
    request_id: str
    job_id: str
    decide_at: datetime
    callback: Record | None


class CoverBook(DecidingBook):
    """Every policy, company, cover, request and job of the sandbox."""

    def __init__(
        self,
        *,
        auto_approve_up_to: Any,
        decision_delay: float,
        partial_ratio: Any,
        cover_path: str,
        reference_field: str,
    ) -> None:
        super().__init__(
            auto_approve_up_to=auto_approve_up_to,
            decision_delay=decision_delay,
            partial_ratio=partial_ratio,
        )
        self.cover_path = cover_path
        self.reference_field = reference_field
        self.policies: dict[PolicyKey, Record] = {}
        self.companies: dict[str, Record] = {}
        self.covers: dict[str, Record] = {}
        self.requests: dict[str, Record] = {}
        self.jobs: dict[str, Record] = {}
        self.notifications: list[Record] = []
        self._pending: dict[str, _Pending] = {}
        self._next = {"cover": 7000001, "request": 5000001, "job": 1}

    # -- seeding ------------------------------------------------------------------------

    def _bump(self, kind: str, value: Any) -> None:
        if str(value).isdigit():
            self._next[kind] = max(self._next[kind], int(value) + 1)

    def _new_id(self, kind: str) -> str:
        number = self._next[kind]
        self._next[kind] += 1
        if kind == "job":
            return f"00000000-0000-4000-8000-{number:012d}"
        return str(number)

    def add_policy(self, record: Mapping[str, Any]) -> None:
        """A policy: the triple plus ``currencyCode``."""
        self.policies[policy_key(dict(record))] = dict(record)

    def add_company(self, record: Mapping[str, Any]) -> None:
        """A company (``results[].company`` shape)."""
        self.companies[str(record["companyId"])] = dict(record)

    def company_block(self, company_id: str) -> Record:
        """``{companyId, companyName, countryCode}`` of a known company."""
        company = self.companies.get(company_id)
        if company is None:
            raise Refused(400, "Unknown companyId", "UNKNOWN_COMPANY", "companyId")
        return {
            "companyId": company_id,
            "companyName": (company.get("legalData") or {}).get("companyName"),
            "countryCode": (company.get("address") or {}).get("countryCode"),
        }

    def add_cover(self, record: Mapping[str, Any]) -> None:
        """A cover; ``company`` is filled in from ``companyId`` when missing."""
        cover = dict(record)
        self.policy(cover.get("policy"))
        if "company" not in cover:
            cover["company"] = self.company_block(str(cover.pop("companyId")))
        self._bump("cover", cover["coverId"])
        self.covers[str(cover["coverId"])] = cover

    def add_request(self, record: Mapping[str, Any], now: datetime) -> None:
        """A cover request; one ``InProgress`` gets a pending job (``jobId`` from the
        record or a new one), decided ``decision_delay`` from ``now``."""
        request = dict(record)
        job_id = str(request.pop("jobId", "") or self._new_id("job"))
        self._bump("request", request["requestId"])
        request_id = str(request["requestId"])
        self.requests[request_id] = request
        if request.get("requestStatusCode") == IN_PROGRESS:
            self.jobs[job_id] = {"jobId": job_id, "jobStatusCode": "pending"}
            self._pending[request_id] = _Pending(
                request_id, job_id, now + self.decision_delay, None
            )

    # -- reading ------------------------------------------------------------------------

    def policy(self, raw: Any) -> Record:
        """The policy a request names; unknown -> 400."""
        found = self.policies.get(policy_key(raw))
        if found is None:
            raise Refused(400, "Unknown policy", "UNKNOWN_POLICY", "policy")
        return found

    def _keys(self, policies: Any) -> set[PolicyKey]:
        if not isinstance(policies, list) or not policies:
            raise Refused(400, "policies is mandatory", "MANDATORY_FIELD", "policies")
        keys = set()
        for raw in policies:
            self.policy(raw)
            keys.add(policy_key(raw))
        return keys

    def cover_of(self, key: PolicyKey, company_id: str) -> Record | None:
        """The cover of a company under a policy, if any."""
        for cover in self.covers.values():
            company = cover.get("company") or {}
            if policy_key(cover["policy"]) == key and str(company.get("companyId")) == company_id:
                return cover
        return None

    @staticmethod
    def limit_in_force(cover: Record | None, now: datetime) -> Decimal:
        """The amount of the latest credit limit started by ``now`` (0 when none)."""
        if cover is None:
            return Decimal(0)
        limits = (cover.get("creditLimitsAggregation") or {}).get("creditLimits") or []
        started = [
            (_moment(lim.get("startDate")) or now, index, lim)
            for index, lim in enumerate(limits)
            if (_moment(lim.get("startDate")) or now) <= now
        ]
        if not started:
            return Decimal(0)
        return Decimal(max(started, key=lambda item: (item[0], item[1]))[2]["amount"])

    def search_covers(self, body: Mapping[str, Any]) -> list[Record]:
        """Covers of the ``policies`` asked for, in coverId order."""
        keys = self._keys(body.get("policies"))
        found = [c for c in self.covers.values() if policy_key(c["policy"]) in keys]
        return sorted(found, key=lambda c: (len(str(c["coverId"])), str(c["coverId"])))

    def search_requests(self, body: Mapping[str, Any]) -> list[Record]:
        """Requests of the ``policies``, filtered by ``requestStatusCode``,
        ``requestId``, ``companyId`` and the reference field when given."""
        keys = self._keys(body.get("policies"))
        filters = ("requestStatusCode", "requestId", "companyId", self.reference_field)
        wanted = {name: str(body[name]) for name in filters if body.get(name) is not None}
        return [
            dict(r)
            for r in self.requests.values()
            if policy_key(r["policy"]) in keys
            and all(str(r.get(name)) == value for name, value in wanted.items())
        ]

    # -- requests -----------------------------------------------------------------------

    def submit(self, body: Record, callback: Record | None, now: datetime) -> Record:
        """A cover request: checked, stored ``InProgress`` with a pending job."""
        required(body, "requestTypeCode", "policy", "companyId")
        kind = REQUEST_TYPES.get(str(body["requestTypeCode"]).casefold())
        if kind is None:
            raise Refused(400, "Unknown requestTypeCode", "INVALID_FIELD", "requestTypeCode")
        policy = self.policy(body["policy"])
        key = policy_key(body["policy"])
        company_id = str(body["companyId"])
        block = self.company_block(company_id)
        if any(
            r.get("requestStatusCode") == IN_PROGRESS
            and policy_key(r["policy"]) == key
            and str(r.get("companyId")) == company_id
            for r in self.requests.values()
        ):
            raise Refused(
                409, "A request is already in progress for this company", "REQUEST_IN_PROGRESS"
            )
        in_force = self.limit_in_force(self.cover_of(key, company_id), now)
        details = body.get("creditLimitDetails")
        if kind != "Cancellation":
            if not isinstance(details, dict):
                raise Refused(400, "creditLimitDetails is mandatory", "MANDATORY_FIELD")
            currency = policy["currencyCode"]
            check_currency(details.get("currencyCode"), currency, "creditLimitDetails.currencyCode")
            amount = check_amount(
                details.get("requestedAmount"), currency, "creditLimitDetails.requestedAmount"
            )
            if kind == "Reduction" and amount >= in_force:
                raise Refused(400, "A reduction must be lower than the limit", "INVALID_AMOUNT")
        if kind in ("Increase", "Reduction", "Cancellation") and in_force <= 0:
            raise Refused(400, "No cover in force for this company", "NO_COVER", "companyId")
        request_id, job_id = self._new_id("request"), self._new_id("job")
        request: Record = {
            "requestId": request_id,
            "requestTypeCode": kind,
            "policy": dict(body["policy"]),
            "companyId": company_id,
            "company": block,
            "creditLimitDetails": details if kind != "Cancellation" else None,
            "isRequestUrgent": bool(body.get("isRequestUrgent", False)),
            "creationDate": stamp(now),
            "lastUpdateDate": stamp(now),
            "coverId": None,
            "requestStatusCode": IN_PROGRESS,
            self.reference_field: body.get(self.reference_field),
        }
        self.requests[request_id] = request
        self.jobs[job_id] = {"jobId": job_id, "jobStatusCode": "pending"}
        self._pending[request_id] = _Pending(
            request_id, job_id, now + self.decision_delay, callback
        )
        return {"jobId": job_id}

    def decide_due(self, now: datetime) -> None:
        """Decide every request whose time has come, in order."""
        due = sorted((p.decide_at, rid) for rid, p in self._pending.items() if p.decide_at <= now)
        for _, request_id in due:
            self._decide(self._pending.pop(request_id))

    def _offer(self, kind: str, requested: Decimal, in_force: Decimal) -> tuple[str, Decimal]:
        if kind == "Cancellation":
            return "Cancellation", Decimal(0)
        if kind == "Reduction":
            return "Reduction", requested
        if in_force > 0 and requested == in_force:
            return "AlreadyAgreed", requested
        if requested <= self.auto_approve_up_to:
            return "Agreement", requested
        offered = self.offered(requested)
        if in_force > 0 and offered <= in_force:
            return "Refusal", in_force
        if offered <= 0:
            return "Refusal", Decimal(0)
        return "PartialAgreement", offered

    def _decide(self, pending: _Pending) -> None:
        at = pending.decide_at
        request = self.requests[pending.request_id]
        key = policy_key(request["policy"])
        company_id = str(request["companyId"])
        policy = self.policies[key]
        cover = self.cover_of(key, company_id)
        details = request.get("creditLimitDetails") or {}
        requested = Decimal(details.get("requestedAmount") or 0)
        code, amount = self._offer(
            request["requestTypeCode"], requested, self.limit_in_force(cover, at)
        )
        if cover is None:
            cover = {
                "coverId": self._new_id("cover"),
                "company": self.company_block(company_id),
                "policy": dict(request["policy"]),
                "creditLimitsAggregation": {"currencyCode": policy["currencyCode"]},
            }
            self.covers[str(cover["coverId"])] = cover
        aggregation = cover.setdefault("creditLimitsAggregation", {})
        limits = aggregation.setdefault("creditLimits", [])
        limits.append(
            {
                "amount": amount,
                "currencyCode": policy["currencyCode"],
                "startDate": at.date().isoformat(),
                "decisionDate": stamp(at),
                "technicalDecisionStatusCode": code,
            }
        )
        cover["lastUpdateDate"] = stamp(at)
        request.update(
            requestStatusCode=PROCESSED, coverId=cover["coverId"], lastUpdateDate=stamp(at)
        )
        resource = self.cover_path.replace("{coverId}", str(cover["coverId"]))
        job = self.jobs[pending.job_id]
        job.update(jobStatusCode="processed", resourceUrl=resource)
        if pending.callback is not None:
            body: Record = {**job, self.reference_field: request.get(self.reference_field)}
            if pending.callback.get("extendedNotification"):
                body["notificationTypeCode"] = "functional"
                body["cover"] = copy.deepcopy(cover)
            else:
                body["notificationTypeCode"] = "technical"
            self.notifications.append({"callback": pending.callback, "body": body})

    def overdue_parties(self, body: Mapping[str, Any]) -> tuple[Record, str]:
        """The policy and company an overdue names (both must be known)."""
        policy = self.policy(body.get("policy"))
        company_id = str(body.get("companyId") or "")
        self.company_block(company_id)
        return policy, company_id

    def all_companies(self) -> Iterable[Record]:
        """Every company, in insertion order."""
        return self.companies.values()
