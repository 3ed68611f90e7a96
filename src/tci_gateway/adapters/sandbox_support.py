"""Test controls the adapters' sandboxes share: queued faults, the clock, the counter.

Every sandbox offers the same controls to the contract suites
(:class:`~tci_gateway.adapters.contract_testing.ContractSandbox`): ``inject`` queues
:class:`~tci_gateway.adapters.contract_testing.Fault` objects, each applied once to the
next request it matches; ``pending_faults`` lists those not yet applied; ``advance``
moves the sandbox clock; ``received`` counts requests per ``(method, path)``;
``posts_per_reference`` counts the non-idempotent writes (cover requests, overdue
filings) that reached the insurer's book, per client reference.

:class:`FaultQueue` holds the faults, :func:`advance_clock` moves a clock that can be
advanced, :func:`fault_response` builds the answer a fault gives, :func:`serve_with_fault`
applies one (before or after the request is processed, or as unknown codes), and
:class:`SandboxControls` puts them together for a sandbox class that keeps its state
under one re-entrant lock (with :meth:`SandboxControls.from_seed`).

The rest is what every sandbox's API needs and only its shapes differ:
:func:`sandbox_credentials` (random when not given), :class:`BearerTokens` (tokens with
a lifetime), :func:`find_route` (a route table), :func:`json_object` and
:func:`query_params` (request checks that refuse in the API's own envelope), and the
contract fixtures of the seeded data sets (:func:`insurer_contract_fixture`,
:func:`bureau_contract_fixture`).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx

from tci_gateway.adapters.contract import BuyerQuery, CompanyQuery, PolicyRef
from tci_gateway.adapters.contract_testing import (
    BureauContractFixture,
    ContractFixture,
    Fault,
    SandboxClock,
)
from tci_gateway.adapters.options import decimal_option
from tci_gateway.domain.identifiers import Identifier, Scheme, parse_identifier
from tci_gateway.domain.money import Money
from tci_gateway.errors import ConfigError
from tci_gateway.http.jsonexact import loads

__all__ = [
    "BAD_GATEWAY_PAGE",
    "BARE_BAD_GATEWAY_PAGE",
    "CONTRACT_CRN",
    "UNKNOWN_CRN",
    "BearerTokens",
    "DecidingBook",
    "FaultQueue",
    "SandboxControls",
    "advance_clock",
    "bureau_contract_fixture",
    "fault_response",
    "find_route",
    "insurer_contract_fixture",
    "json_object",
    "query_params",
    "sandbox_credentials",
    "serve_with_fault",
    "serves_path",
]

H = TypeVar("H")

BAD_GATEWAY_PAGE = b"<html><head><title>Bad Gateway</title></head><body><h1>502</h1></body></html>"
"""The HTML page a sandbox answers for an ``html`` fault, unless it has its own."""

BARE_BAD_GATEWAY_PAGE = b"<html><head><title>Bad Gateway</title></head><body>502</body></html>"
"""The same page without a heading (what the bureau sandboxes answer)."""


class FaultQueue:
    """Injected faults, in order, each taken by the first request it matches.

    It shares the lock of the sandbox that owns it (a new one when none is given), so
    faults can be queued from a test while the sandbox serves on another thread.
    """

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._lock = lock if lock is not None else threading.RLock()
        self._faults: list[Fault] = []

    def inject(self, *faults: Fault) -> None:
        """Queue faults, each applied once to the next request it matches."""
        with self._lock:
            self._faults.extend(faults)

    def pending(self) -> tuple[Fault, ...]:
        """Faults not yet applied."""
        with self._lock:
            return tuple(self._faults)

    def take(
        self, method: str, path: str, *, is_auth: bool, codes_apply: bool = False
    ) -> Fault | None:
        """Remove and return the first fault that applies to a request, if any.

        A fault applies when it :meth:`~Fault.matches` the request; one with an
        ``unknown_code`` applies only where ``codes_apply`` (a read whose record codes
        the sandbox can rewrite).
        """
        with self._lock:
            for index, fault in enumerate(self._faults):
                if not fault.matches(method, path, is_auth=is_auth):
                    continue
                if fault.unknown_code is not None and not codes_apply:
                    continue
                return self._faults.pop(index)
            return None


def advance_clock(
    clock: Callable[[], datetime], seconds: float, lock: threading.RLock | None = None
) -> None:
    """Move ``clock`` forward by ``seconds`` (under ``lock`` when given); a clock
    without ``advance`` (one the caller injected) is refused with a ``TypeError``."""
    advance = getattr(clock, "advance", None)
    if advance is None:
        raise TypeError("the injected clock cannot be advanced: advance it yourself")
    if lock is None:
        advance(seconds)
        return
    with lock:
        advance(seconds)


def fault_response(
    fault: Fault,
    request: httpx.Request,
    *,
    error: Callable[[int], httpx.Response],
    malformed: bytes,
    json_headers: Mapping[str, str],
    page: bytes = BAD_GATEWAY_PAGE,
) -> httpx.Response:
    """The answer an injected fault gives (or the transport error it raises).

    ``raise_exc`` is raised; ``html`` answers ``page`` (status 502 unless the fault
    says); ``malformed_json`` answers ``malformed``, a JSON body cut short (status 200
    unless the fault says); otherwise ``error(status)`` answers in the API's own error
    envelope (status 500 unless the fault says), with ``Retry-After`` when the fault
    has one.
    """
    if fault.raise_exc is not None:
        raise fault.raise_exc("sandbox fault", request=request)
    if fault.html:
        return httpx.Response(
            fault.status or 502, headers={"Content-Type": "text/html"}, content=page
        )
    if fault.malformed_json:
        return httpx.Response(fault.status or 200, headers=json_headers, content=malformed)
    response = error(fault.status or 500)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return response


class SandboxControls:
    """The test controls of a sandbox: ``inject``, ``pending_faults``, ``advance``.

    A sandbox class inherits from it and calls ``super().__init__(clock)`` first in its
    own ``__init__``: that sets ``clock`` (a :class:`SandboxClock` unless one is given),
    ``received`` (a ``Counter``), ``_lock`` (a re-entrant lock guarding all its state)
    and ``_faults`` (a :class:`FaultQueue` sharing that lock).
    """

    clock: Callable[[], datetime]
    received: Counter[tuple[str, str]]
    _lock: threading.RLock
    _faults: FaultQueue

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or SandboxClock()
        self.received = Counter()
        self._lock = threading.RLock()
        self._faults = FaultQueue(self._lock)

    @classmethod
    def from_seed(cls, source: str | Path | Mapping[str, Any], **options: Any) -> Self:
        """A sandbox made with ``options``, seeded from a JSON file (a path) or a
        mapping in the sandbox's seed format (see its :meth:`seed`)."""
        sandbox = cls(**options)
        sandbox.seed(source if isinstance(source, Mapping) else loads(Path(source).read_bytes()))
        return sandbox

    def seed(self, data: Mapping[str, Any]) -> None:
        """Add a data set in the sandbox's seed format (each sandbox defines it)."""
        raise NotImplementedError

    def inject(self, *faults: Fault) -> None:
        """Queue faults, each applied once to the next request it matches."""
        self._faults.inject(*faults)

    @property
    def pending_faults(self) -> tuple[Fault, ...]:
        """Faults not yet applied."""
        return self._faults.pending()

    def advance(self, seconds: float) -> None:
        """Move the sandbox clock forward (its clock must have ``advance``)."""
        advance_clock(self.clock, seconds, self._lock)

    @property
    def posts_per_reference(self) -> Counter[str]:
        """How many non-idempotent writes (cover requests, overdue filings) reached the
        sandbox per client reference, whether it stored or refused them: a request
        answered by an injected fault *before* processing is not counted, one answered
        by a fault *after* processing is. Exactly-once tests compare each with 1."""
        with self._lock:
            return Counter(self.__dict__.get("_posted", {}))

    def _count_post(self, reference: object) -> None:
        """Count one write carrying ``reference``; call it holding ``_lock``."""
        posted: Counter[str] = self.__dict__.setdefault("_posted", Counter())
        posted[str(reference)] += 1

    def _receive(self, request: httpx.Request) -> tuple[str, str]:
        """Count a request in ``received`` and return its ``(method, path)``; call it
        holding ``_lock``."""
        method, path = request.method.upper(), request.url.path
        self.received[(method, path)] += 1
        return method, path


