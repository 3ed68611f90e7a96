"""The Creditsafe HTTP client and :class:`CreditsafeAdapter`, the normalised bureau adapter.

Auth: :class:`.auth.CreditsafeAuth` (a JWT from ``POST /authenticate``). Search is
``GET /companies`` with ``countries``, paging and exactly one criteria set per call
(:mod:`.criteria`), walked as a waterfall; a company is read back by its connectId with
the ``id`` criteria set (no report ordered); the assessment is the company report
``GET /companies/{connectId}``. Errors come as ``{correlationId, message, details}``;
the correlation id becomes the error's ``request_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from tci_gateway.adapters.toolkit import none_if_not_found, parse_answer
from tci_gateway.domain.parties import PartyError, country_code
from tci_gateway.errors import ProtocolError, RejectedError
from tci_gateway.http.client import ApiClient, ParsedError

from .auth import CreditsafeAuth, parse_envelope
from .criteria import describe, waterfall
from .mapping import map_assessment, map_search_company
from .options import CreditsafeOptions
from .wire import COMPANIES_PATH, ReportReply, SearchCompany, SearchReply

__all__ = ["CAPABILITIES", "CreditsafeAdapter", "CreditsafeAuth", "CreditsafeClient"]

CAPABILITIES = BureauCapabilities(search=True, assessment=True, parents=False, crosswalk=False)


class CreditsafeClient(ApiClient):
    """:class:`ApiClient` with the Creditsafe error envelope (signed by
    :class:`.auth.CreditsafeAuth`)."""

    def read_error_envelope(self, payload: Any, fallback: str) -> ParsedError:
        """Read ``{correlationId, message, details}``; the correlation id is the request id."""
        parsed, request_id = parse_envelope(payload, fallback)
        return replace(parsed, request_id=parsed.request_id or request_id)

    def validate_response(self, response: httpx.Response, payload: Any) -> None:
        """A 2xx answer must be a JSON object."""
        if not isinstance(payload, dict):
            raise ProtocolError(
                "the answer is not a JSON object",
                adapter=self.adapter,
                status=response.status_code,
                body=response.text,
            )


class CreditsafeAdapter:
    """Creditsafe Connect, normalised (:class:`~tci_gateway.adapters.contract.BureauAdapter`).

    Options: :class:`.options.CreditsafeOptions`.
    """

    capabilities: BureauCapabilities = CAPABILITIES

    def __init__(
        self, name: str, client: CreditsafeClient, *, options: CreditsafeOptions | None = None
    ) -> None:
        options = options or CreditsafeOptions()
        self.name = name
        self.client = client
        self.statuses = options.status_map
        self.bands = options.rating_bands
        self.schemes = options.registration_schemes
        self.page_size = options.page_size
        self.language = options.language

    # -- search -------------------------------------------------------------------------

    def search_companies(self, query: CompanyQuery) -> list[CompanyCandidate]:
        """Walk the waterfall (identifier, name + postcode/city, name), one criteria set
        per call, and return the first non-empty page of candidates ranked as Creditsafe
        ranked them. A query with nothing Creditsafe can search by is refused."""
        country = self._country(query.country)
        steps = waterfall(query)
        if not steps:
            scheme = query.identifier.scheme if query.identifier else None
            reason = f"cannot search by {scheme}" if scheme else "needs an identifier or a name"
            raise RejectedError(f"Creditsafe {reason}", adapter=self.name)
        for step in steps:
            found = self._search(country, step)
            self.client.log.debug("search_step", criteria=describe(step), found=len(found))
            if found:
                return found
        return []

    def get_company(self, provider_id: str) -> CompanyCandidate | None:
        """The company with this connectId, read with the ``id`` criteria set (no report
        is ordered); ``None`` when unknown."""
        country = self._country(provider_id.split("-", 1)[0])
        found = self._search(country, {"id": provider_id})
        return next((c for c in found if c.provider_id == provider_id), None)

    def assess(self, provider_id: str) -> Assessment | None:
        """The company report's current rating and limit (``GET /companies/{id}``);
        ``None`` when Creditsafe has no such company. Unreadable fields are listed in
        ``Assessment.missing``."""
        if not provider_id or "/" in provider_id:
            raise RejectedError(f"{provider_id!r} is not a connectId", adapter=self.name)
        path, params = f"{COMPANIES_PATH}/{provider_id}", {"language": self.language}
        response = none_if_not_found(lambda: self.client.request("GET", path, params=params))
        if response is None:
            return None
        reply = parse_answer(
            ReportReply.from_record, response, "unreadable company report", adapter=self.name
        )
        return map_assessment(reply, self.name, self.bands)

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    # -- helpers ------------------------------------------------------------------------

    def _country(self, raw: str) -> str:
        try:
            return country_code(raw)
        except PartyError as exc:
            raise RejectedError(str(exc), adapter=self.name) from exc

    def _search(self, country: str, criteria: Mapping[str, str]) -> list[CompanyCandidate]:
        params = {"countries": country, "page": "1", "pageSize": str(self.page_size), **criteria}
        response = none_if_not_found(
            lambda: self.client.request("GET", COMPANIES_PATH, params=params)
        )
        if response is None:
            return []
        reply = parse_answer(
            SearchReply.model_validate, response, "unreadable search answer", adapter=self.name
        )
        candidates: list[CompanyCandidate] = []
        for index, record in enumerate(reply.companies, start=1):
            try:
                mapped = map_search_company(
                    SearchCompany.from_record(record),
                    self.name,
                    rank=index,
                    statuses=self.statuses,
                    schemes=self.schemes,
                )
            except (ValidationError, ValueError) as exc:
                self.client.log.warning("search_result_skipped", rank=index, reason=str(exc))
                continue
            for note in mapped.notes:
                self.client.log.info(
                    "identifier_skipped", company=mapped.candidate.provider_id, note=note
                )
            candidates.append(mapped.candidate)
        return candidates
