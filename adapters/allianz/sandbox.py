"""An in-process simulator of the Allianz Trade API's shape (docs/architecture.md, section 1).

:class:`AllianzSandbox` serves one ``httpx.Request`` at a time from in-memory state:
mount it on ``httpx.MockTransport(sandbox.handle)`` or serve it on loopback with
:func:`tci_gateway.adapters.loopback.serve_on_loopback`. It is deterministic given its
clock (any callable returning an aware UTC datetime; by default a
:class:`~tci_gateway.adapters.contract_testing.SandboxClock`).

What it simulates: the API-key exchange (tokens live ``token_ttl`` seconds; a wrong
key, or a missing, unknown or expired token -> 401 ``{"message"}``), unknown routes
(404 ``{"message"}``, a wrong method 405: the sandbox's judgement of what Allianz's
gateway answers), the SYNTHETIC ``{"errors": [{code, message, field}]}`` envelope for
business errors, company search, asynchronous cover requests with jobs (see
:mod:`.sandbox_covers`), cover reads, the covers and cover-requests searches with
page-number paging (206 for a partial page), payment overdues (see
:mod:`.sandbox_overdues`), the callback header (decoded and checked; the notifications
Allianz would post are kept in :attr:`AllianzSandbox.notifications`), the
``X-Correlation-Id`` echo, a ``received`` counter per (method, path), writes counted per
client reference (``posts_per_reference``), and injected
faults (:meth:`AllianzSandbox.inject`). With ``post_callbacks``, a thread decides due
requests on its own and POSTs each notification to its ``callbackUrl``
(:mod:`.sandbox_callbacks`; deliveries in :attr:`AllianzSandbox.callback_deliveries`).

Seed format (:meth:`AllianzSandbox.seed`, option ``seed`` as a JSON file or a mapping)::

    {"policies": [{"businessUnitCode", "policyId", "extensionId"?, "currencyCode"}],
     "companies": [<results[].company record>],
     "covers": [<cover record; "companyId" alone is filled in from "companies">],
     "coverRequests": [<cover request record; InProgress ones get a pending job,
                        "jobId" optional>],
     "overdues": [<overdue record>]}
"""

from __future__ import annotations

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
    serves_path,
)
from tci_gateway.http.jsonexact import loads

from .options import DEFAULT_CALLBACK_HEADER, DEFAULT_REFERENCE_FIELD, resolve_paths
from .sandbox_callbacks import CallbackPoster
from .sandbox_contract import contract_fixture, contract_seed
from .sandbox_covers import CoverBook
from .sandbox_http import (
    Refused,
    fault_response,
    json_body,
    match_companies,
    ok,
    page_of,
    required,
)
from .sandbox_overdues import OverdueBook
from .webhooks import decode_callback_header

CORRELATION_HEADER = "X-Correlation-Id"
Handler = Callable[[httpx.Request, re.Match[str]], httpx.Response]


