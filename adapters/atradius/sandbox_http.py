"""HTTP helpers of the Atradius sandbox: envelopes, query and body checks, injected
faults, and buyer matching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from tci_gateway.adapters.contract_testing import Fault
from tci_gateway.adapters.sandbox_support import fault_response as shared_fault_response
from tci_gateway.adapters.sandbox_support import json_object
from tci_gateway.adapters.sandbox_support import query_params as shared_query_params
from tci_gateway.adapters.toolkit import find_alpha2, to_alpha3, vat_prefix

from .mapping import UID_TYPES
from .sandbox_covers import Refused
from .wire import dumps_exact

_JSON = {"Content-Type": "application/json"}
_SEPARATORS = re.compile(r"[\s.\-/]")


def ok(status: int, data: Any) -> httpx.Response:
    """A success answer: ``{"data": ...}``."""
    return httpx.Response(status, headers=_JSON, content=dumps_exact({"data": data}).encode())


def error(status: int, detail: str, parameter: str | None = None) -> httpx.Response:
    """An error answer: ``{"errors": [{"detail", "source": {"parameter"}}]}``."""
    item: dict[str, Any] = {"detail": detail}
    if parameter is not None:
        item["source"] = {"parameter": parameter}
    return httpx.Response(status, headers=_JSON, content=dumps_exact({"errors": [item]}).encode())


def query_params(
    request: httpx.Request, allowed: set[str], required: tuple[str, ...]
) -> dict[str, str]:
    """The query parameters; an unknown or a missing one is refused (400)."""
    return shared_query_params(
        request,
        allowed,
        required,
        unknown=lambda key: Refused(400, "Unknown query parameter", key),
        missing=lambda key: Refused(400, "Mandatory parameter missing", key),
    )


def json_body(request: httpx.Request, required: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object body (numbers as Decimal); missing fields are refused (400)."""
    body = json_object(request, lambda: Refused(400, "Malformed JSON body"))
    for key in required:
        if body.get(key) in (None, ""):
            raise Refused(400, "Mandatory field missing", key)
    return body


def fault_response(fault: Fault, request: httpx.Request) -> httpx.Response:
    """The answer an injected fault gives (or the transport error it raises)."""
    details = {429: "Too many requests", 503: "Service unavailable"}
    return shared_fault_response(
        fault,
        request,
        error=lambda status: error(status, details.get(status, "Sandbox fault")),
        malformed=b'{"data": [{"coverId": ',
        json_headers=_JSON,
    )


def match_buyers(
    buyers: Iterable[dict[str, Any]], query: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Buyers in ``country`` (alpha-3) with an identifier equal to ``uid`` (of
    ``uidType`` when given). Separators and case are ignored, and so is the VAT
    country prefix."""
    country = find_alpha2(query["country"]) if len(query["country"]) == 3 else None
    if country is None:
        raise Refused(400, "Invalid country code", "country")
    uid_type = query.get("uidType", "").upper() or None
    if uid_type is not None and uid_type not in UID_TYPES:
        raise Refused(400, "Invalid uidType", "uidType")
    prefix = vat_prefix(country)

    def compact(uid: str, kind: str) -> str:
        value = _SEPARATORS.sub("", uid).upper()
        return value[len(prefix) :] if kind == "VAT" and value.startswith(prefix) else value

    def same(identifier: dict[str, Any]) -> bool:
        kind = str(identifier.get("uidType", "")).upper()
        if uid_type is not None and kind != uid_type:
            return False
        return compact(str(identifier.get("uid", "")), kind) == compact(query["uid"], kind)

    return [
        buyer
        for buyer in buyers
        if str(buyer.get("country", "")).upper() == to_alpha3(country)
        and any(same(u) for u in buyer.get("uniqueIdentifiers", []))
    ]
