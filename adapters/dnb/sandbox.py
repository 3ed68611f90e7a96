"""An in-process simulator of the D&B Direct+ API's shape.

:class:`DnbSandbox` serves one ``httpx.Request`` at a time from in-memory organizations:
mount it on ``httpx.MockTransport(sandbox.handle)`` or serve it on loopback with
:func:`tci_gateway.adapters.loopback.serve_on_loopback`. It is deterministic given its
clock (by default a :class:`~tci_gateway.adapters.contract_testing.SandboxClock`).

What it simulates: ``POST /v3/token`` (Basic key:secret and a form
``grant_type=client_credentials``; tokens live ``token_ttl`` seconds), Bearer checks
(an expired token answers ``expired_token_status`` with error code 00040),
``GET /v1/match/cleanseMatch`` (confidence codes and match grades computed from what
matched, see :mod:`.sandbox_match`; no match is a 404), ``GET /v1/data/duns/{duns}``
(only the parts of the blocks asked, with ``blockStatus``), the
``{transactionDetail, error{errorCode, errorMessage, errorDetails}}`` envelope, a
``received`` counter per (method, path) and injected faults.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import httpx

from tci_gateway.adapters.contract_testing import BureauContractFixture, Fault
from tci_gateway.adapters.sandbox_support import (
    BARE_BAD_GATEWAY_PAGE,
    BearerTokens,
    SandboxControls,
    fault_response,
    sandbox_credentials,
)
from tci_gateway.http.jsonexact import dumps

from .sandbox_data import BLOCK_PARTS, CONTRACT_DUNS, contract_fixture, contract_seed
from .sandbox_match import MATCH_PARAMS, Refused, match
from .wire import DATA_PATH, MATCH_PATH, TOKEN_PATH

_JSON = {"Content-Type": "application/json"}
# Error codes: 00040 (expired token) is documented; the others are synthetic.
CODE_BAD_CREDENTIALS = "00041"
CODE_BAD_TOKEN = "00002"  # noqa: S105 (an error code, not a secret)
CODE_NOT_FOUND = "00037"
CODE_BAD_REQUEST = "10001"


class DnbSandbox(SandboxControls):
    """The D&B sandbox. Options: ``credentials`` (key, secret; random when not given),
    ``clock``, ``token_ttl`` (86400 s), ``expired_token_status`` (401)."""

    def __init__(
        self,
        *,
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        token_ttl: int = 86400,
        expired_token_status: int = 401,
    ) -> None:
        super().__init__(clock)
        names = ("key", "secret")
        self.credentials: Mapping[str, str] = sandbox_credentials(credentials, names, size=12)
        self.token_ttl = int(token_ttl)
        self.expired_token_status = expired_token_status
        self.organizations: dict[str, dict[str, Any]] = {}
        self._tokens = BearerTokens(lambda: self.clock(), self.token_ttl, size=32)

    # -- seeding ------------------------------------------------------------------------

    def seed(self, data: Mapping[str, Any]) -> None:
        """Add ``{"organizations": [organization with every block's members]}`` (wire
        shape; an item may also be a whole data reply ``{"organization": ...}``)."""
        with self._lock:
            for item in data.get("organizations", []):
                org = item.get("organization", item)
                self.organizations[str(org["duns"])] = dict(org)

    def seed_bureau_fixture(self) -> BureauContractFixture:
        """Seed the data set the bureau contract suite expects, and describe it."""
        with self._lock:
            if CONTRACT_DUNS not in self.organizations:
                self.seed(contract_seed())
        return contract_fixture(float(self.token_ttl), TOKEN_PATH)

    # -- serving ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request (thread-safe)."""
        with self._lock:
            method, path = self._receive(request)
            is_auth = path == TOKEN_PATH
            fault = self._faults.take(method, path, is_auth=is_auth)
            if fault is not None:
                return self._fault_response(fault, request)
            try:
                if is_auth and method == "POST":
                    return self._token(request)
                self._check_bearer(request)
                if method == "GET" and path == MATCH_PATH:
                    return self._match(request.url.params)
                if method == "GET" and path.startswith(DATA_PATH + "/"):
                    return self._data(path[len(DATA_PATH) + 1 :], request.url.params)
                raise Refused(404, CODE_NOT_FOUND, "Resource not found")
            except Refused as refusal:
                return self._error(refusal.status, refusal.code, refusal.message, refusal.details)

    def _transaction(self) -> dict[str, Any]:
        return {
            "transactionID": f"rrt-{uuid.uuid4().hex[:16]}",
            "transactionTimestamp": self.clock().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "inLanguage": "en-US",
        }

    def _reply(self, status: int, body: Mapping[str, Any]) -> httpx.Response:
        content = dumps({"transactionDetail": self._transaction(), **body}).encode()
        return httpx.Response(status, headers=_JSON, content=content)

    def _error(
        self, status: int, code: str, message: str, details: list[Any] | None = None
    ) -> httpx.Response:
        error: dict[str, Any] = {"errorCode": code, "errorMessage": message}
        if details:
            error["errorDetails"] = details
        return self._reply(status, {"error": error})

    # -- auth ---------------------------------------------------------------------------

    def _token(self, request: httpx.Request) -> httpx.Response:
        scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
        try:
            given = base64.b64decode(value, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            given = ""
        expected = f"{self.credentials['key']}:{self.credentials['secret']}"
        if scheme != "Basic" or not secrets.compare_digest(given.encode(), expected.encode()):
            raise Refused(401, CODE_BAD_CREDENTIALS, "Invalid client credentials")
        form = parse_qs(request.content.decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            raise Refused(400, CODE_BAD_REQUEST, "grant_type must be client_credentials")
        token = self._tokens.issue()
        body = {"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"}
        return httpx.Response(200, headers=_JSON, content=dumps(body).encode())

    def _check_bearer(self, request: httpx.Request) -> None:
        expires = self._tokens.expiry(request)
        if expires is None:
            raise Refused(401, CODE_BAD_TOKEN, "Invalid or missing access token")
        if expires <= self.clock():
            raise Refused(self.expired_token_status, "00040", "Token has expired")

    # -- match and data -----------------------------------------------------------------

    def _match(self, params: httpx.QueryParams) -> httpx.Response:
        unknown = [k for k in params if k not in MATCH_PARAMS]
        if unknown:
            raise Refused(400, CODE_BAD_REQUEST, "Invalid parameter", [{"parameter": unknown[0]}])
        candidates = match(self.organizations.values(), params)
        if not candidates:
            raise Refused(404, "20502", "No match found for the given input criteria")
        inquiry = {k: params[k] for k in params}
        body = {
            "inquiryDetail": inquiry,
            "candidatesMatchedQuantity": len(candidates),
            "matchDataCriteria": "Name and Address Lookup",
            "matchCandidates": candidates,
        }
        return self._reply(200, body)

    def _data(self, duns: str, params: httpx.QueryParams) -> httpx.Response:
        blocks = [b.strip() for b in params.get("blockIDs", "").split(",") if b.strip()]
        if not blocks:
            raise Refused(400, CODE_BAD_REQUEST, "blockIDs is required")
        families = {b.split("_")[0] for b in blocks}
        unknown = families - set(BLOCK_PARTS) - {"companyinfo"}
        if unknown:
            raise Refused(400, CODE_BAD_REQUEST, f"Unknown block {sorted(unknown)[0]}")
        org = self.organizations.get(duns)
        if org is None:
            raise Refused(404, CODE_NOT_FOUND, "DUNS not found")
        risky = set().union(*BLOCK_PARTS.values())
        wanted = {"duns"} | set().union(*(BLOCK_PARTS.get(f, set()) for f in families))
        if "companyinfo" in families:
            wanted |= set(org) - risky
        body = {
            "inquiryDetail": {"duns": duns, "blockIDs": blocks},
            "blockStatus": [{"blockID": b, "status": "ok", "reason": None} for b in blocks],
            "organization": {k: v for k, v in org.items() if k in wanted},
        }
        return self._reply(200, body)

    # -- faults -------------------------------------------------------------------------

    def _fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        messages = {429: "Too many requests", 503: "Service unavailable"}

        def answer(status: int) -> httpx.Response:
            return self._error(status, f"0{status}0", messages.get(status, "Sandbox fault"))

        return fault_response(
            fault,
            request,
            error=answer,
            malformed=b'{"organization": {',
            json_headers=_JSON,
            page=BARE_BAD_GATEWAY_PAGE,
        )
