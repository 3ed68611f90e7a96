"""HTTP helpers of the Allianz sandbox: answers and error envelopes, body checks,
page slicing (206 for partial pages), injected faults, and company matching.

Envelopes (SYNTHETIC, see ``fixtures/allianz/README.md``): business errors are
``{"errors": [{"code", "message", "field"}]}``; gateway-level errors (401, unknown
route, wrong method) are a plain ``{"message"}``, as API gateways answer.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.adapters.sandbox_support import fault_response as shared_fault_response
from tci_gateway.adapters.toolkit import vat_prefix
from tci_gateway.domain.money import is_currency, minor_units
from tci_gateway.http.jsonexact import dumps, loads

_JSON = {"Content-Type": "application/json"}

Record = dict[str, Any]


class Refused(Exception):
    """A request the sandbox refuses. ``plain``: a gateway-style ``{"message"}``."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        field: str | None = None,
        *,
        plain: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.field = field
        self.plain = plain

    def response(self) -> httpx.Response:
        """The answer for this refusal."""
        if self.plain:
            return plain(self.status, self.message)
        return error(self.status, self.message, self.code, self.field)


def ok(status: int, payload: Any) -> httpx.Response:
    """A JSON answer (numbers written exactly)."""
    return httpx.Response(status, headers=_JSON, content=dumps(payload).encode())


def error(
    status: int, message: str, code: str | None = None, field: str | None = None
) -> httpx.Response:
    """``{"errors": [{"code", "message", "field"}]}`` (SYNTHETIC envelope)."""
    item = {"code": code or f"HTTP_{status}", "message": message, "field": field}
    return ok(status, {"errors": [item]})


def plain(status: int, message: str) -> httpx.Response:
    """A gateway-level error: ``{"message": ...}``."""
    return ok(status, {"message": message})


def json_body(request: httpx.Request) -> Record:
    """The JSON object body (numbers as Decimal); anything else is a 400."""
    try:
        body = loads(request.content)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "Malformed JSON body", "MALFORMED_BODY") from None
    if not isinstance(body, dict):
        raise Refused(400, "The body must be a JSON object", "MALFORMED_BODY")
    return body


def required(body: Mapping[str, Any], *names: str) -> None:
    """Refuse (400) when a field is missing or empty."""
    for name in names:
        if body.get(name) in (None, "", [], {}):
            raise Refused(400, f"{name} is mandatory", "MANDATORY_FIELD", name)


