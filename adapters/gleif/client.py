"""The GLEIF HTTP client and :class:`GleifAdapter`, the normalised bureau adapter.

No auth. Answers are JSON:API documents (``{"data": ...}``); errors
``{"errors": [{"status", "title", "detail"}]}``. The public API allows about 60
requests a minute and then answers 429: the retry policy honours ``Retry-After``, and
the adapter keeps its own calls few (one call per search page, parents only on
:meth:`GleifAdapter.get_company` unless ``parents_in_search``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx
from pydantic import ValidationError

from tci_gateway.adapters.contract import (
    BureauCapabilities,
    CompanyCandidate,
    CompanyQuery,
)
from tci_gateway.adapters.toolkit import (
    PageNumberPaginator,
    Pages,
    none_if_not_found,
    protocol_error,
    unreadable,
)
from tci_gateway.domain.identifiers import IdentifierError, Scheme, parse_identifier
from tci_gateway.domain.parties import PartyError, country_code
from tci_gateway.errors import ProtocolError, RejectedError
from tci_gateway.http.client import ApiClient, ApiResponse, ParsedError

from .mapping import MappedRecord, lei_identifier, map_record
from .options import GleifOptions
from .wire import (
    DIRECT_PARENT,
    FILTER_COUNTRY,
    FILTER_REGISTERED_AS,
    FUZZY_PATH,
    PAGE_NUMBER,
    PAGE_SIZE,
    RECORDS_PATH,
    ULTIMATE_PARENT,
    ErrorEnvelope,
    FuzzyCompletion,
    LeiRecord,
    Meta,
)

__all__ = ["CAPABILITIES", "GleifAdapter", "GleifClient", "NameSuggestion", "parse_envelope"]

CAPABILITIES = BureauCapabilities(search=True, assessment=False, parents=True, crosswalk=True)


def parse_envelope(payload: Any, fallback: str) -> ParsedError:
    """``{"errors": [{"status", "title", "detail"}]}`` as a :class:`ParsedError`."""
    envelope = ErrorEnvelope.model_validate(payload)
    texts = [e.detail or e.title or fallback for e in envelope.errors]
    code = next((e.code or e.status for e in envelope.errors if e.code or e.status), None)
    return ParsedError(message="; ".join(texts) or fallback, code=code, details=texts)


def _last_page(response: ApiResponse) -> int:
    """``meta.pagination.lastPage``; an answer without paging metadata is the last page
    (0: no page follows)."""
    meta = response.payload.get("meta")
    pagination = Meta.model_validate(meta).pagination if isinstance(meta, dict) else None
    return pagination.lastPage if pagination is not None else 0


class GleifClient(ApiClient):
    """:class:`ApiClient` for the GLEIF API: JSON:API errors, a ``data`` member required."""

    def read_error_envelope(self, payload: Any, fallback: str) -> ParsedError:
        """Read the JSON:API ``errors`` array."""
        return parse_envelope(payload, fallback)

    def validate_response(self, response: httpx.Response, payload: Any) -> None:
        """A 2xx answer without a ``data`` member is a :class:`ProtocolError`."""
        if not isinstance(payload, dict) or "data" not in payload:
            raise ProtocolError(
                "the answer is not a JSON:API document with data",
                adapter=self.adapter,
                status=response.status_code,
                body=response.text,
            )


@dataclass(frozen=True)
class NameSuggestion:
    """A ``/fuzzycompletions`` answer: a legal name and the LEI it belongs to (if any)."""

    name: str
    lei: str | None


class GleifAdapter:
    """The GLEIF register, normalised (:class:`~tci_gateway.adapters.contract.BureauAdapter`).

    Options: :class:`.options.GleifOptions`.
    """

    capabilities: BureauCapabilities = CAPABILITIES

    def __init__(
        self, name: str, client: GleifClient, *, options: GleifOptions | None = None
    ) -> None:
        options = options or GleifOptions()
        self.name = name
        self.client = client
        self.authorities = options.registration_authorities
        self.name_filter = options.name_filter
        self.page_size = options.page_size
        self.max_pages = options.max_pages
        self.parents_in_search = options.parents_in_search

    # -- search -------------------------------------------------------------------------

    def search_companies(self, query: CompanyQuery) -> list[CompanyCandidate]:
        """By LEI (one record), by a national identifier the crosswalk table knows
        (``filter[entity.registeredAs]`` in the query's country, kept only when the
        record's authority gives that same identifier), then by name in the country.
        Postcode and city are not GLEIF filters and are not sent. Nothing found is an
        empty list; a query GLEIF cannot answer is a :class:`RejectedError`."""
        country = self._country(query.country)
        ident = query.identifier
        if ident is not None:
            if ident.scheme is Scheme.LEI:
                found = self._lookup(ident.value, parents=self.parents_in_search)
                return [found.candidate] if found else []
            schemes = {a.scheme for a in self.authorities.values()}
            if ident.scheme in schemes:
                params = {FILTER_REGISTERED_AS: ident.value, FILTER_COUNTRY: country}
                matches = [
                    c for c in self._list(params) if ident in c.identifiers
                ]  # same number, another register: not this company
                if matches or not query.name:
                    return matches
            elif not query.name:
                raise RejectedError(f"GLEIF cannot search by {ident.scheme}", adapter=self.name)
        if not query.name or not query.name.strip():
            raise RejectedError("GLEIF needs an identifier or a name", adapter=self.name)
        return self._list({self.name_filter: query.name.strip(), FILTER_COUNTRY: country})

    def suggest_names(self, text: str) -> list[NameSuggestion]:
        """``/fuzzycompletions?field=entity.legalName&q=``: names close to ``text``.
        Suggestions are for a person to pick from; they never link on their own."""
        response = self.client.request(
            "GET", FUZZY_PATH, params={"field": "entity.legalName", "q": text}
        )
        suggestions: list[NameSuggestion] = []
        for index, item in enumerate(self._data_list(response)):
            try:
                completion = FuzzyCompletion.from_record(item)
            except ValidationError as exc:
                self.client.log.warning("suggestion_skipped", row=index, reason=str(exc))
                continue
            related = completion.relationships.lei_records if completion.relationships else None
            lei = related.data.id if related and related.data else None
            if completion.attributes.value:
                suggestions.append(NameSuggestion(completion.attributes.value, lei))
        return suggestions

    # -- one company --------------------------------------------------------------------

    def get_company(self, provider_id: str) -> CompanyCandidate | None:
        """The LEI record with its direct and ultimate parents; ``None`` when unknown."""
        found = self.lookup(provider_id)
        return found.candidate if found else None

    def lookup(self, lei: str) -> MappedRecord | None:
        """The LEI record with parents and what the candidate cannot carry (registration
        authority kept raw, registration status, staleness, notes)."""
        return self._lookup(self._lei(lei), parents=True)

    def parents(self, lei: str) -> tuple[str | None, str | None]:
        """``(direct parent LEI, ultimate parent LEI)``; ``None`` where GLEIF has none."""
        value = self._lei(lei)
        return self._parent(value, DIRECT_PARENT), self._parent(value, ULTIMATE_PARENT)

    def assess(self, provider_id: str) -> None:
        """GLEIF holds no credit data: always ``None``."""
        return None

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    # -- helpers ------------------------------------------------------------------------

    def _lei(self, raw: str) -> str:
        try:
            return parse_identifier(Scheme.LEI, raw).value
        except IdentifierError as exc:
            raise RejectedError(str(exc), adapter=self.name) from exc

    def _country(self, raw: str) -> str:
        try:
            return country_code(raw)
        except PartyError as exc:
            raise RejectedError(str(exc), adapter=self.name) from exc

    def _lookup(self, lei: str, *, parents: bool) -> MappedRecord | None:
        response = none_if_not_found(lambda: self.client.request("GET", f"{RECORDS_PATH}/{lei}"))
        if response is None:
            return None
        data = response.payload["data"]
        direct = ultimate = None
        if parents:
            direct, ultimate = self._parent(lei, DIRECT_PARENT), self._parent(lei, ULTIMATE_PARENT)
        with unreadable(f"unreadable LEI record {lei}", adapter=self.name, also=(ValueError,)):
            record = LeiRecord.from_record(data)
            mapped = map_record(
                record, self.name, self.authorities, direct_parent=direct, ultimate_parent=ultimate
            )
        self._log_notes(mapped)
        return mapped

    def _parent(self, lei: str, relation: str) -> str | None:
        path = f"{RECORDS_PATH}/{lei}/{relation}"
        response = none_if_not_found(lambda: self.client.request("GET", path))
        if response is None:
            return None
        data = response.payload["data"]
        parent = data.get("id") if isinstance(data, dict) else None
        return str(parent) if parent else None

    def _list(self, filters: Mapping[str, str]) -> list[CompanyCandidate]:
        candidates: list[CompanyCandidate] = []
        paginator = PageNumberPaginator(
            page_size=self.page_size,
            page_param=PAGE_NUMBER,
            size_param=PAGE_SIZE,
            maximum_page=self.max_pages,
            total_pages=_last_page,
        )
        pages = Pages(self.client, RECORDS_PATH, paginator, params=filters, records=self._data_list)
        for page in pages:
            for item in page.records:
                rank = len(candidates) + 1
                try:
                    record = LeiRecord.from_record(item)
                    mapped = map_record(record, self.name, self.authorities, rank=rank)
                except (ValidationError, ValueError) as exc:
                    self.client.log.warning("lei_record_skipped", rank=rank, reason=str(exc))
                    continue
                self._log_notes(mapped)
                candidates.append(mapped.candidate)
        if self.parents_in_search:
            candidates = [self._with_parents(c) for c in candidates]
        return candidates

    def _with_parents(self, candidate: CompanyCandidate) -> CompanyCandidate:
        direct, ultimate = self.parents(candidate.provider_id)
        return replace(
            candidate,
            direct_parent=lei_identifier(direct),
            ultimate_parent=lei_identifier(ultimate),
        )

    def _log_notes(self, mapped: MappedRecord) -> None:
        for note in mapped.notes:
            self.client.log.info("lei_record_note", lei=mapped.candidate.provider_id, note=note)

    def _data_list(self, response: ApiResponse) -> list[Any]:
        data = response.payload["data"]
        if not isinstance(data, list):
            raise protocol_error("data is not a list", adapter=self.name, response=response)
        return data
