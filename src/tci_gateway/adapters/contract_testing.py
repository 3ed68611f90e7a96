"""What every sandbox offers the shared contract suite, beside :class:`Sandbox`.

The insurer contract suite (:mod:`tci_gateway.adapters.contract_suite_insurer`, run
with the pytest plugin :mod:`tci_gateway.adapters.contract_suite`) runs the same checks
against every registered insurer plugin, each against its own sandbox, without knowing
which insurer it is. For that a sandbox also provides:

* :meth:`ContractSandbox.seed_contract_fixture`: seed a small known data set and say
  what the contract should find in it (:class:`ContractFixture`);
* :meth:`ContractSandbox.inject`: queue :class:`Fault` objects applied to the next
  matching requests (429, 5xx, HTML pages, malformed JSON, transport failures);
* :meth:`ContractSandbox.advance`: move the sandbox clock (token expiry, decisions
  that arrive later);
* ``received``: a counter of requests per ``(method, path)``.

:class:`SandboxClock` is the clock sandboxes use by default: wall-clock time (or a
fixed start) plus an offset that :meth:`SandboxClock.advance` moves forward.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

import httpx

from tci_gateway.adapters.contract import BuyerQuery, CompanyQuery, PolicyRef
from tci_gateway.domain.identifiers import Identifier
from tci_gateway.domain.money import Money


@dataclass(frozen=True)
class ContractFixture:
    """What a sandbox seeded for the contract suite holds.

    ``policy`` is the seeded policy; ``known_buyer`` a query that finds exactly the
    buyer ``known_buyer_id``; ``unknown_buyer`` a query that finds nothing;
    ``portfolio_size`` the number of portfolio entries ``policy`` yields;
    ``uncovered_buyer_id`` a buyer with no cover yet, for which a cover request of
    ``small_amount`` is decided at once or accepted as pending; ``token_lifetime`` the
    seconds after which the sandbox refuses a token (``None``: tokens never expire);
    ``auth_request`` the ``(method, path)`` of the token call as counted in
    ``received`` (``None`` when the API has no token call); ``referred_amount`` a cover
    request amount for ``uncovered_buyer_id`` that the insurer refers (pending) and
    decides ``decision_delay`` seconds of sandbox time later; ``history_size`` the
    number of entries the cover history of ``policy`` yields (adapters with the
    ``cover_history`` capability), past versions included.
    """

    policy: PolicyRef
    known_buyer: BuyerQuery
    known_buyer_id: str
    unknown_buyer: BuyerQuery
    portfolio_size: int
    uncovered_buyer_id: str
    small_amount: Money
    token_lifetime: float | None = None
    auth_request: tuple[str, str] | None = None
    referred_amount: Money | None = None
    decision_delay: float | None = None
    history_size: int | None = None


@dataclass(frozen=True)
class Fault:
    """A fault a sandbox applies to the next request that matches it, then forgets.

    Exactly one effect is expected:

    * ``status`` (e.g. 429 with ``retry_after``, 503): an error answer in the API's own
      error envelope, without processing the request;
    * ``html``: an HTML error page (``status``, default 502; pass 200 for a proxy that
      answers a page with success);
    * ``malformed_json``: a 200 whose JSON body is cut short;
    * ``raise_exc``: an httpx transport error raised from the handler (how
      ``httpx.MockTransport`` simulates a timeout or a reset; on loopback the server
      hangs or drops the connection);
    * ``unknown_code``: the next portfolio answer carries this status code instead of
      each record's own (the request is processed normally).

    Matching: ``method`` and ``path_prefix`` restrict the requests; ``target`` says
    whether the fault hits API calls (default) or the token call. With
    ``after_processing`` the sandbox applies the request first and then answers with the
    fault: the insurer received it, the caller cannot know (an ambiguous outcome).
    """

    status: int | None = None
    retry_after: str | None = None
    html: bool = False
    malformed_json: bool = False
    raise_exc: type[httpx.TransportError] | None = None
    unknown_code: str | None = None
    path_prefix: str | None = None
    method: str | None = None
    target: Literal["api", "auth"] = "api"
    after_processing: bool = False

    def matches(self, method: str, path: str, *, is_auth: bool) -> bool:
        """True when this fault applies to a request."""
        if (self.target == "auth") != is_auth:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


class SandboxClock:
    """An advanceable clock returning aware UTC datetimes.

    With ``start`` it is frozen at ``start`` plus what was advanced (fully
    deterministic); without, it is wall-clock time plus what was advanced.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("SandboxClock needs an aware start time")
        self._start = start.astimezone(UTC) if start is not None else None
        self._offset = timedelta(0)

    def __call__(self) -> datetime:
        base = self._start if self._start is not None else datetime.now(UTC)
        return base + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a sandbox clock only moves forward")
        self._offset += timedelta(seconds=seconds)


@runtime_checkable
class ContractSandbox(Protocol):
    """A :class:`~tci_gateway.adapters.contract.Sandbox` the contract suite can drive."""

    credentials: Mapping[str, str]
    received: Counter[tuple[str, str]]

    def handle(self, request: httpx.Request) -> httpx.Response: ...

    def seed_contract_fixture(self) -> ContractFixture: ...

    def inject(self, *faults: Fault) -> None: ...

    def advance(self, seconds: float) -> None: ...


# -- bureaus ------------------------------------------------------------------------------
#
# The bureau contract suite (``tci_gateway.adapters.contract_suite_bureau``) runs the same
# checks against every registered plugin of kind "bureau", each against its own sandbox.
# A bureau sandbox offers what :class:`ContractSandbox` offers, except that it describes
# its seeded data with :class:`BureauContractFixture`.


@dataclass(frozen=True)
class BureauContractFixture:
    """What a bureau sandbox seeded for the bureau contract suite holds.

    ``known_company`` is a query that finds exactly one company, ``known_provider_id``
    (its id at the provider: an LEI, a Creditsafe connectId, a DUNS), carrying at least
    ``expected_identifiers``; ``unknown_company`` a query that finds nothing;
    ``has_assessment`` whether :meth:`BureauAdapter.assess` of the known company returns
    an assessment; ``token_lifetime`` the seconds after which the sandbox refuses a token
    (``None``: the API has no tokens); ``auth_request`` the ``(method, path)`` of the
    token call as counted in ``received`` (``None`` when there is none).
    """

    known_company: CompanyQuery
    known_provider_id: str
    unknown_company: CompanyQuery
    expected_identifiers: tuple[Identifier, ...] = ()
    has_assessment: bool = False
    token_lifetime: float | None = None
    auth_request: tuple[str, str] | None = None


@runtime_checkable
class BureauContractSandbox(Protocol):
    """A bureau :class:`~tci_gateway.adapters.contract.Sandbox` the bureau contract suite
    can drive: seeded data described by :meth:`seed_bureau_fixture`, faults queued with
    :meth:`inject` (:class:`Fault`), a clock moved with :meth:`advance`, and ``received``,
    a counter of requests per ``(method, path)``."""

    credentials: Mapping[str, str]
    received: Counter[tuple[str, str]]

    def handle(self, request: httpx.Request) -> httpx.Response: ...

    def seed_bureau_fixture(self) -> BureauContractFixture: ...

    def inject(self, *faults: Fault) -> None: ...

    def advance(self, seconds: float) -> None: ...
