"""Atradius auth: client credentials (Basic) plus app key for a Bearer token, and the
``{"errors": [...]}`` envelope reader.

``POST {base}/authenticate/v2/tokens`` with ``Authorization: Basic
base64(client_id:client_secret)`` and ``Atradius-App-Key``, empty body, ``Content-Type:
application/json``; the reply is ``{data: {access_token, token_type: "Bearer",
expires_in: 1800}}``. Later calls send ``Authorization: Bearer <token>`` and the app key.
"""

from __future__ import annotations

from typing import Any

import httpx

from tci_gateway.adapters.auth import OAuth2ClientCredentials
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.client import ParsedError
from tci_gateway.logs import register_secret

from .wire import APP_KEY_HEADER, CORRELATION_HEADER, TOKEN_PATH, ErrorEnvelope


class AtradiusAuth(OAuth2ClientCredentials):
    """Client credentials (Basic) plus app key for a Bearer token, cached per
    (adapter, environment, base URL, client id)."""

    correlation_header = CORRELATION_HEADER

    def __init__(self, context: AdapterContext, *, cache: TokenCache | None = None) -> None:
        credentials = context.credentials
        super().__init__(
            context,
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
            token_path=TOKEN_PATH,
            cache=cache,
        )
        self._app_key = credentials["app_key"]
        register_secret(self._app_key)

    def token_request(self, call: httpx.Request) -> httpx.Request:
        """``POST /authenticate/v2/tokens`` with Basic credentials, the app key and an
        empty JSON body."""
        return self.post_json(None, {**self.basic_header(), APP_KEY_HEADER: self._app_key})

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """``(access_token, expires_in)`` from the reply's ``data``."""
        data = self.reply_json(response).get("data")
        if not isinstance(data, dict):
            raise self.reply_error("unreadable token reply: no data", response)
        return self.read_oauth_reply(data, response, token_type_required=True)

    def call_headers(self, token: str, call: httpx.Request) -> dict[str, str]:
        """``Authorization: Bearer`` and the app key."""
        return {**super().call_headers(token, call), APP_KEY_HEADER: self._app_key}


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
