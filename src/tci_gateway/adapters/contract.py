"""The adapter contract: what every insurer and bureau adapter offers the gateway.

An adapter is created from an :class:`AdapterContext` by its plugin's factory and
speaks the domain's language only: wire models never leave the adapter. Capability
flags say what an insurer's API can do; a missing capability is reported, never faked.

The records that travel further than the adapter call, into the ledger, live in the
domain and are re-exported here so a plugin imports everything from this module:
:class:`PortfolioEntry` (:mod:`tci_gateway.domain.portfolio`) and :class:`Assessment`
(:mod:`tci_gateway.domain.assessment`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

import httpx

from tci_gateway.adapters.golden_copy import GoldenCopyFile as GoldenCopyFile
from tci_gateway.adapters.golden_copy import GoldenCopyReader
from tci_gateway.adapters.golden_copy import LeiRecord as LeiRecord
from tci_gateway.adapters.golden_copy import LeiRelationship as LeiRelationship
from tci_gateway.domain.assessment import Assessment as Assessment
from tci_gateway.domain.cover import CoverAction as CoverAction
from tci_gateway.domain.cover import CoverDecision
from tci_gateway.domain.identifiers import Identifier
from tci_gateway.domain.money import Money
from tci_gateway.domain.policy import Policy
from tci_gateway.domain.portfolio import PortfolioEntry as PortfolioEntry
from tci_gateway.errors import RecordError
from tci_gateway.http.client import Timeouts
from tci_gateway.http.retry import RetryPolicy


@dataclass(frozen=True)
class Capabilities:
    """What an insurer API can do (``docs/adapters.md``, section 1): a missing capability
    is reported, never faked."""

    buyer_search: bool = False
    cover_requests: bool = False
    async_cover_requests: bool = False
    portfolio: bool = False
    webhooks: bool = False
    delta_endpoint: bool = False
    pagination: Literal["page", "offset", "none"] = "none"
    overdue_api: bool = False
    claims_api: bool = False
    cover_history: bool = False
    """The API lists past decisions (Atradius ``GET covers/historic``): the adapter is a
    :class:`CoverHistory` and ``tci sync limits --backfill`` loads them."""


@dataclass(frozen=True)
class PolicyRef:
    """How an adapter addresses a policy: our key, the insurer's reference fields
    (e.g. Atradius ``customer_id`` and ``policy_id``) and the policy currency."""

    key: str
    currency: str
    external_ref: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, policy: Policy) -> PolicyRef:
        """How an adapter addresses ``policy``."""
        return cls(key=policy.key, currency=policy.terms.currency, external_ref=policy.external_ref)


@dataclass(frozen=True)
class BuyerQuery:
    """Find a buyer in ``country`` (ISO alpha-2) by identifier, or by name where the
    API allows it."""

    country: str
    identifier: Identifier | None = None
    name: str | None = None


@dataclass(frozen=True)
class BuyerMatch:
    insurer: str
    insurer_buyer_id: str
    name: str
    country: str
    identifiers: tuple[Identifier, ...] = ()
    rating: str | None = None


PortfolioItem = PortfolioEntry | RecordError
"""A portfolio yields entries, and per-record errors as data for records it could not
read; the sync reports those and goes on."""


@dataclass(frozen=True)
class CoverRequest:
    """A request for cover; ``client_reference`` is derived from our own ids and makes
    the request idempotent at the insurer."""

    client_reference: str
    policy: PolicyRef
    insurer_buyer_id: str
    action: CoverAction
    amount: Money | None = None
    cover_type: Literal["CREDIT_LIMIT", "CREDIT_CHECK", "GRADE"] = "CREDIT_LIMIT"
    urgent: bool = False
    callback_url: str | None = None
    """Where the insurer may call back when it has decided (the gateway's hook URL for
    this request). Only an adapter whose ``capabilities.webhooks`` is set is given one;
    a callback is only a hint to look the request up."""


@dataclass(frozen=True)
class CoverRequestResult:
    client_reference: str
    insurer_request_ref: str | None
    pending: bool
    decision: CoverDecision | None = None


class OverdueKind(StrEnum):
    """What an overdue notice asks (Allianz Trade OVD / EXP / RES)."""

    OVERDUE = "OVERDUE"
    EXTENSION_REQUEST = "EXTENSION_REQUEST"
    RESCHEDULE = "RESCHEDULE"


@dataclass(frozen=True)
class OverdueInvoice:
    number: str
    issue_date: date
    original_due_date: date
    amount: Money
    outstanding: Money
    new_due_date: date | None = None


@dataclass(frozen=True)
class OverdueNotice:
    """An overdue notification, extension request or repayment plan for one buyer;
    ``client_reference`` makes it idempotent at the insurer."""

    client_reference: str
    policy: PolicyRef
    insurer_buyer_id: str
    kind: OverdueKind
    invoices: tuple[OverdueInvoice, ...]
    first_default_date: date


@dataclass(frozen=True)
class OverdueResult:
    client_reference: str
    insurer_reference: str | None
    status: str
    raw_status: str | None = None


@runtime_checkable
class OverdueFiling(Protocol):
    """Adapters whose insurer takes overdue notices by API (``capabilities.overdue_api``)."""

    def submit_overdue(self, notice: OverdueNotice) -> OverdueResult: ...

    def find_overdue(self, policy: PolicyRef, client_reference: str) -> OverdueResult | None: ...


@dataclass(frozen=True)
class ClaimRequest:
    """A claim for one buyer's unpaid invoices (``cause`` e.g. PROTRACTED_DEFAULT or
    INSOLVENCY); ``claimed_amount`` is the outstanding total in the policy currency."""

    client_reference: str
    policy: PolicyRef
    insurer_buyer_id: str
    cause: str
    date_of_loss: date
    invoices: tuple[OverdueInvoice, ...]
    claimed_amount: Money


@runtime_checkable
class ClaimFiling(Protocol):
    """Adapters whose insurer takes claims by API (``capabilities.claims_api``). None of
    the built-in insurers publishes one: their claims go through a manual filing pack."""

    def submit_claim(self, claim: ClaimRequest) -> OverdueResult: ...

    def find_claim(self, policy: PolicyRef, client_reference: str) -> OverdueResult | None: ...


@runtime_checkable
class CoverHistory(Protocol):
    """Adapters whose insurer API offers the history of its decisions
    (``capabilities.cover_history``)."""

    def fetch_cover_history(self, policy: PolicyRef) -> Iterator[PortfolioItem]:
        """Every past and current version of every buyer's cover under ``policy``: a
        :class:`PortfolioEntry` per version (several per buyer, each with its own
        ``effective_from``), errors as data like :meth:`InsurerAdapter.fetch_portfolio`."""
        ...


@runtime_checkable
class InsurerAdapter(Protocol):
    """An insurer API, normalised."""

    name: str
    capabilities: Capabilities

    def search_buyers(self, query: BuyerQuery) -> list[BuyerMatch]: ...

    def fetch_portfolio(self, policy: PolicyRef) -> Iterator[PortfolioItem]: ...

    def request_cover(self, request: CoverRequest) -> CoverRequestResult: ...

    def request_status(
        self, policy: PolicyRef, insurer_request_ref: str
    ) -> CoverRequestResult | None:
        """The current state of a request the insurer acknowledged (poll a pending one)."""
        ...

    def find_request(self, policy: PolicyRef, client_reference: str) -> CoverRequestResult | None:
        """Look a request up by our client reference after an ambiguous outcome; ``None``
        when the insurer has no record of it (then it is safe to send again)."""
        ...

    def close(self) -> None: ...


class CompanyStatus(StrEnum):
    """One status across registers and bureaus (``docs/domain.md``, section 2, "Company
    status")."""

    ACTIVE = "ACTIVE"
    DISTRESSED = "DISTRESSED"
    INACTIVE = "INACTIVE"
    DISSOLVED = "DISSOLVED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class CompanyQuery:
    """Find a company in ``country`` (ISO alpha-2) by identifier or by name (+ address)."""

    country: str
    identifier: Identifier | None = None
    name: str | None = None
    postcode: str | None = None
    city: str | None = None


@dataclass(frozen=True)
class CompanyCandidate:
    """A company as a bureau or register knows it, with the provider's own confidence
    kept raw (D&B confidence code and match grade, a rank). ``is_site`` marks a branch
    or establishment: never a buyer. Parents are kept for group exposure."""

    provider: str
    provider_id: str
    name: str
    country: str
    identifiers: tuple[Identifier, ...] = ()
    other_names: tuple[str, ...] = ()
    status: CompanyStatus = CompanyStatus.UNKNOWN
    city: str | None = None
    postcode: str | None = None
    is_site: bool = False
    confidence: int | None = None
    match_grade: str | None = None
    rank: int | None = None
    direct_parent: Identifier | None = None
    ultimate_parent: Identifier | None = None


@dataclass(frozen=True)
class BureauCapabilities:
    search: bool = True
    assessment: bool = False
    parents: bool = False
    crosswalk: bool = False


@runtime_checkable
class BureauAdapter(Protocol):
    """A credit bureau or company register, normalised."""

    name: str
    capabilities: BureauCapabilities

    def search_companies(self, query: CompanyQuery) -> list[CompanyCandidate]: ...

    def get_company(self, provider_id: str) -> CompanyCandidate | None: ...

    def assess(self, provider_id: str) -> Assessment | None: ...

    def close(self) -> None: ...


@runtime_checkable
class Sandbox(Protocol):
    """An in-process simulator of an API's shape. ``handle`` serves one request; the
    same handler is mounted on an ``httpx.MockTransport`` or served on loopback."""

    credentials: Mapping[str, str]

    def handle(self, request: httpx.Request) -> httpx.Response: ...


@dataclass(frozen=True)
class AdapterContext:
    """Everything a plugin's factory gets: no settings object, only values."""

    name: str
    base_url: str
    environment: str
    credentials: Mapping[str, str]
    options: Mapping[str, Any] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    transport: httpx.BaseTransport | None = None


@dataclass(frozen=True)
class AdapterPlugin:
    """What the entry point ``tci_gateway.adapters`` names. The registry checks every
    loaded object is one of these."""

    name: str
    kind: Literal["insurer", "bureau"]
    description: str
    create: Callable[[AdapterContext], InsurerAdapter | BureauAdapter]
    credential_names: tuple[str, ...] = ()
    create_sandbox: Callable[[Mapping[str, Any]], Sandbox] | None = None
    sandbox_base_url: str = "https://sandbox.invalid"
    read_golden_copy: GoldenCopyReader | None = None
    """A register's bulk file reader (:mod:`tci_gateway.adapters.golden_copy`), for
    ``tci bureaus load``; ``None``: the plugin publishes none."""
