"""The Allianz Trade adapter, :class:`AllianzAdapter` (the HTTP client,
:class:`.http_client.AllianzClient`, is re-exported here).

Cover requests are asynchronous: ``POST covers`` answers 202 ``{jobId}``;
:meth:`AllianzAdapter.request_status` polls the job and reads the cover once it is
processed. References returned by :meth:`AllianzAdapter.find_request` are
``request:<requestId>`` (the cover request, not the job): ``request_status`` accepts
both kinds. Overdue filing (:mod:`.overdues`) and callbacks (:mod:`.webhooks`) are
mixed in from :class:`.overdues.OverdueMixin` and :class:`.base.AllianzBase`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from tci_gateway.adapters.contract import (
    BuyerMatch,
    BuyerQuery,
    Capabilities,
    CoverAction,
    CoverRequest,
    CoverRequestResult,
    PolicyRef,
    PortfolioItem,
)
from tci_gateway.adapters.toolkit import Pages, none_if_not_found, parse_answer, parse_model
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.errors import InProgressError, ProtocolError, RejectedError

from .http_client import AllianzClient, cover_id_from_url
from .mapping import JOB_FAILED, JOB_PENDING, JOB_PROCESSED, map_company, request_state
from .overdues import OverdueMixin
from .portfolio import cover_items, page_records, pending_items
from .seen import SeenCompanies
from .wire import CoverRequestRecord, Job, JobCreated, SearchResult

__all__ = ["CAPABILITIES", "REQUEST_REF_PREFIX", "AllianzAdapter", "AllianzClient"]

REQUEST_REF_PREFIX = "request:"

CAPABILITIES = Capabilities(
    buyer_search=True,
    cover_requests=True,
    async_cover_requests=True,
    portfolio=True,
    webhooks=True,
    delta_endpoint=False,
    pagination="page",
    overdue_api=True,
    claims_api=False,
)

_ACTION_PATHS = {
    CoverAction.NEW: "covers",
    CoverAction.INCREASE: "cover_increase",
    CoverAction.REDUCE: "cover_reduce",
    CoverAction.CANCEL: "cover_cancel",
    CoverAction.RENEW: "covers",  # only once request_type_codes names a RENEW code
}


class AllianzAdapter(OverdueMixin):
    """Allianz Trade, normalised (:class:`~tci_gateway.adapters.contract.InsurerAdapter`
    and :class:`~tci_gateway.adapters.contract.OverdueFiling`). Options: see
    :class:`.options.AllianzOptions`. ``clock`` is the time a portfolio is observed at.
    Extra methods: :meth:`read_cover`, :meth:`callback_headers`, :meth:`parse_webhook`,
    :meth:`submit_overdue`, :meth:`find_overdue`, :meth:`policy_body`."""

    capabilities: Capabilities = CAPABILITIES

    # -- buyers -------------------------------------------------------------------------

    def search_buyers(self, query: BuyerQuery) -> list[BuyerMatch]:
        """``advancedSearch`` by identifier (mapped to its ``idTypeCode``; an Allianz
        company id is ``Scheme.INSURER`` issued by this adapter) and/or by name. No match
        (an empty ``results``, or a 404 in Allianz's error envelope) is an empty list;
        results are candidates, never links."""
        opts = self.options
        body: dict[str, Any] = {
            "countryCode": query.country.upper(),
            "companyIdentifierTypeCode": opts.company_identifier_type_code,
            "requestedSize": opts.search_requested_size,
        }
        if opts.search_minimum_score is not None:
            body["minimumScore"] = opts.search_minimum_score
        ident = query.identifier
        if ident is None and not (query.name and query.name.strip()):
            raise RejectedError("a buyer search needs an identifier or a name", adapter=self.name)
        if ident is not None:
            if ident.scheme is Scheme.INSURER and ident.issuer != self.name:
                raise RejectedError(f"{ident} is not an Allianz Trade id", adapter=self.name)
            code = opts.id_type_codes.get(ident.scheme)
            if code is None:
                raise RejectedError(f"Allianz cannot search by {ident.scheme}", adapter=self.name)
            body["companyIdentifiers"] = [{"idTypeCode": code, "idValue": ident.value}]
        if query.name and query.name.strip():
            body["companyName"] = query.name.strip()
        response = none_if_not_found(
            lambda: self.client.request(
                "POST", self.paths["company_search"], json_body=body, idempotent=True
            ),
            coded_only=True,
        )
        if response is None:
            return []
        records = page_records(response.payload)
        if records is None:
            raise ProtocolError("the search answer has no results", adapter=self.name)
        matches: list[BuyerMatch] = []
        for index, record in enumerate(records):
            try:
                company = SearchResult.from_record(record).company
                matches.append(
                    map_company(company, self.name, opts.id_type_codes, query.country.upper())
                )
            except ValidationError as exc:
                self.client.log.warning("company_record_skipped", row=index, reason=str(exc))
        return matches

    # -- portfolio ----------------------------------------------------------------------

    def fetch_portfolio(self, policy: PolicyRef) -> Iterator[PortfolioItem]:
        """Every company's cover under ``policy`` (``covers/search``, paged), then a
        PENDING entry per company with a request in progress and no cover
        (``coverRequests/search``). The first page is read before this returns; later
        pages are read as the entries are consumed (memory does not grow with pages)."""
        policy_body = self.policy_body(policy)
        covers = self.pager("covers_search", {"policies": [policy_body]}).read_first()
        return self._portfolio(policy, policy_body, covers, self.clock())

    def _portfolio(
        self, policy: PolicyRef, policy_body: dict[str, str], covers: Pages, observed_at: datetime
    ) -> Iterator[PortfolioItem]:
        seen = SeenCompanies()  # every company of the portfolio: on disk, not in memory
        unreadable: set[str] = set()
        overrides = self.options.status_overrides
        try:
            for page in covers:
                yield from cover_items(
                    page.records,
                    page.first_row,
                    policy.currency,
                    seen,
                    status_overrides=overrides,
                    observed_at=observed_at,
                    unreadable=unreadable,
                )
            pending = self.options.pending_request_status
            body = {"policies": [policy_body], "requestStatusCode": pending}
            for page in self.pager("cover_requests_search", body):
                yield from pending_items(
                    page.records, page.first_row, policy.currency, seen, status_overrides=overrides
                )
        finally:
            seen.close()

    # -- cover requests -----------------------------------------------------------------

    def request_cover(self, request: CoverRequest) -> CoverRequestResult:
        """``POST covers`` (or the route configured for the action) with the action's
        ``requestTypeCode``, sent non-idempotent with the client reference in the
        reference field; the callback header goes along with the request's
        ``callback_url`` (or the ``callback_url`` option).
        Allianz answers 202 ``{jobId}``: the result is always pending, with the job id
        as ``insurer_request_ref``. A request for a company with one still pending is
        refused by Allianz with 409: :class:`~tci_gateway.errors.InProgressError` (the
        pending one may be this very request, sent before), never a refusal."""
        opts = self.options
        if request.cover_type == "CREDIT_CHECK":
            raise RejectedError("Allianz Trade has no credit-check cover", adapter=self.name)
        is_grade = request.action is CoverAction.NEW and request.cover_type == "GRADE"
        code = opts.request_type_codes.get("GRADE" if is_grade else request.action.value)
        route = _ACTION_PATHS.get(request.action)
        if code is None or route is None:
            raise RejectedError(
                f"Allianz Trade has no {request.action} request (set request_type_codes)",
                adapter=self.name,
            )
        body: dict[str, Any] = {
            "requestTypeCode": code,
            "policy": self.policy_body(request.policy),
            "companyId": request.insurer_buyer_id,
            "isRequestUrgent": request.urgent,
            opts.reference_field: request.client_reference,
        }
        if request.action is not CoverAction.CANCEL:
            if request.amount is None or request.amount.amount <= 0:
                raise RejectedError(
                    f"a {request.action} request needs a positive amount", adapter=self.name
                )
            body["creditLimitDetails"] = {
                "requestedAmount": request.amount.amount,
                "currencyCode": request.amount.currency,
            }
        try:
            response = self.client.request(
                "POST",
                self.paths[route],
                json_body=body,
                idempotent=False,
                client_reference=request.client_reference,
                headers=self.callback_headers(request.callback_url),
            )
        except RejectedError as exc:
            if exc.status == 409:  # "a request is already in progress for this company"
                raise InProgressError.of(exc, request.client_reference) from exc
            raise
        job = parse_answer(
            JobCreated.from_record,
            response,
            "the cover request answer has no jobId",
            adapter=self.name,
        )
        return CoverRequestResult(request.client_reference, job.jobId, pending=True)

    def request_status(
        self, policy: PolicyRef, insurer_request_ref: str
    ) -> CoverRequestResult | None:
        """Poll a job (``GET jobs/{jobId}``): pending, or processed and the cover read
        through ``resourceUrl``. A ``request:<requestId>`` reference (from
        :meth:`find_request`) is looked up in ``coverRequests/search``. ``None`` when
        Allianz does not know it (a 404 in its error envelope; a bare 404 is raised).
        The job carries no client reference: the result's ``client_reference`` is ``""``
        (the caller has it in its outbox)."""
        if insurer_request_ref.startswith(REQUEST_REF_PREFIX):
            request_id = insurer_request_ref[len(REQUEST_REF_PREFIX) :]
            found = self._find_requests(policy, "requestId", request_id)
            return self._request_result(policy, found[-1]) if found else None
        path = self.paths["job"].replace("{jobId}", quote(insurer_request_ref, safe=""))
        response = none_if_not_found(lambda: self.client.request("GET", path), coded_only=True)
        if response is None:
            return None
        message = f"unreadable job {insurer_request_ref}"
        job = parse_answer(Job.from_record, response, message, adapter=self.name)
        state = job.jobStatusCode.casefold()
        if state in JOB_FAILED:
            raise RejectedError(
                f"Allianz could not process job {insurer_request_ref}",
                adapter=self.name,
                code=job.jobStatusCode,
                body=job.raw,
            )
        if state not in JOB_PROCESSED:
            if state not in JOB_PENDING:
                self.client.log.warning("unknown_job_status", job_status=job.jobStatusCode)
            return CoverRequestResult("", insurer_request_ref, pending=True)
        cover_id = cover_id_from_url(job.resourceUrl)
        if cover_id is None:
            raise ProtocolError(
                f"processed job {insurer_request_ref} has no usable resourceUrl", adapter=self.name
            )
        decision = self.read_cover(policy, cover_id)
        return CoverRequestResult("", insurer_request_ref, pending=False, decision=decision)

    def find_request(self, policy: PolicyRef, client_reference: str) -> CoverRequestResult | None:
        """Look a cover request up by client reference (``coverRequests/search``; the
        reference is also matched here, in case the filter is ignored). ``None`` when
        Allianz has no record of it; the reference of a found one is
        ``request:<requestId>``."""
        found = self._find_requests(policy, self.options.reference_field, client_reference)
        return self._request_result(policy, found[-1]) if found else None

    def _find_requests(
        self, policy: PolicyRef, field: str, value: str
    ) -> list[tuple[CoverRequestRecord, str]]:
        body = {"policies": [self.policy_body(policy)], field: value}
        found: list[tuple[CoverRequestRecord, str]] = []
        reference_field = self.options.reference_field
        for page in self.pager("cover_requests_search", body):
            for record in page.records:
                if not isinstance(record, dict) or str(record.get(field)) != value:
                    continue
                parsed = parse_model(
                    CoverRequestRecord.from_record,
                    record,
                    "unreadable cover request",
                    adapter=self.name,
                )
                found.append((parsed, str(record.get(reference_field) or "")))
        found.sort(key=lambda item: item[0].creationDate or datetime.min.replace(tzinfo=UTC))
        return found

    def _request_result(
        self, policy: PolicyRef, found: tuple[CoverRequestRecord, str]
    ) -> CoverRequestResult:
        record, reference = found
        ref = f"{REQUEST_REF_PREFIX}{record.requestId}"
        state = request_state(record.requestStatusCode)
        if state == "pending":
            return CoverRequestResult(reference, ref, pending=True)
        if record.coverId:
            decision = self.read_cover(policy, record.coverId)
            return CoverRequestResult(reference, ref, pending=False, decision=decision)
        return CoverRequestResult(reference, ref, pending=False)
