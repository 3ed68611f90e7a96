"""D&B Direct+ auth: client credentials for a Bearer token, and the error envelope.

``POST /v3/token`` with ``Authorization: Basic base64(key:secret)`` and the form body
``grant_type=client_credentials`` -> ``{access_token, expires_in: 86400, token_type}``;
one token is reused for its full lifetime (refreshed a minute before it ends). Error
code ``00040`` means the token has expired: the client drops the token and retries the
call once, whatever status it came with (:class:`.client.DnbClient`).

Errors: ``{transactionDetail{transactionID}, error{errorCode, errorMessage,
errorDetails[]}}``, not RFC 7807 (reference/bureaus.md 2.1).
"""

from __future__ import annotations

from typing import Any

import httpx

from tci_gateway.errors import ProtocolError
from tci_gateway.http.auth import AuthStrategy, TokenCache, basic_credentials
from tci_gateway.http.client import ParsedError
from tci_gateway.http.jsonexact import loads
from tci_gateway.logs import register_secret

from .wire import TOKEN_PATH, ErrorDetail, ErrorEnvelope, TokenReply


class DnbAuth(AuthStrategy):
    """Key and secret (Basic) for a Bearer token, cached per (adapter, environment,
    base URL, key)."""

    def __init__(
        self,
        *,
        adapter: str,
        environment: str,
        base_url: str,
        key: str,
        secret: str,
        cache: TokenCache | None = None,
    ) -> None:
        super().__init__((adapter, environment, base_url.rstrip("/"), key), cache)
        register_secret(secret)
        self.adapter = adapter
        self._basic = basic_credentials(key, secret)
        self.last_token: str | None = None

    def token_request(self, base_url: str) -> httpx.Request:
        """``POST /v3/token`` with Basic credentials and the client-credentials grant."""
        return httpx.Request(
            "POST",
            base_url.rstrip("/") + TOKEN_PATH,
            headers={
                "Authorization": self._basic,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            content=b"grant_type=client_credentials",
        )

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """``(access_token, expires_in)``."""
        ctx: dict[str, Any] = {"adapter": self.adapter, "status": response.status_code}
        try:
            reply = TokenReply.model_validate(loads(response.content))
        except (ValueError, UnicodeDecodeError) as exc:  # ValidationError is a ValueError
            raise ProtocolError(f"unreadable token reply: {type(exc).__name__}", **ctx) from exc
        if reply.token_type and reply.token_type.casefold() != "bearer":
            raise ProtocolError(f"unexpected token type {reply.token_type!r}", **ctx)
        return reply.access_token, float(reply.expires_in)

    def headers(self, token: str) -> dict[str, str]:
        """``Authorization: Bearer <token>`` (and remember it, for :meth:`drop`)."""
        self.last_token = token
        return {"Authorization": f"Bearer {token}"}

    def drop(self) -> None:
        """Forget the last token sent (the API said it has expired)."""
        if self.last_token is not None:
            self.invalidate(self.last_token)


def _detail(item: Any) -> str:
    if isinstance(item, str):
        return item
    try:
        detail = ErrorDetail.model_validate(item)
    except ValueError:
        return str(item)
    if detail.parameter and detail.description:
        return f"{detail.parameter}: {detail.description}"
    return detail.description or detail.parameter or str(item)


def parse_envelope(payload: Any, fallback: str) -> tuple[ParsedError, str | None]:
    """The error envelope as a :class:`ParsedError` (``errorCode`` as ``code``,
    ``errorMessage`` as ``message``, ``errorDetails`` as ``details``) and the
    transaction id."""
    envelope = ErrorEnvelope.model_validate(payload)
    error = envelope.error
    parsed = ParsedError(
        message=error.errorMessage or fallback,
        code=error.errorCode,
        details=[_detail(item) for item in error.errorDetails],
    )
    transaction = envelope.transactionDetail.transactionID if envelope.transactionDetail else None
    return parsed, transaction
