"""API keys: created with a secret shown once, stored as a hash, found by their public id.

A key reads ``tci_<key_id>_<secret>``: ``key_id`` (12 hex characters) finds the row, the
secret (43 URL-safe characters, 256 random bits) is compared by its SHA-256 in constant
time. Scopes say what a key may do (``admin`` may do everything); ``policies``, when set,
restrict it to those policy numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tci_gateway.ledger.api_tables import ApiKeyRow

SCOPES: dict[str, str] = {
    "limits:read": "read covered limits, exposure and alerts (the ERP's pull)",
    "items:write": "push open items",
    "buyers:read": "read buyers, covers, cases, deadlines, the review queue, runs, credit "
    "applications and payment behaviour",
    "buyers:write": "push buyers",
    "cover:request": "request, increase, reduce or cancel cover; apply for credit and decide "
    "a referred application",
    "review:decide": "accept or reject proposed identity links",
    "claims:confirm": "confirm a manual filing",
    "webhooks:manage": "register and remove ERP webhook subscriptions",
    "jobs:run": "run a scheduler job now",
    "metrics:read": "read GET /metrics when [api] metrics_auth is on (a Prometheus scraper)",
    "admin": "everything",
}
KEY_PREFIX = "tci_"


class ApiKeyError(ValueError):
    """A key cannot be created or changed as asked (unknown scope, name taken...)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as the service sees it once authenticated (never its secret)."""

    id: int
    name: str
    key_id: str
    scopes: frozenset[str]
    policies: frozenset[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def allows_policy(self, policy: str) -> bool:
        return self.policies is None or policy in self.policies

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        key_id=row.key_id,
        scopes=frozenset(row.scopes),
        policies=None if row.policies is None else frozenset(row.policies),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def check_scopes(scopes: list[str]) -> list[str]:
    """``scopes`` sorted and unique, or :class:`ApiKeyError` naming the unknown ones."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ApiKeyError(
            f"unknown scope {', '.join(unknown)} (known: {', '.join(sorted(SCOPES))})"
        )
    if not scopes:
        raise ApiKeyError("a key needs at least one scope")
    return sorted(set(scopes))


def create_key(
    session: Session,
    name: str,
    scopes: list[str],
    *,
    now: datetime,
    policies: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its full token (shown to the user once; only its hash is kept)."""
    checked = check_scopes(scopes)
    if not name or len(name) > 64:
        raise ApiKeyError("a key's name is 1 to 64 characters")
    if session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.name == name)) is not None:
        raise ApiKeyError(f"a key named {name!r} exists already (revoke it or choose another)")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKeyRow(
        name=name,
        key_id=key_id,
        secret_sha256=_digest(secret),
        scopes=checked,
        policies=None if policies is None else sorted(set(policies)),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return _key(row), f"{KEY_PREFIX}{key_id}_{secret}"


def authenticate(session: Session, token: str) -> ApiKey | None:
    """The key whose token this is, or ``None`` (malformed, unknown, wrong secret). It
    may be revoked or expired: :meth:`ApiKey.active` says."""
    if not token.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = token[len(KEY_PREFIX) :].partition("_")
    if not sep or not key_id or not secret:
        return None
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    return _key(row)


def touch(session: Session, key_id: int, now: datetime) -> None:
    """Record that the key was used (at most once a minute is enough: callers decide)."""
    row = session.get(ApiKeyRow, key_id)
    if row is not None:
        row.last_used_at = now


def list_keys(session: Session) -> list[ApiKey]:
    return [_key(r) for r in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.name))]


def revoke_key(session: Session, name: str, now: datetime) -> ApiKey:
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.name == name))
    if row is None:
        raise ApiKeyError(f"no key named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = now
    return _key(row)
