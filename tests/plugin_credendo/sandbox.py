"""An in-process simulator of a "Credendo-shape" credit-limit API (SYNTHETIC: Credendo
publishes no API; the shape follows its portal flow, see docs/adapters.md).

Paths (all JSON; errors ``{"error": {"code", "message"}}``):

* ``POST /oauth2/token``: OAuth2 client credentials (Basic or form body); tokens live
  ``token_ttl`` seconds, an expired one is answered 401 ``TOKEN_EXPIRED``;
* ``GET /v1/debtors?country=BEL&nationalId=...&name=...``: debtor search (alpha-3
  countries, VAT numbers without their country prefix);
* ``GET /v1/policies/{policyId}/limits?page=1&pageSize=50``: the portfolio, page by page
  (``page``, ``totalPages``);
* ``POST /v1/policies/{policyId}/applications`` with an ``Idempotency-Key`` header (our
  client reference): a limit application, decided at once up to ``auto_approve_up_to``,
  otherwise ``APPLICATION`` until ``decision_delay`` seconds later (then partly accepted
  at ``auto_approve_up_to``);
* ``GET /v1/policies/{policyId}/applications/{applicationId}`` and
  ``GET /v1/policies/{policyId}/applications?customerReference=...``.

Test controls (:class:`~tci_gateway.adapters.sandbox_support.SandboxControls`):
``inject`` faults, ``advance`` the clock, ``received`` per (method, path).
"""

from __future__ import annotations

import base64
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx

from tci_gateway.adapters.contract import BuyerQuery, PolicyRef
from tci_gateway.adapters.contract_testing import ContractFixture, Fault, SandboxClock
from tci_gateway.adapters.sandbox_support import (
    BearerTokens,
    FaultQueue,
    SandboxControls,
    fault_response,
    sandbox_credentials,
    serve_with_fault,
)
from tci_gateway.domain.identifiers import Identifier, Scheme
from tci_gateway.domain.money import Money
from tci_gateway.http.jsonexact import dumps, loads

TOKEN_PATH = "/oauth2/token"
JSON = {"Content-Type": "application/json"}
POLICY_ID = "CR-POL-001"
START = datetime.fromisoformat("2026-11-02T09:00:00+00:00")


def _error(status: int, code: str, message: str = "") -> httpx.Response:
    return httpx.Response(
        status, headers=JSON, content=dumps({"error": {"code": code, "message": message}})
    )


def _ok(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, headers=JSON, content=dumps(body))