# -- serving ----------------------------------------------------------------------------


def serve_with_fault(
    fault: Fault | None,
    serve: Callable[[str | None], httpx.Response],
    answer: Callable[[Fault], httpx.Response],
    refusals: tuple[type[Exception], ...],
) -> httpx.Response:
    """Serve a request under the fault taken for it, if any.

    ``serve(None)`` processes the request plainly; ``serve(code)`` processes it with
    every decision code it reads rewritten to ``code`` (a fault's ``unknown_code``).
    A fault ``after_processing`` lets the request be processed (a refusal, one of
    ``refusals``, is dropped) and then gives its answer; any other fault answers
    instead of processing. ``answer(fault)`` is the fault's answer.
    """
    if fault is None:
        return serve(None)
    if fault.after_processing:
        with contextlib.suppress(*refusals):  # applied (or refused), then the fault
            serve(None)
        return answer(fault)
    if fault.unknown_code is None:
        return answer(fault)
    return serve(fault.unknown_code)


def find_route(
    routes: Iterable[tuple[str, re.Pattern[str], H]], method: str, path: str
) -> tuple[H, re.Match[str]] | None:
    """The handler and match of the first route for ``method`` whose pattern matches
    all of ``path``; ``None`` when there is none (see :func:`serves_path`)."""
    for route_method, pattern, handler in routes:
        match = pattern.fullmatch(path)
        if match is not None and route_method == method:
            return handler, match
    return None