def check_amount(value: Any, currency: str, field: str) -> Decimal:
    """A positive JSON number with no more decimals than ``currency`` has."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Refused(400, "The amount must be a number", "INVALID_AMOUNT", field)
    amount = Decimal(value)
    places = max(0, -int(amount.as_tuple().exponent)) if amount.is_finite() else 99
    if not amount.is_finite() or amount <= 0 or places > minor_units(currency):
        raise Refused(400, "The amount must be a positive amount", "INVALID_AMOUNT", field)
    return amount


def check_currency(value: Any, expected: str, field: str) -> str:
    """An ISO 4217 code equal to the policy currency."""
    if not isinstance(value, str) or not is_currency(value):
        raise Refused(400, "Unknown currency code", "INVALID_CURRENCY", field)
    if value != expected:
        raise Refused(400, "The currency must be the policy currency", "INVALID_CURRENCY", field)
    return value


def page_of(
    records: list[Record], body: Mapping[str, Any], max_page_size: int
) -> tuple[int, Record]:
    """``(status, answer)`` for one page: 206 when more pages follow, else 200."""
    pagination = body.get("pagination") or {}
    if not isinstance(pagination, dict):
        raise Refused(400, "pagination must be an object", "INVALID_PAGINATION", "pagination")
    page, size = pagination.get("page", 1), pagination.get("pageSize", 1000)
    for name, value in (("page", page), ("pageSize", size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise Refused(400, f"{name} must be a positive integer", "INVALID_PAGINATION", name)
    if size > max_page_size:
        raise Refused(
            400, f"pageSize must be at most {max_page_size}", "INVALID_PAGINATION", "pageSize"
        )
    start = (page - 1) * size
    chunk = records[start : start + size]
    info: Record = {"page": page, "pageSize": size}
    if pagination.get("isTotalRequired") is True:
        info["totalCount"] = len(records)
        info["totalPages"] = (len(records) + size - 1) // size
    status = 206 if start + size < len(records) else 200
    return status, {"results": chunk, "pagination": info}


def fault_response(fault: Fault, request: httpx.Request) -> httpx.Response:
    """The answer an injected fault gives (or the transport error it raises)."""
    messages = {
        429: ("TOO_MANY_REQUESTS", "Too many requests"),
        503: ("SERVICE_UNAVAILABLE", "Service unavailable"),
    }

    def answer(status: int) -> httpx.Response:
        code, message = messages.get(status, ("SANDBOX_FAULT", "Sandbox fault"))
        return error(status, message, code)

    return shared_fault_response(
        fault, request, error=answer, malformed=b'{"results": [{"cov', json_headers=_JSON
    )


def _compact(value: str, id_type: str, country: str) -> str:
    compact = "".join(ch for ch in value if ch.isalnum()).upper()
    prefix = vat_prefix(country)
    if id_type.upper() == "VAT" and compact.startswith(prefix):
        return compact[len(prefix) :]
    return compact


def match_companies(companies: Iterable[Record], body: Mapping[str, Any]) -> list[Record]:
    """``results`` of an advanced search: by ``companyIdentifiers`` (exact, separators,
    case and the VAT country prefix ignored; ``EH`` is the company id) when given, else
    by ``companyName`` (a similarity score 0-100, at least ``minimumScore``); always in
    ``countryCode``; at most ``requestedSize`` results, best first."""
    country = body.get("countryCode")
    if not isinstance(country, str) or len(country) != 2:
        raise Refused(
            400, "countryCode must be an ISO alpha-2 code", "INVALID_FIELD", "countryCode"
        )
    country = country.upper()
    wanted = body.get("companyIdentifiers") or []
    name = body.get("companyName")
    if not wanted and not (isinstance(name, str) and name.strip()):
        raise Refused(400, "companyName or companyIdentifiers is mandatory", "MANDATORY_FIELD")
    size, minimum = body.get("requestedSize", 10), body.get("minimumScore", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise Refused(400, "requestedSize must be positive", "INVALID_FIELD", "requestedSize")
    if isinstance(minimum, bool) or not isinstance(minimum, int | Decimal):
        raise Refused(400, "minimumScore must be a number", "INVALID_FIELD", "minimumScore")
    scored: list[tuple[int, int, Record]] = []
    for index, company in enumerate(companies):
        if str((company.get("address") or {}).get("countryCode", "")).upper() != country:
            continue
        if wanted:
            score = 100 if any(_has(company, w, country) for w in wanted) else 0
        else:
            legal = str((company.get("legalData") or {}).get("companyName", ""))
            ratio = difflib.SequenceMatcher(None, legal.casefold(), str(name).casefold()).ratio()
            score = int(ratio * 100)
        if score > 0 and score >= minimum:
            scored.append((-score, index, company))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [{"score": -s, "company": c} for s, _, c in scored[:size]]


def _has(company: Record, wanted: Any, country: str) -> bool:
    if not isinstance(wanted, dict):
        raise Refused(400, "companyIdentifiers must be objects", "INVALID_FIELD")
    id_type = str(wanted.get("idTypeCode", ""))
    value = str(wanted.get("idValue", ""))
    if not id_type or not value:
        raise Refused(400, "idTypeCode and idValue are mandatory", "MANDATORY_FIELD")
    if id_type.upper() == "EH":
        return str(company.get("companyId")) == value.strip()
    for item in company.get("companyIdentifiers") or []:
        kind = str(item.get("idTypeCode", ""))
        if kind.upper() == id_type.upper() and _compact(
            str(item.get("idValue", "")), kind, country
        ) == _compact(value, id_type, country):
            return True
    return False
