"""Authenticators for adapters, built on :class:`httpx.Auth`.

Give one to :class:`~tci_gateway.http.client.ApiClient` (``auth=``) and every call is
signed. :class:`TokenAuth` is the base of those that obtain a token first:

* the token is cached per (adapter, environment, base URL, identity) in a
  :class:`~tci_gateway.http.auth.TokenCache` and refreshed ``refresh_margin`` before it
  expires (60 s, or half the lifetime of a short-lived token), by exactly one caller
  when many threads find it due at once;
* a call answered 401 (or whatever :meth:`TokenAuth.token_expired` says) drops the token
  and is sent once more with a fresh one;
* credentials the token endpoint refused (400/401/403) are not sent again in the same run
  (several insurers lock an account after a few failed logins): later calls fail at once
  with the first refusal's message;
* every token and credential is registered with the log redactor.

The concrete authenticators cover the usual shapes; a plugin subclasses one and overrides
a small hook or two (:meth:`TokenAuth.token_request`, :meth:`TokenAuth.read_token`,
:meth:`TokenAuth.call_headers`, :meth:`TokenAuth.cache_key_for`,
:meth:`TokenAuth.token_expired`, :meth:`TokenAuth.refused`):

* :class:`OAuth2ClientCredentials`: ``grant_type=client_credentials`` with Basic client
  credentials (or in the form body), an OAuth2 ``{access_token, expires_in}`` reply;
* :class:`ApiKeyTokenAuth`: an API key posted as JSON, exchanged for a token;
* :class:`PasswordTokenAuth`: a username and password posted as JSON for a token;
* :class:`StaticKeyAuth`: no token, a key in a header on every call.

Token authenticators drive the synchronous :class:`httpx.Client` only: the refresh lock
is a thread lock held while the token request is in flight.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncGenerator, Generator, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from tci_gateway.adapters.contract import AdapterContext
from tci_gateway.errors import AdapterError, AuthError, ProtocolError, TransientError
from tci_gateway.http.auth import (
    SHARED_TOKEN_CACHE,
    TOKEN_ERROR,
    TOKEN_REQUEST,
    TokenCache,
    TokenErrorReader,
    basic_credentials,
    request_fingerprint,
)
from tci_gateway.http.jsonexact import dumps, loads
from tci_gateway.logs import register_secret

__all__ = [
    "ApiKeyTokenAuth",
    "OAuth2ClientCredentials",
    "PasswordTokenAuth",
    "StaticKeyAuth",
    "TokenAuth",
    "secret_fingerprint",
]

REFUSED_EARLIER = (
    "refused earlier in this run; not sent again, since repeated failed logins can lock "
    "the account: fix the credentials and restart"
)
_REFUSED_STATUSES = (400, 401, 403)


def secret_fingerprint(secret: str, purpose: str) -> str:
    """A short, non-reversible fingerprint of a secret, for a token cache key (a key
    must tell two API keys apart without holding either)."""
    salt = f"tci-gateway/{purpose}\0".encode()
    return hashlib.sha256(salt + secret.encode()).hexdigest()[:24]


def _lifetime(value: Any) -> float | None:
    """A positive lifetime from a JSON number or numeric text, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        number = Decimal(value)
    except ArithmeticError:
        return None
    return float(number) if number.is_finite() and number > 0 else None