def serves_path(routes: Iterable[tuple[str, re.Pattern[str], Any]], path: str) -> bool:
    """Whether some route serves ``path`` (for any method: else a 404, not a 405)."""
    return any(pattern.fullmatch(path) is not None for _, pattern, _ in routes)


def sandbox_credentials(
    given: Mapping[str, str] | None, names: Sequence[str], *, size: int = 18
) -> dict[str, str]:
    """The credentials a sandbox accepts: each of ``names`` as given, or random."""
    supplied = dict(given or {})
    return {name: str(supplied.get(name) or secrets.token_urlsafe(size)) for name in names}


class BearerTokens:
    """The access tokens a sandbox issued, each valid ``ttl`` seconds of its clock."""

    def __init__(self, clock: Callable[[], datetime], ttl: int, *, size: int = 24) -> None:
        self.clock = clock
        self.ttl = ttl
        self.size = size
        self._expiry: dict[str, datetime] = {}

    def issue(self) -> str:
        """A new token (expired ones are forgotten)."""
        now = self.clock()
        self._expiry = {token: end for token, end in self._expiry.items() if end > now}
        token = secrets.token_urlsafe(self.size)
        self._expiry[token] = now + timedelta(seconds=self.ttl)
        return token

    def expiry(self, request: httpx.Request) -> datetime | None:
        """When the request's ``Authorization: Bearer`` token expires; ``None`` when it
        carries none this sandbox issued."""
        scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
        return self._expiry.get(token) if scheme == "Bearer" else None

    def valid(self, request: httpx.Request) -> bool:
        """Whether the request carries a token issued here and not yet expired."""
        expires = self.expiry(request)
        return expires is not None and expires > self.clock()


def json_object(request: httpx.Request, refuse: Callable[[], Exception]) -> dict[str, Any]:
    """The request's JSON object body (numbers as Decimal); anything else raises
    ``refuse()`` (the API's "malformed body" refusal)."""
    try:
        body = loads(request.content)
    except (ValueError, UnicodeDecodeError):
        raise refuse() from None
    if not isinstance(body, dict):
        raise refuse()
    return body