class AllianzSandbox(SandboxControls):
    """The Allianz Trade sandbox. Options: ``credentials`` (``api_key``; random when not
    given), ``clock``, ``token_ttl`` (3600 s), ``auto_approve_up_to`` (50000),
    ``decision_delay`` (60 s), ``partial_ratio`` (0.5), ``path_preset`` / ``paths`` (the
    routes served, as for the adapter), ``max_page_size`` (10000), ``callback_header``
    and ``reference_field`` (as the adapter's options of those names),
    ``post_callbacks`` (false: notifications are only recorded) and
    ``callback_retry_seconds`` (30, between Allianz's call and its 2 retries)."""

    def __init__(
        self,
        *,
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        token_ttl: int = 3600,
        auto_approve_up_to: Any = 50000,
        decision_delay: float = 60,
        partial_ratio: Any = "0.5",
        path_preset: str = "production",
        paths: Mapping[str, str] | None = None,
        max_page_size: int = 10000,
        callback_header: str = DEFAULT_CALLBACK_HEADER,
        reference_field: str = DEFAULT_REFERENCE_FIELD,
        post_callbacks: bool = False,
        callback_retry_seconds: float = 30.0,
    ) -> None:
        super().__init__(clock)
        self.credentials: Mapping[str, str] = sandbox_credentials(credentials, ["api_key"], size=24)
        self.token_ttl = int(token_ttl)
        self.max_page_size = int(max_page_size)
        self.callback_header = callback_header
        self.paths = resolve_paths(path_preset, paths)
        self.book = CoverBook(
            auto_approve_up_to=auto_approve_up_to,
            decision_delay=float(decision_delay),
            partial_ratio=partial_ratio,
            cover_path=self.paths["cover"],
            reference_field=reference_field,
        )
        self.overdues = OverdueBook(self.book, reference_field)
        self._tokens = BearerTokens(lambda: self.clock(), self.token_ttl)
        self._routes = self._route_table()
        self._posted_notes = 0
        self.poster = CallbackPoster(
            self._new_notifications, retry_seconds=float(callback_retry_seconds)
        )
        if post_callbacks:
            self.poster.start()

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        p = self.paths

        def exact(name: str) -> re.Pattern[str]:
            return re.compile(re.escape(p[name]))

        def template(name: str, field: str) -> re.Pattern[str]:
            before, _, after = p[name].partition("{" + field + "}")
            return re.compile(re.escape(before) + f"(?P<{field}>[^/]+)" + re.escape(after))

        routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", exact("token"), self._token),
            ("POST", exact("company_search"), self._search_companies),
            ("POST", exact("covers_search"), self._search_covers),
            ("POST", exact("cover_requests_search"), self._search_requests),
            ("POST", exact("overdues_search"), self._search_overdues),
            ("POST", exact("overdues"), self._file_overdue),
        ]
        for name in ("covers", "cover_increase", "cover_reduce", "cover_cancel"):
            if not any(pattern.pattern == exact(name).pattern for _, pattern, _ in routes):
                routes.append(("POST", exact(name), self._request_cover))
        routes += [
            ("GET", template("cover", "coverId"), self._read_cover),
            ("GET", template("job", "jobId"), self._read_job),
        ]
        return routes

    # -- seeding ------------------------------------------------------------------------

    def seed(self, data: Mapping[str, Any]) -> None:
        """Add policies, companies, covers, cover requests and overdues (wire shape,
        module docstring)."""
        with self._lock:
            now = self.clock()
            for policy in data.get("policies", []):
                self.book.add_policy(policy)
            for company in data.get("companies", []):
                self.book.add_company(company)
            for cover in data.get("covers", []):
                self.book.add_cover(cover)
            for request in data.get("coverRequests", []):
                self.book.add_request(request, now)
            for overdue in data.get("overdues", []):
                self.overdues.add(overdue)

    def seed_contract_fixture(self) -> ContractFixture:
        """Seed the data set the shared contract suite expects, and describe it."""
        with self._lock:
            if "900000001" not in self.book.companies:
                self.seed(contract_seed())
        return contract_fixture(
            self.token_ttl, self.paths["token"], self.book.decision_delay.total_seconds()
        )

    # -- test controls ------------------------------------------------------------------

    @property
    def read_only_requests(self) -> frozenset[tuple[str, str]]:
        """The ``(method, path)`` of calls that only read though sent as POST (the
        searches): a count of possible resends should leave them out."""
        names = ("company_search", "covers_search", "cover_requests_search", "overdues_search")
        return frozenset(("POST", self.paths[name]) for name in names)

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """The callbacks Allianz would have posted: ``{"callback": <decoded header>,
        "body": <notification>}``, in order."""
        with self._lock:
            return list(self.book.notifications)

    @property
    def callback_deliveries(self) -> list[dict[str, Any]]:
        """The callbacks posted (with ``post_callbacks``): ``{url, jobId, attempt,
        status, error, delivered}``, in order."""
        with self.poster._lock:
            return list(self.poster.deliveries)

    def _new_notifications(self) -> list[dict[str, Any]]:
        """Decide what is due now and answer the notifications not handed out yet."""
        with self._lock:
            self.book.decide_due(self.clock())
            new = self.book.notifications[self._posted_notes :]
            self._posted_notes = len(self.book.notifications)
            return list(new)

    def close(self) -> None:
        """Stop posting callbacks."""
        self.poster.stop()

    # -- serving ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request (thread-safe)."""
        with self._lock:
            method, path = self._receive(request)
            try:
                response = self._serve(request, method, path)
            except Refused as refusal:
                response = refusal.response()
            correlation = request.headers.get(CORRELATION_HEADER)
            if correlation:
                response.headers[CORRELATION_HEADER] = correlation
            return response

    def _serve(self, request: httpx.Request, method: str, path: str) -> httpx.Response:
        is_auth = path == self.paths["token"]
        cover_read = self._is_cover_read(method, path)
        fault = self._faults.take(method, path, is_auth=is_auth, codes_apply=cover_read)

        def serve(unknown_code: str | None) -> httpx.Response:
            response = self._serve_plain(request, method, path, is_auth)
            return response if unknown_code is None else _rewrite_codes(response, unknown_code)

        return serve_with_fault(fault, serve, lambda f: fault_response(f, request), (Refused,))

    def _serve_plain(
        self, request: httpx.Request, method: str, path: str, is_auth: bool
    ) -> httpx.Response:
        found = find_route(self._routes, method, path)
        if found is None:
            if serves_path(self._routes, path):
                raise Refused(405, "Method not allowed", plain=True)
            raise Refused(404, "Resource not found", plain=True)
        handler, match = found
        if not is_auth:
            self._check_bearer(request)
            self.book.decide_due(self.clock())
        return handler(request, match)

    def _is_cover_read(self, method: str, path: str) -> bool:
        if method == "POST":
            return path == self.paths["covers_search"]
        before, _, after = self.paths["cover"].partition("{coverId}")
        return method == "GET" and path.startswith(before) and path.endswith(after)

    # -- auth ---------------------------------------------------------------------------

    def _token(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        try:
            given = loads(request.content).get("apiKey")
        except (ValueError, UnicodeDecodeError, AttributeError):
            given = None
        expected = self.credentials["api_key"]
        if not isinstance(given, str) or not secrets.compare_digest(
            given.encode(), expected.encode()
        ):
            raise Refused(401, "Invalid API key", plain=True)
        token = self._tokens.issue()
        reply = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}
        return ok(200, reply)

    def _check_bearer(self, request: httpx.Request) -> None:
        if not self._tokens.valid(request):
            raise Refused(401, "Unauthorized", plain=True)

    # -- handlers -----------------------------------------------------------------------

    def _search_companies(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        found = match_companies(self.book.all_companies(), json_body(request))
        return ok(200, {"results": found})

    def _request_cover(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        body = json_body(request)
        self._count_post(body.get(self.book.reference_field))
        callback = None
        header = request.headers.get(self.callback_header)
        if header is not None:
            try:
                callback = decode_callback_header(header)
            except ValueError as exc:
                raise Refused(400, str(exc), "INVALID_CALLBACK", self.callback_header) from None
        return ok(202, self.book.submit(body, callback, self.clock()))

    def _read_cover(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        cover = self.book.covers.get(match["coverId"])
        if cover is None:
            raise Refused(404, "Cover not found", "COVER_NOT_FOUND")
        return ok(200, cover)

    def _read_job(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        job = self.book.jobs.get(match["jobId"])
        if job is None:
            raise Refused(404, "Job not found", "JOB_NOT_FOUND")
        return ok(200, job)

    def _search_covers(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        body = json_body(request)
        return ok(*page_of(self.book.search_covers(body), body, self.max_page_size))

    def _search_requests(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        body = json_body(request)
        return ok(*page_of(self.book.search_requests(body), body, self.max_page_size))

    def _file_overdue(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        body = json_body(request)
        self._count_post(body.get(self.book.reference_field))
        return ok(201, self.overdues.file(body, self.clock()))

    def _search_overdues(self, request: httpx.Request, _: re.Match[str]) -> httpx.Response:
        body = json_body(request)
        required(body, "policies")
        return ok(*page_of(self.overdues.search(body), body, self.max_page_size))


def _rewrite_codes(response: httpx.Response, code: str) -> httpx.Response:
    """The same answer with every ``technicalDecisionStatusCode`` set to ``code``."""
    if response.status_code >= 300:
        return response
    payload = loads(response.content)
    covers = payload.get("results", []) if "results" in payload else [payload]
    for cover in covers:
        for limit in (cover.get("creditLimitsAggregation") or {}).get("creditLimits") or []:
            limit["technicalDecisionStatusCode"] = code
    rewritten = ok(response.status_code, payload)
    return rewritten
