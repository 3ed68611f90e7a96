"""Allianz Trade auth (ApiKeyExchange) and the error envelope reader.

``POST {base}{prefix}/v1/idp/oauth2/authorize`` with JSON ``{"apiKey": "<key>"}``
answers ``{access_token, token_type: "Bearer", expires_in: 3600}``. There is no refresh
token: the adapter authorizes again when the token is about to expire or after a 401
(the shared :class:`~tci_gateway.http.auth.TokenCache` does this single-flight). Tokens
are cached per (adapter, environment, base URL, token route, key fingerprint): a
truncated SHA-256 of the key, never the key itself.

Errors: Allianz's error envelope is not public. :func:`parse_envelope` reads the
SYNTHETIC ``{"errors": [{code, message, field}]}``, a plain ``{"message"}`` (what API
gateways answer) and the OAuth ``{"error", "error_description"}``.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx

from tci_gateway.errors import ProtocolError
from tci_gateway.http.auth import AuthStrategy, TokenCache
from tci_gateway.http.client import ApiClient, ParsedError
from tci_gateway.http.jsonexact import dumps, loads
from tci_gateway.logs import register_secret

from .wire import ErrorEnvelope, TokenReply

CORRELATION_HEADER = ApiClient.correlation_header


def key_fingerprint(api_key: str) -> str:
    """A non-reversible fingerprint of the API key for the token cache key."""
    return hashlib.sha256(b"tci-gateway/allianz-api-key\0" + api_key.encode()).hexdigest()[:24]


class AllianzAuth(AuthStrategy):
    """API key exchanged for a Bearer token (no refresh token: re-authorize)."""

    def __init__(
        self,
        *,
        adapter: str,
        environment: str,
        base_url: str,
        api_key: str,
        token_path: str,
        cache: TokenCache | None = None,
    ) -> None:
        key = (adapter, environment, base_url.rstrip("/"), token_path, key_fingerprint(api_key))
        super().__init__(key, cache)
        register_secret(api_key)
        self.adapter = adapter
        self.token_path = token_path
        self._api_key = api_key

    def token_request(self, base_url: str) -> httpx.Request:
        """``POST {token_path}`` with ``{"apiKey": ...}``."""
        return httpx.Request(
            "POST",
            base_url.rstrip("/") + self.token_path,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                CORRELATION_HEADER: str(uuid.uuid4()),
            },
            content=dumps({"apiKey": self._api_key}).encode(),
        )

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """``(access_token, expires_in)`` from the token reply."""
        ctx: dict[str, Any] = {"adapter": self.adapter, "status": response.status_code}
        try:
            reply = TokenReply.model_validate(loads(response.content))
        except (ValueError, UnicodeDecodeError) as exc:  # ValidationError is a ValueError
            raise ProtocolError(f"unreadable token reply: {type(exc).__name__}", **ctx) from exc
        if reply.token_type.lower() != "bearer":
            raise ProtocolError(f"unexpected token type {reply.token_type!r}", **ctx)
        return reply.access_token, float(reply.expires_in)

    def headers(self, token: str) -> dict[str, str]:
        """``Authorization: Bearer <token>``."""
        return {"Authorization": f"Bearer {token}"}


def parse_envelope(payload: Any, fallback: str) -> ParsedError:
    """An error body as a :class:`ParsedError`: messages joined, the first code as
    ``code`` (else the first field name), one detail per error naming its field."""
    envelope = ErrorEnvelope.model_validate(payload)
    details: list[str] = []
    messages: list[str] = []
    code: str | None = None
    for item in envelope.errors:
        code = code or item.code or item.field_name
        text = item.message or item.code or fallback
        messages.append(text)
        details.append(f"{text} (field {item.field_name})" if item.field_name else text)
    plain = envelope.message or envelope.error_description or envelope.error
    if plain:
        messages.append(plain)
        code = code or envelope.error
    return ParsedError(message="; ".join(messages) or fallback, code=code, details=details)
