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

from tci_gateway.adapters.auth import PasswordTokenAuth
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.client import ParsedError
from tci_gateway.http.jsonexact import loads

from .wire import TOKEN_PATH, ErrorEnvelope

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


class CreditsafeAuth(PasswordTokenAuth):
    """Username and password for a JWT, cached per (adapter, environment, base URL,
    username); sent as ``Authorization: <token>`` (or ``<prefix> <token>``)."""

    token_field = "token"  # noqa: S105 (a member name)
    expires_field = None

    def __init__(
        self,
        context: AdapterContext,
        *,
        cache: TokenCache | None = None,
        token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
        token_prefix: str = "",
    ) -> None:
        super().__init__(
            context,
            username=context.credentials["username"],
            password=context.credentials["password"],
            token_path=TOKEN_PATH,
            cache=cache,
        )
        self.lifetime = token_lifetime
        self.scheme = token_prefix.strip()

    def default_lifetime(self, token: str) -> float:
        """``exp - iat`` of the JWT, else ``token_lifetime``."""
        return jwt_lifetime(token) or self.lifetime


def parse_envelope(payload: Any, fallback: str) -> tuple[ParsedError, str | None]:
    """``{correlationId, message, details}`` as a :class:`ParsedError` and the
    correlation id Creditsafe gave the failed call."""
    envelope = ErrorEnvelope.model_validate(payload)
    details = [d for d in envelope.details if d]
    message = envelope.message or fallback
    if details:
        message = f"{message}: {'; '.join(details)}"
    return ParsedError(message=message, details=details), envelope.correlationId
