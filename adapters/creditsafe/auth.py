"""Creditsafe auth: ``POST /authenticate {username, password}`` -> ``{token}`` (a JWT),
sent in ``Authorization`` on every call, and the ``{correlationId, message, details}``
error envelope reader.

The token lasts about an hour. Its lifetime is read from the JWT itself (``exp - iat``,
both in the issuer's clock, so a skewed local clock does not matter); when the token
cannot be read, ``token_lifetime`` (3600 s) is assumed. A 401 on a call drops the token
and the call is retried once with a fresh one (:class:`~tci_gateway.http.client.ApiClient`).
The public PHP client sends the bare token (``Authorization: <token>``); ``token_prefix``
(default ``""``) can make that ``Bearer <token>``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import httpx

from tci_gateway.errors import ProtocolError
from tci_gateway.http.auth import AuthStrategy, TokenCache
from tci_gateway.http.client import ParsedError
from tci_gateway.http.jsonexact import dumps, loads
from tci_gateway.logs import register_secret

from .wire import TOKEN_PATH, ErrorEnvelope, TokenReply

DEFAULT_TOKEN_LIFETIME = 3600.0


def jwt_lifetime(token: str) -> float | None:
    """``exp - iat`` of a JWT (seconds), or ``None`` when the token has no readable
    claims. The signature is not checked: the token is only passed back to its issuer."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    if not isinstance(claims, dict):
        return None
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, bool) or isinstance(iat, bool):
        return None
    if not isinstance(exp, int) or not isinstance(iat, int) or exp <= iat:
        return None
    return float(exp - iat)


class CreditsafeAuth(AuthStrategy):
    """Username and password for a JWT, cached per (adapter, environment, base URL,
    username)."""

    def __init__(
        self,
        *,
        adapter: str,
        environment: str,
        base_url: str,
        username: str,
        password: str,
        cache: TokenCache | None = None,
        token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
        token_prefix: str = "",
    ) -> None:
        super().__init__((adapter, environment, base_url.rstrip("/"), username), cache)
        register_secret(password)
        self.adapter = adapter
        self.token_lifetime = token_lifetime
        self.token_prefix = token_prefix.strip()
        self._body = dumps({"username": username, "password": password}).encode()

    def token_request(self, base_url: str) -> httpx.Request:
        """``POST /authenticate`` with the JSON credentials."""
        return httpx.Request(
            "POST",
            base_url.rstrip("/") + TOKEN_PATH,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            content=self._body,
        )

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """``(token, lifetime)`` from ``{"token": ...}``."""
        ctx: dict[str, Any] = {"adapter": self.adapter, "status": response.status_code}
        try:
            reply = TokenReply.model_validate(loads(response.content))
        except (ValueError, UnicodeDecodeError) as exc:  # ValidationError is a ValueError
            raise ProtocolError(f"unreadable token reply: {type(exc).__name__}", **ctx) from exc
        lifetime = jwt_lifetime(reply.token) or self.token_lifetime
        return reply.token, lifetime

    def headers(self, token: str) -> dict[str, str]:
        """``Authorization: <token>`` (or ``<prefix> <token>``)."""
        value = f"{self.token_prefix} {token}" if self.token_prefix else token
        return {"Authorization": value}


def parse_envelope(payload: Any, fallback: str) -> tuple[ParsedError, str | None]:
    """``{correlationId, message, details}`` as a :class:`ParsedError` and the
    correlation id Creditsafe gave the failed call."""
    envelope = ErrorEnvelope.model_validate(payload)
    details = [d for d in envelope.details if d]
    message = envelope.message or fallback
    if details:
        message = f"{message}: {'; '.join(details)}"
    return ParsedError(message=message, details=details), envelope.correlationId
