"""Coface auth: password grant plus API key (reference/insurers.md, section 3, M), and
the error envelope reader.

``POST {base}/authentication/v1/token`` with headers ``x-api-key`` and
``x-cof-policy-number`` and the body ``{username, password, grant_type: "password"}``
answers ``{idToken, accessToken, refreshToken, expiresIn}`` (AWS Cognito behind it;
60 minutes). Later calls send ``Authorization: <idToken>`` (no "Bearer" by default)
with the API key and the contract number.

A refused login is never retried: the shared client raises
:class:`~tci_gateway.errors.AuthError` for 400/401/403 on the token call and does not
retry it, and this strategy adds to the message that repeated attempts lock the
account (5 failed logins lock it, for 1 s growing to about 15 minutes).

Tokens are cached per (adapter, environment, base URL, username), never the password;
with the option ``token_per_policy`` per contract number too.
"""

from __future__ import annotations

import dataclasses
from contextvars import ContextVar
from typing import Any

import httpx

from tci_gateway.errors import AuthError, ProtocolError
from tci_gateway.http.auth import AuthStrategy, TokenCache, TokenFetcher
from tci_gateway.http.client import ParsedError
from tci_gateway.http.jsonexact import dumps, loads
from tci_gateway.logs import register_secret

from .options import CofaceOptions
from .wire import ErrorEnvelope, TokenReply

DEFAULT_TOKEN_LIFETIME = 3600.0
"""Seconds a token lives when the answer carries no ``expiresIn`` (the reference: 60 min)."""

LOCKOUT_WARNING = (
    "Coface locks the account after 5 failed logins (lockouts growing from 1 s to about "
    "15 min): fix the credentials before trying again; the gateway does not retry a "
    "refused login"
)

CURRENT_POLICY: ContextVar[str | None] = ContextVar("coface_current_policy", default=None)
"""The contract number of the call in progress (set by ``CofaceClient.request``)."""


class CofaceAuth(AuthStrategy):
    """Password grant plus API key; see the module docstring."""

    def __init__(
        self,
        *,
        adapter: str,
        environment: str,
        base_url: str,
        username: str,
        password: str,
        api_key: str,
        options: CofaceOptions,
        cache: TokenCache | None = None,
    ) -> None:
        super().__init__((adapter, environment, base_url.rstrip("/"), username), cache)
        register_secret(password)
        register_secret(api_key)
        self.adapter = adapter
        self.options = options
        self._username = username
        self._password = password
        self._api_key = api_key

    def policy_number(self) -> str | None:
        """The contract number in scope: the call's, else the ``policy_number`` option."""
        return CURRENT_POLICY.get() or self.options.policy_number

    def _key(self) -> tuple[str, ...]:
        if self.options.token_per_policy:
            return (*self.cache_key, self.policy_number() or "")
        return self.cache_key

    def token_request(self, base_url: str) -> httpx.Request:
        """``POST /authentication/v1/token`` with the API key, the contract number (when
        one is in scope) and the password-grant body."""
        headers = {
            self.options.api_key_header: self._api_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        policy = self.policy_number()
        if policy:
            headers[self.options.policy_header] = policy
        body = {
            "username": self._username,
            "password": self._password,
            self.options.grant_type_field: "password",
        }
        return httpx.Request(
            "POST",
            base_url.rstrip("/") + self.options.paths["token"],
            headers=headers,
            content=dumps(body).encode(),
        )

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """``(token, lifetime)`` from the reply: the ``token_field`` token and
        ``expiresIn`` (3600 s when absent)."""
        ctx: dict[str, Any] = {"adapter": self.adapter, "status": response.status_code}
        try:
            reply = TokenReply.model_validate(loads(response.content))
        except (ValueError, UnicodeDecodeError) as exc:  # ValidationError is a ValueError
            raise ProtocolError(f"unreadable token reply: {type(exc).__name__}", **ctx) from exc
        for secret in (reply.idToken, reply.accessToken, reply.refreshToken):
            register_secret(secret)
        token = getattr(reply, self.options.token_field)
        if not token:
            raise ProtocolError(f"the token reply has no {self.options.token_field}", **ctx)
        lifetime = float(reply.expiresIn) if reply.expiresIn else DEFAULT_TOKEN_LIFETIME
        return str(token), lifetime

    def headers(self, token: str) -> dict[str, str]:
        """``Authorization`` (``<token>``, or ``<scheme> <token>``), the API key and the
        contract number in scope."""
        value = f"{self.options.auth_scheme} {token}" if self.options.auth_scheme else token
        headers = {"Authorization": value, self.options.api_key_header: self._api_key}
        policy = self.policy_number()
        if policy:
            headers[self.options.policy_header] = policy
        return headers

    def token(self, base_url: str, send: TokenFetcher) -> str:
        """The cached token, or one login by exactly one caller. A refused login raises
        :class:`AuthError` saying that repeated attempts lock the account."""

        def login() -> tuple[str, float]:
            try:
                response = send(self.token_request(base_url))
            except AuthError as exc:
                message = f"{exc.message}. {LOCKOUT_WARNING}"
                raise dataclasses.replace(exc, message=message) from exc
            return self.read_token(response)

        return self.cache.get(self._key(), login)

    def invalidate(self, token: str) -> None:
        """Drop ``token`` if it is still the cached one."""
        self.cache.invalidate(self._key(), token)


def _detail(item: Any) -> str:
    if isinstance(item, dict):
        field = item.get("field") or item.get("parameter")
        text = str(item.get("message") or item.get("detail") or dumps(item))
        return f"{text} (field {field})" if field else text
    return str(item)


def parse_envelope(payload: Any, fallback: str) -> ParsedError:
    """``{"error": {code, message, details}}`` (or an API Gateway ``{"message"}``) as a
    :class:`ParsedError`. Raises ``ValueError`` when the payload is neither."""
    envelope = ErrorEnvelope.model_validate(payload)
    if envelope.error is not None:
        body = envelope.error
        details = [_detail(item) for item in body.details]
        return ParsedError(message=body.message or fallback, code=body.code, details=details)
    if envelope.message is not None:
        return ParsedError(message=envelope.message)
    raise ValueError("not an error envelope")