def query_params(
    request: httpx.Request,
    allowed: set[str],
    required: Iterable[str],
    *,
    unknown: Callable[[str], Exception],
    missing: Callable[[str], Exception],
) -> dict[str, str]:
    """The query parameters, stripped; a parameter not ``allowed`` raises
    ``unknown(name)``, a ``required`` one absent or blank ``missing(name)``."""
    query = request.url.params
    for key in query:
        if key not in allowed:
            raise unknown(key)
    for key in required:
        if not query.get(key, "").strip():
            raise missing(key)
    return {key: query[key].strip() for key in query}


class DecidingBook:
    """The rules a sandbox insurer decides cover requests by, for its book to inherit:
    an amount up to ``auto_approve_up_to`` is decided at once; above, the request is
    decided ``decision_delay`` seconds later, for the amount times ``partial_ratio``
    (:meth:`offered`). A bad number is a :class:`ConfigError`."""

    def __init__(
        self, *, auto_approve_up_to: Any, decision_delay: float, partial_ratio: Any
    ) -> None:
        try:
            self.auto_approve_up_to = decimal_option(auto_approve_up_to, "auto_approve_up_to")
            self.partial_ratio = decimal_option(partial_ratio, "partial_ratio")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.decision_delay = timedelta(seconds=float(decision_delay))

    def offered(self, requested: Decimal, step: Decimal = Decimal(1)) -> Decimal:
        """``requested`` times ``partial_ratio``, rounded down to a multiple of ``step``."""
        if step == 1:
            return (requested * self.partial_ratio).to_integral_value(ROUND_FLOOR)
        return (requested * self.partial_ratio / step).to_integral_value(ROUND_FLOOR) * step


# -- contract fixtures ------------------------------------------------------------------

CONTRACT_CRN = "09990101"
"""The UK company number of the bureau sandboxes' contract company."""

UNKNOWN_CRN = "09990999"
"""A UK company number no bureau sandbox knows."""


def insurer_contract_fixture(
    *,
    external_ref: Mapping[str, str],
    known_buyer_id: str,
    uncovered_buyer_id: str,
    portfolio_size: int,
    token_ttl: float,
    token_path: str,
    decision_delay: float,
    history_size: int | None = None,
) -> ContractFixture:
    """What the insurer contract suite finds in a sandbox seeded with its contract data
    set: the EUR policy ``contract-policy``, the buyer found by VAT FR11123456782, none
    by DE246813573, EUR 10,000 decided at once and EUR 200,000 referred."""
    return ContractFixture(
        policy=PolicyRef(key="contract-policy", currency="EUR", external_ref=dict(external_ref)),
        known_buyer=BuyerQuery(
            country="FR", identifier=parse_identifier(Scheme.VAT, "FR11123456782")
        ),
        known_buyer_id=known_buyer_id,
        unknown_buyer=BuyerQuery(
            country="DE", identifier=parse_identifier(Scheme.VAT, "DE246813573")
        ),
        portfolio_size=portfolio_size,
        uncovered_buyer_id=uncovered_buyer_id,
        small_amount=Money(Decimal(10000), "EUR"),
        token_lifetime=float(token_ttl),
        auth_request=("POST", token_path),
        referred_amount=Money(Decimal(200000), "EUR"),
        decision_delay=decision_delay,
        history_size=history_size,
    )


def bureau_contract_fixture(
    known_provider_id: str,
    expected_identifiers: tuple[Identifier, ...],
    *,
    has_assessment: bool,
    token_lifetime: float | None = None,
    token_path: str | None = None,
) -> BureauContractFixture:
    """What the bureau contract suite finds in a sandbox seeded with its contract data
    set: the company with UK number :data:`CONTRACT_CRN`, none with :data:`UNKNOWN_CRN`;
    the token call is ``POST token_path`` when there is one."""
    return BureauContractFixture(
        known_company=CompanyQuery(
            country="GB", identifier=parse_identifier(Scheme.GB_CRN, CONTRACT_CRN)
        ),
        known_provider_id=known_provider_id,
        unknown_company=CompanyQuery(
            country="GB", identifier=parse_identifier(Scheme.GB_CRN, UNKNOWN_CRN)
        ),
        expected_identifiers=expected_identifiers,
        has_assessment=has_assessment,
        token_lifetime=token_lifetime,
        auth_request=("POST", token_path) if token_path is not None else None,
    )
