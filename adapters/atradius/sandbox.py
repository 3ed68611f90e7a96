"""An in-process simulator of the Atradius API's shape (docs/architecture.md, section 1).

:class:`AtradiusSandbox` serves one ``httpx.Request`` at a time from in-memory state:
mount it on ``httpx.MockTransport(sandbox.handle)`` or serve it on loopback with
:func:`tci_gateway.adapters.loopback.serve_on_loopback`. It is deterministic given its
clock (any callable returning an aware UTC datetime; by default a
:class:`~tci_gateway.adapters.contract_testing.SandboxClock`).

What it simulates: the token call (Basic client credentials plus app key; tokens live
``token_ttl`` seconds), Bearer checks (401), unknown routes (403, as Atradius does),
the ``{"data": ...}`` and ``{"errors": [...]}`` envelopes, buyer search and detail,
the covers portfolio (plus ``/decisions``, ``/applications``, ``/historic``), cover
applications and amendments (see :mod:`.sandbox_covers`), policy details, the
``Atradius-Correlation-Id`` echo, a ``received`` counter per (method, path), and
injected faults (:meth:`AtradiusSandbox.inject`).
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from tci_gateway.adapters.contract_testing import ContractFixture
from tci_gateway.adapters.sandbox_support import (
    BearerTokens,
    SandboxControls,
    find_route,
    sandbox_credentials,
    serve_with_fault,
)

from .sandbox_contract import contract_fixture, contract_seed
from .sandbox_covers import COVER_TYPES, CoverBook, Refused, check_amount
from .sandbox_http import error, fault_response, json_body, match_buyers, ok, query_params
from .wire import (
    APP_KEY_HEADER,
    BUYERS_PATH,
    CORRELATION_HEADER,
    COVERS_PATH,
    POLICY_DETAILS_PATH,
    TOKEN_PATH,
    TOKEN_PATH_V1,
    parse_timestamp,
)

Handler = Callable[[httpx.Request, re.Match[str]], httpx.Response]


class AtradiusSandbox(SandboxControls):
    """The Atradius sandbox. Options: ``credentials`` (client_id, client_secret,
    app_key; random when not given), ``clock``, ``token_ttl`` (1800 s),
    ``auto_approve_up_to`` (50000), ``decision_delay`` (60 s), ``partial_ratio`` (0.5).
    """

    def __init__(
        self,
        *,
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        token_ttl: int = 1800,
        auto_approve_up_to: Any = 50000,
        decision_delay: float = 60,
        partial_ratio: Any = "0.5",
    ) -> None:
        super().__init__(clock)
        names = ("client_id", "client_secret", "app_key")
        self.credentials: Mapping[str, str] = sandbox_credentials(credentials, names)
        self.token_ttl = int(token_ttl)
        self.customers: dict[str, dict[str, dict[str, Any]]] = {}
        self.buyers: dict[int, dict[str, Any]] = {}
        self.book = CoverBook(
            auto_approve_up_to=auto_approve_up_to,
            decision_delay=float(decision_delay),
            partial_ratio=partial_ratio,
        )
        self._tokens = BearerTokens(lambda: self.clock(), self.token_ttl)
        buyer = re.escape(BUYERS_PATH)
        covers = re.escape(COVERS_PATH)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(re.escape(TOKEN_PATH)), self._token),
            ("POST", re.compile(re.escape(TOKEN_PATH_V1)), self._token),
            ("GET", re.compile(buyer), self._search_buyers),
            ("GET", re.compile(buyer + r"/(?P<buyer>[^/]+)"), self._buyer_detail),
            (
                "GET",
                re.compile(covers + r"(?:/(?P<kind>decisions|applications|historic))?"),
                self._list_covers,
            ),
            ("POST", re.compile(covers), self._apply),
            ("PUT", re.compile(covers), self._amend),
            ("GET", re.compile(re.escape(POLICY_DETAILS_PATH)), self._policy_details),
        ]

    # -- seeding ------------------------------------------------------------------------

    def seed(self, data: Mapping[str, Any]) -> None:
        """Add ``{customers: [{customerId, policies: [{policyId, policyCurrency,
        policyStartDate, policyExpiryDate}]}], buyers: [wire buyer], covers: [wire cover],
        historic: [wire cover]}`` (``historic`` records are served by ``covers/historic``
        only). A cover without customerId gets the customer holding its policy; a
        REFERRED cover is decided later."""
        with self._lock:
            for customer in data.get("customers", []):
                policies = self.customers.setdefault(str(customer["customerId"]), {})
                for policy in customer.get("policies", []):
                    policies[str(policy["policyId"])] = dict(policy)
            for buyer in data.get("buyers", []):
                self.buyers[int(buyer["buyerId"])] = dict(buyer)
            for cover in data.get("covers", []):
                record = dict(cover)
                if "customerId" not in record:
                    record["customerId"] = self._owner(str(record["policyId"]))
                self.book.add(record, self.clock())
            for cover in data.get("historic", []):
                record = dict(cover)
                if "customerId" not in record:
                    record["customerId"] = self._owner(str(record["policyId"]))
                self.book.add_historic(record)

    def _owner(self, policy_id: str) -> str:
        owners = [c for c, policies in self.customers.items() if policy_id in policies]
        if len(owners) != 1:
            raise ValueError(f"seed: cannot tell which customer holds policy {policy_id!r}")
        return owners[0]

    def seed_contract_fixture(self) -> ContractFixture:
        """Seed the data set the shared contract suite expects, and describe it."""
        with self._lock:
            if "CONTRACT-C1" not in self.customers:
                self.seed(contract_seed())
        return contract_fixture(
            self.token_ttl, TOKEN_PATH, self.book.decision_delay.total_seconds()
        )

    # -- serving ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request (thread-safe)."""
        with self._lock:
            method, path = self._receive(request)
            try:
                response = self._serve(request, method, path)
            except Refused as refusal:
                response = error(refusal.status, refusal.detail, refusal.parameter)
            correlation = request.headers.get(CORRELATION_HEADER)
            if correlation:
                response.headers[CORRELATION_HEADER] = correlation
            return response

    def _serve(self, request: httpx.Request, method: str, path: str) -> httpx.Response:
        is_auth = path in (TOKEN_PATH, TOKEN_PATH_V1)
        covers_read = method == "GET" and path.startswith(COVERS_PATH)
        fault = self._faults.take(method, path, is_auth=is_auth, codes_apply=covers_read)

        def serve(unknown_code: str | None) -> httpx.Response:
            return self._serve_plain(request, method, path, is_auth, unknown_code)

        return serve_with_fault(fault, serve, lambda f: fault_response(f, request), (Refused,))

    def _serve_plain(
        self,
        request: httpx.Request,
        method: str,
        path: str,
        is_auth: bool,
        unknown_code: str | None = None,
    ) -> httpx.Response:
        found = find_route(self._routes, method, path)
        if found is None:
            return error(403, "Forbidden")
        handler, match = found
        if not is_auth:
            self._check_bearer(request)
            self.book.decide_due(self.clock())
        if unknown_code is not None and handler == self._list_covers:
            return self._list_covers(request, match, unknown_code=unknown_code)
        return handler(request, match)

    # -- auth ---------------------------------------------------------------------------

    def _app_key_ok(self, request: httpx.Request) -> bool:
        given = request.headers.get(APP_KEY_HEADER, "")
        return secrets.compare_digest(given.encode(), self.credentials["app_key"].encode())

    def _token(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        if not self._app_key_ok(request):
            return error(401, "Invalid or missing Atradius-App-Key")
        scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
        try:
            user, _sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        expected = f"{self.credentials['client_id']}:{self.credentials['client_secret']}"
        if scheme != "Basic" or not secrets.compare_digest(
            f"{user}:{password}".encode(), expected.encode()
        ):
            return error(401, "Invalid client credentials")
        token = self._tokens.issue()
        data = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}
        return ok(200, data)

    def _check_bearer(self, request: httpx.Request) -> None:
        if not self._app_key_ok(request):
            raise Refused(401, "Invalid or missing Atradius-App-Key")
        if not self._tokens.valid(request):
            raise Refused(401, "Invalid or expired access token")

    # -- buyers -------------------------------------------------------------------------

    def _search_buyers(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        query = query_params(request, {"country", "uid", "uidType"}, ("country", "uid"))
        found = match_buyers(self.buyers.values(), query)
        if not found:
            raise Refused(404, "No buyer match found")
        return ok(200, found)

    def _buyer_detail(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        query_params(request, set(), ())
        raw = match["buyer"]
        if not raw.isdigit():
            raise Refused(400, "buyerId must be numeric", "buyerId")
        buyer = self.buyers.get(int(raw))
        if buyer is None:
            raise Refused(404, "No buyer match found")
        return ok(200, [buyer])

    # -- covers -------------------------------------------------------------------------

    def _policy(self, customer_id: str, policy_id: str) -> dict[str, Any]:
        policy = self.customers.get(customer_id, {}).get(policy_id)
        if policy is None:
            raise Refused(400, "Invalid policyId for this customer", "policyId")
        return policy

    def _list_covers(
        self, request: httpx.Request, match: re.Match[str], unknown_code: str | None = None
    ) -> httpx.Response:
        allowed = {"customerId", "policyId", "buyerId", "coverType", "fromDate"}
        query = query_params(request, allowed, ("customerId", "policyId"))
        self._policy(query["customerId"], query["policyId"])
        buyer = query.get("buyerId")
        if buyer is not None and not buyer.isdigit():
            raise Refused(400, "buyerId must be numeric", "buyerId")
        cover_type = query.get("coverType")
        if cover_type is not None and cover_type not in COVER_TYPES:
            raise Refused(400, "Invalid coverType", "coverType")
        since = None
        if query.get("fromDate"):
            try:
                since = parse_timestamp(query["fromDate"])
            except ValueError:
                raise Refused(400, "Invalid fromDate", "fromDate") from None
        records = self.book.listing(
            query["customerId"],
            query["policyId"],
            kind=match["kind"] or "all",
            buyer_id=int(buyer) if buyer else None,
            cover_type=cover_type,
            since=since,
        )
        if unknown_code is not None:
            for record in records:
                if record.get("decisionCode"):
                    record["decisionCode"] = unknown_code
        return ok(200, records)

    def _cover_base(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        customer_id, policy_id = str(body["customerId"]), str(body["policyId"])
        policy = self._policy(customer_id, policy_id)
        raw_buyer = body["buyerId"]
        if isinstance(raw_buyer, bool) or not str(raw_buyer).isdigit():
            raise Refused(400, "buyerId must be numeric", "buyerId")
        buyer = self.buyers.get(int(raw_buyer))
        if buyer is None:
            raise Refused(400, "No buyer match found", "buyerId")
        cover_type = body.get("coverType")
        if cover_type is not None and cover_type not in COVER_TYPES:
            raise Refused(400, "Invalid coverType", "coverType")
        base = {
            "customerId": customer_id,
            "policyId": policy_id,
            "buyerId": int(raw_buyer),
            "buyerName": buyer.get("buyerName"),
            "coverType": cover_type,
            "policyCurrency": policy.get("policyCurrency"),
        }
        return base, policy

    @staticmethod
    def _currency(body: dict[str, Any], policy: dict[str, Any]) -> None:
        if body.get("currencyCode") != policy.get("policyCurrency"):
            raise Refused(400, "currencyCode must be the policy currency", "currencyCode")

    def _apply(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        required = (
            "customerId",
            "policyId",
            "buyerId",
            "coverType",
            "creditLimitAmount",
            "currencyCode",
        )
        body = json_body(request, required)
        self._count_post(body.get("customerRefNumber"))
        base, policy = self._cover_base(body)
        amount = check_amount(body["creditLimitAmount"])
        self._currency(body, policy)
        status, record = self.book.apply(base, amount, body.get("customerRefNumber"), self.clock())
        return ok(status, record)

    def _amend(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        body = json_body(request, ("customerId", "policyId", "buyerId", "action"))
        self._count_post(body.get("customerRefNumber"))
        action = str(body["action"]).lower()
        if action not in ("supersede", "reduce", "cancel"):
            raise Refused(400, "Invalid action", "action")
        base, policy = self._cover_base(body)
        amount = None
        if action != "cancel":
            amount = check_amount(body.get("creditLimitAmount"))
            self._currency(body, policy)
        reference = body.get("customerRefNumber")
        status, record = self.book.change(base, action, amount, reference, self.clock())
        return ok(status, record)

    # -- policies -----------------------------------------------------------------------

    def _policy_details(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        query = query_params(request, {"policyId", "customerId"}, ("policyId",))
        for customer_id, policies in self.customers.items():
            if query.get("customerId") not in (None, customer_id):
                continue
            policy = policies.get(query["policyId"])
            if policy is not None:
                data = {"policyStatus": "live", **policy, "policyId": query["policyId"]}
                return ok(200, data)
        raise Refused(404, "No policy found", "policyId")
