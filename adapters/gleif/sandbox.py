"""An in-process simulator of the GLEIF LEI API's shape (docs/architecture.md, section 1).

:class:`GleifSandbox` serves one ``httpx.Request`` at a time from in-memory records:
mount it on ``httpx.MockTransport(sandbox.handle)`` or serve it on loopback with
:func:`tci_gateway.adapters.loopback.serve_on_loopback`. It is deterministic given its
clock (by default a :class:`~tci_gateway.adapters.contract_testing.SandboxClock`).

What it simulates: ``GET /lei-records/{lei}``, ``GET /lei-records`` with the filters
``lei``, ``fulltext``, ``entity.legalName``, ``entity.legalAddress.country`` and
``entity.registeredAs`` and ``page[number]``/``page[size]`` paging with
``meta.pagination``, ``/fuzzycompletions``, ``/lei-records/{lei}/direct-parent`` and
``/ultimate-parent`` (404 when none), JSON:API errors, a rate limit (``rate_limit``
requests per ``rate_window`` seconds of sandbox time, then 429 with ``Retry-After``), a
``received`` counter per (method, path) and injected faults. Paths may carry the public
API's ``/api/v1`` prefix or not. No auth: ``credentials`` is empty.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from tci_gateway.adapters.contract_testing import BureauContractFixture, Fault
from tci_gateway.adapters.sandbox_support import (
    BARE_BAD_GATEWAY_PAGE,
    SandboxControls,
    fault_response,
)
from tci_gateway.http.jsonexact import dumps

from .sandbox_data import CONTRACT_LEI, contract_fixture, contract_seed
from .wire import (
    FILTER_COUNTRY,
    FILTER_FULLTEXT,
    FILTER_LEGAL_NAME,
    FILTER_LEI,
    FILTER_REGISTERED_AS,
    PAGE_NUMBER,
    PAGE_SIZE,
)

_JSON = {"Content-Type": "application/vnd.api+json"}
_PREFIX = r"(?:/api/v1)?"
_RECORD = re.compile(_PREFIX + r"/lei-records/(?P<lei>[^/]+)")
_PARENT = re.compile(
    _PREFIX + r"/lei-records/(?P<lei>[^/]+)/(?P<rel>direct-parent|ultimate-parent)"
)
_LIST = re.compile(_PREFIX + r"/lei-records")
_FUZZY = re.compile(_PREFIX + r"/fuzzycompletions")
_FILTERS = (FILTER_LEI, FILTER_FULLTEXT, FILTER_LEGAL_NAME, FILTER_COUNTRY, FILTER_REGISTERED_AS)
_OTHER_PARAMS = (PAGE_NUMBER, PAGE_SIZE, "sort")


class Refused(Exception):
    """A request the sandbox refuses: served as a JSON:API error."""

    def __init__(self, status: int, title: str, detail: str | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.findall(r"[^\W_]+", folded)


def _compact(text: str) -> str:
    return re.sub(r"[\s.\-/]", "", text).upper()


def _document(data: Any, meta: Mapping[str, Any] | None = None, **extra: Any) -> httpx.Response:
    body = {"meta": dict(meta or {}), **extra, "data": data}
    return httpx.Response(200, headers=_JSON, content=dumps(body).encode())


def _error(status: int, title: str, detail: str | None = None) -> httpx.Response:
    item: dict[str, Any] = {"status": str(status), "title": title}
    if detail:
        item["detail"] = detail
    return httpx.Response(status, headers=_JSON, content=dumps({"errors": [item]}).encode())


class GleifSandbox(SandboxControls):
    """The GLEIF sandbox. Options: ``clock``, ``rate_limit`` (60; ``None`` for none),
    ``rate_window`` (60 s), ``max_page_size`` (200), ``credentials`` (ignored: GLEIF
    has no auth)."""

    def __init__(
        self,
        *,
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        rate_limit: int | None = 60,
        rate_window: float = 60.0,
        max_page_size: int = 200,
    ) -> None:
        super().__init__(clock)
        self.credentials: Mapping[str, str] = {}
        self.rate_limit = rate_limit
        self.rate_window = timedelta(seconds=rate_window)
        self.max_page_size = max_page_size
        self.records: dict[str, dict[str, Any]] = {}
        self.parents: dict[str, dict[str, str]] = {}
        self._window: tuple[datetime, int] | None = None

    # -- seeding ------------------------------------------------------------------------

    def seed(self, data: Mapping[str, Any]) -> None:
        """Add ``{"records": [lei-records resource, or a document {"data": resource}],
        "parents": {child LEI: {"direct": LEI, "ultimate": LEI}}}``."""
        with self._lock:
            for item in data.get("records", []):
                record = item.get("data", item)
                self.records[str(record["id"]).upper()] = dict(record)
            for child, links in dict(data.get("parents", {})).items():
                self.parents[str(child).upper()] = {k: str(v).upper() for k, v in links.items()}

    def seed_bureau_fixture(self) -> BureauContractFixture:
        """Seed the data set the bureau contract suite expects, and describe it."""
        with self._lock:
            if CONTRACT_LEI not in self.records:
                self.seed(contract_seed())
        return contract_fixture()

    # -- test controls ------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        """Queue faults, each applied once to the next request it matches (GLEIF has no
        token call: faults with ``target="auth"`` never apply)."""
        super().inject(*faults)

    # -- serving ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request (thread-safe)."""
        with self._lock:
            method, path = self._receive(request)
            fault = self._faults.take(method, path, is_auth=False)
            if fault is not None:
                return self._fault_response(fault, request)
            limited = self._rate_limited()
            if limited is not None:
                return limited
            try:
                return self._route(request, method, path)
            except Refused as refusal:
                return _error(refusal.status, refusal.title, refusal.detail)

    def _route(self, request: httpx.Request, method: str, path: str) -> httpx.Response:
        if method != "GET":
            raise Refused(405, "Method Not Allowed")
        params = request.url.params
        if match := _PARENT.fullmatch(path):
            return self._parent(match["lei"].upper(), match["rel"])
        if match := _RECORD.fullmatch(path):
            record = self.records.get(match["lei"].upper())
            if record is None:
                raise Refused(404, "Not Found", "The requested LEI record does not exist")
            return _document(record, self._meta())
        if _LIST.fullmatch(path):
            return self._list(params)
        if _FUZZY.fullmatch(path):
            return self._fuzzy(params)
        raise Refused(404, "Not Found", f"No route for {path}")

    def _meta(self) -> dict[str, Any]:
        return {"goldenCopy": {"publishDate": self.clock().strftime("%Y-%m-%dT08:00:00Z")}}

    def _parent(self, lei: str, relation: str) -> httpx.Response:
        if lei not in self.records:
            raise Refused(404, "Not Found", "The requested LEI record does not exist")
        parent = self.parents.get(lei, {}).get(relation.split("-")[0])
        if parent is None or parent not in self.records:
            raise Refused(404, "Not Found", f"No {relation} relationship for {lei}")
        return _document(self.records[parent], self._meta())

    def _list(self, params: httpx.QueryParams) -> httpx.Response:
        for key in params:
            if key not in _FILTERS and key not in _OTHER_PARAMS:
                raise Refused(400, "Bad Request", f"Unsupported parameter {key}")
        size = self._int(params.get(PAGE_SIZE, "10"), PAGE_SIZE, 1, self.max_page_size)
        number = self._int(params.get(PAGE_NUMBER, "1"), PAGE_NUMBER, 1, 10**6)
        found = [r for r in self.records.values() if self._matches(r, params)]
        total = len(found)
        last = max(1, math.ceil(total / size))
        page = found[(number - 1) * size : number * size]
        first_index = (number - 1) * size + 1
        pagination = {
            "currentPage": number,
            "perPage": size,
            "from": first_index if page else None,
            "to": first_index + len(page) - 1 if page else None,
            "total": total,
            "lastPage": last,
        }
        return _document(page, {**self._meta(), "pagination": pagination})

    @staticmethod
    def _int(raw: str, name: str, low: int, high: int) -> int:
        if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
            raise Refused(400, "Bad Request", f"{name} must be a number from {low} to {high}")
        return int(raw)

    @staticmethod
    def _names(entity: Mapping[str, Any]) -> Iterable[str]:
        yield str((entity.get("legalName") or {}).get("name") or "")
        for other in entity.get("otherNames") or []:
            yield str(other.get("name") or "")

    def _matches(self, record: Mapping[str, Any], params: httpx.QueryParams) -> bool:
        entity = record["attributes"]["entity"]
        if FILTER_LEI in params:
            wanted = {v.strip().upper() for v in params[FILTER_LEI].split(",")}
            if str(record["id"]).upper() not in wanted:
                return False
        if FILTER_COUNTRY in params:
            country = str((entity.get("legalAddress") or {}).get("country") or "")
            if country.upper() != params[FILTER_COUNTRY].strip().upper():
                return False
        registered = _compact(str(entity.get("registeredAs") or ""))
        if FILTER_REGISTERED_AS in params and registered != _compact(params[FILTER_REGISTERED_AS]):
            return False
        if FILTER_LEGAL_NAME in params:
            legal = str((entity.get("legalName") or {}).get("name") or "")
            if _words(legal) != _words(params[FILTER_LEGAL_NAME]):
                return False
        if FILTER_FULLTEXT in params:
            words = set(_words(" ".join(self._names(entity))))
            words |= {str(record["id"]).casefold(), registered.casefold()}
            wanted_words = _words(params[FILTER_FULLTEXT])
            if not wanted_words or not all(w in words for w in wanted_words):
                return False
        return True

    def _fuzzy(self, params: httpx.QueryParams) -> httpx.Response:
        if params.get("field") != "entity.legalName":
            raise Refused(400, "Bad Request", "field must be entity.legalName")
        wanted = " ".join(_words(params.get("q", "")))
        if not wanted:
            raise Refused(400, "Bad Request", "q is required")
        data = []
        for lei, record in self.records.items():
            name = str(record["attributes"]["entity"]["legalName"]["name"])
            if wanted in " ".join(_words(name)):
                related = f"https://api.gleif.org/api/v1/lei-records/{lei}"
                data.append(
                    {
                        "type": "fuzzycompletions",
                        "attributes": {"value": name},
                        "relationships": {
                            "lei-records": {
                                "data": {"type": "lei-records", "id": lei},
                                "links": {"related": related},
                            }
                        },
                    }
                )
        return _document(data[:10])

    # -- rate limit and faults ----------------------------------------------------------

    def _rate_limited(self) -> httpx.Response | None:
        if self.rate_limit is None:
            return None
        now = self.clock()
        start, count = self._window or (now, 0)
        if now >= start + self.rate_window:
            start, count = now, 0
        count += 1
        self._window = (start, count)
        if count <= self.rate_limit:
            return None
        wait = max(1, math.ceil((start + self.rate_window - now).total_seconds()))
        response = _error(429, "Too Many Requests", "Rate limit exceeded")
        response.headers["Retry-After"] = str(wait)
        return response

    @staticmethod
    def _fault_response(fault: Fault, request: httpx.Request) -> httpx.Response:
        titles = {429: "Too Many Requests", 503: "Service Unavailable"}
        return fault_response(
            fault,
            request,
            error=lambda status: _error(status, titles.get(status, "Sandbox Fault")),
            malformed=b'{"data": [{"ty',
            json_headers=_JSON,
            page=BARE_BAD_GATEWAY_PAGE,
        )
