"""The D&B Direct+ HTTP client and :class:`DnbAdapter`, the normalised bureau adapter.

Identity resolution is ``GET /v1/match/cleanseMatch`` (candidates with confidence code
and match grade); a company is ``GET /v1/data/duns/{duns}`` with the company blocks;
the assessment the same call with the risk blocks. Data blocks are billed per call and
level: the block lists are options. Errors come as ``{transactionDetail, error{...}}``;
the transaction id becomes the error's ``request_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from tci_gateway.domain.identifiers import Scheme
from tci_gateway.domain.parties import PartyError, country_code
from tci_gateway.errors import (
    ConfigError,
    NotFoundError,
    ProtocolError,
    RejectedError,
)
from tci_gateway.http.client import ApiClient, ParsedError

from .auth import DnbAuth, parse_envelope
from .mapping import (
    DEFAULT_PAYDEX_PATH,
    MappedCandidate,
    map_assessment,
    map_match_candidate,
    map_organization,
    parse_registration_types,
)
from .wire import DATA_PATH, MATCH_PATH, DataReply, MatchCandidate, MatchReply

__all__ = ["CAPABILITIES", "DnbAdapter", "DnbAuth", "DnbClient"]

CAPABILITIES = BureauCapabilities(search=True, assessment=True, parents=True, crosswalk=True)
COMPANY_BLOCKS = ("companyinfo_L2_v1",)
ASSESSMENT_BLOCKS = ("companyinfo_L2_v1", "financialstrengthinsight_L2_v1", "paymentinsight_L1_v1")


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


def _blocks(options: Mapping[str, Any], key: str, default: Sequence[str]) -> tuple[str, ...]:
    value = options.get(key, default)
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    blocks = tuple(str(v) for v in value if str(v).strip())
    if not blocks:
        raise ConfigError(f"D&B option {key} needs at least one block ID")
    return blocks


class DnbAdapter:
    """D&B Direct+, normalised (:class:`~tci_gateway.adapters.contract.BureauAdapter`).

    Options: ``registration_types`` (type key -> scheme, merged over
    :data:`.mapping.DEFAULT_REGISTRATION_TYPES`), ``candidate_maximum`` (10),
    ``confidence_threshold`` (none: every candidate comes back; D&B's own lower level),
    ``company_blocks`` and ``assessment_blocks`` (block IDs), ``order_reason`` (sent
    as ``orderReason`` when set; some countries need one), ``trade_up`` (``"hq"`` to
    read a branch's headquarters) and ``paydex_path``.
    """

    capabilities: BureauCapabilities = CAPABILITIES

    def __init__(
        self, name: str, client: DnbClient, *, options: Mapping[str, Any] | None = None
    ) -> None:
        options = options or {}
        self.name = name
        self.client = client
        try:
            self.registration_types = parse_registration_types(options.get("registration_types"))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bureau {name!r}: {exc}") from exc
        maximum = options.get("candidate_maximum", 10)
        threshold = options.get("confidence_threshold")
        if isinstance(maximum, bool) or not isinstance(maximum, int) or not 1 <= maximum <= 25:
            raise ConfigError(f"bureau {name!r}: candidate_maximum must be 1 to 25")
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int)
            or not 0 <= threshold <= 10
        ):
            raise ConfigError(f"bureau {name!r}: confidence_threshold must be 0 to 10")
        self.candidate_maximum = maximum
        self.confidence_threshold: int | None = threshold
        self.company_blocks = _blocks(options, "company_blocks", COMPANY_BLOCKS)
        self.assessment_blocks = _blocks(options, "assessment_blocks", ASSESSMENT_BLOCKS)
        self.order_reason = str(options["order_reason"]) if options.get("order_reason") else None
        self.trade_up = str(options["trade_up"]) if options.get("trade_up") else None
        self.paydex_path = str(options.get("paydex_path") or DEFAULT_PAYDEX_PATH)

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
        try:
            response = self.client.request("GET", MATCH_PATH, params=params)
        except NotFoundError:
            return []
        try:
            reply = MatchReply.model_validate(response.payload)
        except ValidationError as exc:
            raise ProtocolError("unreadable match answer", adapter=self.name) from exc
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
        try:
            mapped = map_organization(reply.organization, self.name, self.registration_types)
        except ValueError as exc:
            raise ProtocolError(f"unreadable organization: {exc}", adapter=self.name) from exc
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
        try:
            response = self.client.request("GET", f"{DATA_PATH}/{value}", params=params)
        except NotFoundError:
            return None
        try:
            return DataReply.from_record(response.payload)
        except ValidationError as exc:
            raise ProtocolError(
                f"unreadable data blocks: {exc.error_count()} error(s)",
                adapter=self.name,
                status=response.status,
                correlation_id=response.correlation_id,
            ) from exc

    def _log_notes(self, mapped: MappedCandidate) -> None:
        for note in mapped.notes:
            self.client.log.info("identifier_skipped", duns=mapped.candidate.provider_id, note=note)
