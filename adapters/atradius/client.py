"""The Atradius HTTP client and :class:`AtradiusAdapter`, the normalised insurer adapter.

Auth (:class:`.auth.AtradiusAuth`, re-exported here): Basic client credentials plus
the app key for a Bearer token. Every call sends ``Authorization: Bearer <token>``, the
app key and ``Atradius-Correlation-Id``. Success answers are wrapped in
``{"data": ...}``; errors come as ``{"errors": [{"detail", "source": {"parameter"}}]}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
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
from tci_gateway.adapters.toolkit import (
    none_if_not_found,
    parse_model,
    protocol_error,
    unreadable,
)
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.errors import ConfigError, InProgressError, ProtocolError, RejectedError
from tci_gateway.http.client import ApiClient, ApiResponse, ParsedError
from tci_gateway.http.jsonstream import Element

from .auth import AtradiusAuth, parse_envelope
from .mapping import (
    MappingError,
    PolicyInfo,
    alpha3,
    identifier_to_uid,
    is_referred,
    map_buyer,
    map_cover,
    map_policy,
)
from .options import AtradiusOptions
from .portfolio import buyer_key, buyer_versions, latest_with_reference
from .spool import CoverSpool
from .wire import (
    BUYERS_PATH,
    CORRELATION_HEADER,
    COVER_STATUS_REFERRED,
    COVERS_PATH,
    HISTORIC_COVERS_PATH,
    POLICY_DETAILS_PATH,
    Buyer,
    Cover,
    PolicyDetails,
)

__all__ = ["CAPABILITIES", "AtradiusAdapter", "AtradiusAuth", "AtradiusClient", "parse_envelope"]

_IN_PROGRESS_MESSAGES = ("already exists for this buyer", "cannot supersede existing cover")
"""Atradius refusals that an application still in progress for the buyer also causes."""


def _may_be_in_progress(refusal: RejectedError) -> bool:
    message = refusal.message.casefold()
    return refusal.status == 400 and any(m in message for m in _IN_PROGRESS_MESSAGES)


class AtradiusClient(ApiClient):
    """:class:`ApiClient` with the Atradius auth, correlation header and envelopes."""

    correlation_header = CORRELATION_HEADER

    def read_error_envelope(self, payload: Any, fallback: str) -> ParsedError:
        """Read ``{"errors": [{"detail", "source": {"parameter"}}]}``."""
        return parse_envelope(payload, fallback)

    def validate_response(self, response: httpx.Response, payload: Any) -> None:
        """An ``errors`` key in a 2xx body is a refusal; a missing ``data`` envelope is
        a :class:`ProtocolError`."""
        self.refuse_embedded_error(response, payload, "errors")
        if not isinstance(payload, dict) or "data" not in payload:
            raise ProtocolError("the answer has no data envelope", **self.answer_context(response))


CAPABILITIES = Capabilities(
    buyer_search=True,
    cover_requests=True,
    async_cover_requests=True,
    portfolio=True,
    pagination="none",
    delta_endpoint=False,
    webhooks=False,
    overdue_api=False,
    claims_api=False,
    cover_history=True,
)

_COVER_TYPES = {"CREDIT_LIMIT": "credit-limit", "CREDIT_CHECK": "credit-check"}
_PUT_ACTIONS = {
    CoverAction.INCREASE: "supersede",
    CoverAction.REDUCE: "reduce",
    CoverAction.CANCEL: "cancel",
}


class AtradiusAdapter:
    """The Atradius API, normalised (:class:`~tci_gateway.adapters.contract.InsurerAdapter`).

    Options: :class:`.options.AtradiusOptions`. ``clock`` gives the time a portfolio is
    observed at (see :func:`.mapping.map_cover`).
    """

    capabilities: Capabilities = CAPABILITIES

    def __init__(
        self,
        name: str,
        client: AtradiusClient,
        *,
        options: AtradiusOptions | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        options = options or AtradiusOptions()
        self.name = name
        self.client = client
        self.clock = clock
        self.status_overrides = options.status_overrides
        self.default_customer_id = options.customer_id

    # -- buyers -------------------------------------------------------------------------

    def search_buyers(self, query: BuyerQuery) -> list[BuyerMatch]:
        """Find a buyer by identifier (Atradius has no documented name search). An
        Atradius buyer id (``Scheme.INSURER`` issued by this adapter) reads the buyer
        detail. No match is an empty list."""
        ident = query.identifier
        if ident is None:
            raise RejectedError("Atradius finds buyers by identifier only", adapter=self.name)
        if ident.scheme is Scheme.INSURER:
            if ident.issuer != self.name or not ident.value.isdigit():
                raise RejectedError(f"{ident} is not an Atradius buyer id", adapter=self.name)
            return self._buyers(f"{BUYERS_PATH}/{ident.value}", None)
        uid = identifier_to_uid(ident)
        if uid is None:
            raise RejectedError(f"Atradius cannot search by {ident.scheme}", adapter=self.name)
        try:
            country = alpha3(query.country)
        except MappingError as exc:
            raise RejectedError(exc.reason, adapter=self.name) from exc
        params = {"country": country, "uid": uid[0], "uidType": uid[1]}
        return self._buyers(BUYERS_PATH, params)

    def _buyers(self, path: str, params: Mapping[str, str] | None) -> list[BuyerMatch]:
        response = none_if_not_found(lambda: self.client.request("GET", path, params=params))
        if response is None:
            return []
        matches: list[BuyerMatch] = []
        for index, record in enumerate(self._data_list(response)):
            try:
                matches.append(map_buyer(Buyer.from_record(record), self.name))
            except (ValidationError, MappingError) as exc:
                self.client.log.warning("buyer_record_skipped", row=index, reason=str(exc))
        return matches

    # -- portfolio ----------------------------------------------------------------------

    def fetch_portfolio(self, policy: PolicyRef) -> Iterator[PortfolioItem]:
        """Every buyer's cover under ``policy``: a :class:`PortfolioEntry` per version the
        answer holds (see :mod:`.portfolio`), or a :class:`~tci_gateway.errors.RecordError`
        for what could not be read. The answer is read (as it arrives, into a
        :class:`.spool.CoverSpool`: memory stays flat) before this returns; the entries
        are then produced, one buyer's records parsed at a time."""
        return self._versions(policy, (COVERS_PATH,))

    def fetch_cover_history(self, policy: PolicyRef) -> Iterator[PortfolioItem]:
        """Every version of every buyer's cover under ``policy``, past ones included:
        ``GET covers/historic`` and ``GET covers``, read together so that a superseded
        decision is judged against its successor (see :mod:`.portfolio`). Both calls are
        made before this returns."""
        return self._versions(policy, (HISTORIC_COVERS_PATH, COVERS_PATH))

    def _versions(self, policy: PolicyRef, paths: tuple[str, ...]) -> Iterator[PortfolioItem]:
        ids = self._policy_ids(policy)
        spool = CoverSpool(buyer_key)
        try:
            for path in paths:
                self._spool_covers(spool, *ids, path=path)
        except BaseException:
            spool.close()
            raise
        return self._spooled_versions(spool, policy.currency, self.clock())

    def _spooled_versions(
        self, spool: CoverSpool, currency: str, observed_at: datetime
    ) -> Iterator[PortfolioItem]:
        try:
            yield from buyer_versions(
                spool.groups(),
                currency,
                status_overrides=self.status_overrides,
                observed_at=observed_at,
            )
        finally:
            spool.close()

    def find_request(self, policy: PolicyRef, client_reference: str) -> CoverRequestResult | None:
        """Look a cover request up by its client reference (``customerRefNumber``) after
        an ambiguous outcome; ``None`` when the insurer has no record of it."""
        records = self._covers(
            *self._policy_ids(policy),
            keep=lambda r: isinstance(r, dict) and r.get("customerRefNumber") == client_reference,
        )
        cover = latest_with_reference(records, client_reference)
        if cover is None:
            return None
        return self._result(client_reference, cover, policy.currency, pending=False)

    def request_status(
        self, policy: PolicyRef, insurer_request_ref: str
    ) -> CoverRequestResult | None:
        """The cover ``insurer_request_ref`` (a ``coverId``) as it stands now. Atradius has
        no ``GET /covers/{id}``: the policy's covers are listed and searched."""
        records = self._covers(
            *self._policy_ids(policy),
            keep=lambda r: isinstance(r, dict) and str(r.get("coverId")) == insurer_request_ref,
        )
        if not records:
            return None
        message = f"unreadable cover record {insurer_request_ref}"
        cover = parse_model(Cover.from_record, records[0], message, adapter=self.name)
        reference = cover.customerRefNumber or ""
        return self._result(reference, cover, policy.currency, pending=False)

    # -- cover requests -----------------------------------------------------------------

    def request_cover(self, request: CoverRequest) -> CoverRequestResult:
        """NEW is a POST, INCREASE/REDUCE/CANCEL a PUT with ``action`` supersede/reduce/
        cancel. Both are sent non-idempotent with the client reference: an ambiguous
        outcome raises :class:`~tci_gateway.errors.AmbiguousOutcomeError`, never a
        blind resend. 201 is a decision, 202 a referral (pending)."""
        customer_id, policy_id = self._policy_ids(request.policy)
        if not request.insurer_buyer_id.isdigit():
            raise RejectedError(
                f"{request.insurer_buyer_id!r} is not an Atradius buyer id", adapter=self.name
            )
        cover_type = _COVER_TYPES.get(request.cover_type)
        if cover_type is None:
            raise RejectedError(f"Atradius has no {request.cover_type} cover", adapter=self.name)
        body: dict[str, Any] = {
            "customerId": customer_id,
            "policyId": policy_id,
            "buyerId": int(request.insurer_buyer_id),
            "coverType": cover_type,
            "customerRefNumber": request.client_reference,
        }
        if request.action is CoverAction.NEW:
            method = "POST"
        elif request.action in _PUT_ACTIONS:
            method = "PUT"
            body["action"] = _PUT_ACTIONS[request.action]
        else:
            raise RejectedError(
                "Atradius covers do not expire: there is nothing to renew", adapter=self.name
            )
        if request.action is not CoverAction.CANCEL:
            if request.amount is None:
                raise RejectedError(
                    f"a {request.action} request needs an amount", adapter=self.name
                )
            whole = request.amount.amount.to_integral_value()
            if whole != request.amount.amount:
                raise RejectedError("Atradius takes whole amounts", adapter=self.name)
            body["creditLimitAmount"] = int(whole)
            body["currencyCode"] = request.amount.currency
        try:
            response = self.client.request(
                method,
                COVERS_PATH,
                json_body=body,
                idempotent=False,
                client_reference=request.client_reference,
            )
        except RejectedError as exc:
            if _may_be_in_progress(exc) and self._application_in_progress(
                customer_id, policy_id, body["buyerId"]
            ):
                raise InProgressError.of(exc, request.client_reference) from exc
            raise
        data = response.payload["data"]
        record = data[0] if isinstance(data, list) and data else data
        if not isinstance(record, dict):
            if response.status == 202:
                return CoverRequestResult(request.client_reference, None, pending=True)
            raise ProtocolError("the cover answer has no cover record", adapter=self.name)
        cover = parse_model(
            Cover.from_record,
            record,
            "unreadable cover record",
            adapter=self.name,
            response=response,
        )
        return self._result(
            request.client_reference, cover, request.policy.currency, response.status == 202
        )

    def _application_in_progress(self, customer_id: str, policy_id: str, buyer_id: int) -> bool:
        """Whether the buyer has an application still referred (undecided) under the
        policy: then "already exists" / "cannot supersede" may be about ours."""
        return bool(
            self._covers(
                customer_id,
                policy_id,
                keep=lambda record: (
                    isinstance(record, dict)
                    and str(record.get("buyerId")) == str(buyer_id)
                    and str(record.get("coverStatus") or "").upper() == COVER_STATUS_REFERRED
                    and not record.get("historicCode")
                ),
            )
        )

    def _result(
        self, reference: str, cover: Cover, currency: str, pending: bool
    ) -> CoverRequestResult:
        try:
            decision = map_cover(cover, currency, status_overrides=self.status_overrides)
        except MappingError as exc:
            raise ProtocolError(
                f"unreadable cover record: {exc.reason}", adapter=self.name
            ) from exc
        pending = pending or is_referred(cover)
        return CoverRequestResult(reference, cover.coverId, pending=pending, decision=decision)

    # -- policy -------------------------------------------------------------------------

    def policy_details(self, policy_id: str) -> PolicyInfo:
        """``GET policies/details?policyId=``: status, dates and currency."""
        response = self.client.request("GET", POLICY_DETAILS_PATH, params={"policyId": policy_id})
        data = response.payload["data"]
        record = data[0] if isinstance(data, list) and data else data
        with unreadable("unreadable policy details", adapter=self.name, also=(MappingError,)):
            return map_policy(PolicyDetails.from_record(record))

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    # -- helpers ------------------------------------------------------------------------

    def _policy_ids(self, policy: PolicyRef) -> tuple[str, str]:
        customer_id = policy.external_ref.get("customer_id") or self.default_customer_id
        policy_id = policy.external_ref.get("policy_id")
        missing = [
            name
            for name, value in (("customer_id", customer_id), ("policy_id", policy_id))
            if not value
        ]
        if missing or customer_id is None or policy_id is None:
            raise ConfigError(
                f"policy {policy.key!r}: Atradius needs {' and '.join(missing)} in the "
                "policy's external_ref (customer_id may also be set as the insurer option "
                "customer_id)"
            )
        return customer_id, policy_id

    def _spool_covers(self, spool: CoverSpool, customer_id: str, policy_id: str, path: str) -> None:
        """Add the policy's cover records at ``path`` to ``spool`` (none when Atradius
        answers 404), read as the answer arrives."""
        start = len(spool)

        def consume(elements: Iterator[Element]) -> None:
            spool.truncate(start)  # a retried answer starts afresh
            spool.add(elements)

        params = {"customerId": customer_id, "policyId": policy_id}
        none_if_not_found(
            lambda: self.client.read_array(path, consume, member="data", params=params)
        )

    def _covers(
        self, customer_id: str, policy_id: str, *, keep: Callable[[Any], bool]
    ) -> list[Any]:
        """The policy's cover records that ``keep`` accepts (none when Atradius answers
        404), read as the answer arrives: only those are held."""

        def consume(elements: Iterator[Element]) -> list[Any]:
            return [element.value for element in elements if keep(element.value)]

        params = {"customerId": customer_id, "policyId": policy_id}
        found = none_if_not_found(
            lambda: self.client.read_array(COVERS_PATH, consume, member="data", params=params)
        )
        return found or []

    def _data_list(self, response: ApiResponse) -> list[Any]:
        data = response.payload["data"]
        if isinstance(data, dict):
            return [data]
        if not isinstance(data, list):
            message = "data is neither a list nor a record"
            raise protocol_error(message, adapter=self.name, response=response)
        return data
