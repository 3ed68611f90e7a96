""":class:`CofaceAdapter`, the normalised insurer adapter (and :class:`CofaceClient`,
its HTTP client from :mod:`.api`, re-exported).

Every path is an option (:mod:`.options`). List answers are read from a bare array,
from the expected member (``companies``, ``creditLimits``, ``orders``, ``overdues``)
or from the only array member of the object: their shape is not public.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from tci_gateway.adapters.contract import (
    BuyerMatch,
    BuyerQuery,
    Capabilities,
    CoverRequest,
    CoverRequestResult,
    OverdueNotice,
    OverdueResult,
    PolicyRef,
    PortfolioItem,
)
from tci_gateway.adapters.toolkit import (
    Pages,
    none_if_not_found,
    parse_model,
    protocol_error,
    unreadable,
)
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.errors import ConfigError, InProgressError, ProtocolError, RejectedError
from tci_gateway.http.client import ApiResponse

from .api import CofaceClient
from .bodies import Unsupported, order_body, overdue_body, overdue_result
from .mapping import (
    IdentifierTable,
    MappingError,
    PolicyInfo,
    country_param,
    is_pending,
    map_company,
    map_credit_limit,
    map_overdue_status,
    map_policy,
)
from .portfolio import PortfolioPaginator, entries
from .wire import Company, CreditLimit, OverdueRecord, PolicyRecord

__all__ = ["CAPABILITIES", "CofaceAdapter", "CofaceClient"]

IN_PROGRESS_CODES = frozenset({"ORDER_IN_PROGRESS", "DUPLICATE_REFERENCE"})
"""409 codes of an order that may be ours, already taken: looked up, never a refusal."""

CAPABILITIES = Capabilities(
    buyer_search=True,
    cover_requests=True,
    async_cover_requests=True,
    portfolio=True,
    pagination="offset",
    delta_endpoint=False,
    webhooks=False,
    overdue_api=True,
    claims_api=False,
)


class CofaceAdapter:
    """The Coface CofaServe API, normalised
    (:class:`~tci_gateway.adapters.contract.InsurerAdapter` and
    :class:`~tci_gateway.adapters.contract.OverdueFiling`). Options: :mod:`.options`.

    Beyond the protocols: :meth:`policy_details` and :meth:`overdue_status`.
    """

    capabilities: Capabilities = CAPABILITIES

    def __init__(self, name: str, client: CofaceClient) -> None:
        self.name = name
        self.client = client
        self.options = client.options
        self.identifiers = IdentifierTable(self.options.identifier_types)

    # -- buyers (COMPANY) ---------------------------------------------------------------

    def search_buyers(self, query: BuyerQuery) -> list[BuyerMatch]:
        """Find a company by identifier (``/companies/identifier``), by EasyNumber (a
        ``Scheme.INSURER`` id issued by this adapter) or by name. No match is ``[]``."""
        paths = self.options.paths
        policy = self.options.policy_number
        ident = query.identifier
        if ident is not None and ident.scheme is Scheme.INSURER and ident.issuer == self.name:
            path = paths.format("company", easy_number=ident.value)
            return self._companies(path, None, policy)
        try:
            country = country_param(query.country, self.options.country_format)
        except MappingError as exc:
            raise RejectedError(exc.reason, adapter=self.name) from exc
        if ident is not None:
            pair = self.identifiers.to_coface(ident)
            if pair is None:
                raise RejectedError(
                    f"Coface has no identifier type for {ident.scheme} (option identifier_types)",
                    adapter=self.name,
                )
            params = {"countryCode": country, "identifierType": pair[0], "identifierValue": pair[1]}
            return self._companies(paths["company_by_identifier"], params, policy)
        if query.name and query.name.strip():
            params = {"name": query.name.strip(), "countryCode": country}
            return self._companies(paths["company_search"], params, policy)
        raise RejectedError("a Coface search needs an identifier or a name", adapter=self.name)

    def _companies(
        self, path: str, params: Mapping[str, str] | None, policy: str | None
    ) -> list[BuyerMatch]:
        response = none_if_not_found(
            lambda: self.client.request("GET", path, params=params, policy_number=policy)
        )
        if response is None:
            return []
        payload = response.payload
        records = [payload] if isinstance(payload, dict) and "easyNumber" in payload else None
        matches: list[BuyerMatch] = []
        for index, record in enumerate(records or self._records(response, "companies")):
            try:
                matches.append(
                    map_company(Company.from_record(record), self.name, self.identifiers)
                )
            except (ValidationError, MappingError) as exc:
                self.client.log.warning("company_record_skipped", row=index, reason=str(exc))
        return matches

    # -- portfolio (NOTIFICATION) -------------------------------------------------------

    def fetch_portfolio(self, policy: PolicyRef) -> Iterator[PortfolioItem]:
        """Every buyer's current decision under ``policy``, page by page: the first page
        is read before this returns, the others as the entries are consumed."""
        number = self._policy_number(policy)
        path = self.options.paths.format("portfolio", policy_number=number)
        pages = Pages(
            self.client,
            path,
            PortfolioPaginator(self.options.page_limit),
            records=lambda response: self._records(response, "creditLimits"),
            request_options={"policy_number": number},
        )
        return self._entries(pages.read_first(), policy.currency)

    def _entries(self, pages: Pages, currency: str) -> Iterator[PortfolioItem]:
        overrides = self.options.status_overrides
        for page in pages:
            yield from entries(page.records, page.first_row, currency, status_overrides=overrides)

    # -- cover requests (PRODUCT) -------------------------------------------------------

    def request_cover(self, request: CoverRequest) -> CoverRequestResult:
        """Order, update or cancel a credit limit (option ``actions``). Sent
        non-idempotent with the client reference: an ambiguous outcome raises
        :class:`~tci_gateway.errors.AmbiguousOutcomeError`, never a blind resend.
        201 is a decision, 202 an order in progress. A 409 ``ORDER_IN_PROGRESS`` or
        ``DUPLICATE_REFERENCE`` is :class:`~tci_gateway.errors.InProgressError`: the
        order in progress (or the one holding the reference) may be this very one."""
        number = self._policy_number(request.policy)
        try:
            body = order_body(request, self.options.actions)
        except Unsupported as exc:
            raise RejectedError(str(exc), adapter=self.name) from exc
        try:
            response = self.client.request(
                "POST",
                self.options.paths["orders"],
                json_body=body,
                idempotent=False,
                client_reference=request.client_reference,
                policy_number=number,
            )
        except RejectedError as exc:
            if exc.status == 409 and (exc.code or "").upper() in IN_PROGRESS_CODES:
                raise InProgressError.of(exc, request.client_reference) from exc
            raise
        payload = response.payload
        if response.status == 202 and not (isinstance(payload, dict) and payload.get("easyNumber")):
            order_id = payload.get("orderId") if isinstance(payload, dict) else None
            ref = str(order_id) if order_id not in (None, "") else None
            return CoverRequestResult(request.client_reference, ref, pending=True)
        record = self._credit_limit(payload, response)
        return self._result(
            request.client_reference, record, request.policy.currency, response.status == 202
        )

    def request_status(
        self, policy: PolicyRef, insurer_request_ref: str
    ) -> CoverRequestResult | None:
        """The order ``insurer_request_ref`` as it stands now; ``None`` when unknown."""
        number = self._policy_number(policy)
        path = self.options.paths.format("order", order_id=insurer_request_ref)
        response = none_if_not_found(lambda: self.client.request("GET", path, policy_number=number))
        if response is None:
            return None
        record = self._credit_limit(response.payload, response)
        return self._result(record.customerReference or "", record, policy.currency, False)

    def find_request(self, policy: PolicyRef, client_reference: str) -> CoverRequestResult | None:
        """Look an order up by its client reference (``customerReference``) after an
        ambiguous outcome; ``None`` when Coface has no record of it."""
        found = self._by_reference(policy, "orders", client_reference)
        if found is None:
            return None
        response, records = found
        limits = [self._credit_limit(record, response) for record in records]
        return self._result(client_reference, limits[-1], policy.currency, False)

    def _result(
        self, reference: str, record: CreditLimit, currency: str, accepted: bool
    ) -> CoverRequestResult:
        overrides = self.options.status_overrides
        pending = accepted or is_pending(record, overrides)
        decision = None
        if record.decisionCode is not None:
            try:
                decision = map_credit_limit(record, currency, status_overrides=overrides)
            except MappingError as exc:
                if not pending:
                    raise ProtocolError(
                        f"unreadable order record: {exc.reason}", adapter=self.name
                    ) from exc
        return CoverRequestResult(reference, record.orderId, pending=pending, decision=decision)

    # -- overdues (OVERDUE) -------------------------------------------------------------

    def submit_overdue(self, notice: OverdueNotice) -> OverdueResult:
        """Declare an overdue. Only the kinds named in option ``overdue_types`` are sent
        (OVERDUE by default); others are a :class:`RejectedError` before any call."""
        number = self._policy_number(notice.policy)
        try:
            body = overdue_body(notice, self.options.overdue_types)
        except Unsupported as exc:
            raise RejectedError(str(exc), adapter=self.name) from exc
        response = self.client.request(
            "POST",
            self.options.paths["overdues"],
            json_body=body,
            idempotent=False,
            client_reference=notice.client_reference,
            policy_number=number,
        )
        return self._overdue(response.payload, notice.client_reference, response)

    def find_overdue(self, policy: PolicyRef, client_reference: str) -> OverdueResult | None:
        """Look a declaration up by its client reference; ``None`` when unknown."""
        found = self._by_reference(policy, "overdues", client_reference)
        if found is None:
            return None
        response, records = found
        return self._overdue(records[-1], client_reference, response)

    def overdue_status(self, policy: PolicyRef, insurer_reference: str) -> OverdueResult | None:
        """The declaration ``insurer_reference`` (an ``overdueId``) as it stands now."""
        number = self._policy_number(policy)
        path = self.options.paths.format("overdue", overdue_id=insurer_reference)
        response = none_if_not_found(lambda: self.client.request("GET", path, policy_number=number))
        if response is None:
            return None
        return self._overdue(response.payload, "", response)

    def _overdue(self, payload: Any, reference: str, response: ApiResponse) -> OverdueResult:
        record = parse_model(
            OverdueRecord.from_record,
            payload,
            "unreadable overdue record",
            adapter=self.name,
            response=response,
        )
        if map_overdue_status(record.status, self.options.overdue_statuses) is None:
            self.client.log.warning("overdue_status_unknown", raw_status=record.status)
        return overdue_result(record, reference, self.options.overdue_statuses)

    # -- policy (POLICY) ----------------------------------------------------------------

    def policy_details(self, policy_number: str) -> PolicyInfo:
        """``GET /policies/{policy_number}``: currency, status and dates."""
        path = self.options.paths.format("policy", policy_number=policy_number)
        response = self.client.request("GET", path, policy_number=policy_number)
        with unreadable("unreadable policy", adapter=self.name, also=(MappingError,)):
            return map_policy(PolicyRecord.from_record(response.payload))

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    # -- helpers ------------------------------------------------------------------------

    def _policy_number(self, policy: PolicyRef) -> str:
        number = str(policy.external_ref.get("policy_number") or "").strip()
        if not number:
            raise ConfigError(
                f"policy {policy.key!r}: Coface needs the contract number as policy_number in "
                'the policy\'s external_ref, e.g. external_ref = { policy_number = "1234567" }'
            )
        return number

    def _credit_limit(self, record: Any, response: ApiResponse) -> CreditLimit:
        message = "unreadable order record"
        return parse_model(
            CreditLimit.from_record, record, message, adapter=self.name, response=response
        )

    def _by_reference(
        self, policy: PolicyRef, route: str, reference: str
    ) -> tuple[ApiResponse, list[Any]] | None:
        """``GET <route>?customerReference=`` and the records carrying ``reference``
        (matched here too, in case the filter is ignored), oldest first; ``None`` when
        there is none (or a 404)."""
        number = self._policy_number(policy)
        params = {"customerReference": reference}
        path = self.options.paths[route]
        response = none_if_not_found(
            lambda: self.client.request("GET", path, params=params, policy_number=number)
        )
        if response is None:
            return None
        records = [
            record
            for record in self._records(response, route)
            if isinstance(record, dict) and record.get("customerReference") == reference
        ]
        return (response, records) if records else None

    def _records(self, response: ApiResponse, key: str) -> list[Any]:
        payload = response.payload
        if isinstance(payload, list):
            return payload
        if isinstance(payload, dict):
            if isinstance(payload.get(key), list):
                return list(payload[key])
            lists = [value for value in payload.values() if isinstance(value, list)]
            if len(lists) == 1:
                return list(lists[0])
        raise protocol_error(f"expected a list of {key}", adapter=self.name, response=response)
