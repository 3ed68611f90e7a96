"""Coface auth: password grant plus API key (``fixtures/coface/README.md``, M), and
the error envelope reader.

``POST {base}/authentication/v1/token`` with headers ``x-api-key`` and
``x-cof-policy-number`` and the body ``{username, password, grant_type: "password"}``
answers ``{idToken, accessToken, refreshToken, expiresIn}`` (AWS Cognito behind it;
60 minutes). Later calls send ``Authorization: <idToken>`` (no "Bearer" by default)
with the API key and the contract number.

A refused login is never retried nor sent again in the same run: the token call's
400/401/403 raises :class:`~tci_gateway.errors.AuthError`, the refusal is remembered for
these credentials, and later calls raise it without logging in. This matters at Coface,
which counts the failures: 5 failed logins lock the account, for 1 s growing to about
15 minutes. The message says so.

Tokens are cached per (adapter, environment, base URL, username), never the password;
with the option ``token_per_policy`` per contract number too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from tci_gateway.adapters.auth import PasswordTokenAuth
from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.errors import AuthError
from tci_gateway.http.auth import TokenCache
from tci_gateway.http.client import ParsedError
from tci_gateway.http.jsonexact import dumps
from tci_gateway.logs import register_secret

from .options import CofaceOptions
from .wire import ErrorEnvelope

DEFAULT_TOKEN_LIFETIME = 3600.0
"""Seconds a token lives when the answer carries no ``expiresIn`` (the reference: 60 min)."""

LOCKOUT_WARNING = (
    "Coface locks the account after 5 failed logins (lockouts growing from 1 s to about "
    "15 min): fix the credentials before trying again; the gateway does not retry a "
    "refused login"
)


class CofaceAuth(PasswordTokenAuth):
    """Password grant plus API key; see the module docstring. The contract number in
    scope is the call's ``policy_header``, else the ``policy_number`` option."""

    expires_field = "expiresIn"
    lifetime = DEFAULT_TOKEN_LIFETIME

    def __init__(
        self, context: AdapterContext, *, options: CofaceOptions, cache: TokenCache | None = None
    ) -> None:
        api_key = context.credentials["api_key"]
        super().__init__(
            context,
            username=context.credentials["username"],
            password=context.credentials["password"],
            token_path=options.paths["token"],
            cache=cache,
            secrets=(api_key,),
        )
        self.options = options
        self.token_field = options.token_field
        self.scheme = options.auth_scheme
        self._api_key = api_key

    def policy_number(self, call: httpx.Request) -> str | None:
        """The contract number in scope: the call's, else the ``policy_number`` option."""
        return call.headers.get(self.options.policy_header) or self.options.policy_number

    def cache_key_for(self, call: httpx.Request) -> tuple[str, ...]:
        """Per user; with ``token_per_policy`` per contract number too."""
        if self.options.token_per_policy:
            return (*self.cache_key, self.policy_number(call) or "")
        return self.cache_key

    def token_body_extra(self) -> dict[str, str]:
        """The password grant (``grant_type_field``)."""
        return {self.options.grant_type_field: "password"}

    def token_request(self, call: httpx.Request) -> httpx.Request:
        """``POST /authentication/v1/token`` with the API key, the contract number (when
        one is in scope) and the password-grant body."""
        request = super().token_request(call)
        request.headers[self.options.api_key_header] = self._api_key
        policy = self.policy_number(call)
        if policy:
            request.headers[self.options.policy_header] = policy
        return request

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """The ``token_field`` token and ``expiresIn`` (3600 s when absent); every
        token of the reply is registered with the redactor."""
        payload = self.reply_json(response)
        for name in ("idToken", "accessToken", "refreshToken"):
            if isinstance(payload.get(name), str):
                register_secret(payload[name])
        return super().read_token(response)

    def call_headers(self, token: str, call: httpx.Request) -> dict[str, str]:
        """``Authorization`` (``<token>``, or ``<scheme> <token>``), the API key and the
        contract number in scope."""
        headers = {**super().call_headers(token, call), self.options.api_key_header: self._api_key}
        policy = self.policy_number(call)
        if policy:
            headers[self.options.policy_header] = policy
        return headers

    def refused(self, error: AuthError) -> AuthError:
        """The refusal, saying that repeated attempts lock the account."""
        return dataclasses.replace(error, message=f"{error.message}. {LOCKOUT_WARNING}")


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
