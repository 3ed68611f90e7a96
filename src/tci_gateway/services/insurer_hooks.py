"""Insurer callbacks (webhooks) on cover requests: registrations, hits and the look-ups
they ask for.

An insurer whose adapter declares ``capabilities.webhooks`` (Allianz Trade) can call
back when it has decided a cover request. When ``[api] public_url`` is set, each send
of a request carries a callback URL ``{public_url}/v1/hooks/{insurer}/{token}``: the
token is 256 random bits, new for every send (a *registration*), stored only as its
SHA-256 (table ``insurer_hooks``), and expires after :data:`REGISTRATION_TTL`.

No signature is documented for these callbacks, so a callback is only a hint that
"something changed for this request": its body is never read for figures. A hit that
presents a live token is recorded and, while the request is still open, asks for one
look-up of the request with the gateway's own credentials; the cover-request relay
(:mod:`tci_gateway.services.cover_relay`) does that look-up on its next tick and clears
the flag. Replays and floods are harmless: hits on a request whose look-up is already
pending add nothing, the API rate-limits hits per token, and polling stays the
fallback whatever the insurer does.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.orm import Session

from tci_gateway.domain.cover import OPEN_REQUEST_STATES
from tci_gateway.ledger.api_tables import InsurerHookRow
from tci_gateway.ledger.engine import Ledger
from tci_gateway.ledger.tables import CoverRequestRow

TOKEN_BYTES = 32
"""Random bytes in a callback token (256 bits, URL-safe base64: 43 characters)."""
REGISTRATION_TTL = timedelta(days=7)
"""How long a callback URL is honoured (Allianz asks for ``timeToLive`` in hours, 24 by
default, and retries within about a minute: a week leaves room for a late insurer)."""
KEEP_EXPIRED = timedelta(days=30)
"""Expired registrations are deleted this long after they expired (their hits are kept
in the audit trail)."""
MAX_TOKEN_LENGTH = 128


class HitOutcome(StrEnum):
    """What one accepted callback did."""

    SCHEDULED = "scheduled"
    """A look-up of the request was asked for."""
    ALREADY_SCHEDULED = "already_scheduled"
    """One was pending already (a replay or a flood adds nothing)."""
    NOT_NEEDED = "not_needed"
    """The request is no longer open (decided or refused): nothing to look up."""


@dataclass(frozen=True)
class Registration:
    """A live registration found by its token."""

    id: int
    insurer: str
    cover_request_id: int | None


@dataclass(frozen=True)
class Hit:
    registration_id: int
    cover_request_id: int | None
    outcome: HitOutcome
    hits: int


def token_digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def callback_url(public_url: str, insurer: str, token: str) -> str:
    """``{public_url}/v1/hooks/{insurer}/{token}``."""
    return f"{public_url.rstrip('/')}/v1/hooks/{insurer}/{token}"


def register(
    ledger: Ledger,
    insurer: str,
    cover_request_id: int,
    *,
    public_url: str,
    now: datetime,
    ttl: timedelta = REGISTRATION_TTL,
) -> str:
    """Register a new callback token for one send of a request (committed before the
    send) and answer its URL. The token itself is not kept."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with ledger.unit_of_work() as session:
        session.add(
            InsurerHookRow(
                insurer=insurer,
                token_sha256=token_digest(token),
                cover_request_id=cover_request_id,
                created_at=now,
                expires_at=now + ttl,
                hits=0,
            )
        )
    return callback_url(public_url, insurer, token)


def registrar(
    ledger: Ledger, insurer: str, *, public_url: str, now: datetime
) -> Callable[[int], str]:
    """``register`` for ``insurer`` as the callback maker
    :func:`tci_gateway.services.cover_requests.advance` takes."""

    def make(cover_request_id: int) -> str:
        return register(ledger, insurer, cover_request_id, public_url=public_url, now=now)

    return make


def _plain(name: str) -> bool:
    """A name the ledger can compare (an insurer's is at most 32 printable characters)."""
    return 0 < len(name) <= 32 and name.isprintable()


