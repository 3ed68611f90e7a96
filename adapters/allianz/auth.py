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

from typing import Any

from tci_gateway.adapters.auth import ApiKeyTokenAuth, secret_fingerprint
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.client import ApiClient, ParsedError

from .wire import ErrorEnvelope

FINGERPRINT_PURPOSE = "allianz-api-key"


def key_fingerprint(api_key: str) -> str:
    """A non-reversible fingerprint of the API key for the token cache key."""
    return secret_fingerprint(api_key, FINGERPRINT_PURPOSE)


class AllianzAuth(ApiKeyTokenAuth):
    """API key exchanged for a Bearer token (no refresh token: re-authorize)."""

    correlation_header = ApiClient.correlation_header
    fingerprint_purpose = FINGERPRINT_PURPOSE

    def __init__(
        self, context: AdapterContext, *, token_path: str, cache: TokenCache | None = None
    ) -> None:
        super().__init__(
            context, api_key=context.credentials["api_key"], token_path=token_path, cache=cache
        )


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
