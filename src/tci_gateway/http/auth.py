"""Auth strategies with token caching.

A token is cached per (adapter, environment, base URL, client) and refreshed
``REFRESH_MARGIN`` seconds before it expires, by a single caller when many threads need
it at once. A 401 on a call invalidates the token; the client retries that call once
with a fresh one. Tokens are registered with the log redactor as soon as they arrive.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tci_gateway.errors import AuthError
from tci_gateway.logs import register_secret

REFRESH_MARGIN = 60.0


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

    def get(self, key: tuple[str, ...], fetch: Callable[[], tuple[str, float]]) -> str:
        """The cached token, or one fetched by exactly one caller."""
        token = self._tokens.get(key)
        if token is not None and token.fresh(self.clock()):
            return token.value
        with self._lock(key):
            token = self._tokens.get(key)
            if token is not None and token.fresh(self.clock()):
                return token.value
            value, lifetime = fetch()
            register_secret(value)
            self._tokens[key] = Token(value, self.clock() + lifetime, refresh_margin(lifetime))
            return value

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

TokenFetcher = Callable[[httpx.Request], httpx.Response]
"""Sends a token request (without auth, without retries beyond the client's own)."""


class AuthStrategy(ABC):
    """How an adapter authenticates. Subclasses build the token request, read the token
    from the answer, and say which headers every call carries."""

    def __init__(self, cache_key: tuple[str, ...], cache: TokenCache | None = None) -> None:
        self.cache_key = cache_key
        self.cache = cache or SHARED_TOKEN_CACHE

    @abstractmethod
    def token_request(self, base_url: str) -> httpx.Request:
        """The request that obtains a token."""

    @abstractmethod
    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """``(token, lifetime in seconds)`` from a successful token response."""

    @abstractmethod
    def headers(self, token: str) -> dict[str, str]:
        """Headers for an authenticated call."""

    def token(self, base_url: str, send: TokenFetcher) -> str:
        """A valid token: cached, or obtained by one caller. Credentials the insurer
        refused once are not sent again in this process."""
        request = self.token_request(base_url)
        fingerprint = _fingerprint(request)
        refused = self.cache.refusal(self.cache_key, fingerprint)
        if refused is not None:
            raise AuthError(
                f"{refused.message} (refused earlier in this run; not sent again, since "
                "repeated failed logins can lock the account: fix the credentials and restart)",
                adapter=refused.adapter,
                status=refused.status,
                code=refused.code,
            )

        def fetch() -> tuple[str, float]:
            try:
                return self.read_token(send(request))
            except AuthError as exc:
                self.cache.refuse(self.cache_key, fingerprint, exc)
                raise

        return self.cache.get(self.cache_key, fetch)

    def invalidate(self, token: str) -> None:
        self.cache.invalidate(self.cache_key, token)


_CREDENTIAL_HEADER = re.compile(r"authorization|key|secret|token|password|policy", re.IGNORECASE)


def _fingerprint(request: httpx.Request) -> str:
    """A digest of everything that carries credentials in a token request."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url}".encode())
    for name, value in sorted(request.headers.items()):
        if _CREDENTIAL_HEADER.search(name):  # not correlation ids and other per-call values
            digest.update(f"{name.lower()}:{value}".encode())
    digest.update(request.content)
    return digest.hexdigest()


def basic_credentials(user: str, password: str) -> str:
    raw = f"{user}:{password}".encode()
    encoded = base64.b64encode(raw).decode("ascii")
    register_secret(encoded)
    return f"Basic {encoded}"
