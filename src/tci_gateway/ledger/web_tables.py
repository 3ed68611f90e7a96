"""The web workspace's tables: people who sign in, their sessions, what alerts each wants
and the outbox of messages (e-mail, chat) sent to them.

Re-exported from :mod:`tci_gateway.ledger.tables` so that module stays the whole schema.
Passwords are stored as argon2 hashes; a session's token as its SHA-256 (256 random bits:
a slow hash buys nothing there).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tci_gateway.ledger.base import Base
from tci_gateway.ledger.types import UTCDateTime, state_enum


class Role(StrEnum):
    """What a person may do in the workspace; each role may do what those before it may."""

    VIEWER = "viewer"  # read every page
    ANALYST = "analyst"  # request cover, decide review links, confirm manual filings
    MANAGER = "manager"  # an analyst's rights, plus people and API keys

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def may(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class Channel(StrEnum):
    EMAIL = "email"
    CHAT = "chat"


class MessageState(StrEnum):
    PENDING = "pending"  # waiting to be sent (or for its next attempt)
    SENDING = "sending"  # claimed by a relay until ``claimed_until``
    SENT = "sent"
    FAILED = "failed"  # given up on: attempts exhausted, or the person has no address


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(state_enum(Role, name="role", length=16))
    password_hash: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    # A Teams/Slack-compatible incoming webhook URL for this person's chat messages.
    chat_webhook_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Consecutive refused sign-ins; at the limit, sign-in waits until ``locked_until``.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSessionRow(Base):
    """One sign-in: the cookie's token (as its hash), its CSRF token, its expiry."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The absolute end; idle expiry is ``last_seen_at`` + ``[web] session_idle_minutes``.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationPreferenceRow(Base):
    """What one person receives: channels, digest and/or immediate messages, and filters
    (``None`` means every policy, tier or alert kind)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean, default=False)
    chat: Mapped[bool] = mapped_column(Boolean, default=False)
    digest: Mapped[bool] = mapped_column(Boolean, default=True)
    immediate: Mapped[bool] = mapped_column(Boolean, default=True)
    policies: Mapped[list[str] | None] = mapped_column(JSON)
    tiers: Mapped[list[str] | None] = mapped_column(JSON)
    kinds: Mapped[list[str] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationRow(Base):
    """One message to one person on one channel: the outbox row a relay sends, at most
    once per ``event_id`` (a digest's business date, an alert's id)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "channel", "event_id", name="uq_notifications_event"),
        Index("ix_notifications_due", "state", "next_attempt_at"),
        CheckConstraint("attempts >= 0", "attempts_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    channel: Mapped[Channel] = mapped_column(state_enum(Channel, name="channel", length=8))
    event_id: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[MessageState] = mapped_column(state_enum(MessageState, name="state", length=16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
