"""The D&B Direct+ HTTP client and :class:`DnbAdapter`, the normalised bureau adapter.

Identity resolution is ``GET /v1/match/cleanseMatch`` (candidates with confidence code
and match grade); a company is ``GET /v1/data/duns/{duns}`` with the company blocks;
the assessment the same call with the risk blocks. Data blocks are billed per call and
level: the block lists are options. Errors come as ``{transactionDetail, error{...}}``;
the transaction id becomes the error's ``request_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import httpx
from pydantic import ValidationError

from tci_gateway.adapters.contract import (
    Assessment,
    BureauCapabilities,
    CompanyCandidate,
    CompanyQuery,
)
from tci_gateway.adapters.toolkit import none_if_not_found, parse_answer, unreadable
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.domain.parties import PartyError, country_code
from tci_gateway.errors import ProtocolError, RejectedError
from tci_gateway.http.client import ApiClient, ParsedError

from .auth import DnbAuth, parse_envelope
from .mapping import MappedCandidate, map_assessment, map_match_candidate, map_organization
from .options import DnbOptions
from .wire import DATA_PATH, MATCH_PATH, DataReply, MatchCandidate, MatchReply

__all__ = ["CAPABILITIES", "DnbAdapter", "DnbAuth", "DnbClient"]

CAPABILITIES = BureauCapabilities(search=True, assessment=True, parents=True, crosswalk=True)


class DnbClient(ApiClient):
    """:class:`ApiClient` with the D&B error envelope (signed by :class:`.auth.DnbAuth`,
    which also refreshes on ``00040``)."""

    def read_error_envelope(self, payload: Any, fallback: str) -> ParsedError:
        """Read ``{transactionDetail, error{errorCode, errorMessage, errorDetails}}``; the
        transaction id is the request id."""
        parsed, request_id = parse_envelope(payload, fallback)
        return replace(parsed, request_id=parsed.request_id or request_id)

    def validate_response(self, response: httpx.Response, payload: Any) -> None:
        """A 2xx answer must be a JSON object; an ``error`` member in it is a refusal."""
        ctx: dict[str, Any] = {
            "adapter": self.adapter,
            "status": response.status_code,
            "body": response.text,
        }
        if not isinstance(payload, dict):
            raise ProtocolError("the answer is not a JSON object", **ctx)
        if isinstance(payload.get("error"), dict) and payload["error"].get("errorCode"):
            parsed, transaction = parse_envelope(payload, "error in a successful answer")
            raise RejectedError(
                parsed.message,
                code=parsed.code,
                details=parsed.details,
                request_id=transaction,
                **ctx,
            )


class DnbAdapter:
    """D&B Direct+, normalised (:class:`~tci_gateway.adapters.contract.BureauAdapter`).

    Options: :class:`.options.DnbOptions`.
    """

    capabilities: BureauCapabilities = CAPABILITIES

    def __init__(self, name: str, client: DnbClient, *, options: DnbOptions | None = None) -> None:
        options = options or DnbOptions()
        self.name = name
        self.client = client
        self.registration_types = options.registration_types
        self.candidate_maximum = options.candidate_maximum
        self.confidence_threshold = options.confidence_threshold
        self.company_blocks = options.company_blocks
        self.assessment_blocks = options.assessment_blocks
        self.order_reason = options.order_reason
        self.trade_up = options.trade_up
        self.paydex_path = options.paydex_path

    # -- search -------------------------------------------------------------------------

    def search_companies(self, query: CompanyQuery) -> list[CompanyCandidate]:
        """A DUNS reads that company; anything else goes to cleanseMatch (name, country,
        postcode, city, registration number). Candidates keep D&B's confidence code and
        match grade; they are proposals, never links. No match is an empty list."""
        country = self._country(query.country)
        ident = query.identifier
        if ident is not None and ident.scheme is Scheme.DUNS:
            found = self.get_company(ident.value)
            return [found] if found else []
        params: dict[str, str] = {"countryISOAlpha2Code": country}
        if query.name and query.name.strip():
            params["name"] = query.name.strip()
        if ident is not None and ident.scheme not in (Scheme.INSURER, Scheme.LEI):
            params["registrationNumber"] = ident.value
        if "name" not in params and "registrationNumber" not in params:
            what = f"by {ident.scheme}" if ident else "without a name"
            raise RejectedError(f"D&B cannot match {what}", adapter=self.name)
        if query.postcode and query.postcode.strip():
            params["postalCode"] = query.postcode.strip()
        if query.city and query.city.strip():
            params["addressLocality"] = query.city.strip()
        params["candidateMaximumQuantity"] = str(self.candidate_maximum)
        if self.confidence_threshold is not None:
            params["confidenceLowerLevelThresholdValue"] = str(self.confidence_threshold)
        response = none_if_not_found(lambda: self.client.request("GET", MATCH_PATH, params=params))
        if response is None:
            return []
        reply = parse_answer(
            MatchReply.model_validate, response, "unreadable match answer", adapter=self.name
        )
        candidates: list[CompanyCandidate] = []
        for index, item in enumerate(reply.matchCandidates, start=1):
            try:
                mapped = map_match_candidate(
                    MatchCandidate.from_record(item), self.name, self.registration_types
                )
            except (ValidationError, ValueError) as exc:
                self.client.log.warning("match_candidate_skipped", row=index, reason=str(exc))
                continue
            self._log_notes(mapped)
            candidates.append(mapped.candidate)
        return sorted(candidates, key=lambda c: c.rank if c.rank is not None else 10**6)

    # -- one company --------------------------------------------------------------------

    def get_company(self, provider_id: str) -> CompanyCandidate | None:
        """The DUNS with the company blocks (registration numbers, linkage); ``None``
        when D&B does not know it."""
        reply = self._data(provider_id, self.company_blocks)
        if reply is None:
            return None
        with unreadable("unreadable organization", adapter=self.name, also=(ValueError,)):
            mapped = map_organization(reply.organization, self.name, self.registration_types)
        self._log_notes(mapped)
        return mapped.candidate

    def assess(self, provider_id: str) -> Assessment | None:
        """The DUNS with the risk blocks as an :class:`Assessment`; absent (``{}``) or
        unreadable blocks are listed in ``missing``. ``None`` when D&B does not know it."""
        reply = self._data(provider_id, self.assessment_blocks)
        if reply is None:
            return None
        return map_assessment(reply, self.name, self.paydex_path)

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    # -- helpers ------------------------------------------------------------------------

    def _country(self, raw: str) -> str:
        try:
            return country_code(raw)
        except PartyError as exc:
            raise RejectedError(str(exc), adapter=self.name) from exc

    def _data(self, duns: str, blocks: Sequence[str]) -> DataReply | None:
        value = duns.strip()
        if not value.isascii() or not value.isdigit() or len(value) != 9:
            raise RejectedError(f"{duns!r} is not a DUNS", adapter=self.name)
        params = {"blockIDs": ",".join(blocks)}
        if self.order_reason:
            params["orderReason"] = self.order_reason
        if self.trade_up:
            params["tradeUp"] = self.trade_up
        path = f"{DATA_PATH}/{value}"
        response = none_if_not_found(lambda: self.client.request("GET", path, params=params))
        if response is None:
            return None
        return parse_answer(
            DataReply.from_record, response, "unreadable data blocks", adapter=self.name
        )

    def _log_notes(self, mapped: MappedCandidate) -> None:
        for note in mapped.notes:
            self.client.log.info("identifier_skipped", duns=mapped.candidate.provider_id, note=note)
