"""HTTP helpers of the Coface sandbox: answers, query and body checks, injected faults
and company matching.

Two error shapes, as the API is assumed to answer: the SYNTHETIC envelope
``{"error": {code, message, details}}`` from the services, and ``{"message": ...}``
from the AWS API Gateway in front of them (bad API key, unknown route, bad token).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.adapters.sandbox_support import fault_response as shared_fault_response
from tci_gateway.adapters.sandbox_support import json_object
from tci_gateway.adapters.sandbox_support import query_params as shared_query_params
from tci_gateway.adapters.toolkit import MappingError, to_alpha3
from tci_gateway.domain.money import minor_units
from tci_gateway.http.jsonexact import dumps

_JSON = {"Content-Type": "application/json"}
_SEPARATORS = re.compile(r"[\s.\-/]")


class Refused(Exception):
    """A request the sandbox refuses. ``gateway`` answers ``{"message"}`` (the API
    Gateway shape) instead of the service envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[Any] | None = None,
        *,
        gateway: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.gateway = gateway
        self.headers = dict(headers or {})

    def response(self) -> httpx.Response:
        """The answer for this refusal."""
        if self.gateway:
            answer = ok(self.status, {"message": self.message})
        else:
            answer = error(self.status, self.code, self.message, self.details)
        answer.headers.update(self.headers)
        return answer


def ok(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
    """A JSON answer (numbers written exactly)."""
    return httpx.Response(
        status, headers={**_JSON, **(headers or {})}, content=dumps(payload).encode()
    )


def error(status: int, code: str, message: str, details: list[Any] | None = None) -> httpx.Response:
    """An error answer in the service envelope."""
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return ok(status, body)


def query_params(
    request: httpx.Request, allowed: set[str], required: tuple[str, ...]
) -> dict[str, str]:
    """The query parameters; an unknown or a missing one is refused (400)."""
    return shared_query_params(
        request,
        allowed,
        required,
        unknown=lambda key: Refused(
            400, "INVALID_PARAMETER", "Unknown query parameter", [{"field": key}]
        ),
        missing=lambda key: Refused(
            400, "MISSING_PARAMETER", "Mandatory parameter missing", [{"field": key}]
        ),
    )


def json_body(request: httpx.Request, required: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object body (numbers as Decimal); missing fields are refused (400)."""
    body = json_object(request, lambda: Refused(400, "MALFORMED_BODY", "Malformed JSON body"))
    missing = [key for key in required if body.get(key) in (None, "", [])]
    if missing:
        details = [{"field": key, "message": "is mandatory"} for key in missing]
        raise Refused(400, "MISSING_FIELD", "Mandatory field missing", details)
    return body


def check_amount(value: Any, currency: str, field: str = "amount") -> Decimal:
    """A positive JSON number with no more decimals than ``currency`` has."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Refused(400, "INVALID_AMOUNT", "Amount must be a number", [{"field": field}])
    amount = Decimal(value)
    places = max(0, -int(amount.as_tuple().exponent)) if amount.is_finite() else 99
    if not amount.is_finite() or amount <= 0 or places > minor_units(currency):
        raise Refused(400, "INVALID_AMOUNT", "Amount must be positive", [{"field": field}])
    return amount


def fault_response(fault: Fault, request: httpx.Request) -> httpx.Response:
    """The answer an injected fault gives (or the transport error it raises)."""
    codes = {429: "TOO_MANY_REQUESTS", 503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}
    details: list[Any] = []
    if fault.retry_after is not None:
        details.append({"field": "Retry-After", "message": f"retry after {fault.retry_after}"})

    def answer(status: int) -> httpx.Response:
        return error(status, codes.get(status, "SANDBOX_FAULT"), "Sandbox fault", details)

    body = b'{"creditLimits": [{"easyNumber": '
    return shared_fault_response(fault, request, error=answer, malformed=body, json_headers=_JSON)


def alpha3(code: str) -> str:
    """A country query value (alpha-3, or alpha-2 leniently) as alpha-3."""
    try:
        return to_alpha3(code)
    except MappingError:
        raise Refused(
            400, "INVALID_COUNTRY_CODE", "Invalid country code", [{"field": "countryCode"}]
        ) from None


def company_country(company: Mapping[str, Any]) -> str:
    """A company's country as alpha-3 (from ``address.countryCode`` or ``countryCode``)."""
    address = company.get("address") or {}
    return str(address.get("countryCode") or company.get("countryCode") or "").upper()


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def match_identifier(
    companies: Iterable[Mapping[str, Any]], country: str, kind: str, value: str
) -> list[dict[str, Any]]:
    """Companies in ``country`` (alpha-3) with an identifier of type ``kind`` equal to
    ``value``, ignoring separators, case and a leading VAT country prefix."""
    wanted = _compact(value)
    wanted_kind = kind.strip().upper()

    def same(identifier: Mapping[str, Any]) -> bool:
        if str(identifier.get("type", "")).upper() != wanted_kind:
            return False
        held = _compact(str(identifier.get("value", "")))
        if wanted_kind == "VAT":
            return held.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == wanted.lstrip(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            )
        return held == wanted

    return [
        dict(company)
        for company in companies
        if company_country(company) == country
        and any(same(i) for i in company.get("identifiers", []))
    ]


def match_name(
    companies: Iterable[Mapping[str, Any]], country: str, name: str
) -> list[dict[str, Any]]:
    """Companies in ``country`` whose name contains ``name`` (case-insensitive)."""
    needle = name.casefold()
    return [
        dict(company)
        for company in companies
        if company_country(company) == country
        and needle in str(company.get("companyName", "")).casefold()
    ]