class CredendoSandbox(SandboxControls):
    """The sandbox. Options: ``credentials`` (client_id, client_secret; random when not
    given), ``clock``, ``token_ttl`` (900 s), ``auto_approve_up_to`` (50000),
    ``decision_delay`` (120 s), ``max_page_size`` (3, to make paging visible)."""

    def __init__(
        self,
        *,
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        token_ttl: int = 900,
        auto_approve_up_to: int | str = 50000,
        decision_delay: float = 120,
        max_page_size: int = 3,
    ) -> None:
        self.credentials: Mapping[str, str] = sandbox_credentials(
            credentials, ("client_id", "client_secret")
        )
        self.clock: Callable[[], datetime] = clock or SandboxClock(START)
        self.token_ttl = token_ttl
        self.tokens = BearerTokens(self.clock, token_ttl)
        self.auto_approve_up_to = Decimal(str(auto_approve_up_to))
        self.decision_delay = float(decision_delay)
        self.max_page_size = max_page_size
        self.received: Counter[tuple[str, str]] = Counter()
        self._lock = threading.RLock()
        self._faults = FaultQueue(self._lock)
        self.debtors: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, str] = {}  # policy id -> currency
        self.limits: dict[str, list[dict[str, Any]]] = {}
        self.applications: dict[str, dict[str, Any]] = {}

    # -- seeding -----------------------------------------------------------------------

    def seed(self, data: Mapping[str, Any]) -> None:
        """Load ``{"policies": [{"policyId", "currency"}], "debtors": [...],
        "limits": [{"policyId", ...limit record}]}``."""
        with self._lock:
            for policy in data.get("policies", ()):
                self.policies[str(policy["policyId"])] = str(policy["currency"])
                self.limits.setdefault(str(policy["policyId"]), [])
            for debtor in data.get("debtors", ()):
                self.debtors[str(debtor["debtorId"])] = dict(debtor)
            for limit in data.get("limits", ()):
                record = dict(limit)
                self.limits.setdefault(str(record.pop("policyId")), []).append(record)

    def seed_contract_fixture(self) -> ContractFixture:
        """Seed the contract suite's data set and describe it."""
        names = ["Brasserie", "Chocolaterie", "Verrerie", "Filature", "Sidérurgie", "Imprimerie"]
        vats = ["0403170701", "0417497106", "0202239951", "0403019261", "0404616494", "0401574852"]
        debtors = [
            {
                "debtorId": f"CD-{100 + i}",
                "name": f"{name} Sandbox NV",
                "countryCode": "BEL",
                "nationalIds": [{"type": "VAT", "value": vat}],
                "rating": str(3 + i % 4),
            }
            for i, (name, vat) in enumerate(zip(names, vats, strict=True))
        ]
        limits = [
            self._limit(f"CL-{500 + i}", debtors[i], POLICY_ID, Decimal(25000 * (i + 1)))
            for i in range(5)
        ]
        limits[3]["decision"] = "PARTIALLY_ACCEPTED"
        limits[3]["grantedAmount"] = {"value": "40000.00", "currency": "EUR"}
        limits.append(dict(limits[0], limitId="CL-499", validFrom="2026-01-05", decision="EXPIRED"))
        for limit in limits:
            limit["policyId"] = POLICY_ID
        self.seed(
            {
                "policies": [{"policyId": POLICY_ID, "currency": "EUR"}],
                "debtors": debtors,
                "limits": limits,
            }
        )
        return ContractFixture(
            policy=PolicyRef(
                key="credendo-main", currency="EUR", external_ref={"policy_id": POLICY_ID}
            ),
            known_buyer=BuyerQuery(country="BE", identifier=Identifier(Scheme.VAT, "BE0417497106")),
            known_buyer_id="CD-101",
            unknown_buyer=BuyerQuery(country="BE", name="Nobody Known BV"),
            portfolio_size=len(limits),
            uncovered_buyer_id="CD-105",
            small_amount=Money.of("10000.00", "EUR"),
            token_lifetime=self.token_ttl,
            auth_request=("POST", TOKEN_PATH),
            referred_amount=Money.of("150000.00", "EUR"),
            decision_delay=self.decision_delay,
        )

    def _limit(
        self,
        limit_id: str,
        debtor: Mapping[str, Any],
        policy_id: str,
        amount: Decimal,
        *,
        granted: Decimal | None = None,
        decision: str = "ACCEPTED",
    ) -> dict[str, Any]:
        currency = self.policies.get(policy_id, "EUR")
        now = self.clock()
        return {
            "limitId": limit_id,
            "debtorId": debtor["debtorId"],
            "debtorName": debtor["name"],
            "debtorCountry": debtor["countryCode"],
            "decision": decision,
            "requestedAmount": {"value": f"{amount:.2f}", "currency": currency},
            "grantedAmount": {
                "value": f"{(amount if granted is None else granted):.2f}",
                "currency": currency,
            },
            "validFrom": now.date().isoformat() if decision != "EXPIRED" else "2026-01-05",
            "validTo": None,
            "decidedAt": now.isoformat().replace("+00:00", "Z"),
            "updatedAt": now.isoformat().replace("+00:00", "Z"),
        }

    # -- serving -------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request (thread-safe)."""
        with self._lock:
            method, path = self._receive(request)
            is_auth = path == TOKEN_PATH
            codes = method == "GET" and path.endswith("/limits")
            fault = self._faults.take(method, path, is_auth=is_auth, codes_apply=codes)

            def serve(code: str | None) -> httpx.Response:
                if is_auth:
                    return self._token(request)
                return self._api(request, method, path, code)

            return serve_with_fault(fault, serve, lambda f: self._fault(f, request), ())

    def _fault(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        return fault_response(
            fault,
            request,
            error=lambda status: _error(status, "UNAVAILABLE"),
            malformed=b'{"items": [{"limitId": "CL-',
            json_headers=JSON,
        )

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return _ok({"error": "unsupported_grant_type"}, 400)
        if (client_id, client_secret) != (
            self.credentials["client_id"],
            self.credentials["client_secret"],
        ):
            return _ok({"error": "invalid_client"}, 401)
        token = self.tokens.issue()
        return _ok({"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl})

    def _api(
        self, request: httpx.Request, method: str, path: str, code: str | None
    ) -> httpx.Response:
        """An API call; ``code`` (an injected unknown code) replaces the limits' codes."""
        expires = self.tokens.expiry(request)
        if expires is None:
            return _error(401, "INVALID_TOKEN")
        if expires <= self.clock():
            return _error(401, "TOKEN_EXPIRED")
        parts = path.strip("/").split("/")
        query = request.url.params
        if method == "GET" and parts == ["v1", "debtors"]:
            return self._search(
                query.get("country", ""), query.get("nationalId"), query.get("name")
            )
        if len(parts) < 4 or parts[:2] != ["v1", "policies"] or parts[2] not in self.policies:
            return _error(404, "NOT_FOUND", "no such policy or path")
        policy_id, rest = parts[2], parts[3:]
        if method == "GET" and rest == ["limits"]:
            page, size = query.get("page", "1"), query.get("pageSize", "50")
            return self._portfolio(policy_id, page, size, code)
        if rest[0] != "applications":
            return _error(404, "NOT_FOUND")
        if method == "POST" and len(rest) == 1:
            return self._apply(policy_id, request)
        if method == "GET" and len(rest) == 1:
            reference = query.get("customerReference")
            found = [
                self._decide(a)
                for a in self.applications.values()
                if a["policyId"] == policy_id and a["customerReference"] == reference
            ]
            return _ok({"items": [self._public(a) for a in found]})
        application = self.applications.get(rest[1]) if len(rest) == 2 else None
        if method != "GET" or application is None or application["policyId"] != policy_id:
            return _error(404, "NOT_FOUND", "no such application")
        return _ok(self._public(self._decide(application)))

    def _search(self, country: str, national_id: str | None, name: str | None) -> httpx.Response:
        found = [
            d
            for d in self.debtors.values()
            if d["countryCode"] == country
            and (national_id is None or any(n["value"] == national_id for n in d["nationalIds"]))
            and (name is None or name.casefold() in d["name"].casefold())
        ]
        return _ok({"debtors": found})

    def _portfolio(
        self, policy_id: str, page_text: str, size_text: str, code: str | None
    ) -> httpx.Response:
        numbers = [int(t) if t.isdigit() else 0 for t in (page_text, size_text)]
        if 0 in numbers:
            return _error(400, "BAD_PAGE", "page and pageSize are whole numbers from 1")
        page, size = numbers[0], min(numbers[1], self.max_page_size)
        for application in self.applications.values():
            self._decide(application)
        records = self.limits[policy_id]
        total = max(1, -(-len(records) // size))
        items = records[(page - 1) * size : page * size]
        items = [dict(item, decision=code or item["decision"]) for item in items]
        return _ok({"items": items, "page": page, "pageSize": size, "totalPages": total})

    def _apply(self, policy_id: str, request: httpx.Request) -> httpx.Response:
        reference = request.headers.get("Idempotency-Key")
        if not reference:
            return _error(400, "IDEMPOTENCY_KEY_REQUIRED")
        self._count_post(reference)
        for application in self.applications.values():
            if (application["policyId"], application["customerReference"]) == (
                policy_id,
                reference,
            ):
                return _ok(self._public(self._decide(application)))
        body = loads(request.content)
        debtor = self.debtors.get(str(body.get("debtorId")))
        amount = Decimal(str(body.get("amount", {}).get("value", "0")))
        if debtor is None or amount <= 0:
            return _error(422, "INVALID_APPLICATION", "unknown debtor or no amount")
        application_id = f"CA-{len(self.applications) + 9001}"
        application = {
            "applicationId": application_id,
            "policyId": policy_id,
            "customerReference": reference,
            "debtorId": debtor["debtorId"],
            "requestedAmount": {"value": f"{amount:.2f}", "currency": self.policies[policy_id]},
            "status": "APPLICATION",
            "limit": None,
            "decideAt": self.clock().timestamp()
            + (0 if amount <= self.auto_approve_up_to else self.decision_delay),
        }
        self.applications[application_id] = application
        return _ok(self._public(self._decide(application)), 201)

    def _decide(self, application: dict[str, Any]) -> dict[str, Any]:
        if application["status"] == "DECIDED" or self.clock().timestamp() < application["decideAt"]:
            return application
        amount = Decimal(application["requestedAmount"]["value"])
        granted = min(amount, self.auto_approve_up_to)
        limit = self._limit(
            f"CL-{application['applicationId'][3:]}",
            self.debtors[application["debtorId"]],
            application["policyId"],
            amount,
            granted=granted,
            decision="ACCEPTED" if granted == amount else "PARTIALLY_ACCEPTED",
        )
        application.update(status="DECIDED", limit=limit)
        self.limits[application["policyId"]].append(limit)
        return application

    @staticmethod
    def _public(application: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in application.items() if k not in ("policyId", "decideAt")}
