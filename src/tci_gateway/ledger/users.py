"""People who sign in to the web workspace, and their sessions.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second
recommendation). Sign-in is throttled per person: after ``MAX_FAILED`` refused attempts
in a row the account waits ``LOCK_MINUTES`` before the next one is even checked. A
session's cookie holds a random token; the ledger keeps its SHA-256 and a CSRF token that
every form of that session must carry.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tci_gateway.ledger.web_tables import Role, UserRow, WebSessionRow

MAX_FAILED = 5
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 12
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_hasher = PasswordHasher()


class UserError(ValueError):
    """A person cannot be created or changed as asked (name taken, weak password...)."""


@dataclass(frozen=True, slots=True)
class User:
    """A person as the workspace sees them (never their password hash)."""

    id: int
    name: str
    role: Role
    email: str | None
    chat_webhook_url: str | None
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None

    def may(self, needed: Role) -> bool:
        return self.disabled_at is None and self.role.may(needed)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: who, its CSRF token, and the session's row id."""

    user: User
    session_id: int
    csrf_token: str
    expires_at: datetime
    last_seen_at: datetime


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        email=row.email,
        chat_webhook_url=row.chat_webhook_url,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        disabled_at=row.disabled_at,
    )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")


def create_user(
    session: Session,
    name: str,
    role: Role | str,
    password: str,
    *,
    now: datetime,
    email: str | None = None,
) -> User:
    """Add a person; ``UserError`` for a bad or taken name, an unknown role or a short
    password."""
    if not _NAME.match(name):
        raise UserError(
            f"invalid user name {name!r}: letters, digits and . _ @ - (at most 64 characters)"
        )
    try:
        role = Role(role)
    except ValueError:
        raise UserError(
            f"unknown role {role!r} (known: {', '.join(r.value for r in Role)})"
        ) from None
    check_password(password)
    if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
        raise UserError(f"a user named {name!r} exists already")
    row = UserRow(
        name=name,
        role=role,
        password_hash=_hasher.hash(password),
        email=email,
        created_at=now,
        password_changed_at=now,
        failed_logins=0,
    )
    session.add(row)
    session.flush()
    return _user(row)


def set_password(session: Session, name: str, password: str, *, now: datetime) -> User:
    """Replace a person's password and end every session they have."""
    check_password(password)
    row = _row(session, name)
    row.password_hash = _hasher.hash(password)
    row.password_changed_at = now
    row.failed_logins = 0
    row.locked_until = None
    end_sessions(session, row.id, now=now)
    return _user(row)


def set_role(session: Session, name: str, role: Role | str) -> User:
    row = _row(session, name)
    try:
        row.role = Role(role)
    except ValueError:
        raise UserError(
            f"unknown role {role!r} (known: {', '.join(r.value for r in Role)})"
        ) from None
    return _user(row)


def disable_user(session: Session, name: str, *, now: datetime) -> User:
    """Disable a person: they cannot sign in, and their sessions end now."""
    row = _row(session, name)
    if row.disabled_at is None:
        row.disabled_at = now
    end_sessions(session, row.id, now=now)
    return _user(row)


def set_contact(
    session: Session, user_id: int, *, email: str | None, chat_webhook_url: str | None
) -> User:
    row = session.get(UserRow, user_id)
    if row is None:
        raise UserError(f"no user with id {user_id}")
    row.email = email or None
    row.chat_webhook_url = chat_webhook_url or None
    return _user(row)


def list_users(session: Session) -> list[User]:
    return [_user(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]


def get_user(session: Session, name: str) -> User | None:
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    return _user(row) if row is not None else None


def _row(session: Session, name: str) -> UserRow:
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise UserError(f"no user named {name!r}")
    return row


def verify_login(session: Session, name: str, password: str, *, now: datetime) -> User | None:
    """The person when ``password`` is theirs and they may sign in now, else ``None``
    (the same answer for an unknown name, a wrong password, a disabled or a locked
    account: a sign-in form must not say which). Counts refusals and locks."""
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        _hasher.hash(password)  # the same time as a real check: names don't leak by timing
        return None
    if row.disabled_at is not None:
        return None
    if row.locked_until is not None and row.locked_until > now:
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        row.failed_logins = (row.failed_logins or 0) + 1
        if row.failed_logins >= MAX_FAILED:
            row.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            row.failed_logins = 0
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = _hasher.hash(password)
    row.failed_logins = 0
    row.locked_until = None
    row.last_login_at = now
    return _user(row)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    session: Session, user: User, *, now: datetime, lifetime: timedelta
) -> tuple[str, SignedIn]:
    """A new session for ``user``: answers the cookie's token (shown once) and the
    session."""
    token = secrets.token_urlsafe(32)
    row = WebSessionRow(
        token_sha256=_token_hash(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return token, SignedIn(user, row.id, row.csrf_token, row.expires_at, now)


def find_session(
    session: Session, token: str, *, now: datetime, idle: timedelta
) -> SignedIn | None:
    """The live session the cookie's ``token`` opens, or ``None`` when it is unknown,
    ended, past its absolute expiry or idle for longer than ``idle``, or its person is
    disabled."""
    found = session.execute(
        select(WebSessionRow, UserRow)
        .join(UserRow, UserRow.id == WebSessionRow.user_id)
        .where(WebSessionRow.token_sha256 == _token_hash(token))
    ).first()
    if found is None:
        return None
    row, user_row = found
    if row.ended_at is not None or row.expires_at <= now or row.last_seen_at + idle <= now:
        return None
    if user_row.disabled_at is not None:
        return None
    return SignedIn(_user(user_row), row.id, row.csrf_token, row.expires_at, row.last_seen_at)


def touch_session(session: Session, session_id: int, *, now: datetime) -> None:
    session.execute(
        update(WebSessionRow).where(WebSessionRow.id == session_id).values(last_seen_at=now)
    )


def end_session(session: Session, session_id: int, *, now: datetime) -> None:
    session.execute(
        update(WebSessionRow)
        .where(WebSessionRow.id == session_id, WebSessionRow.ended_at.is_(None))
        .values(ended_at=now)
    )


def end_sessions(session: Session, user_id: int, *, now: datetime) -> None:
    session.execute(
        update(WebSessionRow)
        .where(WebSessionRow.user_id == user_id, WebSessionRow.ended_at.is_(None))
        .values(ended_at=now)
    )