def find(session: Session, insurer: str, token: str, now: datetime) -> Registration | None:
    """The unexpired registration of ``insurer`` with ``token``, if any."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not _plain(insurer):
        return None
    row = session.execute(
        select(InsurerHookRow.id, InsurerHookRow.insurer, InsurerHookRow.cover_request_id).where(
            InsurerHookRow.token_sha256 == token_digest(token),
            InsurerHookRow.insurer == insurer,
            InsurerHookRow.expires_at > now,
        )
    ).first()
    return Registration(row[0], row[1], row[2]) if row is not None else None


def record_hit(session: Session, registration_id: int, now: datetime) -> Hit:
    """Count a callback on a registration and ask for a look-up of its request unless
    one is pending already or the request is no longer open (in ``session``'s
    transaction)."""
    row = session.get_one(InsurerHookRow, registration_id, with_for_update=True)
    row.hits = (row.hits or 0) + 1
    row.last_hit_at = now
    request_id = row.cover_request_id
    outcome = HitOutcome.NOT_NEEDED
    if request_id is not None:
        state = session.scalar(
            select(CoverRequestRow.state).where(CoverRequestRow.id == request_id)
        )
        if state in OPEN_REQUEST_STATES:
            pending = session.scalar(
                select(
                    exists().where(
                        InsurerHookRow.cover_request_id == request_id,
                        InsurerHookRow.lookup_requested_at.is_not(None),
                    )
                )
            )
            if pending:
                outcome = HitOutcome.ALREADY_SCHEDULED
            else:
                row.lookup_requested_at = now
                outcome = HitOutcome.SCHEDULED
    return Hit(registration_id, request_id, outcome, row.hits)


def pending_lookups(ledger: Ledger, cover_request_id: int) -> list[tuple[int, int]]:
    """``(registration id, hits)`` of the request's registrations asking for a look-up,
    read before the look-up so that a hit arriving during it asks again."""
    with ledger.reading() as session:
        return [
            (row_id, hits)
            for row_id, hits in session.execute(
                select(InsurerHookRow.id, InsurerHookRow.hits).where(
                    InsurerHookRow.cover_request_id == cover_request_id,
                    InsurerHookRow.lookup_requested_at.is_not(None),
                )
            )
        ]


def lookup_done(
    ledger: Ledger,
    cover_request_id: int,
    seen: Sequence[tuple[int, int]],
    job_reference: str | None,
) -> None:
    """After a look-up: clear the flags read by :func:`pending_lookups` (those hit again
    meanwhile stay set), and note the insurer's job reference on the registrations that
    have none yet."""
    with ledger.unit_of_work() as session:
        for row_id, hits in seen:
            session.execute(
                update(InsurerHookRow)
                .where(InsurerHookRow.id == row_id, InsurerHookRow.hits == hits)
                .values(lookup_requested_at=None)
            )
        if job_reference:
            session.execute(
                update(InsurerHookRow)
                .where(
                    InsurerHookRow.cover_request_id == cover_request_id,
                    InsurerHookRow.job_reference.is_(None),
                )
                .values(job_reference=job_reference[:128])
            )


def prune(ledger: Ledger, now: datetime) -> int:
    """Delete registrations expired more than :data:`KEEP_EXPIRED` ago; how many."""
    with ledger.unit_of_work() as session:
        result = session.execute(
            delete(InsurerHookRow).where(
                and_(
                    InsurerHookRow.expires_at < now - KEEP_EXPIRED,
                    InsurerHookRow.lookup_requested_at.is_(None),
                )
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CallbackSummary:
    """What the callbacks of one request amount to (shown with the request)."""

    registrations: int = 0
    hits: int = 0
    last_hit_at: datetime | None = None
    lookup_pending: bool = False


def summaries(session: Session, cover_request_ids: Sequence[int]) -> dict[int, CallbackSummary]:
    """:class:`CallbackSummary` per request id (requests without registrations absent)."""
    out: dict[int, CallbackSummary] = {}
    if not cover_request_ids:
        return out
    rows = session.execute(
        select(
            InsurerHookRow.cover_request_id,
            InsurerHookRow.hits,
            InsurerHookRow.last_hit_at,
            InsurerHookRow.lookup_requested_at,
        ).where(InsurerHookRow.cover_request_id.in_(list(cover_request_ids)))
    )
    for request_id, hits, last_hit_at, lookup in rows:
        if request_id is None:
            continue
        seen = out.get(request_id, CallbackSummary())
        last = seen.last_hit_at
        if last_hit_at is not None and (last is None or last_hit_at > last):
            last = last_hit_at
        out[request_id] = CallbackSummary(
            registrations=seen.registrations + 1,
            hits=seen.hits + (hits or 0),
            last_hit_at=last,
            lookup_pending=seen.lookup_pending or lookup is not None,
        )
    return out
