"""D&B Direct+ auth: client credentials for a Bearer token, and the error envelope.

``POST /v3/token`` with ``Authorization: Basic base64(key:secret)`` and the form body
``grant_type=client_credentials`` -> ``{access_token, expires_in: 86400, token_type}``;
one token is reused for its full lifetime (refreshed a minute before it ends). Error
code ``00040`` means the token has expired: :class:`DnbAuth` drops the token and sends
the call once more, whatever status it came with.

Errors: ``{transactionDetail{transactionID}, error{errorCode, errorMessage,
errorDetails[]}}``, not RFC 7807 (``fixtures/dnb/README.md``, "Public facts").
"""

from __future__ import annotations

from typing import Any

import httpx

from tci_gateway.adapters.auth import OAuth2ClientCredentials
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.client import ParsedError
from tci_gateway.http.jsonexact import loads

from .wire import EXPIRED_TOKEN_CODES, TOKEN_PATH, ErrorDetail, ErrorEnvelope


class DnbAuth(OAuth2ClientCredentials):
    """Key and secret (Basic) for a Bearer token, cached per (adapter, environment,
    base URL, key). An answer with the expired-token code (``00040``), whatever its
    status, drops the token and the call is sent once more."""

    read_error_bodies = True

    def __init__(self, context: AdapterContext, *, cache: TokenCache | None = None) -> None:
        super().__init__(
            context,
            client_id=context.credentials["key"],
            client_secret=context.credentials["secret"],
            token_path=TOKEN_PATH,
            cache=cache,
        )

    def token_expired(self, response: httpx.Response) -> bool:
        """A 401, or an error envelope with an expired-token code."""
        if response.status_code == 401:
            return True
        if response.status_code < 400:
            return False
        try:
            parsed, _ = parse_envelope(loads(response.content), "")
        except (ValueError, UnicodeDecodeError):  # ValidationError is a ValueError
            return False
        return parsed.code in EXPIRED_TOKEN_CODES


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