class TokenAuth(httpx.Auth):
    """Base of the authenticators that obtain a token (see the module docstring).

    Subclasses implement :meth:`token_request` and, when the reply is not an OAuth2
    ``{access_token, expires_in, token_type}``, :meth:`read_token`. Class attributes:
    ``header`` and ``scheme`` (``Authorization: Bearer <token>``; an empty scheme sends
    the bare token), ``correlation_header`` (a fresh id on each token request, when set),
    ``remember_refusals``, ``read_error_bodies`` (read a failed call's body before
    :meth:`token_expired` sees it).
    """

    header = "Authorization"
    scheme = "Bearer"
    correlation_header: str | None = None
    remember_refusals = True
    read_error_bodies = False

    def __init__(
        self,
        context: AdapterContext,
        *,
        identity: tuple[str, ...],
        token_path: str,
        cache: TokenCache | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        base_url = context.base_url.rstrip("/")
        self.adapter = context.name
        self.cache_key: tuple[str, ...] = (context.name, context.environment, base_url, *identity)
        self.token_url = base_url + token_path
        self.cache = cache or SHARED_TOKEN_CACHE
        for secret in secrets:
            register_secret(secret)

    # -- hooks ---------------------------------------------------------------------------

    def token_request(self, call: httpx.Request) -> httpx.Request:
        """Hook: the request that obtains a token for ``call`` (POST to
        :attr:`token_url`; :meth:`post_json` and :meth:`post_form` build one)."""
        raise NotImplementedError

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """Hook: ``(token, lifetime in seconds)`` from a 2xx token reply. The default
        reads an OAuth2 reply (:meth:`read_oauth_reply`)."""
        return self.read_oauth_reply(self.reply_json(response), response)

    def call_headers(self, token: str, call: httpx.Request) -> dict[str, str]:
        """Hook: the headers that sign ``call``: ``{header: "<scheme> <token>"}``."""
        return {self.header: f"{self.scheme} {token}" if self.scheme else token}

    def cache_key_for(self, call: httpx.Request) -> tuple[str, ...]:
        """Hook: the token cache key for ``call`` (default :attr:`cache_key`)."""
        return self.cache_key

    def token_expired(self, response: httpx.Response) -> bool:
        """Hook: whether a call's answer means the token is no longer honoured (the
        token is dropped and the call sent once more). The default: a 401."""
        return response.status_code == 401

    def refused(self, error: AuthError) -> AuthError:
        """Hook: the error for credentials the token endpoint refused (default as is)."""
        return error

    # -- helpers for the hooks -----------------------------------------------------------

    def post_json(self, body: Any, headers: Mapping[str, str] | None = None) -> httpx.Request:
        """``POST`` :attr:`token_url` with a JSON body (``None``: an empty body)."""
        content = b"" if body is None else dumps(body).encode()
        return httpx.Request(
            "POST",
            self.token_url,
            headers={**self._token_headers("application/json"), **(headers or {})},
            content=content,
        )

    def post_form(
        self, form: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> httpx.Request:
        """``POST`` :attr:`token_url` with a form body."""
        content = urlencode(form).encode()
        return httpx.Request(
            "POST",
            self.token_url,
            headers={
                **self._token_headers("application/x-www-form-urlencoded"),
                **(headers or {}),
            },
            content=content,
        )

    def reply_error(self, message: str, response: httpx.Response) -> ProtocolError:
        """A :class:`ProtocolError` about an unreadable token reply."""
        return ProtocolError(message, adapter=self.adapter, status=response.status_code)

    def reply_json(self, response: httpx.Response) -> dict[str, Any]:
        """The token reply as a JSON object, else a :class:`ProtocolError`."""
        try:
            payload = loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            message = f"unreadable token reply: {type(exc).__name__}"
            raise self.reply_error(message, response) from exc
        if not isinstance(payload, dict):
            raise self.reply_error("unreadable token reply: not a JSON object", response)
        return payload

    def read_oauth_reply(
        self,
        payload: Mapping[str, Any],
        response: httpx.Response,
        *,
        token_type_required: bool = False,
    ) -> tuple[str, float]:
        """``(access_token, expires_in)`` of an OAuth2 token reply; a ``token_type``
        other than Bearer (or a missing one, when required) is a :class:`ProtocolError`."""
        token = payload.get("access_token")
        lifetime = _lifetime(payload.get("expires_in"))
        if not isinstance(token, str) or not token:
            raise self.reply_error("unreadable token reply: no access_token", response)
        if lifetime is None:
            raise self.reply_error("unreadable token reply: no positive expires_in", response)
        token_type = payload.get("token_type")
        if token_type is None and token_type_required:
            raise self.reply_error("unreadable token reply: no token_type", response)
        if token_type is not None and str(token_type).casefold() != "bearer":
            raise self.reply_error(f"unexpected token type {token_type!r}", response)
        return token, lifetime

    # -- httpx.Auth ----------------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Drive :meth:`auth_flow`, reading the token replies (and, with
        ``read_error_bodies``, failed answers) before the flow looks at them."""
        flow = self.auth_flow(request)
        try:
            outgoing = next(flow)
            while True:
                response = yield outgoing
                if outgoing.extensions.get(TOKEN_REQUEST) or (
                    self.read_error_bodies and response.status_code >= 400
                ):
                    response.read()
                try:
                    outgoing = flow.send(response)
                except StopIteration:
                    return
        finally:
            flow.close()  # releases the refresh lock if the token request failed

    def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Not supported: the refresh lock is a thread lock."""
        raise NotImplementedError("token authenticators work with httpx.Client only")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign the call with a token (fetched when none is fresh); on an expired-token
        answer drop the token and send the call once more."""
        token = yield from self._token(request)
        request.headers.update(self.call_headers(token, request))
        response = yield request
        if self.token_expired(response):
            self.cache.invalidate(self.cache_key_for(request), token)
            again = httpx.Request(
                request.method,
                request.url,
                headers=request.headers,
                stream=request.stream,
                extensions=dict(request.extensions),
            )  # a new request: the first one stays as it was sent
            token = yield from self._token(again)
            again.headers.update(self.call_headers(token, again))
            yield again

    # -- internals -----------------------------------------------------------------------

    def _token(self, call: httpx.Request) -> Generator[httpx.Request, httpx.Response, str]:
        key = self.cache_key_for(call)
        token_request = self.token_request(call)
        fingerprint = request_fingerprint(token_request)
        self._raise_if_refused(key, fingerprint)
        value = self.cache.fresh(key)
        if value is not None:
            return value
        with self.cache.refreshing(key):
            value = self.cache.fresh(key)
            if value is not None:
                return value
            self._raise_if_refused(key, fingerprint)  # refused while this caller waited
            token_request.extensions = {**token_request.extensions, TOKEN_REQUEST: True}
            if "timeout" in call.extensions:
                token_request.extensions["timeout"] = call.extensions["timeout"]
            response = yield token_request
            if not 200 <= response.status_code < 300:
                reader: TokenErrorReader = call.extensions.get(TOKEN_ERROR, self._token_error)
                error = reader(response)
                if isinstance(error, AuthError):
                    error = self.refused(error)
                    if self.remember_refusals:
                        self.cache.refuse(key, fingerprint, error)
                raise error
            value, lifetime = self.read_token(response)
            self.cache.put(key, value, lifetime)
            return value

    def _raise_if_refused(self, key: tuple[str, ...], fingerprint: str) -> None:
        if not self.remember_refusals:
            return
        refused = self.cache.refusal(key, fingerprint)
        if refused is not None:
            raise AuthError(
                f"{refused.message} ({REFUSED_EARLIER})",
                adapter=refused.adapter,
                status=refused.status,
                code=refused.code,
            )

    def _token_headers(self, content_type: str) -> dict[str, str]:
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if self.correlation_header:
            headers[self.correlation_header] = str(uuid.uuid4())
        return headers

    def _token_error(self, response: httpx.Response) -> AdapterError:
        """A failed token reply, when no client supplied its own reading."""
        status = response.status_code
        reason = response.reason_phrase or f"HTTP {status}"
        if status in _REFUSED_STATUSES:
            return AuthError(f"credentials refused: {reason}", adapter=self.adapter, status=status)
        if status == 429 or status >= 500:
            return TransientError(f"token request failed: {reason}", adapter=self.adapter)
        return ProtocolError(
            f"token request answered {status}: {reason}", adapter=self.adapter, status=status
        )


class OAuth2ClientCredentials(TokenAuth):
    """OAuth2 client credentials: ``POST token_path`` with the form body
    ``grant_type=client_credentials`` (and ``scope``), the client id and secret as
    ``Authorization: Basic`` (or, with ``credentials_in_body``, in the form). The token is
    cached per client id."""

    def __init__(
        self,
        context: AdapterContext,
        *,
        client_id: str,
        client_secret: str,
        token_path: str,
        scope: str | None = None,
        credentials_in_body: bool = False,
        cache: TokenCache | None = None,
    ) -> None:
        super().__init__(
            context,
            identity=(client_id,),
            token_path=token_path,
            cache=cache,
            secrets=(client_secret,),
        )
        self.client_id = client_id
        self.scope = scope
        self.credentials_in_body = credentials_in_body
        self._client_secret = client_secret
        self._basic = basic_credentials(client_id, client_secret)

    def basic_header(self) -> dict[str, str]:
        """``Authorization: Basic base64(client_id:client_secret)``."""
        return {"Authorization": self._basic}

    def token_request(self, call: httpx.Request) -> httpx.Request:
        """The client-credentials grant."""
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.credentials_in_body:
            form.update(client_id=self.client_id, client_secret=self._client_secret)
            return self.post_form(form)
        return self.post_form(form, self.basic_header())


class ApiKeyTokenAuth(TokenAuth):
    """An API key exchanged for a token: ``POST token_path`` with ``{key_field: key}``
    (JSON); an OAuth2 reply. The token is cached per token route and key fingerprint
    (never the key itself)."""

    key_field = "apiKey"
    fingerprint_purpose = "api-key"

    def __init__(
        self,
        context: AdapterContext,
        *,
        api_key: str,
        token_path: str,
        cache: TokenCache | None = None,
    ) -> None:
        fingerprint = secret_fingerprint(api_key, self.fingerprint_purpose)
        super().__init__(
            context,
            identity=(token_path, fingerprint),
            token_path=token_path,
            cache=cache,
            secrets=(api_key,),
        )
        self._api_key = api_key

    def token_request(self, call: httpx.Request) -> httpx.Request:
        """``{key_field: api_key}`` as JSON."""
        return self.post_json({self.key_field: self._api_key})


class PasswordTokenAuth(TokenAuth):
    """A username and password for a token: ``POST token_path`` with
    ``{"username", "password"}`` plus :meth:`token_body_extra` (JSON). The reply's
    ``token_field`` is the token; its ``expires_field`` (when not ``None``) the
    lifetime, else :meth:`default_lifetime`. The token is cached per username (never
    the password)."""

    token_field = "access_token"  # noqa: S105 (a member name)
    expires_field: str | None = "expires_in"
    lifetime = 3600.0

    def __init__(
        self,
        context: AdapterContext,
        *,
        username: str,
        password: str,
        token_path: str,
        cache: TokenCache | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        super().__init__(
            context,
            identity=(username,),
            token_path=token_path,
            cache=cache,
            secrets=(password, *secrets),
        )
        self.username = username
        self._password = password

    def token_body_extra(self) -> dict[str, str]:
        """Hook: more members of the login body (a ``grant_type``, say)."""
        return {}

    def default_lifetime(self, token: str) -> float:
        """Hook: the lifetime of a token whose reply gives none (``lifetime``)."""
        return self.lifetime

    def token_request(self, call: httpx.Request) -> httpx.Request:
        """The JSON login."""
        body = {"username": self.username, "password": self._password, **self.token_body_extra()}
        return self.post_json(body)

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """``(reply[token_field], reply[expires_field] or default_lifetime)``."""
        payload = self.reply_json(response)
        token = payload.get(self.token_field)
        if not isinstance(token, str) or not token.strip():
            raise self.reply_error(f"the token reply has no {self.token_field}", response)
        lifetime = _lifetime(payload.get(self.expires_field)) if self.expires_field else None
        return token, self.default_lifetime(token) if lifetime is None else lifetime


class StaticKeyAuth(httpx.Auth):
    """A fixed key in a header on every call (``scheme`` prefixed when given), no token
    endpoint. The key is registered with the log redactor."""

    def __init__(self, key: str, *, header: str = "Authorization", scheme: str = "") -> None:
        register_secret(key)
        self.header = header
        self._value = f"{scheme} {key}" if scheme else key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the header and send the call."""
        request.headers[self.header] = self._value
        yield request
