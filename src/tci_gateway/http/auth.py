"""Token caching, shared by the authenticators of :mod:`tci_gateway.adapters.auth`.

A token is cached per (adapter, environment, base URL, client) and refreshed
``REFRESH_MARGIN`` seconds before it expires, by a single caller when many threads need
it at once. Credentials a token endpoint refused are remembered per cache key and
fingerprint, so they are not sent again in the same run. Tokens are registered with the
log redactor as soon as they arrive.

Two request extensions connect an authenticator to :class:`~tci_gateway.http.client.ApiClient`
without either importing the other: :data:`TOKEN_REQUEST` marks the token requests an
authenticator sends (a transport failure there is transient whatever the call), and
:data:`TOKEN_ERROR` carries the client's reading of a failed token reply.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from tci_gateway.errors import AdapterError, AuthError
from tci_gateway.logs import register_secret

REFRESH_MARGIN = 60.0

TOKEN_REQUEST = "tci_gateway.token_request"  # noqa: S105 (an extension name)
"""Request extension (``True``) on a token request sent by an authenticator."""

TOKEN_ERROR = "tci_gateway.token_error"  # noqa: S105 (an extension name)
"""Request extension on a call: a :data:`TokenErrorReader` for a failed token reply."""

TokenErrorReader = Callable[[httpx.Response], AdapterError]
"""Turns a token reply that is not 2xx into the error to raise (an :class:`AuthError`
when the credentials were refused)."""


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float  # monotonic clock
    refresh_margin: float = REFRESH_MARGIN

    def fresh(self, now: float) -> bool:
        return now < self.expires_at - self.refresh_margin


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token is refreshed: ``REFRESH_MARGIN``, or half the
    lifetime for tokens shorter than twice that (else a 60 s token is never reused)."""
    return max(0.0, min(REFRESH_MARGIN, lifetime / 2))


class TokenCache:
    """Thread-safe token store with single-flight refresh per key."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[tuple[str, ...], Token] = {}
        self._locks: dict[tuple[str, ...], threading.Lock] = {}
        self._refused: dict[tuple[str, ...], AuthError] = {}
        self._guard = threading.Lock()

    def _lock(self, key: tuple[str, ...]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def fresh(self, key: tuple[str, ...]) -> str | None:
        """The cached token if it is not due for refresh, else ``None``."""
        token = self._tokens.get(key)
        if token is not None and token.fresh(self.clock()):
            return token.value
        return None

    @contextmanager
    def refreshing(self, key: tuple[str, ...]) -> Iterator[None]:
        """Hold the key's refresh lock: one caller at a time fetches its token."""
        with self._lock(key):
            yield

    def put(self, key: tuple[str, ...], value: str, lifetime: float) -> None:
        """Store a token that lives ``lifetime`` seconds (registered with the redactor)."""
        register_secret(value)
        self._tokens[key] = Token(value, self.clock() + lifetime, refresh_margin(lifetime))

    def refusal(self, key: tuple[str, ...], fingerprint: str) -> AuthError | None:
        """The error these exact credentials got earlier in this process, if any."""
        with self._guard:
            return self._refused.get((*key, fingerprint))

    def refuse(self, key: tuple[str, ...], fingerprint: str, error: AuthError) -> None:
        """Remember that these exact credentials were refused: they are not sent again
        (several insurers lock an account after a few failed logins)."""
        with self._guard:
            self._refused[(*key, fingerprint)] = error

    def invalidate(self, key: tuple[str, ...], value: str) -> None:
        """Drop the token if it is still the one that was refused."""
        with self._lock(key):
            token = self._tokens.get(key)
            if token is not None and token.value == value:
                del self._tokens[key]


SHARED_TOKEN_CACHE = TokenCache()

_CREDENTIAL_HEADER = re.compile(r"authorization|key|secret|token|password|policy", re.IGNORECASE)


def request_fingerprint(request: httpx.Request) -> str:
    """A digest of everything that carries credentials in a token request (the key
    under which a refusal is remembered)."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url}".encode())
    for name, value in sorted(request.headers.items()):
        if _CREDENTIAL_HEADER.search(name):  # not correlation ids and other per-call values
            digest.update(f"{name.lower()}:{value}".encode())
    digest.update(request.content)
    return digest.hexdigest()


def basic_credentials(user: str, password: str) -> str:
    """``Basic base64(user:password)``, registered with the log redactor."""
    raw = f"{user}:{password}".encode()
    encoded = base64.b64encode(raw).decode("ascii")
    register_secret(encoded)
    return f"Basic {encoded}"
