"""An in-process simulator of the Coface CofaServe API's shape (SYNTHETIC where the API
is not public; see ``fixtures/coface/README.md``).

:class:`CofaceSandbox` serves one ``httpx.Request`` at a time from in-memory state:
mount it on ``httpx.MockTransport(sandbox.handle)`` or serve it on loopback with
:func:`tci_gateway.adapters.loopback.serve_on_loopback`. It is deterministic given its
clock (any callable returning an aware UTC datetime; by default a
:class:`~tci_gateway.adapters.contract_testing.SandboxClock`).

It simulates the login with its lockout (:mod:`.sandbox_auth`), token expiry, the API
Gateway's 403s, the ``x-cof-policy-number`` header (a known contract when given;
required by orders and overdues), company searches, policies, the portfolio with
``offset``/``limit`` paging and ``Content-Range``/``X-Total-Count``, orders decided at
once or later (:mod:`.sandbox_orders`), overdues (:mod:`.sandbox_overdues`), a
``received`` counter per (method, path) and injected faults (:meth:`inject`). It
speaks the adapter's default header names; its paths follow the ``paths`` option.

Seed format (:meth:`CofaceSandbox.seed`, a JSON file or a mapping)::

    {"policies": [{"policyNumber", "currency", "status", "startDate", "endDate"}],
     "companies": [{"easyNumber", "companyName", "address": {..., "countryCode"},
                    "identifiers": [{"type", "value"}]}],
     "creditLimits": [{"policyNumber", "easyNumber", "decisionCode", "amount", ...}],
     "overdues": [{"policyNumber", "overdueId", "status", "customerReference", ...}]}

A seeded credit limit ``IN_PROGRESS`` (or without a code) is decided ``decision_delay``
seconds after seeding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tci_gateway.adapters.contract_testing import ContractFixture
from tci_gateway.adapters.sandbox_support import (
    SandboxControls,
    find_route,
    sandbox_credentials,
    serve_with_fault,
)
from tci_gateway.http.jsonexact import loads

from .options import Paths
from .sandbox_auth import CREDENTIAL_NAMES, LoginGuard
from .sandbox_contract import POLICY_NUMBER, contract_fixture, contract_seed
from .sandbox_http import (
    Refused,
    alpha3,
    check_amount,
    company_country,
    fault_response,
    json_body,
    match_identifier,
    match_name,
    ok,
    query_params,
)
from .sandbox_orders import ACTIONS, OrderBook
from .sandbox_overdues import DECLARATION_FIELDS, OverdueBook

Handler = Callable[[httpx.Request, re.Match[str]], httpx.Response]
POLICY_HEADER = "x-cof-policy-number"


class CofaceSandbox(SandboxControls):
    """The Coface sandbox. Options: ``credentials`` (username, password, api_key;
    random when not given), ``clock``, ``token_ttl`` (3600 s), ``auto_approve_up_to``
    (50000), ``decision_delay`` (60 s), ``partial_ratio`` (0.5), ``paths`` (as the
    adapter option), ``max_limit`` (20), ``lockout_after`` (5), ``lockout_max``
    (900 s), ``overdue_types`` (``["OVERDUE"]``)."""

    def __init__(
        self,
        *,
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        token_ttl: int = 3600,
        auto_approve_up_to: Any = 50000,
        decision_delay: float = 60,
        partial_ratio: Any = "0.5",
        paths: Mapping[str, str] | None = None,
        max_limit: int = 20,
        lockout_after: int = 5,
        lockout_max: float = 900,
        overdue_types: Iterable[str] = ("OVERDUE",),
    ) -> None:
        super().__init__(clock)
        self.credentials: Mapping[str, str] = sandbox_credentials(credentials, CREDENTIAL_NAMES)
        self.paths = Paths.parse(paths)
        self.max_limit = int(max_limit)
        self.policies: dict[str, dict[str, Any]] = {}
        self.companies: dict[str, dict[str, Any]] = {}
        self.guard = LoginGuard(
            self.credentials,
            self.clock,
            token_ttl=token_ttl,
            lockout_after=lockout_after,
            lockout_max=lockout_max,
        )
        self.book = OrderBook(
            auto_approve_up_to=auto_approve_up_to,
            decision_delay=float(decision_delay),
            partial_ratio=partial_ratio,
        )
        self.overdues = OverdueBook(types=overdue_types, registration_delay=float(decision_delay))
        routes: list[tuple[str, str, Handler]] = [
            ("POST", "token", self._token),
            ("GET", "company_by_identifier", self._by_identifier),
            ("GET", "company_search", self._by_name),
            ("GET", "company", self._company),
            ("GET", "policy", self._policy),
            ("GET", "portfolio", self._portfolio),
            ("POST", "orders", self._order),
            ("GET", "orders", self._orders),
            ("GET", "order", self._get_order),
            ("POST", "overdues", self._declare),
            ("GET", "overdues", self._find_overdues),
            ("GET", "overdue", self._get_overdue),
        ]
        # Fixed paths first, so "/companies/identifier" is never read as an EasyNumber.
        routes.sort(key=lambda route: "{" in self.paths[route[1]])
        self._routes = [(m, self.paths.pattern(name), (name, h)) for m, name, h in routes]

    @property
    def token_ttl(self) -> int:
        """Seconds a token lives."""
        return self.guard.token_ttl

    # -- seeding ------------------------------------------------------------------------

    def seed(self, source: str | Path | Mapping[str, Any]) -> None:
        """Add policies, companies, credit limits and overdues (see the module
        docstring); ``source`` is a mapping or the path of a JSON file."""
        data = source if isinstance(source, Mapping) else loads(Path(source).read_bytes())
        with self._lock:
            for policy in data.get("policies", []):
                self.policies[str(policy["policyNumber"])] = dict(policy)
            for company in data.get("companies", []):
                self.companies[str(company["easyNumber"])] = dict(company)
            now = self.clock()
            for record in data.get("creditLimits", []):
                self._known_policy(str(record["policyNumber"]))
                self.book.add({**record, "easyNumber": str(record["easyNumber"])}, now)
            for record in data.get("overdues", []):
                self._known_policy(str(record["policyNumber"]))
                self.overdues.add(record)

    def _known_policy(self, number: str) -> None:
        if number not in self.policies:
            raise ValueError(f"seed: policy {number!r} is not among the seeded policies")

    def seed_contract_fixture(self) -> ContractFixture:
        """Seed the data set the shared contract suite expects, and describe it."""
        with self._lock:
            if POLICY_NUMBER not in self.policies:
                self.seed(contract_seed())
        return contract_fixture(
            self.token_ttl, self.paths["token"], self.book.decision_delay.total_seconds()
        )

    # -- serving ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request (thread-safe)."""
        with self._lock:
            method, path = self._receive(request)
            is_auth = self.paths.pattern("token").fullmatch(path) is not None
            found = find_route(self._routes, method, path)
            portfolio = found is not None and found[0][0] == "portfolio"
            fault = self._faults.take(method, path, is_auth=is_auth, codes_apply=portfolio)

            def serve(unknown_code: str | None) -> httpx.Response:
                return self._serve(request, method, path, is_auth, unknown_code)

            try:
                return serve_with_fault(
                    fault, serve, lambda f: fault_response(f, request), (Refused,)
                )
            except Refused as refusal:
                return refusal.response()

    def _serve(
        self,
        request: httpx.Request,
        method: str,
        path: str,
        is_auth: bool,
        unknown_code: str | None = None,
    ) -> httpx.Response:
        found = find_route(self._routes, method, path)
        if found is None:
            raise Refused(403, "FORBIDDEN", "Missing Authentication Token", gateway=True)
        (name, handler), match = found
        if not is_auth:
            self.guard.check_token(request)
            self._scope(request)
            self.book.decide_due(self.clock())
        if name == "portfolio":
            return self._portfolio(request, match, unknown_code)
        return handler(request, match)

    def _scope(self, request: httpx.Request) -> str | None:
        number = request.headers.get(POLICY_HEADER, "").strip() or None
        if number is not None and number not in self.policies:
            raise Refused(403, "POLICY_ACCESS_DENIED", "Unknown or unauthorised policy number")
        return number

    def _contract(self, request: httpx.Request) -> str:
        number = self._scope(request)
        if number is None:
            raise Refused(400, "MISSING_POLICY_NUMBER", f"Header {POLICY_HEADER} is mandatory")
        return number

    # -- auth ---------------------------------------------------------------------------

    def _token(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        self.guard.check_api_key(request)
        self._scope(request)
        return self.guard.login(request)

    # -- companies ----------------------------------------------------------------------

    def _companies(self, found: list[dict[str, Any]]) -> httpx.Response:
        return ok(200, {"companies": found, "count": len(found)})

    def _by_identifier(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        keys = ("countryCode", "identifierType", "identifierValue")
        query = query_params(request, set(keys), keys)
        country = alpha3(query["countryCode"])
        kind, value = query["identifierType"], query["identifierValue"]
        return self._companies(match_identifier(self.companies.values(), country, kind, value))

    def _by_name(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        query = query_params(request, {"name", "countryCode"}, ("name", "countryCode"))
        if len(query["name"]) < 2:
            raise Refused(400, "INVALID_PARAMETER", "Name too short", [{"field": "name"}])
        country = alpha3(query["countryCode"])
        return self._companies(match_name(self.companies.values(), country, query["name"]))

    def _company(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        query_params(request, set(), ())
        company = self.companies.get(match["easy_number"])
        if company is None:
            raise Refused(404, "COMPANY_NOT_FOUND", "No company with this EasyNumber")
        return ok(200, company)

    # -- policies and portfolio ---------------------------------------------------------

    def _policy_record(self, number: str) -> dict[str, Any]:
        policy = self.policies.get(number)
        if policy is None:
            raise Refused(404, "POLICY_NOT_FOUND", "No policy with this number")
        return policy

    def _policy(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        query_params(request, set(), ())
        return ok(200, self._policy_record(match["policy_number"]))

    def _portfolio(
        self, request: httpx.Request, match: re.Match[str], unknown_code: str | None = None
    ) -> httpx.Response:
        query = query_params(request, {"offset", "limit"}, ())
        number = match["policy_number"]
        self._policy_record(number)
        try:
            offset = int(query.get("offset", "0"))
            limit = int(query.get("limit", str(self.max_limit)))
        except ValueError:
            raise Refused(400, "INVALID_PARAMETER", "offset and limit are numbers") from None
        if offset < 0 or not 1 <= limit <= self.max_limit:
            detail = [{"field": "limit", "message": f"between 1 and {self.max_limit}"}]
            raise Refused(400, "INVALID_PARAMETER", "Invalid offset or limit", detail)
        records = self.book.portfolio_view(number)
        page = [dict(record) for record in records[offset : offset + limit]]
        if unknown_code is not None:
            for record in page:
                record["decisionCode"] = unknown_code
        total = len(records)
        span = f"{offset}-{offset + len(page) - 1}" if page else "*"
        headers = {"Content-Range": f"items {span}/{total}", "X-Total-Count": str(total)}
        return ok(200, {"creditLimits": page}, headers)

    # -- orders -------------------------------------------------------------------------

    def _order(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        number = self._contract(request)
        body = json_body(request, ("easyNumber", "action", "customerReference"))
        self._count_post(body["customerReference"])
        action = str(body["action"]).upper()
        if action not in ACTIONS:
            raise Refused(400, "INVALID_ACTION", f"action must be one of {', '.join(ACTIONS)}")
        company = self.companies.get(str(body["easyNumber"]))
        if company is None:
            raise Refused(400, "UNKNOWN_EASY_NUMBER", "No company with this EasyNumber")
        currency = str(self._policy_record(number)["currency"])
        amount = None
        if action in ("ORDER", "UPDATE"):
            if body.get("currency") != currency:
                detail = [{"field": "currency", "message": f"must be {currency}"}]
                raise Refused(400, "INVALID_CURRENCY", "Currency is not the policy's", detail)
            amount = check_amount(body.get("amount"), currency)
        base = {
            "policyNumber": number,
            "easyNumber": str(body["easyNumber"]),
            "companyName": company.get("companyName"),
            "countryCode": company_country(company) or None,
            "currency": currency,
            "customerReference": str(body["customerReference"]),
        }
        status, record = self.book.order(base, action, amount, self.clock())
        return ok(status, record)

    def _orders(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        number = self._contract(request)
        query = query_params(request, {"customerReference"}, ("customerReference",))
        found = self.book.by_reference(number, query["customerReference"])
        return ok(200, {"orders": found, "count": len(found)})

    def _get_order(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        number = self._contract(request)
        record = self.book.by_id(number, match["order_id"])
        if record is None:
            raise Refused(404, "ORDER_NOT_FOUND", "No order with this id")
        return ok(200, record)

    # -- overdues -----------------------------------------------------------------------

    def _declare(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        number = self._contract(request)
        body = json_body(request, DECLARATION_FIELDS)
        self._count_post(body.get("customerReference"))
        if str(body["easyNumber"]) not in self.companies:
            raise Refused(400, "UNKNOWN_EASY_NUMBER", "No company with this EasyNumber")
        return ok(201, self.overdues.declare(number, body, self.clock()))

    def _find_overdues(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        number = self._contract(request)
        query = query_params(request, {"customerReference"}, ("customerReference",))
        found = self.overdues.by_reference(number, query["customerReference"], self.clock())
        return ok(200, {"overdues": found, "count": len(found)})

    def _get_overdue(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        number = self._contract(request)
        record = self.overdues.by_id(number, match["overdue_id"], self.clock())
        if record is None:
            raise Refused(404, "OVERDUE_NOT_FOUND", "No overdue declaration with this id")
        return ok(200, record)
