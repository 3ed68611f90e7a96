"""An in-process simulator of the Creditsafe Connect API's shape.

:class:`CreditsafeSandbox` serves one ``httpx.Request`` at a time from in-memory
companies and reports: mount it on ``httpx.MockTransport(sandbox.handle)`` or serve it
on loopback with :func:`tci_gateway.adapters.loopback.serve_on_loopback`. It is
deterministic given its clock (by default a
:class:`~tci_gateway.adapters.contract_testing.SandboxClock`).

What it simulates: ``POST /authenticate`` (JSON username and password -> a JWT living
``token_ttl`` seconds, HMAC-signed with a per-sandbox key), the token check on every
call (bare or ``Bearer``; 401 when missing, unknown or expired), ``GET /companies``
with ``countries`` (required), ``page``/``pageSize`` and **exactly one criteria set**
(400 "Specified criteria combination is not allowed" otherwise, see
:mod:`.criteria`), ``GET /companies/{connectId}`` (the report, 404 when unknown), the
``{correlationId, message, details}`` error envelope, a ``received`` counter per
(method, path) and injected faults. Paths may carry the ``/v1`` prefix or not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from tci_gateway.adapters.contract_testing import BureauContractFixture, Fault
from tci_gateway.adapters.sandbox_support import (
    BARE_BAD_GATEWAY_PAGE,
    SandboxControls,
    fault_response,
    sandbox_credentials,
)
from tci_gateway.http.jsonexact import dumps, loads

from .criteria import CriteriaError, criteria_set
from .sandbox_data import CONTRACT_ID, contract_fixture, contract_seed
from .wire import TOKEN_PATH

_JSON = {"Content-Type": "application/json"}
_PREFIX = r"(?:/v1)?"
_TOKEN = re.compile(_PREFIX + re.escape(TOKEN_PATH))
_SEARCH = re.compile(_PREFIX + r"/companies")
_REPORT = re.compile(_PREFIX + r"/companies/(?P<id>[^/]+)")
_MAX_PAGE_SIZE = 100


class Refused(Exception):
    """A request the sandbox refuses: served as ``{correlationId, message, details}``."""

    def __init__(self, status: int, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", text).casefold())


def _compact(text: str) -> str:
    return re.sub(r"[\s.\-/]", "", text).upper()


def _reply(status: int, body: Mapping[str, Any]) -> httpx.Response:
    return httpx.Response(status, headers=_JSON, content=dumps(dict(body)).encode())


def _error(status: int, message: str, details: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"correlationId": str(uuid.uuid4()), "message": message}
    if details is not None:
        body["details"] = details
    return _reply(status, body)


class CreditsafeSandbox(SandboxControls):
    """The Creditsafe sandbox. Options: ``credentials`` (username, password; random when
    not given), ``clock``, ``token_ttl`` (3600 s), ``empty_search_status`` (200: an
    empty ``companies`` list; 404 answers "no companies found" instead)."""

    def __init__(
        self,
        *,
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        token_ttl: int = 3600,
        empty_search_status: int = 200,
    ) -> None:
        super().__init__(clock)
        names = ("username", "password")
        self.credentials: Mapping[str, str] = sandbox_credentials(credentials, names, size=12)
        self.token_ttl = int(token_ttl)
        self.empty_search_status = empty_search_status
        self.companies: dict[str, dict[str, Any]] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self._key = secrets.token_bytes(32)

    # -- seeding ------------------------------------------------------------------------

    def seed(self, data: Mapping[str, Any]) -> None:
        """Add ``{"companies": [search result], "reports": {connectId: report}}`` (wire
        shape; a report may also be a whole reply ``{"report": ...}``)."""
        with self._lock:
            for company in data.get("companies", []):
                self.companies[str(company["id"])] = dict(company)
            for connect_id, report in dict(data.get("reports", {})).items():
                self.reports[str(connect_id)] = dict(report.get("report", report))

    def seed_bureau_fixture(self) -> BureauContractFixture:
        """Seed the data set the bureau contract suite expects, and describe it."""
        with self._lock:
            if CONTRACT_ID not in self.companies:
                self.seed(contract_seed())
        return contract_fixture(float(self.token_ttl), TOKEN_PATH)

    # -- serving ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request (thread-safe)."""
        with self._lock:
            method, path = self._receive(request)
            is_auth = _TOKEN.fullmatch(path) is not None
            fault = self._faults.take(method, path, is_auth=is_auth)
            if fault is not None:
                return self._fault_response(fault, request)
            try:
                if is_auth and method == "POST":
                    return self._authenticate(request)
                self._check_token(request)
                return self._route(request, method, path)
            except Refused as refusal:
                return _error(refusal.status, refusal.message, refusal.details)

    def _route(self, request: httpx.Request, method: str, path: str) -> httpx.Response:
        if method != "GET":
            raise Refused(405, "Method not allowed")
        if _SEARCH.fullmatch(path):
            return self._search(request.url.params)
        if match := _REPORT.fullmatch(path):
            report = self.reports.get(match["id"])
            if report is None:
                raise Refused(404, "Company not found", f"No report for {match['id']}")
            body = {
                "correlationId": str(uuid.uuid4()),
                "report": report,
                "companyId": match["id"],
                "dateOfOrder": self.clock().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "language": request.url.params.get("language", "en").upper(),
            }
            return _reply(200, body)
        raise Refused(404, "Not found", f"No route for {path}")

    # -- auth ---------------------------------------------------------------------------

    def _authenticate(self, request: httpx.Request) -> httpx.Response:
        try:
            body = loads(request.content)
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "Invalid request", "The body is not JSON") from None
        if not isinstance(body, dict) or not body.get("username") or not body.get("password"):
            raise Refused(400, "Invalid request", "username and password are required")
        user_ok = secrets.compare_digest(
            str(body["username"]).encode(), self.credentials["username"].encode()
        )
        password_ok = secrets.compare_digest(
            str(body["password"]).encode(), self.credentials["password"].encode()
        )
        if not (user_ok and password_ok):
            raise Refused(401, "Invalid credentials", "Username or password is incorrect")
        return _reply(200, {"token": self._jwt(str(body["username"]))})

    def _jwt(self, username: str) -> str:
        issued = int(self.clock().timestamp())
        header = _b64(dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"sub": username, "iat": issued, "exp": issued + self.token_ttl}
        payload = _b64(dumps(claims).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64(signature.digest())}"

    def _check_token(self, request: httpx.Request) -> None:
        value = request.headers.get("Authorization", "").strip()
        token = value[7:].strip() if value.lower().startswith("bearer ") else value
        parts = token.split(".")
        if len(parts) != 3:
            raise Refused(401, "Unauthorized", "Missing or malformed token")
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
        if not hmac.compare_digest(_b64(expected.digest()), parts[2]):
            raise Refused(401, "Unauthorized", "Invalid token")
        claims = loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        if int(claims["exp"]) <= int(self.clock().timestamp()):
            raise Refused(401, "Unauthorized", "Token has expired")

    # -- search -------------------------------------------------------------------------

    def _search(self, params: httpx.QueryParams) -> httpx.Response:
        try:
            kind = criteria_set(params.keys())
        except CriteriaError as exc:
            raise Refused(400, str(exc), "Use GET /companies/searchcriteria") from None
        countries = {c.strip().upper() for c in params.get("countries", "").split(",")} - {""}
        if not countries:
            raise Refused(400, "Invalid request", "countries is required")
        page = self._int(params.get("page", "1"), "page", 10**6)
        size = self._int(params.get("pageSize", "15"), "pageSize", _MAX_PAGE_SIZE)
        found = [
            c
            for c in self.companies.values()
            if str(c.get("country", "")).upper() in countries and self._matches(c, kind, params)
        ]
        if not found and self.empty_search_status == 404:
            raise Refused(404, "No companies found")
        body = {
            "correlationId": str(uuid.uuid4()),
            "totalSize": len(found),
            "companies": found[(page - 1) * size : page * size],
        }
        return _reply(200, body)

    @staticmethod
    def _int(raw: str, name: str, high: int) -> int:
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= high:
            raise Refused(400, "Invalid request", f"{name} must be a number from 1 to {high}")
        return int(raw)

    @staticmethod
    def _matches(company: Mapping[str, Any], kind: str, params: httpx.QueryParams) -> bool:
        if kind in ("id", "safeNo"):
            return str(company.get(kind) or "").upper() == params[kind].strip().upper()
        if kind == "regNo":  # a French SIREN also finds the SIRET it starts
            have, wanted = _compact(str(company.get("regNo") or "")), _compact(params["regNo"])
            return have == wanted or (len(wanted) == 9 and len(have) == 14 and have[:9] == wanted)
        if kind == "vatNo":
            wanted = _compact(params["vatNo"])
            for vat in company.get("vatNo") or []:
                have = _compact(str(vat))
                if wanted in (have, have[2:]) or have in (wanted, wanted[2:]):
                    return True
            return False
        names = [str(company.get("name") or "")]
        names += [str(n) for n in company.get("tradingNames") or []]
        wanted_name = params.get("name") or params.get("tradeName") or params.get("acronym") or ""
        wanted_words = _words(wanted_name)
        if params.get("exact", "").lower() == "true":
            name_ok = any(_words(n) == wanted_words for n in names)
        else:
            name_ok = any(all(w in _words(n) for w in wanted_words) for n in names)
        address = company.get("address") or {}
        post = params.get("postCode")
        if post is not None and _compact(str(address.get("postCode") or "")) != _compact(post):
            return False
        city = params.get("city")
        if city is not None and _words(str(address.get("city") or "")) != _words(city):
            return False
        return name_ok and bool(wanted_words)

    # -- faults -------------------------------------------------------------------------

    @staticmethod
    def _fault_response(fault: Fault, request: httpx.Request) -> httpx.Response:
        messages = {429: "Too many requests", 503: "Service unavailable"}
        return fault_response(
            fault,
            request,
            error=lambda status: _error(status, messages.get(status, "Sandbox fault")),
            malformed=b'{"companies": [',
            json_headers=_JSON,
            page=BARE_BAD_GATEWAY_PAGE,
        )
