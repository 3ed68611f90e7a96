"""Atradius auth: client credentials (Basic) plus app key for a Bearer token, and the
``{"errors": [...]}`` envelope reader.

``POST {base}/authenticate/v2/tokens`` with ``Authorization: Basic
base64(client_id:client_secret)`` and ``Atradius-App-Key``, empty body, ``Content-Type:
application/json``; the reply is ``{data: {access_token, token_type: "Bearer",
expires_in: 1800}}``. Later calls send ``Authorization: Bearer <token>`` and the app key.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tci_gateway.errors import ProtocolError
from tci_gateway.http.auth import AuthStrategy, TokenCache, basic_credentials
from tci_gateway.http.client import ParsedError
from tci_gateway.http.jsonexact import loads
from tci_gateway.logs import register_secret

from .wire import APP_KEY_HEADER, CORRELATION_HEADER, TOKEN_PATH, ErrorEnvelope, TokenReply


class AtradiusAuth(AuthStrategy):
    """Client credentials (Basic) plus app key for a Bearer token, cached per
    (adapter, environment, base URL, client id)."""

    def __init__(
        self,
        *,
        adapter: str,
        environment: str,
        base_url: str,
        client_id: str,
        client_secret: str,
        app_key: str,
        cache: TokenCache | None = None,
        token_path: str = TOKEN_PATH,
    ) -> None:
        super().__init__((adapter, environment, base_url.rstrip("/"), client_id), cache)
        register_secret(client_secret)
        register_secret(app_key)
        self.adapter = adapter
        self.token_path = token_path
        self._basic = basic_credentials(client_id, client_secret)
        self._app_key = app_key

    def token_request(self, base_url: str) -> httpx.Request:
        """``POST /authenticate/v2/tokens`` with Basic credentials and the app key."""
        return httpx.Request(
            "POST",
            base_url.rstrip("/") + self.token_path,
            headers={
                "Authorization": self._basic,
                APP_KEY_HEADER: self._app_key,
                "Content-Type": "application/json",
                "Accept": "application/json",
                CORRELATION_HEADER: str(uuid.uuid4()),
            },
            content=b"",
        )

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """``(access_token, expires_in)`` from the token reply."""
        ctx: dict[str, Any] = {"adapter": self.adapter, "status": response.status_code}
        try:
            reply = TokenReply.model_validate(loads(response.content))
        except (ValueError, UnicodeDecodeError) as exc:  # ValidationError is a ValueError
            raise ProtocolError(f"unreadable token reply: {type(exc).__name__}", **ctx) from exc
        if reply.data.token_type.lower() != "bearer":
            raise ProtocolError(f"unexpected token type {reply.data.token_type!r}", **ctx)
        return reply.data.access_token, float(reply.data.expires_in)

    def headers(self, token: str) -> dict[str, str]:
        """``Authorization: Bearer`` and the app key."""
        return {"Authorization": f"Bearer {token}", APP_KEY_HEADER: self._app_key}


def parse_envelope(payload: Any, fallback: str) -> ParsedError:
    """The ``{"errors": [...]}`` envelope as a :class:`ParsedError`: details joined into
    the message, the first ``source.parameter`` as the code."""
    envelope = ErrorEnvelope.model_validate(payload)
    details: list[str] = []
    code: str | None = None
    for item in envelope.errors:
        parameter = item.source.parameter if item.source else None
        code = code or parameter
        text = item.detail or fallback
        details.append(f"{text} (parameter {parameter})" if parameter else text)
    messages = [e.detail for e in envelope.errors if e.detail]
    return ParsedError(message="; ".join(messages) or fallback, code=code, details=details)
